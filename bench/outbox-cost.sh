#!/usr/bin/env bash
# What the webhook outbox costs the write path: workflowd's create statement (pgbench/create_single.sql,
# one InstanceCreated event per statement) with 0, 1 and 10 active subscriptions matching every event,
# alternated OUTBOX_ROUNDS times so that the drift of a shared machine hits all alike. No workflowd runs:
# nothing delivers, so this is the outbox's write cost alone (the trigger and the rows it writes), not the
# delivery work that shares the cores in `make bench`'s create-hooks runs. The outbox is emptied before
# each run, so every run starts from the same state.
# Prints tps and PostgreSQL CPU per create (all backends, µs) per run, and the median ratios to none.
#
#   bench/outbox-cost.sh            OUTBOX_SECONDS=10 OUTBOX_ROUNDS=3 OUTBOX_CONNS="16 64"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_RUN=${OUTBOX_SECONDS:-10}
ROUNDS=${OUTBOX_ROUNDS:-3}
CONNS=${OUTBOX_CONNS:-16 64}
DIR=$ROOT/.run/outbox-cost
PG=$DIR/pg
CLK_TCK=$(getconf CLK_TCK)

cleanup() { "$ROOT/scripts/pg.sh" destroy "$PG" >/dev/null 2>&1 || true; }
trap cleanup EXIT

mkdir -p "$DIR"
"$ROOT/scripts/pg.sh" destroy "$PG" >/dev/null 2>&1 || true
"$ROOT/scripts/pg.sh" start "$PG" "$("$ROOT/scripts/pg.sh" free-port)" >/dev/null
URL=$("$ROOT/scripts/pg.sh" url "$PG")
PG_PID=$(head -n 1 "$PG/postmaster.pid")
for f in "$ROOT"/Migrations/*.sql; do psql -q -v ON_ERROR_STOP=1 "$URL" -f "$f" >/dev/null; done

# CPU ticks of the postmaster and every backend (live ones, plus the reaped ones in cutime/cstime).
pg_ticks() {
  local sum child
  sum=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$PG_PID/stat")
  for child in $(ps -o pid= --ppid "$PG_PID"); do sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$child/stat" 2>/dev/null || echo 0))); done
  echo "$sum"
}
subscribe() {  # subscribe N: exactly N active subscriptions to every event
  psql -q -v ON_ERROR_STOP=1 "$URL" -c "DELETE FROM webhook_subscriptions" \
    -c "INSERT INTO webhook_subscriptions (id, url, secret)
        SELECT gen_random_uuid(), 'https://hooks.example.com/' || n, 'whsec_' || md5(n::text) FROM generate_series(1, $1) n" >/dev/null
}
empty_outbox() {
  psql -q -v ON_ERROR_STOP=1 "$URL" -c "SELECT to_regclass('webhook_outbox') IS NOT NULL" -At | grep -q t &&
    psql -q "$URL" -c "TRUNCATE webhook_outbox" >/dev/null
  psql -q "$URL" -c "TRUNCATE webhook_deliveries" -c "CHECKPOINT" >/dev/null
}
run() {  # run CONNS -> "tps µs-per-create"
  local t0 t1 out tx
  t0=$(pg_ticks)
  out=$(pgbench -n -M prepared -T "$SECONDS_PER_RUN" -c "$1" -j 2 -D def=create-prd -D ctx='{}' -D evtype=InstanceCreated \
    -D tostatus=Created -D step=0 -f "$ROOT/bench/pgbench/create_single.sql" "$URL" 2>/dev/null)
  sleep 0.3  # the backends exit and are reaped into the postmaster's cutime
  t1=$(pg_ticks)
  tx=$(awk -F': ' '/number of transactions actually processed/ { split($2, a, "/"); print a[1] }' <<<"$out")
  awk -v tps="$(awk '/^tps/ {print $3; exit}' <<<"$out")" -v t=$((t1 - t0)) -v n="$tx" -v hz="$CLK_TCK" \
    'BEGIN { printf "%d %d", tps, (n > 0 ? t * 1e6 / hz / n : 0) }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

printf '%5s %6s | %7s %7s %7s | %6s %6s %6s | %7s %7s\n' conns round "tps 0" "tps 1" "tps 10" "µs 0" "µs 1" "µs 10" "1/0" "10/0"
for c in $CONNS; do
  one=() ten=()
  for ((r = 1; r <= ROUNDS; r++)); do
    declare -A tps=() us=()
    for n in 0 1 10; do
      subscribe "$n"; empty_outbox
      read -r tps[$n] us[$n] <<<"$(run "$c")"
    done
    one+=("$(ratio "${tps[1]}" "${tps[0]}")") ten+=("$(ratio "${tps[10]}" "${tps[0]}")")
    printf '%5s %6s | %7s %7s %7s | %6s %6s %6s | %7s %7s\n' "$c" "$r" "${tps[0]}" "${tps[1]}" "${tps[10]}" \
      "${us[0]}" "${us[1]}" "${us[10]}" "${one[-1]}" "${ten[-1]}"
  done
  printf '%5s %6s | %23s | %20s | %7s %7s\n' "$c" median "" "" "$(median "${one[@]}")" "$(median "${ten[@]}")"
done
