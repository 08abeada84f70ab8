#!/usr/bin/env bash
# make soak: the mixed scenario (70 % get, 20 % create, 10 % transition) at 64 connections for
# SOAK_SECONDS, sampling workflowd's RSS every 10 s; prints the samples and whether RSS stayed
# flat (within SOAK_TOLERANCE %, default 10) after the warm-up (SOAK_WARMUP s, default 60).
# Same stack as bench/run.sh (fresh cluster, seed, tokens, workflowd behind the production nginx
# site, all under .run/bench, stopped at the end). Afterwards every acknowledged write is checked.
#
# Env: SOAK_SECONDS (default 300), SOAK_CONNS (64), SOAK_WARMUP (60), SOAK_TOLERANCE (10),
#      BENCH_BUILD, BENCH_NO_BUILD, BENCH_MAX_RPS as for bench/run.sh.
# Exit status: 1 when RSS did not stay flat or the write check failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_CONNS=${SOAK_CONNS:-64}
SOAK_WARMUP=${SOAK_WARMUP:-60}
SOAK_TOLERANCE=${SOAK_TOLERANCE:-10}
[[ $SOAK_SECONDS =~ ^[1-9][0-9]*$ ]] || die "SOAK_SECONDS must be a positive number of seconds"
STAMP=$(date -u +%Y%m%d-%H%M%S)

bench_lock
"$ROOT/scripts/install-deps.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_prepare
bench_binary
TRANS_SEGMENTS="soak:$((SOAK_SECONDS * BENCH_MAX_RPS * 15 / 100 + 1000))"
bench_start
python3 "$B/check.py" "$BASE_URL" "$DATA" >"$RUN/check.txt" || { cat "$RUN/check.txt"; die "correctness check failed"; }

name=soak-c$SOAK_CONNS
samples=$RUN/rss-samples.txt
before=$(db_counts)
: >"$samples"
log "soak: mixed at $SOAK_CONNS connections for ${SOAK_SECONDS}s; RSS every 10 s"
run_wrk "$name" mixed workflowd "$SOAK_CONNS" "$BASE_URL" "$SOAK_SECONDS" soak &
wrk_job=$!
t=0
echo "$t $(status_kb "$WFD_PID" VmRSS)" >>"$samples"
for ((i = 1; i <= SOAK_SECONDS / 10 + 3; i++)); do
  sleep 10
  kill -0 "$wrk_job" 2>/dev/null || break
  t=$((i * 10))
  kb=$(status_kb "$WFD_PID" VmRSS)
  echo "$t $kb" >>"$samples"
  log "  t=${t}s VmRSS=$((kb / 1024)) MiB"
done
wait "$wrk_job" || die "the soak run failed"

rc=0
verify_writes "$name" "$SOAK_CONNS" "$before" || rc=1
mkdir -p "$B/results"
{
  echo "workflowd soak, $(date -u +%Y-%m-%dT%H:%M:%SZ): mixed at $SOAK_CONNS connections for ${SOAK_SECONDS}s"
  echo "build $BENCH_BUILD: $BIN_SOURCE (built $BIN_MTIME, $BIN_RUNTIME); $WORKERS workers; WORKFLOWD_LOG_LEVEL=warning"
  echo
  python3 "$B/report.py" table "$RUN"
  echo
  echo "workflowd VmRSS every 10 s:"
  python3 "$B/report.py" soak "$samples" "$SOAK_WARMUP" "$SOAK_TOLERANCE" || rc=1
  echo "peak RSS (VmHWM): $(awk -v kb="$(status_kb "$WFD_PID" VmHWM)" 'BEGIN { printf "%.1f", kb / 1024 }') MiB"
  echo "write check: $(kv "$OUT/$name/result" verify)"
  echo
  echo "---------------- raw ----------------"
  cat "$OUT/$name/result"
  grep -v '^RESULT ' "$OUT/$name/wrk.txt"
} | tee "$B/results/soak-latest.txt"
cp "$B/results/soak-latest.txt" "$B/results/soak-$STAMP.txt"
exit "$rc"
