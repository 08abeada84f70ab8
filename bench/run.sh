#!/usr/bin/env bash
# make bench: workflowd's throughput and latency behind the production nginx config, next to its
# ceilings, in one go, on a database in the same state every run.
#
#   bench/run.sh        (make bench; bench/smoke.sh = BENCH_SECONDS=2 BENCH_BUILD=debug bench/run.sh)
#
#   1. a fresh PostgreSQL cluster (.run/bench/pg), `workflowd migrate`, bench/sql/seed.sql
#      (BENCH_INSTANCES=2000 instances of BENCH_USERS=100 users + Created transition targets),
#      a Participant token per user, workflowd (WORKFLOWD_LOG_LEVEL=warning) on a unix socket
#      behind nginx rendered by scripts/nginx.sh from nginx/workflowd.conf
#   2. correctness check (bench/check.py): create 201, get 200, list 200, transition 200 answer right
#   3. wrk (bench/wrk/*.lua) at 16 and 64 connections: create, get, list, context (a containment
#      query: list filtered by context={"team":…}), transition, mixed, approval (two runs: request
#      approval, then approve the waits it opened; bench/approval.sh);
#      after each write scenario every acknowledged create/transition is looked up in the database
#   3b. the same through PgBouncer in transaction mode (bench/pgbouncer.sh): get, create and
#      transition against a second workflowd with WORKFLOWD_PGBOUNCER=transaction (BENCH_PGBOUNCER=0 skips)
#   3c. interleaved with 3 (right after each workflowd run, so both see the same machine): the same
#      create, get, list and transition runs against the C libfcgi + libpq responder
#      (bench/ceiling/fcgi_pg.c, workflowd's SQL captured from workflowd by bench/ceiling/capture.py),
#      behind the same nginx site; its answers are first compared with workflowd's (check.py compare).
#      Each pair runs twice, in both orders (workflowd, C, C, workflowd): the ratio that counts is
#      that of both runs together (report.py pairs), since the first run of a pair fared differently
#      from the second by tens of percent on this machine (bench/README.md)
#   4. ceilings: nginx `return 200`, a C libfcgi responder behind the same nginx site,
#      pgbench (bench/pgbench/*.sql) for workflowd's create statement, the naive 5-round-trip
#      create and the read by primary key
#   5. the table, on stdout and in bench/results/latest.txt (+ a timestamped copy) with raw output
#
# Env: BENCH_SECONDS (default 10: ~4 minutes for the whole run, excluding the build),
#      BENCH_BUILD=release|debug (default release; debug waits for .build/debug/workflowd and
#      never builds it), BENCH_NO_BUILD=1 (release: use .build/release/workflowd as it is),
#      BENCH_CONNS (default "16 64"), BENCH_USERS, BENCH_INSTANCES, BENCH_MAX_RPS (sizes the
#      transition targets; default 6000), WORKFLOWD_WORKERS (default max(8, 4 x cores)),
#      BENCH_PGBOUNCER=0 (skip the PgBouncer runs), BENCH_WEBHOOKS=0 (skip create with 1 and 10
#      webhook subscriptions and the delivery rate, bench/webhooks.sh),
#      BENCH_PAIRS=1 (one run each of workflowd and the C responder per scenario, not two in both orders),
#      BENCH_SCENARIOS (default "create get list context transition mixed approval"), BENCH_APPROVERS (10), BENCH_CEILINGS=0 (skip the
#      ceilings; pg: only the C libfcgi + libpq responder, for quick before/after ratios), BENCH_PERF=1 (perf record -g on workflowd during each of its scenarios; the top
#      symbols go to .run/bench/out/NAME/perf.txt; BENCH_PERF_CALLGRAPH=dwarf,32768 BENCH_PERF_FREQ=999
#      unwind through libpq/libfcgi/libc; BENCH_PERF_EVENT=probe_libc:malloc records allocations), BENCH_SYSCALLS=1 (perf stat of every syscall
#      of workflowd and of the C responder per scenario: per request in .run/bench/out/NAME/syscalls.txt). A partial run (other scenarios, no ceilings)
#      writes results/partial-*.txt and never replaces latest.txt.
# Exit status: non-zero when the harness breaks: the correctness check fails, a workflowd
# scenario got no 2xx, or the database does not hold exactly what was acknowledged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pgbouncer.sh"
source "$(dirname "$0")/approval.sh"
source "$(dirname "$0")/webhooks.sh"

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONNS=${BENCH_CONNS:-16 64}
ALL_SCENARIOS="create get list context transition mixed approval"
BENCH_SCENARIOS=${BENCH_SCENARIOS:-$ALL_SCENARIOS}
BENCH_CEILINGS=${BENCH_CEILINGS:-1}
BENCH_PAIRS=${BENCH_PAIRS:-2}
[[ $BENCH_PAIRS =~ ^(1|2)$ ]] || die "BENCH_PAIRS must be 1 or 2"
[[ $BENCH_CEILINGS =~ ^(0|1|pg)$ ]] || die "BENCH_CEILINGS must be 1, 0 or pg"
for scenario in $BENCH_SCENARIOS; do
  [[ " $ALL_SCENARIOS " == *" $scenario "* ]] || die "unknown scenario '$scenario' in BENCH_SCENARIOS (known: $ALL_SCENARIOS)"
