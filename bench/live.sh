#!/usr/bin/env bash
# Live updates under load (issue 12), on the bench stack (bench/lib.sh, nginx with
# WORKFLOWD_NGINX_WORKER_CONNECTIONS=8192 so that 2,000 streams fit: each holds a client and a FastCGI
# connection):
#   wake latency   bench/live_client.py holds N per-instance SSE streams through nginx and, one at a time,
#                  transitions a waited instance and times its stream's event: p50/p99 from the POST sent
#                  (an upper bound of commit -> receive) and from its 200 (a lower bound), at 100 and 2,000
#   RSS            workflowd's VmRSS with no waiter and with 2,000
#   throughput     wrk create and transition at LIVE_CONNS connections with no waiter and with 2,000,
#                  alternated LIVE_ROUNDS times (a shared machine drifts: alternating hits both alike),
#                  with CPU microseconds per request of workflowd and PostgreSQL
# Goals (issue 12): wake p99 <= 20 ms at 2,000, RSS <= +64 MiB, throughput within 10 %.
#
#   bench/live.sh     LIVE_SECONDS=10 LIVE_ROUNDS=2 LIVE_CONNS=16 LIVE_WAKES=200 BENCH_BUILD=release
set -euo pipefail
source "$(dirname "$0")/lib.sh"

LIVE_SECONDS=${LIVE_SECONDS:-10}
LIVE_ROUNDS=${LIVE_ROUNDS:-2}
LIVE_CONNS=${LIVE_CONNS:-16}
LIVE_WAKES=${LIVE_WAKES:-200}
LIVE_WAITERS=${LIVE_WAITERS:-2000}
STAMP=$(date -u +%Y%m%d-%H%M%S)
export WORKFLOWD_NGINX_WORKER_CONNECTIONS=${WORKFLOWD_NGINX_WORKER_CONNECTIONS:-8192}
ulimit -n "$(ulimit -Hn)"

bench_lock
CLIENT_PID=""
# The held streams' client goes first, so that it never outlives the stack it talks to.
# (bench_cleanup exits with the status it finds: keep the script's, not the test's of CLIENT_PID.)
trap 'rc=$?; [[ -n $CLIENT_PID ]] && kill "$CLIENT_PID" 2>/dev/null; (exit $rc); bench_cleanup' EXIT
trap 'exit 130' INT TERM
bench_prepare
bench_binary

per_run=$((LIVE_SECONDS * BENCH_MAX_RPS + 1000))
TRANS_SEGMENTS="live100:100"
for ((r = 1; r <= LIVE_ROUNDS; r++)); do
  TRANS_SEGMENTS+=" live-r$r:$LIVE_WAITERS none-r$r:$per_run waiting-r$r:$per_run"
done
bench_start
HOSTPORT=${BASE_URL#http://}
HOST=${HOSTPORT%%:*} NPORT=${HOSTPORT##*:}
NPORT=${NPORT%%/*}

log "wake latency with 100 waiting streams"
python3 "$B/live_client.py" "$HOST" "$NPORT" "$DATA" "$DATA/trans-live100.txt" 100 "$LIVE_WAKES" >"$OUT/live-100.txt" ||
  die "the live client failed (100)"
rss_none=$(status_kb "$WFD_PID" VmRSS)

for ((r = 1; r <= LIVE_ROUNDS; r++)); do
  run_wrk "none-create-r$r" create workflowd "$LIVE_CONNS" "$BASE_URL" "$LIVE_SECONDS"
  run_wrk "none-transition-r$r" transition workflowd "$LIVE_CONNS" "$BASE_URL" "$LIVE_SECONDS" "none-r$r"
  log "round $r: $LIVE_WAITERS waiting streams"
  rm -f "$OUT/ready-r$r"
  python3 "$B/live_client.py" "$HOST" "$NPORT" "$DATA" "$DATA/trans-live-r$r.txt" "$LIVE_WAITERS" "$LIVE_WAKES" \
    --hold "$OUT/ready-r$r" >"$OUT/live-$LIVE_WAITERS-r$r.txt" {BENCH_LOCK_FD}>&- &
  CLIENT_PID=$!
  for ((i = 0; i < 1800; i++)); do
    [[ -f $OUT/ready-r$r ]] && break
    kill -0 "$CLIENT_PID" 2>/dev/null || die "the live client failed (round $r): $(cat "$OUT/live-$LIVE_WAITERS-r$r.txt")"
    sleep 0.1
  done
  [[ -f $OUT/ready-r$r ]] || die "the live client never got ready"
  echo "rss_kb=$(status_kb "$WFD_PID" VmRSS)" >>"$OUT/live-$LIVE_WAITERS-r$r.txt"
  run_wrk "waiting-create-r$r" create workflowd "$LIVE_CONNS" "$BASE_URL" "$LIVE_SECONDS"
  run_wrk "waiting-transition-r$r" transition workflowd "$LIVE_CONNS" "$BASE_URL" "$LIVE_SECONDS" "waiting-r$r"
  kill "$CLIENT_PID"; wait "$CLIENT_PID" || true
  CLIENT_PID=""
done

report() {
  local f
  echo "workflowd live updates, $(date -u +%Y-%m-%dT%H:%M:%SZ), $BENCH_BUILD build, $(nproc) cores shared with everything else"
  echo
  echo "wake latency (ms): streams  p50(send) p99(send) p50(answer) p99(answer) max(send)"
  for f in "$OUT/live-100.txt" "$OUT"/live-"$LIVE_WAITERS"-r*.txt; do
    printf '  %-36s %6s %9s %9s %11s %11s %9s\n' "$(basename "$f" .txt)" "$(kv "$f" streams)" \
      "$(kv "$f" wake_ms_from_send_p50)" "$(kv "$f" wake_ms_from_send_p99)" \
      "$(kv "$f" wake_ms_from_answer_p50)" "$(kv "$f" wake_ms_from_answer_p99)" "$(kv "$f" wake_ms_from_send_max)"
  done
  echo
  echo "workflowd RSS: ${rss_none} kB after 100 streams ended; with $LIVE_WAITERS streams:" \
    "$(for f in "$OUT"/live-"$LIVE_WAITERS"-r*.txt; do printf '%s kB ' "$(kv "$f" rss_kb)"; done)"
  echo
  echo "throughput at $LIVE_CONNS connections (req/s, p99, CPU us/req workflowd, PostgreSQL):"
  local name
  while read -r name; do
    f=$OUT/$name/result
    printf '  %-26s %8s req/s  p99 %8s us  wfd %6s us  pg %6s us  non2xx %s\n' "$name" "$(kv "$f" rps)" \
      "$(kv "$f" p99_us)" "$(kv "$f" wfd_us_per_req)" "$(kv "$f" pg_us_per_req)" "$(kv "$f" non2xx)"
  done <"$RUN/runs"
}
mkdir -p "$B/results"
report | tee "$B/results/live-$STAMP.txt"
