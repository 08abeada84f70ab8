# Shared by bench/run.sh and bench/soak.sh (sourced, not run).
#
# Everything started here lives under .run/bench/: the stack of scripts/stack.sh (cluster in pg/,
# workflowd0.pid/.log/.sock, nginx/) and the C ceiling in ceiling/ (ceiling.pid: its command line
# names "workflowd", so `scripts/stack.sh sweep .run/bench` stops any leftovers; bench_cleanup, an
# EXIT trap, does that at the end of every run).

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
B=$ROOT/bench
RUN=$ROOT/.run/bench
DATA=$RUN/data
OUT=$RUN/out
source "$ROOT/scripts/lib.sh"  # close_inherited_fds
command -v swift >/dev/null 2>&1 || PATH=/opt/swift/usr/bin:$PATH

BENCH_BUILD=${BENCH_BUILD:-release}
BENCH_USERS=${BENCH_USERS:-100}
BENCH_INSTANCES=${BENCH_INSTANCES:-2000}
# An upper bound on any scenario's req/s on this machine: sizes the pool of seeded Created
# instances the transition scenarios start (each once). Running out shows as 400s ("exhausted").
BENCH_MAX_RPS=${BENCH_MAX_RPS:-6000}
WRK_THREADS=2
# workflowd's own defaults (README): workers max(8, 4 x cores), pool = workers. The C ceiling gets
# as many threads.
CORES=$(nproc)
WORKERS=${WORKFLOWD_WORKERS:-$((4 * CORES > 8 ? 4 * CORES : 8))}
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# One bench/soak at a time (they share .run/bench and the machine).
bench_lock() {
  mkdir -p "$ROOT/.run"
  exec {BENCH_LOCK_FD}>"$ROOT/.run/bench.lock"
  flock -n "$BENCH_LOCK_FD" || die "another bench/run.sh or bench/soak.sh is running (.run/bench.lock)"
}

# The start of a script with a stack of its own under .run/NAME (bench/ab.sh, gap.sh, instructions.sh,
# wal.sh): one run at a time (.run/NAME.lock), an earlier run's leftovers swept, what it starts stopped on exit.
bench_own_stack() {  # bench_own_stack NAME
  RUN=$ROOT/.run/$1 DATA=$ROOT/.run/$1/data OUT=$ROOT/.run/$1/out
  mkdir -p "$ROOT/.run"
  exec {OWN_LOCK_FD}>"$ROOT/.run/$1.lock"
  flock -n "$OWN_LOCK_FD" || die "another bench script is using .run/$1 (.run/$1.lock)"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  bench_prepare
}

# Leftovers of an earlier run: stop them, wipe .run/bench, make its directories.
bench_prepare() {
  "$ROOT/scripts/stack.sh" sweep "$RUN"
  mkdir -p "$RUN/logs" "$DATA" "$OUT"
  : >"$RUN/runs"
}

# Sets BIN: a copy of the workflowd binary under .run/bench (so that a rebuild during the run
# cannot change what is measured). release: `swift build -c release --static-swift-stdlib` first, the
# binary `make release` and the Debian package ship (a no-op when up to date; BENCH_NO_BUILD=1 skips
# it). debug: never builds (the other builds own .build/debug) but waits up to BENCH_DEBUG_WAIT
# seconds (default 1800) for .build/debug/workflowd to exist.
bench_binary() {
  local src
  case $BENCH_BUILD in
    release)
      src=$ROOT/.build/release/workflowd
      if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        log "swift build -c release --static-swift-stdlib (a no-op when up to date; 5-10 minutes from scratch)"
        local attempt built=0
        for attempt in 1 2 3; do
          # A source edited while the build runs fails it ("modified during the build"): try again.
          if swift build -c release --static-swift-stdlib >"$RUN/logs/build.log" 2>&1; then built=1; break; fi
          grep -q 'modified during the build' "$RUN/logs/build.log" || break
          log "a source changed during the build; building again"
        done
        tail -n 3 "$RUN/logs/build.log" >&2
        ((built)) || die "release build failed ($RUN/logs/build.log)"
      fi ;;
    debug)
      src=$ROOT/.build/debug/workflowd
      local i wait=${BENCH_DEBUG_WAIT:-1800}
      for ((i = 0; i < wait / 5; i++)); do
        [[ -x $src ]] && break
        ((i % 12 == 0)) && log "waiting for $src (built by \`swift build\`, not by this script)"
        sleep 5
      done ;;
    *) die "BENCH_BUILD must be release or debug, not '$BENCH_BUILD'" ;;
  esac
  [[ -x $src ]] || die "$src not found (BENCH_BUILD=$BENCH_BUILD)"
  BIN_SOURCE=$src
  BIN_MTIME=$(date -u -r "$src" +%Y-%m-%dT%H:%M:%SZ)
  # The shipped binary has the Swift runtime linked in; one loading it as shared libraries costs
  # workflowd ~4-8 us more per request (every retain, release and String call through the PLT).
  BIN_RUNTIME="Swift runtime linked in"
  ldd "$src" 2>/dev/null | grep -q libswiftCore && BIN_RUNTIME="Swift runtime as shared libraries"
  BIN=$RUN/workflowd
  cp "$src" "$BIN"
}