done
[[ $BENCH_SECONDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive number of seconds"
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP=$(date -u +%Y%m%d-%H%M%S)
# bench/smoke.sh sets BENCH_REPORT=smoke so that its meaningless figures never replace latest.txt.
BENCH_REPORT=${BENCH_REPORT:-bench}
[[ $BENCH_SCENARIOS == "$ALL_SCENARIOS" && $BENCH_CEILINGS == 1 ]] || BENCH_REPORT=partial
if [[ $BENCH_REPORT == bench ]]; then LATEST=latest.txt; else LATEST=$BENCH_REPORT-latest.txt; fi
T0=$SECONDS

bench_lock
if [[ ${BENCH_PERF:-0} == 1 || ${BENCH_SYSCALLS:-0} == 1 ]]; then "$ROOT/scripts/install-deps.sh" --profiling; else "$ROOT/scripts/install-deps.sh"; fi
for tool in wrk pgbench psql nginx cc curl python3 openssl; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || die "$tool not found (run scripts/install-deps.sh)"
done
[[ -f /usr/include/fcgiapp.h ]] || die "fcgiapp.h not found (libfcgi-dev; run scripts/install-deps.sh)"

trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_prepare
bench_binary

# Transition targets: a transition run starts up to BENCH_SECONDS x BENCH_MAX_RPS instances;
# a mixed run's 10 % share gets 15 % of that.
per_run=$((BENCH_SECONDS * BENCH_MAX_RPS + 1000))
per_mixed=$((BENCH_SECONDS * BENCH_MAX_RPS * 15 / 100 + 1000))
TRANS_SEGMENTS=""
for c in $BENCH_CONNS; do TRANS_SEGMENTS+=" transition-c$c:$per_run mixed-c$c:$per_mixed"; done
# Approval targets: seeded Created like the others, made Running by bench_prepare_approvals (bench/approval.sh).
[[ " $BENCH_SCENARIOS " == *" approval "* ]] && for c in $BENCH_CONNS; do TRANS_SEGMENTS+=" approval-c$c:$per_run"; done
# The C libfcgi + libpq responder runs the workflowd scenarios it serves, interleaved with them.
PG_CEILING_SCENARIOS="create get list transition"
if [[ $BENCH_CEILINGS != 0 ]]; then
  for c in $BENCH_CONNS; do
    [[ " $BENCH_SCENARIOS " == *" transition "* ]] || continue
    TRANS_SEGMENTS+=" cpg-transition-c$c:$per_run"
    ((BENCH_PAIRS == 2)) && TRANS_SEGMENTS+=" transition-c$c-2:$per_run cpg-transition-c$c-2:$per_run"
  done
fi
BENCH_PGBOUNCER=${BENCH_PGBOUNCER:-1}
if [[ $BENCH_PGBOUNCER == 1 ]]; then
  for c in $BENCH_CONNS; do TRANS_SEGMENTS+=" pgbouncer-transition-c$c:$per_run"; done
fi
bench_start
[[ " $BENCH_SCENARIOS " == *" approval "* ]] && bench_prepare_approvals

failures=()
python3 "$B/check.py" "$BASE_URL" "$DATA" | tee "$RUN/check.txt" ||
  die "the correctness check failed: no benchmark of wrong answers (see above, .run/bench/workflowd0.log)"

# Warm-up (read-only): opens the pool's connections and prepares the read statements.
log "warm-up: 2 s of get at 64 connections (not recorded)"
BENCH_WRK_DIR=$B/wrk BENCH_DATA=$DATA BENCH_WRK_THREADS=$WRK_THREADS \
  wrk -t"$WRK_THREADS" -c64 -d2s -s "$B/wrk/get.lua" "$BASE_URL" >"$RUN/logs/warmup.txt" 2>&1 || true

if [[ $BENCH_CEILINGS != 0 ]]; then
  log "the C libfcgi + libpq responder (workflowd's SQL, captured from workflowd)"
  bench_start_pg_ceiling
  python3 "$B/check.py" compare "$BASE_URL" "$PGC_URL" "$DATA" | tee "$RUN/check-ceiling-pg.txt" ||
    die "the C responder does not answer as workflowd does: its figures would not compare (see above)"
  BENCH_WRK_DIR=$B/wrk BENCH_DATA=$DATA BENCH_WRK_THREADS=$WRK_THREADS \
    wrk -t"$WRK_THREADS" -c64 -d2s -s "$B/wrk/get.lua" "$PGC_URL" >"$RUN/logs/warmup-pg.txt" 2>&1 || true
fi

# run_scenario NAME SCENARIO TARGET CONNS URL: one wrk run, then its write check and notes.
run_scenario() {
  local name=$1 scenario=$2 target=$3 c=$4 url=$5 trans="" before ok ex
  [[ $scenario == transition || $scenario == mixed ]] && trans=$name
  before=$(db_counts)
  run_wrk "$name" "$scenario" "$target" "$c" "$url" "$BENCH_SECONDS" "$trans"
  ok=$(kv "$OUT/$name/result" ok)
  ((${ok:-0} > 0)) || failures+=("$name: no 2xx response (see $OUT/$name/wrk.txt and errors.*)")
  if [[ $scenario == create || $scenario == transition || $scenario == mixed ]]; then
    verify_writes "$name" "$c" "$before" || failures+=("$name: $(kv "$OUT/$name/result" verify)")
    log "  $(kv "$OUT/$name/result" verify)"
  fi
  ex=$(kv "$OUT/$name/result" exhausted)
  ((${ex:-0} == 0)) ||
    log "  NOTE: $name ran out of seeded Created instances; $ex requests reused started ones (400s). Raise BENCH_MAX_RPS."
}

for scenario in $BENCH_SCENARIOS; do
  for c in $BENCH_CONNS; do
    [[ $scenario == approval ]] && { run_approval "$c"; continue; }
    if [[ $BENCH_CEILINGS != 0 && " $PG_CEILING_SCENARIOS " == *" $scenario "* ]]; then
      # workflowd, then the C responder; with BENCH_PAIRS=2 then again in the other order (names -2), so that
      # whatever the first run of a pair pays or leaves behind falls on each of them once.
      run_scenario "$scenario-c$c" "$scenario" workflowd "$c" "$BASE_URL"
      run_scenario "cpg-$scenario-c$c" "$scenario" fcgi-pg "$c" "$PGC_URL"
      if ((BENCH_PAIRS == 2)); then
        run_scenario "cpg-$scenario-c$c-2" "$scenario" fcgi-pg "$c" "$PGC_URL"
        run_scenario "$scenario-c$c-2" "$scenario" workflowd "$c" "$BASE_URL"
      fi
    else
      run_scenario "$scenario-c$c" "$scenario" workflowd "$c" "$BASE_URL"
    fi
  done
done

# Webhooks: create with 1 and 10 matching subscriptions, then the delivery rate (bench/webhooks.sh).
if [[ ${BENCH_WEBHOOKS:-1} == 1 && " $BENCH_SCENARIOS " == *" create "* ]]; then
  bench_webhooks
fi

if [[ $BENCH_PGBOUNCER == 1 ]]; then
  bench_start_pgbouncer
  for scenario in get create transition; do
    for c in $BENCH_CONNS; do
      name=pgbouncer-$scenario-c$c
      trans=""
      [[ $scenario == transition ]] && trans=$name
      before=$(db_counts)
      run_wrk_pgbouncer "$name" "$scenario" "$c" "$BENCH_SECONDS" "$trans"
      ok=$(kv "$OUT/$name/result" ok)
      ((${ok:-0} > 0)) || failures+=("$name: no 2xx response (see $OUT/$name/wrk.txt and errors.*)")
      if [[ $scenario != get ]]; then
        verify_writes "$name" "$c" "$before" || failures+=("$name: $(kv "$OUT/$name/result" verify)")
        log "  $(kv "$OUT/$name/result" verify)"
      fi
    done
  done
  bench_stop_pgbouncer
fi

if [[ $BENCH_CEILINGS == 1 ]]; then
log "ceilings"
bench_start_ceiling
for c in $BENCH_CONNS; do
  run_wrk "nginx-return200-c$c" get nginx "$c" "http://127.0.0.1:$R200_PORT" "$BENCH_SECONDS" "" "return 200"
done
for c in $BENCH_CONNS; do
  run_wrk "fcgi-c-c$c" get fcgi-c "$c" "http://127.0.0.1:$CEIL_PORT" "$BENCH_SECONDS" "" "fixed JSON"
done
for script in create_single create_naive get; do
  for c in $BENCH_CONNS; do
    case $script in
      create_single) name=pgbench-create-1stmt-c$c label="create, 1 statement" ;;
      create_naive) name=pgbench-create-naive-c$c label="create, naive 5 trips" ;;
      get) name=pgbench-get-c$c label="get by primary key" ;;
    esac
    run_pgbench "$name" "$script" "$c" "$BENCH_SECONDS" "$label"
  done
