#!/usr/bin/env bash
# Before and after a change, on a machine too noisy for throughput: two workflowd binaries on one
# stack (same cluster, same data, each behind its own nginx with the production site), the same wrk
# runs alternating A B A B …, and CPU µs per request of each responder, its nginx and PostgreSQL.
#
#   bench/ab.sh A_BINARY B_BINARY        e.g. a copy of .build/release/workflowd from before the change
#
# Env: BENCH_AB_SCENARIOS (default "get create"), BENCH_AB_ROUNDS (4), BENCH_SECONDS (5), BENCH_AB_CONNS (16).
# Its stack lives under .run/ab and is stopped at the end. The table: stdout and bench/results/ab-latest.txt;
# "median" is each side's median over the rounds, "B-A" the difference of the medians.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
(($# == 2)) && [[ -x $1 && -x $2 ]] || die "usage: bench/ab.sh A_BINARY B_BINARY (two workflowd executables)"
BENCH_SECONDS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_AB_ROUNDS:-4}
CONNS=${BENCH_AB_CONNS:-16}
SCENARIOS=${BENCH_AB_SCENARIOS:-get create}
bench_own_stack ab
BIN=$RUN/workflowd
cp "$1" "$BIN"
cp "$2" "$RUN/workflowd-b"
TRANS_SEGMENTS=""
for ((r = 1; r <= ROUNDS; r++)); do
  TRANS_SEGMENTS+=" a-$r:$((BENCH_SECONDS * BENCH_MAX_RPS + 1000)) b-$r:$((BENCH_SECONDS * BENCH_MAX_RPS + 1000))"
done
bench_start
A_PID=$WFD_PID A_NGINX=$NGINX_PID A_URL=$BASE_URL
bench_start_responder b "$RUN/workflowd-b" 10
B_PID=$RESPONDER_PID B_NGINX=$RESPONDER_NGINX_PID B_URL=$RESPONDER_URL
for url in "$A_URL" "$B_URL"; do bench_warm_up "$url" "$CONNS" 2; done

for ((r = 1; r <= ROUNDS; r++)); do
  for scenario in $SCENARIOS; do
    for side in a b; do
      if [[ $side == a ]]; then WFD_PID=$A_PID NGINX_PID=$A_NGINX url=$A_URL; else WFD_PID=$B_PID NGINX_PID=$B_NGINX url=$B_URL; fi
      trans=""
      [[ $scenario == transition ]] && trans=$side-$r
      run_wrk "$scenario-$side-$r" "$scenario" workflowd "$CONNS" "$url" "$BENCH_SECONDS" "$trans"
      echo "loadavg=$(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/$scenario-$side-$r/result"
    done
  done
done

mkdir -p "$B/results"
{
  echo "bench/ab.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ): A = $1 ($(date -u -r "$1" +%H:%M:%SZ)), B = $2 ($(date -u -r "$2" +%H:%M:%SZ))"
  echo "$ROUNDS rounds of A then B, $CONNS connections, ${BENCH_SECONDS}s per run; 1-min load average per run in the last column"
  python3 - "$OUT" "$ROUNDS" $SCENARIOS <<'PY'
import statistics, sys
out, rounds, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def kv(path):
    return dict(l.rstrip("\n").split("=", 1) for l in open(path) if "=" in l)
print("| scenario | side | req/s per round | wfd us/req per round | median wfd | of it user space | median wfd+nginx+pg | loads |")
print("|---|---|---|---|---|---|---|---|")
for s in scenarios:
    medians = {}
    for side in "ab":
        runs = [kv(f"{out}/{s}-{side}-{r}/result") for r in range(1, rounds + 1)]
        wfd = [float(x["wfd_us_per_req"]) for x in runs]
        total = [float(x["wfd_us_per_req"]) + float(x["nginx_us_per_req"]) + float(x["pg_us_per_req"]) for x in runs]
        user = statistics.median(float(x["responder_user_us_per_req"]) for x in runs)
        medians[side] = (statistics.median(wfd), statistics.median(total), user)
        rps = " ".join("%.0f" % float(x["rps"]) for x in runs)
        per_round = " ".join("%.0f" % w for w in wfd)
        loads = " ".join(x.get("loadavg", "?") for x in runs)
        print(f"| {s} | {side.upper()} | {rps} | {per_round} | {medians[side][0]:.0f} | {medians[side][2]:.0f} | {medians[side][1]:.0f} | {loads} |")
    print(f"| {s} | B-A | | | {medians['b'][0] - medians['a'][0]:+.0f} | {medians['b'][2] - medians['a'][2]:+.0f} | "
          f"{medians['b'][1] - medians['a'][1]:+.0f} | |")
PY
} | tee "$B/results/ab-latest.txt"
