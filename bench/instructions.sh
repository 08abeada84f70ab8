#!/usr/bin/env bash
# Instructions per request, counted instead of timed. The responders run under valgrind's callgrind,
# which counts every user-space instruction their threads execute (libfcgi, libpq, libc and the Swift
# runtime included; the kernel not): the same binary and scenario give the same count within ~0.1 %
# from run to run, where CPU time per request on this shared machine moves by ±5 % (bench/ab.sh).
# So a change of 1-3 % is measurable here and nowhere else; and the C libfcgi + libpq responder
# (bench/ceiling/fcgi_pg.c, workflowd's SQL) run the same way shows what workflowd's code adds.
#
#   bench/instructions.sh [BINARY...]    default: .build/release/workflowd (build it first)
#
# Env: BENCH_INSN_SCENARIOS (default "get list create transition"), BENCH_SECONDS (per run, default 5),
#      BENCH_INSN_CONNS (default 4), BENCH_INSN_CEILING=0 (skip the C responder),
#      BENCH_INSN_VALGRIND_ARGS (e.g. "--cache-sim=yes": also instruction-cache misses and callgrind's
#      cycle estimate, Ir + 10 x L1 misses + 100 x last-level misses, from its simulated caches).
# Needs valgrind (scripts/install-deps.sh --profiling). The binaries run without their DWARF sections
# (valgrind 3.19 cannot read Swift's DWARF 5; the symbols stay). Each run is counted from a zeroed
# counter to a dump right after wrk ends, over every thread of the process (the change notifier and the
# LISTEN connection's thread included; their idle polling adds a few instructions per request at most).
# The table: stdout and bench/results/instructions-latest.txt; per run, the 60 functions with the most
# instructions (inclusive, demangled) in .run/insn/out/NAME/functions.txt and the dump itself in
# .run/insn/out/NAME/callgrind.out (e.g. `callgrind_annotate --tree=caller` for who calls what).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  die "valgrind is not installed (scripts/install-deps.sh --profiling installs it)"
BENCH_SECONDS=${BENCH_SECONDS:-5}
CONNS=${BENCH_INSN_CONNS:-4}
SCENARIOS=${BENCH_INSN_SCENARIOS:-get list create transition}
CEILING=${BENCH_INSN_CEILING:-1}
BINARIES=("$@")
((${#BINARIES[@]})) || BINARIES=("$ROOT/.build/release/workflowd")
for bin in "${BINARIES[@]}"; do [[ -x $bin ]] || die "not an executable: $bin"; done
bench_own_stack insn

# Under callgrind a responder serves ~1,000 requests/s at most: transition targets for that.
TRANS_SEGMENTS=""
for ((i = 0; i < ${#BINARIES[@]}; i++)); do TRANS_SEGMENTS+=" w$i:$((BENCH_SECONDS * 1500 + 1000))"; done
TRANS_SEGMENTS+=" c:$((BENCH_SECONDS * 1500 + 1000))"
BIN=$RUN/workflowd
cp "${BINARIES[0]}" "$BIN"
bench_start
((CEILING)) && bench_start_pg_ceiling  # captures workflowd's SQL through the stack as started

# A copy of BINARY without DWARF sections, and a launcher that runs it under callgrind with counting on.
callgrind_launcher() {  # callgrind_launcher BINARY NAME → prints the launcher's path
  objcopy --strip-debug "$1" "$RUN/$2-nodebug" || die "objcopy --strip-debug $1 failed"
  cat >"$RUN/$2" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind ${BENCH_INSN_VALGRIND_ARGS:-} --callgrind-out-file="$RUN/callgrind.$2.%p" "$RUN/$2-nodebug" "\$@"
EOF
  chmod +x "$RUN/$2"
  echo "$RUN/$2"
}

# count NAME PID SCENARIO TARGET URL TRANS: one wrk run between a zeroed counter and a dump.
count() {
  local name=$1 pid=$2 file
  callgrind_control -z "$pid" >/dev/null || die "callgrind_control -z $pid failed"
  run_wrk "$name" "$3" "$4" "$CONNS" "$5" "$BENCH_SECONDS" "$6"
  callgrind_control -d "$pid" >/dev/null || die "callgrind_control -d $pid failed"
  file=$(find "$RUN" -maxdepth 1 -name "callgrind.*.$pid.[0-9]*" | head -n 1)
  [[ -n $file ]] || die "no callgrind dump for $name"
  mv "$file" "$OUT/$name/callgrind.out"  # for callgrind_annotate --tree=caller and the like
  file=$OUT/$name/callgrind.out
  echo "instructions=$(awk '$1 == "totals:" { print $2 }' "$file")" >>"$OUT/$name/result"
  # With --cache-sim=yes: every event, named (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw).
  awk '$1 == "events:" { for (i = 2; i <= NF; i++) name[i] = $i } $1 == "totals:" { for (i = 2; i <= NF; i++) print "event_" name[i] "=" $i }' \
    "$file" >>"$OUT/$name/result"
  callgrind_annotate --inclusive=yes "$file" 2>/dev/null | sed -n '/PROGRAM TOTALS/,$p' | head -n 64 |
    swift demangle --simplified --compact | cut -c1-220 >"$OUT/$name/functions.txt" || true
}

# Every responder is started before the first count and each scenario is counted on all of them in turn,
# so that all reads see the data as seeded (a listing's first page after the creates holds other instances).
NAMES=() PIDS=() URLS=() TARGETS=()
for ((i = 0; i < ${#BINARIES[@]}; i++)); do
  launcher=$(callgrind_launcher "${BINARIES[$i]}" "workflowd-w$i")
  log "workflowd ${BINARIES[$i]} under callgrind (w$i)"
  bench_start_responder "w$i" "$launcher" 120
  NAMES+=("w$i") PIDS+=("$RESPONDER_PID") URLS+=("$RESPONDER_URL") TARGETS+=(workflowd)
done
if ((CEILING)); then
  log "the C libfcgi + libpq responder under callgrind (c)"
  # shellcheck disable=SC2086  # BENCH_INSN_VALGRIND_ARGS: words, like the launcher's
  bench_launch_pg_ceiling 60 valgrind --tool=callgrind ${BENCH_INSN_VALGRIND_ARGS:-} --callgrind-out-file="$RUN/callgrind.c.%p"
  "$ROOT/scripts/stack.sh" wait-http "$PGC_URL/api/v1/health" 60 "$PGC_PID" ||
    { cat "$RUN/logs/ceiling-pg.log" >&2; die "the C responder under callgrind does not answer"; }
  NAMES+=(c) PIDS+=("$PGC_PID") URLS+=("$PGC_URL") TARGETS+=(fcgi-pg)
fi
for url in "${URLS[@]}"; do bench_warm_up "$url" "$CONNS" 3; done
for scenario in $SCENARIOS; do
  for ((k = 0; k < ${#NAMES[@]}; k++)); do
    trans=""
    [[ $scenario == transition ]] && trans=${NAMES[$k]}
    WFD_PID=${PIDS[$k]}
    [[ ${TARGETS[$k]} == workflowd ]] && NGINX_PID=$(cat "$RUN/nginx-${NAMES[$k]}/nginx.pid")
    count "$scenario-${NAMES[$k]}" "${PIDS[$k]}" "$scenario" "${TARGETS[$k]}" "${URLS[$k]}" "$trans"
  done
done

mkdir -p "$B/results"
{
  echo "bench/instructions.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  for ((i = 0; i < ${#BINARIES[@]}; i++)); do
    echo "w$i: ${BINARIES[$i]} (built $(date -u -r "${BINARIES[$i]}" +%Y-%m-%dT%H:%M:%SZ))"
  done
  ((CEILING)) && echo "c: the C libfcgi + libpq responder (bench/ceiling/fcgi_pg.c, cc -O2), workflowd's SQL"
  echo "user-space instructions per request (thousands) of the whole responder process, under callgrind;"
  echo "$CONNS connections, ${BENCH_SECONDS}s per run, $WORKERS workers/threads"
  python3 - "$OUT" "$SCENARIOS" "${NAMES[@]}" <<'PY'
import sys
out, scenarios, names = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def kv(path):
    return dict(l.rstrip("\n").split("=", 1) for l in open(path) if "=" in l)
header = ["scenario"] + [f"{n} k instr/req" for n in names] + [f"{n}/c" for n in names if n != "c" and "c" in names]
cached = "event_I1mr" in kv(f"{out}/{scenarios[0]}-{names[0]}/result")
if cached:  # --cache-sim=yes: instruction-cache misses and callgrind's cycle estimate, per request
    header += [f"{n} I1 misses/req" for n in names] + [f"{n} k est. cycles/req" for n in names]
print("| " + " | ".join(header) + " |")
print("|" + "---|" * len(header))
for s in scenarios:
    per, misses, cycles = {}, {}, {}
    for n in names:
        r = kv(f"{out}/{s}-{n}/result")
        requests = int(r["requests"])
        per[n] = int(r["instructions"]) / requests / 1000
        if cached:
            e = {k[6:]: int(v) for k, v in r.items() if k.startswith("event_")}
            misses[n] = e["I1mr"] / requests
            l1 = e["I1mr"] + e["D1mr"] + e["D1mw"]
            ll = e["ILmr"] + e["DLmr"] + e["DLmw"]
            cycles[n] = (e["Ir"] + 10 * l1 + 100 * ll) / requests / 1000
    row = [s] + [f"{per[n]:.1f}" for n in names] + [f"{per[n] / per['c']:.2f}" for n in names if n != "c" and "c" in names]
    if cached:
        row += [f"{misses[n]:.0f}" for n in names] + [f"{cycles[n]:.1f}" for n in names]
    print("| " + " | ".join(row) + " |")
PY
} | tee "$B/results/instructions-latest.txt"
