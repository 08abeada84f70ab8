#!/usr/bin/env bash
# make bench-scale: does workflowd's cost stay flat as the tables grow? For each size (instances), a
# stack of its own, seeded with realistic data, vacuumed, then measured.
#
#   bench/scale.sh                 every size of BENCH_SCALE_SIZES: seed, vacuum, measure, stop
#   bench/scale.sh seed SIZE       seed and vacuum only; the stack stays up (.run/scale/SIZE) for
#   bench/scale.sh measure SIZE    measuring later (a 10 M seed takes hours: run it niced, apart)
#   bench/scale.sh finish SIZE     after a seed stopped early: vacuum what is there (then measure it)
#   bench/scale.sh stop SIZE       stop and delete a kept stack
#   bench/scale.sh table           the table of every size's latest results
#
# Data (bench/sql/scale-seed.sql, in batches of BENCH_SCALE_BATCH instances, one transaction each):
# SIZE instances of SIZE/100 users (at least 100; so every user has ~100 instances at every size), ~5
# events each, statuses as a running service has them (60 % Completed, 5 % waiting for input, 5 % for
# approval, ...), realistic context and step data. Then VACUUM (ANALYZE) and CHECKPOINT, as autovacuum
# would have done to a table this old: measured right after a bulk load, reads would pay for hint-bit
# writes, not for the service.
#
# Measured (wrk, BENCH_SCALE_SECONDS each, BENCH_SCALE_CONNS connections, users 1..100 with
# Participant + Approver tokens): get, list first page, list deep page (a keyset cursor 80 instances
# down), transition (Running <-> Paused on the users' Running and Paused instances, so any length and number of runs have
# targets), create, events page, inbox (/api/v1/tasks); CPU µs per request as in make bench. Also table
# and index sizes per million instances and EXPLAIN (ANALYZE, BUFFERS) of each request's statement
# (captured from workflowd by bench/ceiling/capture.py, replayed in a rolled-back transaction), and per
# scenario pg_stat_statements' figures for its statements (calls, plans, planning and execution time).
# Results: bench/results/scale-SIZE-latest.txt (+ a timestamped copy), the table in scale-latest.txt.
#
# Env: BENCH_SCALE_SIZES (default "10000 1000000 10000000"), BENCH_SCALE_SECONDS (10),
#      BENCH_SCALE_CONNS (16), BENCH_SCALE_BATCH (200000), BENCH_SCALE_MIN_FREE_GB (10: seeding stops below),
#      BENCH_SCALE_SCENARIOS (the scenarios and their order; default all seven, reads first),
#      BENCH_SCALE_SHARED_BUFFERS (PostgreSQL's shared_buffers while measuring; default 128MB),
#      BENCH_NO_BUILD=1 (use .build/release as it is).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SIZES=${BENCH_SCALE_SIZES:-10000 1000000 10000000}
SECS=${BENCH_SCALE_SECONDS:-10}
SCALE_CONNS=${BENCH_SCALE_CONNS:-16}
BATCH=${BENCH_SCALE_BATCH:-200000}
SCALE=$ROOT/.run/scale
SCENARIOS=${BENCH_SCALE_SCENARIOS:-get list scale-deep scale-toggle create scale-events scale-tasks}

# The stack of one size: .run/scale/SIZE with its cluster, workflowd and nginx; sets the variables
# run_wrk (bench/lib.sh) reads.
scale_dirs() {
  local size=$1
  [[ $size =~ ^[1-9][0-9]*$ ]] || die "a size is a number of instances, not '$size'"
  USERS=$((size / 100 > 100 ? size / 100 : 100))
  RUN=$SCALE/$size DATA=$SCALE/$size/data OUT=$SCALE/$size/out
}

scale_env() {
  source "$RUN/env"  # DATABASE_URL, BASE_URL
  WFD_PID=$(cat "$RUN/workflowd0.pid")
  NGINX_PID=$(cat "$RUN/nginx/nginx.pid")
  PG_PID=$(head -n 1 "$RUN/pg/postmaster.pid")
}

