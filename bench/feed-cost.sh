#!/usr/bin/env bash
# What the feed's commit-safe position (Migrations/0012_live_feed.sql) costs the write path: the trigger
# that sets workflow_events.txid (one index probe for the instance's previous event) and the
# (txid, id) index. Toggled by disabling the trigger: its events then keep txid NULL, which the partial
# index leaves out, so "off" is the write path of before the migration.
# On a fresh cluster, pgbench runs workflowd's create statement and a transition-shaped statement at
# each of FEED_CONNS, alternating off / on FEED_ROUNDS times (a shared machine drifts: alternating hits
# both alike). Prints tps and PostgreSQL CPU microseconds per transaction of each run, and the median
# ratios on/off.
#
#   bench/feed-cost.sh            FEED_SECONDS=10 FEED_ROUNDS=3 FEED_CONNS="16 64"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_RUN=${FEED_SECONDS:-10}
ROUNDS=${FEED_ROUNDS:-3}
CONNS=${FEED_CONNS:-16 64}
DIR=$ROOT/.run/feed-cost
PG=$DIR/pg
trap '"$ROOT/scripts/pg.sh" destroy "$PG" >/dev/null 2>&1 || true' EXIT

mkdir -p "$DIR"
"$ROOT/scripts/pg.sh" start "$PG" "$("$ROOT/scripts/pg.sh" free-port)" >/dev/null
URL=$("$ROOT/scripts/pg.sh" url "$PG")
for f in "$ROOT"/Migrations/*.sql; do psql -q -v ON_ERROR_STOP=1 "$URL" -f "$f" >/dev/null; done
# The transition statement flips seeded Running/Paused instances (bench/pgbench/transition_single.sql).
psql -q -v ON_ERROR_STOP=1 "$URL" -c "
INSERT INTO workflow_instances (id, workflow_definition_id, user_id, status, current_step)
SELECT md5('notify-' || n)::uuid, 'create-prd', md5('bench-user-' || (n % 100))::uuid, 'Running', 1
FROM generate_series(1, 20000) AS n" >/dev/null
POSTMASTER=$(head -n 1 "$PG/postmaster.pid")

# CPU ticks of PostgreSQL: the postmaster, its reaped children and its live ones.
pg_ticks() {
  local sum child
  sum=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$POSTMASTER/stat")
  for child in $(pgrep -P "$POSTMASTER"); do sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$child/stat" 2>/dev/null || echo 0))); done
  echo "$sum"
}
run() {  # script conns -> "tps us_per_txn"
  local t0 out tps
  t0=$(pg_ticks)
  out=$(pgbench -n -M prepared -T "$SECONDS_PER_RUN" -c "$2" -j 2 -D def=create-prd -D ctx='{}' -D evtype=InstanceCreated \
    -D tostatus=Created -D step=0 -f "$1" "$URL" 2>/dev/null)
  tps=$(awk '/^tps/ {print int($3); exit}' <<<"$out")
  awk -v tps="$tps" -v ticks=$(($(pg_ticks) - t0)) -v hz="$(getconf CLK_TCK)" -v s="$SECONDS_PER_RUN" \
    'BEGIN { printf "%d %.0f", tps, ticks / hz * 1e6 / (tps * s) }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
toggle() { psql -q "$URL" -c "ALTER TABLE workflow_events $1 TRIGGER workflow_events_txid" >/dev/null; }

printf '%-18s %5s %6s %9s %9s %11s %11s %9s %9s\n' statement conns round "tps off" "tps on" "pg us off" "pg us on" "tps on/off" "cpu on/off"
for script in create_single transition_single; do
  for c in $CONNS; do
    tps_ratios=() cpu_ratios=()
    for ((r = 1; r <= ROUNDS; r++)); do
      toggle DISABLE
      read -r off_tps off_us <<<"$(run "$ROOT/bench/pgbench/$script.sql" "$c")"
      toggle ENABLE
      read -r on_tps on_us <<<"$(run "$ROOT/bench/pgbench/$script.sql" "$c")"
      tps_ratios+=("$(ratio "$on_tps" "$off_tps")") cpu_ratios+=("$(ratio "$on_us" "$off_us")")
      printf '%-18s %5s %6s %9s %9s %11s %11s %9s %9s\n' "$script" "$c" "$r" "$off_tps" "$on_tps" "$off_us" "$on_us" \
        "${tps_ratios[-1]}" "${cpu_ratios[-1]}"
    done
    printf '%-18s %5s %6s %9s %9s %11s %11s %9s %9s\n' "$script" "$c" median "" "" "" "" "$(median "${tps_ratios[@]}")" \
      "$(median "${cpu_ratios[@]}")"
  done
done