# Stops whatever runs under .run/bench (pid files), keeps the logs, drops the cluster's data.
bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -d $RUN ]] || exit "$rc"
  log "stopping what the run started (.run/bench)"
  [[ -f $RUN/pg/postgres.log ]] && cp "$RUN/pg/postgres.log" "$RUN/logs/postgres.log" 2>/dev/null
  "$ROOT/scripts/stack.sh" sweep "$RUN" --keep || true
  "$ROOT/scripts/pg.sh" destroy "$RUN/pg" || true
  [[ -f $RUN/receiver.pid ]] && kill "$(cat "$RUN/receiver.pid")" 2>/dev/null
  rm -f "$RUN/workflowd" "$RUN/workflowd-bench-ceiling" "$RUN/workflowd-bench-pg" "$RUN"/*.sock "$RUN"/ceiling/*.sock \
    "$RUN"/ceiling-pg/*.sock
  exit "$rc"
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -tA "$DATABASE_URL" "$@"; }

# nginx/workflowd.conf without its per-client `limit_req` lines: the bench is one client (one address)
# at thousands of requests a second, which the shipped limits would answer with 429.
unlimited_site() { sed '/^[[:space:]]*limit_req zone=/d' "$ROOT/nginx/workflowd.conf"; }

# The stack (scripts/stack.sh: a fresh cluster, migrated; workflowd with log level warning behind
# nginx with the production site + a `return 200` server block), then the database seeded, tokens
# and the wrk data files.
# TRANS_SEGMENTS: "name:size ..." ranges of seeded Created instances for the transition runs.
bench_start() {
  PG_PORT=$("$ROOT/scripts/pg.sh" free-port)
  PORT=$("$ROOT/scripts/pg.sh" free-port)
  R200_PORT=$("$ROOT/scripts/pg.sh" free-port)
  # workflowd and pgbench reach PostgreSQL the same way: its unix socket by default (how a local
  # PostgreSQL is usually deployed), loopback TCP with BENCH_PG_TRANSPORT=tcp.
  local transport=()
  case ${BENCH_PG_TRANSPORT:-socket} in
    socket) transport=(--pg-socket) ;;
    tcp) ;;
    *) die "BENCH_PG_TRANSPORT must be socket or tcp" ;;
  esac
  # The production site without its rate limits, plus a `return 200` server block for the nginx ceiling.
  local body
  body=$(tr -d '\n' <"$B/ceiling/response.json")
  { unlimited_site; echo
    sed -e "s/@PORT@/$R200_PORT/" -e "s|@BODY@|$body|" "$B/nginx/return200.conf"
  } >"$RUN/site-template.conf"
  log "stack (scripts/stack.sh): fresh cluster in .run/bench/pg on 127.0.0.1:$PG_PORT, workflowd ($BENCH_BUILD," \
    "$WORKERS workers, WORKFLOWD_LOG_LEVEL=warning) and nginx on 127.0.0.1:$PORT"
  WORKFLOWD_NGINX_SITE=$RUN/site-template.conf "$ROOT/scripts/stack.sh" up "$RUN" --bin "$BIN" \
    --port "$PORT" --pg-port "$PG_PORT" "${transport[@]}" --timeout 60 \
    --env WORKFLOWD_LOG_LEVEL=warning --env "WORKFLOWD_WORKERS=$WORKERS" \
    --env WORKFLOWD_WEBHOOK_ALLOW=127.0.0.1/32 || die "the stack did not start"
  source "$RUN/env"  # DATABASE_URL, WORKFLOWD_JWT_SECRET, BASE_URL
  # No checkpoint of PostgreSQL's own timing inside a run: with the default max_wal_size one came every
  # ~1.5 minutes of write load, and the run it fell in paid ~3,000 full-page images/s for seconds
  # (a transition ratio of 0.76-0.97 between runs). run_wrk checkpoints before every run instead, so
  # workflowd's run and the C responder's start alike and each pays for the pages it touches first.
  psql_q -c "ALTER SYSTEM SET max_wal_size = '32GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '1d'" \
    -c "SELECT pg_reload_conf()" >/dev/null || die "cannot set the bench cluster's checkpoint settings"
  PG_HOST=127.0.0.1
  [[ $DATABASE_URL == *'?host='* ]] && PG_HOST=${DATABASE_URL#*\?host=} PG_HOST=${PG_HOST%%&*}
  WFD_PID=$(cat "$RUN/workflowd0.pid")
  NGINX_PID=$(cat "$RUN/nginx/nginx.pid")
  PG_PID=$(head -n 1 "$RUN/pg/postmaster.pid")

  # Transition targets: one disjoint range of seeded Created instances per run that starts some.
  local seg name size first=1 total=0
  for seg in $TRANS_SEGMENTS; do total=$((total + ${seg#*:})); done
  log "seeding $BENCH_INSTANCES instances of $BENCH_USERS users + $total Created transition targets"
  psql_q -v users="$BENCH_USERS" -v get_instances="$BENCH_INSTANCES" -v trans_instances="$total" \
    -f "$B/sql/seed.sql" >"$RUN/logs/seed.log" 2>&1 || { cat "$RUN/logs/seed.log" >&2; die "seeding failed"; }
  for seg in $TRANS_SEGMENTS; do
    name=${seg%%:*} size=${seg#*:}
    psql_q -c "SELECT md5('bench-tr-' || n)::uuid, (n - 1) % $BENCH_USERS + 1
               FROM generate_series($first, $((first + size - 1))) n ORDER BY n" |
      tr '|' ' ' >"$DATA/trans-$name.txt"  # plain lines: a Lua table literal caps at 65536 constants
    first=$((first + size))
  done
  psql_q -c "SELECT md5('bench-get-' || n)::uuid, (n - 1) % $BENCH_USERS + 1
             FROM generate_series(1, $BENCH_INSTANCES) n ORDER BY n" | tr '|' ' ' >"$DATA/get.txt"
  awk 'BEGIN { print "return {" } { printf "{\"%s\",%d},\n", $1, $2 } END { print "}" }' \
    "$DATA/get.txt" >"$DATA/get.lua"

  log "minting $BENCH_USERS Participant tokens (workflowd token --ttl 2h)"
  psql_q -c "SELECT k, md5('bench-user-' || k)::uuid FROM generate_series(1, $BENCH_USERS) k ORDER BY k" |
    tr '|' ' ' >"$DATA/users.txt"
  mkdir -p "$DATA/tok"
  export BIN DATA
  # shellcheck disable=SC2016
  xargs -P "$CORES" -n 2 sh -c '"$BIN" token --sub "$2" --role Participant --ttl 2h >"$DATA/tok/$1"' _ \
    <"$DATA/users.txt" || die "workflowd token failed"
  local k
  : >"$DATA/tokens.txt"
  for ((k = 1; k <= BENCH_USERS; k++)); do
    [[ -s $DATA/tok/$k ]] || die "no token for user $k"
    cat "$DATA/tok/$k" >>"$DATA/tokens.txt"
  done
  awk 'BEGIN { print "return {" } { printf "\"%s\",\n", $1 } END { print "}" }' "$DATA/tokens.txt" >"$DATA/tokens.lua"
}

# The C libfcgi responder (same thread count as workflowd) behind a second nginx with the
# production site, on a unix socket.
bench_start_ceiling() {
  CEIL_PORT=$("$ROOT/scripts/pg.sh" free-port)
  cc -O2 -pthread -o "$RUN/workflowd-bench-ceiling" "$B/ceiling/fcgi_ceiling.c" -lfcgi ||
    die "cannot compile bench/ceiling/fcgi_ceiling.c (libfcgi-dev?)"
  mkdir -p "$RUN/ceiling"
  (close_inherited_fds
   exec "$RUN/workflowd-bench-ceiling" "$RUN/ceiling/ceiling.sock" "$WORKERS" "$B/ceiling/response.json" \
     >"$RUN/logs/ceiling.log" 2>&1 </dev/null) &
  CEIL_PID=$!
  echo "$CEIL_PID" >"$RUN/ceiling/ceiling.pid"
  local i
  for ((i = 0; i < 50; i++)); do [[ -S $RUN/ceiling/ceiling.sock ]] && break; sleep 0.1; done
  unlimited_site >"$RUN/site-ceiling.conf"
  WORKFLOWD_NGINX_SITE=$RUN/site-ceiling.conf "$ROOT/scripts/nginx.sh" start "$RUN/nginx-ceiling" "$CEIL_PORT" \
    "unix:$RUN/ceiling/ceiling.sock"
  CEIL_NGINX_PID=$(cat "$RUN/nginx-ceiling/nginx.pid")
  "$ROOT/scripts/stack.sh" wait-http "http://127.0.0.1:$CEIL_PORT/api/v1/health" 10 "$CEIL_PID" ||
    die "the C ceiling does not answer"
}

# The C libfcgi + libpq responder (bench/ceiling/fcgi_pg.c: workflowd's own SQL, captured from it by
# bench/ceiling/capture.py; as many threads and connections as workflowd's workers) behind a third nginx
# with the production site, on a unix socket. Needs the stack (bench_start) and the check to have run.
bench_start_pg_ceiling() {
  PGC_PORT=$("$ROOT/scripts/pg.sh" free-port)
  mkdir -p "$RUN/ceiling-pg"
  python3 "$B/ceiling/capture.py" "$DATABASE_URL" "$RUN/pg/postgres.log" "$BASE_URL" "$DATA" "$RUN/ceiling-pg/sql" |
    tee "$RUN/logs/capture.txt" || die "could not capture workflowd's SQL for the C responder"
  cc -O2 -pthread -I"$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)" \
    -o "$RUN/workflowd-bench-pg" "$B/ceiling/fcgi_pg.c" -lfcgi -lpq ||
    die "cannot compile bench/ceiling/fcgi_pg.c (libfcgi-dev, libpq-dev?)"
  bench_launch_pg_ceiling 10
  PGC_URL=http://127.0.0.1:$PGC_PORT
  unlimited_site >"$RUN/site-ceiling-pg.conf"
  WORKFLOWD_NGINX_SITE=$RUN/site-ceiling-pg.conf "$ROOT/scripts/nginx.sh" start "$RUN/nginx-ceiling-pg" "$PGC_PORT" \
    "unix:$RUN/ceiling-pg/pg.sock"
  PGC_NGINX_PID=$(cat "$RUN/nginx-ceiling-pg/nginx.pid")
  "$ROOT/scripts/stack.sh" wait-http "$PGC_URL/api/v1/health" 10 "$PGC_PID" ||
    { cat "$RUN/logs/ceiling-pg.log" >&2; die "the C responder does not answer"; }
}

# bench_launch_pg_ceiling SECONDS [WRAPPER...]: (re)starts the compiled C responder on its socket, run by
# WRAPPER when given (bench/instructions.sh: valgrind), and waits up to SECONDS for the socket. Sets PGC_PID.
bench_launch_pg_ceiling() {
  local wait=$1 i
  shift
  if [[ -n ${PGC_PID:-} ]]; then kill "$PGC_PID" 2>/dev/null || true; wait "$PGC_PID" 2>/dev/null || true; fi
  rm -f "$RUN/ceiling-pg/pg.sock"
  (close_inherited_fds
   exec "$@" "$RUN/workflowd-bench-pg" "$RUN/ceiling-pg/pg.sock" "$WORKERS" "$DATABASE_URL" "$RUN/ceiling-pg/sql" \
     >"$RUN/logs/ceiling-pg.log" 2>&1 </dev/null) &
  PGC_PID=$!
  echo "$PGC_PID" >"$RUN/ceiling-pg/ceiling.pid"
  for ((i = 0; i < wait * 10; i++)); do [[ -S $RUN/ceiling-pg/pg.sock ]] && break; sleep 0.1; done
}

# bench_start_responder NAME BINARY SECONDS: another workflowd (log level warning, $WORKERS workers) on
# $RUN/NAME.sock behind its own nginx with the production site without its rate limits (bench/ab.sh's
# second binary, bench/instructions.sh's). Sets RESPONDER_PID, RESPONDER_NGINX_PID and RESPONDER_URL.
bench_start_responder() {  # bench_start_responder NAME BINARY WAIT [--env NAME=VALUE ...]
  local name=$1 bin=$2 secs=$3 port
  "$ROOT/scripts/stack.sh" responder "$RUN" "$name" --bin "$bin" --timeout "$secs" --env WORKFLOWD_LOG_LEVEL=warning \
    --env "WORKFLOWD_WORKERS=$WORKERS" "${@:4}" >/dev/null || die "responder $name did not start ($RUN/$name.log)"
  RESPONDER_PID=$(cat "$RUN/$name.pid")
  port=$("$ROOT/scripts/pg.sh" free-port)
  unlimited_site >"$RUN/site-$name.conf"
  WORKFLOWD_NGINX_SITE=$RUN/site-$name.conf "$ROOT/scripts/nginx.sh" start "$RUN/nginx-$name" "$port" "unix:$RUN/$name.sock"
  RESPONDER_NGINX_PID=$(cat "$RUN/nginx-$name/nginx.pid")
  RESPONDER_URL=http://127.0.0.1:$port
  "$ROOT/scripts/stack.sh" wait-http "$RESPONDER_URL/api/v1/health" "$secs" "$RESPONDER_PID" ||
    die "responder $name does not answer"
}

# bench_warm_up URL CONNS SECONDS: gets through URL, so that the responder's pool has its connections open
# and its statements prepared before anything is measured.
bench_warm_up() {
  BENCH_WRK_DIR=$B/wrk BENCH_DATA=$DATA BENCH_WRK_THREADS=$WRK_THREADS \
    wrk -t"$WRK_THREADS" -c"$2" -d"$3s" -s "$B/wrk/get.lua" "$1" >/dev/null 2>&1 || true
}

# CPU clock ticks of one process (utime + stime), and of a daemon's whole tree: the master with
# the children it already reaped (cutime + cstime) plus its live children.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# User-space ticks only (utime): with ticks, the split of a responder's CPU between its own code (and the
# libraries it calls) and the kernel working for it (syscalls, scheduling, the sockets).
user_ticks() { awk '{ print $14 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
tree_ticks() {
  local master=$1 sum child
  sum=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$master/stat" 2>/dev/null || echo 0)
  for child in $(ps -o pid= --ppid "$master" 2>/dev/null); do
    sum=$((sum + $(ticks "$child")))
  done
  echo "$sum"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
per_req() {  # per_req TICKS REQUESTS: CPU microseconds per request
  awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "-" }'
}

# Counts that every write scenario is checked against.
db_counts() {
  psql_q -F' ' -c "SELECT (SELECT count(*) FROM workflow_instances),
    (SELECT count(*) FROM workflow_events WHERE type = 'InstanceCreated'),
    (SELECT count(*) FROM workflow_events WHERE type = 'StatusChanged')"
}

# run_wrk NAME SCENARIO TARGET CONNS URL SECONDS [TRANS_SEGMENT [LABEL]]
# Runs wrk with bench/wrk/SCENARIO.lua; writes $OUT/NAME/{wrk.txt,result,created.*,...} and
# appends NAME to $RUN/runs. CPU of workflowd, nginx and PostgreSQL is measured around it.
run_wrk() {
  local name=$1 scenario=$2 target=$3 conns=$4 url=$5 secs=$6 trans=${7:-} label=${8:-$2}
  local dir=$OUT/$name nginx_pid=$NGINX_PID
  [[ $target == fcgi-c ]] && nginx_pid=$CEIL_NGINX_PID
  [[ $target == fcgi-pg ]] && nginx_pid=$PGC_NGINX_PID
  mkdir -p "$dir"
  log "wrk $name: $scenario against $target, $conns connections, ${secs}s"
  # Every run starts from the same state: the previous runs' dead rows vacuumed and statistics analysed,
  # their WAL checkpointed. Else the autovacuum they are due lands in whichever run comes next (seen: an
  # autovacuum worker's 35 µs per request of PostgreSQL CPU charged to a transition run; bench/README.md).
  psql_q -c "VACUUM (ANALYZE)" -c CHECKPOINT >/dev/null || die "VACUUM or CHECKPOINT failed before $name"
  local w0 n0 p0 w1 n1 p1 c0 u0 responder=$WFD_PID
  [[ $target == fcgi-c ]] && responder=$CEIL_PID
  [[ $target == fcgi-pg ]] && responder=$PGC_PID
  w0=$(ticks "$WFD_PID"); n0=$(tree_ticks "$nginx_pid"); p0=$(tree_ticks "$PG_PID")
  [[ $target == fcgi-c || $target == fcgi-pg ]] && c0=$(ticks "$responder")
  u0=$(user_ticks "$responder")
  local perf_pid="" sys_pid="" observed=""
  # The C responder is observed too: its figures are what workflowd's would be without its Swift code.
  [[ $target == workflowd ]] && observed=$WFD_PID
  [[ $target == fcgi-pg ]] && observed=$PGC_PID
  if [[ ${BENCH_PERF:-0} == 1 && -n $observed ]]; then
    # BENCH_PERF_CALLGRAPH=dwarf unwinds through libpq, libfcgi and libc too (built without frame pointers).
    # BENCH_PERF_EVENT=probe_libc:malloc (after `perf probe -x libc.so.6 malloc`) records every allocation
    # with its stack instead of CPU samples: which code allocates how often per request.
    perf record -q --call-graph "${BENCH_PERF_CALLGRAPH:-fp}" ${BENCH_PERF_FREQ:+-F "$BENCH_PERF_FREQ"} \
      ${BENCH_PERF_EVENT:+-e "$BENCH_PERF_EVENT"} -o "$dir/perf.data" -p "$observed" >"$dir/perf.log" 2>&1 &
    perf_pid=$!
  fi
  # Syscalls, context switches and page faults per request: where the kernel time of a request goes,
  # next to the C responder's. Tracing every syscall slows the run down; only the counts are meaningful.
  if [[ ${BENCH_SYSCALLS:-0} == 1 && -n $observed ]]; then
    perf stat -x, -e 'syscalls:sys_enter_*,context-switches,cpu-migrations,page-faults' -p "$observed" -o "$dir/syscalls.csv" >/dev/null 2>&1 &
    sys_pid=$!
  fi
  BENCH_WRK_DIR=$B/wrk BENCH_DATA=$DATA BENCH_OUT=$dir BENCH_RESULT=$dir/result.wrk \
    BENCH_TRANS=${trans:+$DATA/trans-$trans.txt} BENCH_WRK_THREADS=$WRK_THREADS \
    wrk -t"$WRK_THREADS" -c"$conns" -d"${secs}s" --latency --timeout 10s -s "$B/wrk/$scenario.lua" "$url" \
    >"$dir/wrk.txt" 2>&1 || { cat "$dir/wrk.txt" >&2; die "wrk failed in $name"; }
  w1=$(ticks "$WFD_PID"); n1=$(tree_ticks "$nginx_pid"); p1=$(tree_ticks "$PG_PID")
  local u1
  u1=$(user_ticks "$responder")
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    perf report -i "$dir/perf.data" --no-children --sort dso,symbol -g none --percent-limit 0.7 --stdio \
      >"$dir/perf.txt" 2>/dev/null || true
    perf report -i "$dir/perf.data" --no-children --sort dso --stdio >"$dir/perf-dso.txt" 2>/dev/null || true
  fi
  [[ -s $dir/result.wrk ]] || { cat "$dir/wrk.txt" >&2; die "wrk wrote no result in $name"; }
  local requests
  requests=$(awk -F= '$1 == "requests" { print $2 }' "$dir/result.wrk")
  if [[ -n $sys_pid ]]; then
    kill -INT "$sys_pid"; wait "$sys_pid" || true
    awk -F, -v n="$requests" '$1 ~ /^[0-9]+$/ && $1 > 0 { if (sub(/syscalls:sys_enter_/, "", $3)) total += $1
        printf "%-24s %8.3f\n", $3, $1 / n } END { printf "%-24s %8.3f\n", "all syscalls", total / n }' \
      "$dir/syscalls.csv" | sort -k2 -rn >"$dir/syscalls.txt" || true
  fi
  {
    echo "scenario=$label"; echo "target=$target"; echo "conns=$conns"; echo "seconds=$secs"
    cat "$dir/result.wrk"
    echo "nginx_us_per_req=$(per_req $((n1 - n0)) "$requests")"
    # Of the responder's CPU per request (wfd_us_per_req or ceiling_us_per_req), the part in user space;
    # the rest is the kernel's work for it.
    [[ $target == nginx ]] || echo "responder_user_us_per_req=$(per_req $((u1 - u0)) "$requests")"
    case $target in
      workflowd)
        echo "wfd_us_per_req=$(per_req $((w1 - w0)) "$requests")"
        echo "pg_us_per_req=$(per_req $((p1 - p0)) "$requests")"
        echo "wfd_hwm_kb=$(status_kb "$WFD_PID" VmHWM)"
        echo "wfd_rss_kb=$(status_kb "$WFD_PID" VmRSS)" ;;
      fcgi-c)
        echo "ceiling_us_per_req=$(per_req $(($(ticks "$responder") - c0)) "$requests")" ;;
      fcgi-pg)
        echo "ceiling_us_per_req=$(per_req $(($(ticks "$responder") - c0)) "$requests")"
        echo "pg_us_per_req=$(per_req $((p1 - p0)) "$requests")" ;;
    esac
  } >"$dir/result"
  echo "$name" >>"$RUN/runs"
}

# run_pgbench NAME SCRIPT CONNS SECONDS LABEL: pgbench -M prepared -j2 with bench/pgbench/SCRIPT.sql.
run_pgbench() {
  local name=$1 script=$2 conns=$3 secs=$4 label=$5 dir=$OUT/$1
  mkdir -p "$dir/log"
  log "pgbench $name: $script.sql, $conns connections, ${secs}s"
  local p0 p1 n0 i
  n0=$(ps -o pid= --ppid "$PG_PID" | wc -l)
  p0=$(tree_ticks "$PG_PID")
  (cd "$dir/log" && pgbench -n -M prepared -c "$conns" -j "$WRK_THREADS" -T "$secs" -l --log-prefix=log \
    -D def=create-prd -D ctx='{"projectName":"Project 1234","priority":4,"tags":["bench","t71"]}' \
    -D evtype=InstanceCreated -D tostatus=Created -D step=0 -D get_instances="$BENCH_INSTANCES" \
    -f "$B/pgbench/$script.sql" -h "$PG_HOST" -p "$PG_PORT" -U postgres workflowd) >"$dir/pgbench.txt" 2>&1 ||
    { cat "$dir/pgbench.txt" >&2; die "pgbench failed in $name"; }
  # pgbench's backends must be gone (reaped into the postmaster's cutime) before we count
  for ((i = 0; i < 50; i++)); do
    (($(ps -o pid= --ppid "$PG_PID" | wc -l) <= n0)) && break
    sleep 0.1
  done
  sleep 0.2
  p1=$(tree_ticks "$PG_PID")
  local tx tps failed
  tx=$(awk -F': ' '/number of transactions actually processed/ { print $2 }' "$dir/pgbench.txt")
  tx=${tx%%/*}
  failed=$(awk -F': ' '/number of failed transactions/ { split($2, a, " "); print a[1] }' "$dir/pgbench.txt")
  tps=$(awk '/^tps = / { print $3 }' "$dir/pgbench.txt")
  {
    echo "scenario=$label"; echo "target=pgbench"; echo "conns=$conns"; echo "seconds=$secs"
    echo "requests=$tx"; echo "rps=$tps"
    python3 "$B/report.py" pgbench-latency "$dir/log"
    echo "ok=$((tx - ${failed:-0}))"; echo "non2xx=${failed:-0}"; echo "codes=-"
    echo "pg_us_per_req=$(per_req $((p1 - p0)) "$tx")"
  } >"$dir/result"
  rm -rf "$dir/log"  # large; the percentiles are in result
  echo "$name" >>"$RUN/runs"
}

kv() { awk -F= -v k="$2" '$1 == k { print $2 }' "$1"; }

# verify_writes NAME CONNS "BEFORE_COUNTS": proves that every 2xx create/transition of the run is
# in the database (by id, with its event) and that nothing else was written, except requests still
# in flight when wrk stopped (at most one per connection). Appends its verdict to $OUT/NAME/result;
# returns 1 on any mismatch.
verify_writes() {
  local name=$1 conns=$2 before=$3 dir=$OUT/$1
  sleep 1  # let requests that were in flight when wrk stopped finish
  local after created transitioned unparsed
  after=$(db_counts)
  created=$(kv "$dir/result" created); transitioned=$(kv "$dir/result" transitioned)
  unparsed=$(kv "$dir/result" unparsed)
  local -a b a
  read -r -a b <<<"$before"; read -r -a a <<<"$after"
  local d_inst=$((a[0] - b[0])) d_created=$((a[1] - b[1])) d_changed=$((a[2] - b[2]))
  cat "$dir"/created.[0-9]* 2>/dev/null >"$dir/ids-created.txt" || true
  cat "$dir"/transitioned.[0-9]* 2>/dev/null >"$dir/ids-transitioned.txt" || true
  local check
  check=$(psql_q -F' ' <<SQL
CREATE TEMP TABLE c (id uuid);
CREATE TEMP TABLE t (id uuid);
\copy c FROM '$dir/ids-created.txt'
\copy t FROM '$dir/ids-transitioned.txt'
-- Fresh statistics: with the ones from before the run the planner expects no Running instances and
-- nests two scans of t (quadratic: minutes for 30 000 ids).
ANALYZE c, t, workflow_instances, workflow_events;
SELECT
  (SELECT count(*) FROM c),
  (SELECT count(DISTINCT id) FROM c),
  (SELECT count(*) FROM c JOIN workflow_instances i USING (id) WHERE i.status = 'Created' AND i.version = 1
     AND (SELECT count(*) FROM workflow_events e WHERE e.workflow_instance_id = c.id) = 1
     AND EXISTS (SELECT 1 FROM workflow_events e WHERE e.workflow_instance_id = c.id AND e.type = 'InstanceCreated')),
  (SELECT count(*) FROM t),
  (SELECT count(DISTINCT id) FROM t),
  (SELECT count(*) FROM t JOIN workflow_instances i USING (id) WHERE i.status = 'Running' AND i.version = 2
     AND i.current_step = 1
     AND (SELECT count(*) FROM workflow_events e WHERE e.workflow_instance_id = t.id AND e.type = 'StatusChanged'
            AND e.from_status = 'Created' AND e.to_status = 'Running' AND e.step = 1) = 1);
SQL
  ) || { echo "verify=FAILED (query)" >>"$dir/result"; return 1; }
  local -a v
  read -r -a v <<<"$check"
  local problems=()
  ((unparsed == 0)) || problems+=("$unparsed 2xx answers without a readable id")
  ((v[0] == created)) || problems+=("wrk counted $created creates but wrote ${v[0]} ids")
  ((v[1] == v[0])) || problems+=("duplicate created ids")
  ((v[2] == v[0])) || problems+=("$((v[0] - v[2])) acknowledged creates are not in the database as Created with one InstanceCreated event")
  ((v[3] == transitioned)) || problems+=("wrk counted $transitioned transitions but wrote ${v[3]} ids")
  ((v[4] == v[3])) || problems+=("duplicate transitioned ids")
  ((v[5] == v[3])) || problems+=("$((v[3] - v[5])) acknowledged transitions are not in the database as Running with their StatusChanged event")
  ((d_created == d_inst)) || problems+=("$d_inst new instances but $d_created InstanceCreated events")
  ((d_inst >= created && d_inst - created <= conns)) ||
    problems+=("$d_inst new instances for $created acknowledged creates (at most $conns may be in flight)")
  ((d_changed >= transitioned && d_changed - transitioned <= conns)) ||
    problems+=("$d_changed StatusChanged events for $transitioned acknowledged transitions (at most $conns in flight)")
  {
    echo "db_new_instances=$d_inst"; echo "db_new_created_events=$d_created"; echo "db_new_status_events=$d_changed"
    echo "unacknowledged_writes=$((d_inst - created + d_changed - transitioned))"
    if ((${#problems[@]})); then
      echo "verify=FAILED: $(IFS=';'; echo "${problems[*]}")"
    else
      echo "verify=ok: $created creates and $transitioned transitions acknowledged, all found by id with their events"
    fi
  } >>"$dir/result"
  ((${#problems[@]} == 0))
}