cmd_seed() {
  local size=$1
  scale_dirs "$size"
  "$ROOT/scripts/stack.sh" sweep "$RUN"
  mkdir -p "$RUN/logs" "$DATA" "$OUT"
  "$ROOT/scripts/install-deps.sh"
  bench_binary
  log "size $size: stack in $RUN (workflowd $BENCH_BUILD, $WORKERS workers)"
  "$ROOT/scripts/stack.sh" up "$RUN" --bin "$BIN" --pg-socket --timeout 60 \
    --env WORKFLOWD_LOG_LEVEL=warning --env "WORKFLOWD_WORKERS=$WORKERS" || die "the stack did not start"
  scale_env
  # What a production server with this much data would have: checkpoints spread out, not forced by
  # every gigabyte of WAL during the load.
  psql_q -c "ALTER SYSTEM SET max_wal_size = '4GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '15min'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  # The GIN indexes keep pending lists for the load (Migrations/0013 turns them off for the service: merging
  # one stalls a write): inserted one by one, each instance's keys cost random writes all over the index;
  # gathered, they are merged in bulk. scale_vacuum merges what is left and turns them off again.
  psql_q -c "ALTER INDEX workflow_instance_documents_context SET (fastupdate = on)" \
    -c "ALTER INDEX workflow_instance_documents_step_data SET (fastupdate = on)" >/dev/null
  log "size $size: seeding $size instances of $USERS users in batches of $BATCH (bench/sql/scale-seed.sql)"
  local lo hi t0=$SECONDS
  for ((lo = 1; lo <= size; lo += BATCH)); do
    # a 10 M table is ~25 GB (bench/README.md): leave the machine's other users their disk
    (($(df --output=avail -k "$RUN/pg/" | tail -n 1) > ${BENCH_SCALE_MIN_FREE_GB:-10} * 1048576)) ||
      die "less than ${BENCH_SCALE_MIN_FREE_GB:-10} GB free on the disk: stopped seeding at instance $lo"
    hi=$((lo + BATCH - 1 < size ? lo + BATCH - 1 : size))
    psql_q -v lo="$lo" -v hi="$hi" -v users="$USERS" -f "$B/sql/scale-seed.sql" >>"$RUN/logs/seed.log" 2>&1 ||
      { tail -n 20 "$RUN/logs/seed.log" >&2; die "seeding failed at instance $lo"; }
    log "  $hi of $size instances ($((SECONDS - t0)) s)"
  done
  echo "seed_seconds=$((SECONDS - t0))" >"$RUN/seed.txt"
  scale_vacuum "$size"
}

# The GIN indexes as the service has them (pending lists merged and off), then VACUUM (ANALYZE) and
# CHECKPOINT, as a table this old would have had.
scale_vacuum() {
  log "size $1: VACUUM (ANALYZE), CHECKPOINT"
  local t0=$SECONDS
  psql_q -c "SELECT gin_clean_pending_list('workflow_instance_documents_context'::regclass)" \
    -c "SELECT gin_clean_pending_list('workflow_instance_documents_step_data'::regclass)" \
    -c "ALTER INDEX workflow_instance_documents_context SET (fastupdate = off)" \
    -c "ALTER INDEX workflow_instance_documents_step_data SET (fastupdate = off)" >/dev/null
  psql_q -c "VACUUM (ANALYZE) workflow_instances" -c "VACUUM (ANALYZE) workflow_instance_documents" -c "VACUUM (ANALYZE) workflow_events" -c "CHECKPOINT" >/dev/null
  echo "vacuum_seconds=$((SECONDS - t0))" >>"$RUN/seed.txt"
  log "size $1: seeded ($(tr '\n' ' ' <"$RUN/seed.txt"))"
}

# A niced seed (bench/scale.sh seed, in the background) started PostgreSQL, workflowd and nginx niced:
# vacuum and measure them at the priority of every other run.
scale_unnice() {
  local pid
  for pid in "$PG_PID" $(ps -o pid= --ppid "$PG_PID") "$WFD_PID" "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID"); do
    renice -n 0 -p "$pid" >/dev/null 2>&1 || true
  done
}

# A seed stopped before SIZE (the deadline came first): vacuum what is there and measure that; the
# results say how many instances there were.
cmd_finish() {
  local size=$1
  scale_dirs "$size"
  [[ -f $RUN/env ]] || die "no stack for size $size"
  scale_env
  scale_unnice
  echo "seed_stopped_at=$(psql_q -c "SELECT count(*) FROM workflow_instances") of $size" >"$RUN/seed.txt"
  scale_vacuum "$size"
}

