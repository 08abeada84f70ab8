#!/usr/bin/env bash
# Where the gap to the C responder comes from. Four responders on one stack, measured in turn each round:
#   w  workflowd as shipped;
#   n  the same binary with live updates off (WORKFLOWD_MAX_WAITERS=0: no change notifier, no LISTEN
#      connection, so no pg_notify per batch of writes — work the C responder does not do);
#   c  the C libfcgi + libpq responder with workflowd's SQL (bench/ceiling/fcgi_pg.c);
#   s  the same C responder burning, per request, the CPU workflowd costs beyond it (BENCH_PG_SPIN_US:
#      workflowd's CPU µs per request minus the C responder's, measured in the same round).
# Where s lands next to n, in throughput and in PostgreSQL's CPU per request, is what workflowd's own CPU
# per request explains; n next to w is what live updates cost; anything else workflowd does shows as a
# difference between s and n.
#
#   bench/gap.sh [BINARY]        default: .build/release/workflowd (build it first)
#
# Env: BENCH_GAP_SCENARIOS (default "create transition"), BENCH_GAP_ROUNDS (3), BENCH_SECONDS (8),
#      BENCH_GAP_CONNS (16). Its stack lives under .run/gap and is stopped at the end. The table: stdout
#      and bench/results/gap-latest.txt; medians over the rounds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BINARY=${1:-$ROOT/.build/release/workflowd}
[[ -x $BINARY ]] || die "not an executable: $BINARY"
BENCH_SECONDS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_GAP_ROUNDS:-3}
CONNS=${BENCH_GAP_CONNS:-16}
SCENARIOS=${BENCH_GAP_SCENARIOS:-create transition}
bench_own_stack gap
BIN=$RUN/workflowd
cp "$BINARY" "$BIN"
TRANS_SEGMENTS=""
for ((r = 1; r <= ROUNDS; r++)); do
  for side in w n c s; do TRANS_SEGMENTS+=" $side-$r:$((BENCH_SECONDS * BENCH_MAX_RPS + 1000))"; done
done
bench_start
W_PID=$WFD_PID W_NGINX=$NGINX_PID
bench_start_responder nolive "$BIN" 10 --env WORKFLOWD_MAX_WAITERS=0
N_PID=$RESPONDER_PID N_NGINX=$RESPONDER_NGINX_PID N_URL=$RESPONDER_URL
bench_start_pg_ceiling
for url in "$BASE_URL" "$N_URL" "$PGC_URL"; do bench_warm_up "$url" "$CONNS" 2; done

# (Re)starts the C responder spinning $1 µs per request, behind the same nginx and socket.
launch_c() {
  bench_launch_pg_ceiling 10 env BENCH_PG_SPIN_US="$1"
  "$ROOT/scripts/stack.sh" wait-http "$PGC_URL/api/v1/health" 30 "$PGC_PID" ||
    { cat "$RUN/logs/ceiling-pg.log" >&2; die "the C responder does not answer"; }
  bench_warm_up "$PGC_URL" "$CONNS" 1
}

for ((r = 1; r <= ROUNDS; r++)); do
  for scenario in $SCENARIOS; do
    trans() { [[ $scenario == transition ]] && echo "$1-$r" || true; }
    # Odd rounds w n c s, even rounds c w n s: no responder always runs first after the other scenario.
    # The spin needs this round's w and c, so s comes last.
    order="w n c s"
    ((r % 2 == 0)) && order="c w n s"
    for side in $order; do
      case $side in
        w) WFD_PID=$W_PID NGINX_PID=$W_NGINX run_wrk "$scenario-w-$r" "$scenario" workflowd "$CONNS" "$BASE_URL" "$BENCH_SECONDS" "$(trans w)" ;;
        n) WFD_PID=$N_PID NGINX_PID=$N_NGINX run_wrk "$scenario-n-$r" "$scenario" workflowd "$CONNS" "$N_URL" "$BENCH_SECONDS" "$(trans n)" ;;
        c) launch_c 0
           run_wrk "$scenario-c-$r" "$scenario" fcgi-pg "$CONNS" "$PGC_URL" "$BENCH_SECONDS" "$(trans c)" ;;
        s) spin=$(($(kv "$OUT/$scenario-w-$r/result" wfd_us_per_req) - $(kv "$OUT/$scenario-c-$r/result" ceiling_us_per_req)))
           ((spin > 0)) || spin=0
           launch_c "$spin"
           run_wrk "$scenario-s-$r" "$scenario" fcgi-pg "$CONNS" "$PGC_URL" "$BENCH_SECONDS" "$(trans s)"
           echo "spin_us=$spin" >>"$OUT/$scenario-s-$r/result" ;;
      esac
    done
  done
done

mkdir -p "$B/results"
{
  echo "bench/gap.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'): $BINARY"
  echo "$ROUNDS rounds of workflowd, workflowd without live updates, the C responder, the C responder spinning workflowd's extra CPU; $CONNS connections, ${BENCH_SECONDS}s per run"
  python3 - "$OUT" "$ROUNDS" $SCENARIOS <<'PY'
import statistics, sys
out, rounds, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def kv(path):
    return dict(l.rstrip("\n").split("=", 1) for l in open(path) if "=" in l)
names = {"w": "workflowd", "n": "workflowd, live updates off", "c": "C + libpq", "s": "C + libpq + spin"}
print("| scenario | responder | req/s per round | median req/s | vs workflowd | responder CPU µs/req | of it user space | nginx µs/req | PostgreSQL µs/req | spin µs |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s in scenarios:
    runs = {side: [kv(f"{out}/{s}-{side}-{r}/result") for r in range(1, rounds + 1)] for side in "wncs"}
    med = lambda side, key: statistics.median(float(x[key]) for x in runs[side])
    base = med("w", "rps")
    for side in "wncs":
        cpu = "wfd_us_per_req" if side in "wn" else "ceiling_us_per_req"
        rps = " ".join("%.0f" % float(x["rps"]) for x in runs[side])
        spin = f"{med(side, 'spin_us'):.0f}" if side == "s" else ""
        print(f"| {s} | {names[side]} | {rps} | {med(side, 'rps'):.0f} | {med(side, 'rps') / base:.2f} | "
              f"{med(side, cpu):.0f} | {med(side, 'responder_user_us_per_req'):.0f} | {med(side, 'nginx_us_per_req'):.0f} | "
              f"{med(side, 'pg_us_per_req'):.0f} | {spin} |")
PY
} | tee "$B/results/gap-latest.txt"