done
fi
# the ceilings' own zero-2xx check
while read -r name; do
  [[ $(kv "$OUT/$name/result" target) == workflowd ]] && continue
  ok=$(kv "$OUT/$name/result" ok)
  ((${ok:-0} > 0)) || failures+=("$name: the ceiling answered nothing right")
done <"$RUN/runs"

# The report.
ELAPSED=$((SECONDS - T0))
mkdir -p "$B/results"
report=$RUN/report.txt
{
  echo "workflowd benchmark, $STARTED ($((ELAPSED / 60)) min $((ELAPSED % 60)) s)"
  echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
    [[ -n $(git -C "$ROOT" status --porcelain -- Sources Package.swift 2>/dev/null) ]] && echo ' + uncommitted changes in Sources/')"
  echo "build $BENCH_BUILD: $BIN_SOURCE (built $BIN_MTIME, $BIN_RUNTIME)"
  echo "machine: $CORES cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); wrk, nginx, workflowd and PostgreSQL share them"
  echo "workflowd: $WORKERS workers, pool $WORKERS, WORKFLOWD_LOG_LEVEL=warning (request logging off), unix socket behind nginx/workflowd.conf (1 worker process)"
  echo "PostgreSQL $(psql_q -c 'SHOW server_version'), fresh cluster, default settings (fsync on), workflowd and pgbench connect over $( [[ ${BENCH_PG_TRANSPORT:-socket} == socket ]] && echo "its unix socket" || echo "loopback TCP"); seeded $BENCH_INSTANCES instances of $BENCH_USERS users + $(( (per_run + per_mixed) * $(wc -w <<<"$BENCH_CONNS") )) Created transition targets"
  echo "wrk -t$WRK_THREADS -c{$(tr ' ' ',' <<<"$BENCH_CONNS")} -d${BENCH_SECONDS}s --latency --timeout 10s; pgbench -M prepared -j$WRK_THREADS -T$BENCH_SECONDS; C ceiling: $WORKERS threads"
  echo
  python3 "$B/report.py" table "$RUN"
  echo
  python3 "$B/report.py" gap "$RUN"
  echo
  python3 "$B/report.py" pairs "$RUN"
  echo
  echo "vs ceiling: req/s of workflowd / req/s of the ceiling at the same connections (create: pgbench naive"
  echo "5-round-trip create and workflowd's single statement; get and the rest: the C libfcgi responder)."
  echo "vs C+pg: req/s of workflowd / req/s of the C libfcgi + libpq responder (workflowd's SQL and JSON, no JWT"
  echo "verification) in the run right after it ((2nd): the run right before it). The second table: CPU per"
  echo "request of the whole machine's share that serves it (responder + nginx + PostgreSQL), workflowd's minus"
  echo "the C responder's. The third: both orders of each pair together, the ratio that counts (a pair's first"
  echo "run fares differently from its second on this machine; bench/README.md)."
  echo "CPU us/req: utime+stime from /proc during the run / requests (nginx: its master and workers; pg: the"
  echo "postmaster and all backends). Peak RSS: workflowd's VmHWM after the run (process lifetime)."
  echo
  [[ -f $RUN/webhooks.txt ]] && { cat "$RUN/webhooks.txt"; echo; }
  echo "write checks (every 2xx create/transition/approval request/approval looked up by id, with its events):"
  while read -r name; do
    v=$(kv "$OUT/$name/result" verify)
    [[ -n $v ]] && echo "  $name: $v (unacknowledged writes in flight at stop: $(kv "$OUT/$name/result" unacknowledged_writes))"
  done <"$RUN/runs"
  if ((${#failures[@]})); then
    echo
    echo "HARNESS FAILURES:"
    printf '  %s\n' "${failures[@]}"
  fi
} >"$report"

{
  cat "$report"
  echo
  echo "================ raw results ================"
  cat "$RUN/check.txt"
  while read -r name; do
    echo
    echo "---------------- $name ----------------"
    cat "$OUT/$name/result"
    [[ -f $OUT/$name/wrk.txt ]] && grep -v '^RESULT ' "$OUT/$name/wrk.txt"
    [[ -f $OUT/$name/pgbench.txt ]] && cat "$OUT/$name/pgbench.txt"
    for f in "$OUT/$name"/errors.*; do [[ -f $f ]] && { echo "first non-2xx answers ($(basename "$f")):"; cat "$f"; }; done
  done <"$RUN/runs"
} >"$B/results/$LATEST"
cp "$B/results/$LATEST" "$B/results/$BENCH_REPORT-$STAMP.txt"

echo
cat "$report"
echo
echo "written to bench/results/$LATEST and bench/results/$BENCH_REPORT-$STAMP.txt"
((${#failures[@]} == 0)) || exit 1