# Tokens and wrk data for users 1..100: get.lua (random instances of theirs), deep.lua (a cursor 80
# instances down their listing), toggle.txt (their Running and Paused instances, with their status).
scale_data() {
  local size=$1 count=$2
  # 80 instances down a user's listing; less in a seed stopped early (bench/scale.sh finish)
  local deep=$((count / USERS * 4 / 5 < 79 ? count / USERS * 4 / 5 : 79))
  # the seeded instances (md5('scale-' || n)): SIZE, or fewer when the seed was stopped early; the
  # create runs' instances have other ids
  local seeded=$((count < size ? count : size))
  log "size $size: tokens and wrk data for users 1..100"
  psql_q -c "SELECT k, md5('bench-user-' || k)::uuid FROM generate_series(1, 100) k ORDER BY k" | tr '|' ' ' >"$DATA/users.txt"
  mkdir -p "$DATA/tok"
  export BIN DATA
  # shellcheck disable=SC2016
  xargs -P "$CORES" -n 2 sh -c '"$BIN" token --sub "$2" --role Participant --role Approver --ttl 2h >"$DATA/tok/$1"' _ \
    <"$DATA/users.txt" || die "workflowd token failed"
  local k
  : >"$DATA/tokens.txt"
  for ((k = 1; k <= 100; k++)); do cat "$DATA/tok/$k" >>"$DATA/tokens.txt"; done
  awk 'BEGIN { print "return {" } { printf "\"%s\",\n", $1 } END { print "}" }' "$DATA/tokens.txt" >"$DATA/tokens.lua"
  # instance n is user ((n - 1) % USERS + 1)'s: 20 random ones of each of users 1..100, among those seeded
  psql_q -c "SELECT md5('scale-' || n)::uuid, k FROM (
               SELECT k, k + $USERS * floor(random() * ($seeded / $USERS))::int AS n
               FROM generate_series(1, 100) k, generate_series(1, 20)) s ORDER BY random()" |
    tr '|' ' ' >"$DATA/get.txt"
  awk 'BEGIN { print "return {" } { printf "{\"%s\",%d},\n", $1, $2 } END { print "}" }' "$DATA/get.txt" >"$DATA/get.lua"
  psql_q -c "SELECT translate(rtrim(encode(convert_to(
                 'i1:' || (extract(epoch FROM created_at) * 1000000)::int8 || ':' || id, 'UTF8'), 'base64'), '='), '+/', '-_'), k
             FROM generate_series(1, 100) k, LATERAL (
               SELECT created_at, id FROM workflow_instances WHERE user_id = md5('bench-user-' || k)::uuid
               ORDER BY created_at DESC, id DESC OFFSET $deep LIMIT 1) c ORDER BY k" |
    awk -F'|' 'BEGIN { print "return {" } { printf "{\"%s\",%d},\n", $1, $2 } END { print "}" }' >"$DATA/deep.lua"
  psql_q -c "SELECT i.id, k, i.status FROM generate_series(1, 100) k
             JOIN workflow_instances i ON i.user_id = md5('bench-user-' || k)::uuid AND i.status IN ('Running', 'Paused')
             ORDER BY i.id" | tr '|' ' ' >"$DATA/toggle.txt"
}

scale_sizes() {
  psql_q -F' ' -c "SELECT c.relname, pg_relation_size(c.oid), coalesce(t.relname, '-')
                   FROM pg_class c LEFT JOIN pg_index x ON x.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = x.indrelid
                   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')
                     AND coalesce(t.relname, c.relname) IN ('workflow_instances', 'workflow_instance_documents', 'workflow_events')
                   ORDER BY coalesce(t.relname, c.relname), c.relkind DESC, c.relname"
}

