#!/usr/bin/env bash
# What notifying live-update listeners costs the write path, for two designs:
#   trigger  pg_notify inside the writing transaction (an AFTER INSERT … FOR EACH STATEMENT trigger on
#            workflow_events, one notification per statement): atomic with the change, but PostgreSQL
#            holds a global lock from pre-commit until the commit is flushed, so notifying commits queue;
#   after    what workflowd does (ChangeNotifier): writes commit without notifying; one connection per
#            process sends pg_notify with synchronous_commit = off, coalescing what committed meanwhile.
#            Measured as its upper bound: beside the writers, one connection sends notifications for the whole
#            run at the notifier's ceiling, one per 2 ms (pgbench -R 500).
# On a fresh cluster, with a LISTEN session open (as each workflowd process keeps one), pgbench runs
# workflowd's create statement (pgbench/create_single.sql) and a transition-shaped statement
# (pgbench/transition_single.sql) at each of NOTIFY_CONNS, alternating none / trigger / after
# NOTIFY_ROUNDS times so that drift of a shared machine hits all alike. Prints tps per run and the
# median ratios to none.
#
#   bench/notify-cost.sh            NOTIFY_SECONDS=10 NOTIFY_ROUNDS=3 NOTIFY_CONNS="16 64"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_RUN=${NOTIFY_SECONDS:-10}
ROUNDS=${NOTIFY_ROUNDS:-3}
CONNS=${NOTIFY_CONNS:-16 64}
DIR=$ROOT/.run/notify-cost
PG=$DIR/pg

cleanup() {
  [[ -n ${LISTENER:-} ]] && kill "$LISTENER" 2>/dev/null || true
  "$ROOT/scripts/pg.sh" destroy "$PG" >/dev/null 2>&1 || true
}
trap cleanup EXIT

mkdir -p "$DIR"
"$ROOT/scripts/pg.sh" start "$PG" "$("$ROOT/scripts/pg.sh" free-port)" >/dev/null
URL=$("$ROOT/scripts/pg.sh" url "$PG")
for f in "$ROOT"/Migrations/*.sql; do psql -q -v ON_ERROR_STOP=1 "$URL" -f "$f" >/dev/null; done
psql -q -v ON_ERROR_STOP=1 "$URL" <<'SQL' >/dev/null
CREATE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('workflow_events', (SELECT string_agg(DISTINCT workflow_instance_id::text || '/' || user_id::text, ',') FROM new_events));
    RETURN NULL;
END $$;
CREATE TRIGGER bench_notify AFTER INSERT ON workflow_events REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION bench_notify();
ALTER TABLE workflow_events DISABLE TRIGGER bench_notify;
SQL
echo "SELECT pg_notify('workflow_events', md5(random()::text) || '/' || md5(random()::text));" >"$DIR/notify.sql"
# 100 users' worth of Running instances for the transition statement to flip.
psql -q -v ON_ERROR_STOP=1 "$URL" <<'SQL' >/dev/null
INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step)
SELECT md5('notify-' || n)::uuid, 'create-prd', md5('bench-user-' || (n % 100))::uuid, 'Running', 1
FROM generate_series(1, 20000) AS n;
SQL

# A listener, as workflowd keeps: it must drain its queue or PostgreSQL's notification queue fills.
( while true; do echo "LISTEN workflow_events; SELECT pg_sleep(1);"; done ) | psql -q "$URL" >/dev/null 2>&1 &
LISTENER=$!

run() {  # script-file conns -> tps
  pgbench -n -M prepared -T "$SECONDS_PER_RUN" -c "$2" -j 2 -D def=create-prd -D ctx='{}' -D evtype=InstanceCreated \
    -D tostatus=Created -D step=0 -f "$1" "$URL" 2>/dev/null | awk '/^tps/ {print int($3); exit}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

printf '%-18s %5s %6s %9s %9s %9s %9s %9s %9s\n' statement conns round "tps none" "trigger" "after" "trig/none" "after/none" "notify/s"
for script in create_single transition_single; do
  for c in $CONNS; do
    trigger_ratios=() after_ratios=()
    for ((r = 1; r <= ROUNDS; r++)); do
      none=$(run "$ROOT/bench/pgbench/$script.sql" "$c")
      psql -q "$URL" -c 'ALTER TABLE workflow_events ENABLE TRIGGER bench_notify' >/dev/null
      trigger=$(run "$ROOT/bench/pgbench/$script.sql" "$c")
      psql -q "$URL" -c 'ALTER TABLE workflow_events DISABLE TRIGGER bench_notify' >/dev/null
      PGOPTIONS='-c synchronous_commit=off' pgbench -n -M prepared -T "$SECONDS_PER_RUN" -c 1 -R 500 -f "$DIR/notify.sql" "$URL" \
        >"$DIR/notifier.txt" 2>&1 &
      after=$(run "$ROOT/bench/pgbench/$script.sql" "$c")
      wait $!
      notifies=$(awk '/^tps/ {print int($3); exit}' "$DIR/notifier.txt")
      trigger_ratios+=("$(ratio "$trigger" "$none")") after_ratios+=("$(ratio "$after" "$none")")
      printf '%-18s %5s %6s %9s %9s %9s %9s %9s %9s\n' "$script" "$c" "$r" "$none" "$trigger" "$after" \
        "${trigger_ratios[-1]}" "${after_ratios[-1]}" "$notifies"
    done
    printf '%-18s %5s %6s %9s %9s %9s %9s %9s\n' "$script" "$c" median "" "" "" "$(median "${trigger_ratios[@]}")" \
      "$(median "${after_ratios[@]}")"
  done
done