# The size's cluster settings for measuring: pg_stat_statements (per scenario, how often PostgreSQL
# planned each statement and what one execution cost, which a single EXPLAIN cannot show) and
# shared_buffers (BENCH_SCALE_SHARED_BUFFERS, default PostgreSQL's 128MB: how much of a 10 M table's hot
# pages stay in PostgreSQL's cache is the operator's setting, not workflowd's). One restart, only when a
# setting changes; workflowd's pool and listener reconnect.
scale_settings() {
  local buffers=${BENCH_SCALE_SHARED_BUFFERS:-128MB} restart=0
  if [[ $(psql_q -c "SHOW shared_preload_libraries") != *pg_stat_statements* ]]; then
    psql_q -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
    restart=1
  fi
  if [[ $(psql_q -c "SELECT setting::bigint * 8192 = pg_size_bytes('$buffers') FROM pg_settings WHERE name = 'shared_buffers'") != t ]]; then
    psql_q -c "ALTER SYSTEM SET shared_buffers = '$buffers'" >/dev/null
    restart=1
  fi
  if ((restart)); then
    log "size $1: pg_stat_statements and shared_buffers = $buffers (restarts the cluster once)"
    "$ROOT/scripts/pg.sh" restart "$RUN/pg" >/dev/null
    PG_PID=$(head -n 1 "$RUN/pg/postmaster.pid")
    "$ROOT/scripts/stack.sh" wait-http "$BASE_URL/api/v1/health" 30 "$WFD_PID" || die "workflowd did not recover from the restart"
  fi
  # the library's settings exist once it is loaded
  psql_q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
}

# The statements of the run just made, most called first: calls, plans (as many as calls: planned at
# every execution), mean planning and execution ms, shared buffers per call.
scale_statements() {
  psql_q -F' | ' -c "SELECT calls, plans, round(mean_plan_time::numeric, 3), round(mean_exec_time::numeric, 3),
                            round((shared_blks_hit + shared_blks_read)::numeric / calls, 1),
                            left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
                     FROM pg_stat_statements WHERE calls >= 10 ORDER BY calls DESC LIMIT 4"
}

cmd_measure() {
  local size=$1
  scale_dirs "$size"
  [[ -f $RUN/env && -f $RUN/seed.txt ]] || die "no seeded stack for size $size (bench/scale.sh seed $size)"
  BIN=$RUN/workflowd
  [[ -x $BIN ]] || die "$BIN is missing"
  scale_env
  # the production site without its per-client rate limits (the bench is one client), as make bench
  unlimited_site >"$RUN/site-unlimited.conf"
  WORKFLOWD_NGINX_SITE=$RUN/site-unlimited.conf "$ROOT/scripts/nginx.sh" start "$RUN/nginx" "${BASE_URL##*:}" \
    "unix:$RUN/workflowd0.sock" >/dev/null
  NGINX_PID=$(cat "$RUN/nginx/nginx.pid")
  scale_unnice
  local count load
  count=$(psql_q -c "SELECT count(*) FROM workflow_instances")
  scale_data "$size" "$count"
  : >"$RUN/runs"
  rm -rf "$OUT" && mkdir -p "$OUT"
  # before the warm-up: a restart for a changed setting empties PostgreSQL's cache
  scale_settings "$size"
  log "size $size: $count instances; warm-up (get, 2 s)"
  BENCH_WRK_DIR=$B/wrk BENCH_DATA=$DATA BENCH_WRK_THREADS=$WRK_THREADS \
    wrk -t"$WRK_THREADS" -c"$SCALE_CONNS" -d2s -s "$B/wrk/get.lua" "$BASE_URL" >"$RUN/logs/warmup.txt" 2>&1 || true
  local scenario name
  for scenario in $SCENARIOS; do
    name=${scenario#scale-}
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    psql_q -c "SELECT pg_stat_statements_reset()" >/dev/null
    run_wrk "$name" "$scenario" workflowd "$SCALE_CONNS" "$BASE_URL" "$SECS" "" "$name"
    echo "loadavg=$load" >>"$OUT/$name/result"
    scale_statements >"$OUT/$name/statements.txt"
  done

  log "size $size: EXPLAIN (ANALYZE, BUFFERS) of each request's statement"
  local token user1 get_id running other
  token=$(head -n 1 "$DATA/tokens.txt")
  user1=$(awk 'NR == 1 { print $2 }' "$DATA/users.txt")
  get_id=$(awk '$2 == 1 { print $1; exit }' "$DATA/get.txt")
  read -r running other < <(psql_q -F' ' -c "SELECT (array_agg(id ORDER BY id))[1], (array_agg(id ORDER BY id))[2]
    FROM workflow_instances WHERE user_id = '$user1' AND status = 'Running'")
  local deep
  deep=$(sed -n 2p "$DATA/deep.lua" | cut -d'"' -f2)
  local explain=$RUN/explain.txt
  : >"$explain"
  explain() {  # explain LABEL METHOD PATH BODY DISTINCTIVE [OLD=NEW]
    echo "==== $1: $2 $3 ====" >>"$explain"
    python3 "$B/ceiling/capture.py" explain "$DATABASE_URL" "$RUN/pg/postgres.log" "$BASE_URL" "$token" \
      "$2" "$3" "$4" "$5" "${6:-}" >>"$explain" 2>&1 || echo "(failed)" >>"$explain"
    echo >>"$explain"
  }
  explain get GET "/workflows/$get_id" - "$get_id"
  explain "list, first page" GET "/workflows?limit=20" - "$user1"
  explain "list, deep keyset page" GET "/workflows?limit=20&cursor=$deep" - "$user1"
  explain "list by context (the GIN index's query)" GET "/workflows?limit=20&context=%7B%22team%22%3A%22team-3%22%7D" - "$user1"
  explain "transition (Running -> Paused; replayed on another Running instance)" POST "/workflows/$running/transitions" \
    '{"to":"Paused"}' "$running" "$running=$other"
  explain create POST "/workflows" '{"workflowId":"create-prd","parameters":{"projectName":"Explain","priority":1}}' "$user1" fresh
  explain "events page" GET "/workflows/$get_id/events" - "$get_id"
  explain "inbox" GET "/tasks" - "$user1"

  local report=$RUN/report.txt
  {
    echo "size=$size"; echo "instances=$count"; echo "users=$USERS"; cat "$RUN/seed.txt"
    echo "measured=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "commit=$(git -C "$ROOT" rev-parse --short HEAD)"
    echo "shared_buffers=$(psql_q -c "SHOW shared_buffers")"
    scale_sizes | awk '{ printf "size %s %s %s\n", $1, $2, $3 }'
  } >"$report"
  mkdir -p "$B/results"
  local stamp n
  stamp=$(date -u +%Y%m%d-%H%M%S)
  {
    cat "$report"
    echo
    python3 "$B/report.py" table "$RUN"
    echo
    echo "pg_stat_statements during each run: calls | plans | plan ms | execution ms | buffers per call | statement"
    while read -r n; do echo "== $n"; cat "$OUT/$n/statements.txt"; done <"$RUN/runs"
    echo
    cat "$explain"
  } >"$B/results/scale-$size-latest.txt"
  cp "$B/results/scale-$size-latest.txt" "$B/results/scale-$size-$stamp.txt"
  # the per-run figures the summary table reads
  rm -rf "$B/results/scale-runs/$size" && mkdir -p "$B/results/scale-runs/$size"
  cp "$RUN/runs" "$report" "$B/results/scale-runs/$size/"
  while read -r n; do cp "$OUT/$n/result" "$B/results/scale-runs/$size/$n.result"; done <"$RUN/runs"
  cmd_table
}

cmd_table() {
  python3 "$B/report.py" scale "$B/results/scale-runs" | tee "$B/results/scale-latest.txt"
}

cmd_stop() {
  scale_dirs "$1"
  "$ROOT/scripts/stack.sh" sweep "$RUN"
}

case ${1:-all} in
  seed) (($# == 2)) || die "usage: bench/scale.sh seed SIZE"; cmd_seed "$2" ;;
  finish) (($# == 2)) || die "usage: bench/scale.sh finish SIZE"; cmd_finish "$2" ;;
  measure) (($# == 2)) || die "usage: bench/scale.sh measure SIZE"; cmd_measure "$2" ;;
  stop) (($# == 2)) || die "usage: bench/scale.sh stop SIZE"; cmd_stop "$2" ;;
  table) cmd_table ;;
  all)
    for size in $SIZES; do
      cmd_seed "$size"
      BENCH_NO_BUILD=1 cmd_measure "$size"
      cmd_stop "$size"
    done ;;
  *) die "usage: bench/scale.sh [seed SIZE | finish SIZE | measure SIZE | stop SIZE | table]" ;;
esac
