#!/usr/bin/env bash
# What workflowd's session settings cost PostgreSQL per statement: pgbench runs workflowd's get
# (bench/pgbench/get.sql) with the settings every pooled connection of workflowd's sets
# (`statement_timeout`, `client_connection_check_interval`: PostgresConnection's init, with
# WORKFLOWD_STATEMENT_TIMEOUT_MS's default) and without them, in an order rotated each round, and reports
# PostgreSQL's CPU per statement (the postmaster and all backends, from /proc).
#
#   bench/session-settings.sh
#
# Env: BENCH_SETTINGS_ROUNDS (default 4), BENCH_SECONDS (default 8), BENCH_SETTINGS_CONNS (default 16),
#      BENCH_SETTINGS_SCRIPT (a bench/pgbench script, default get), BENCH_NO_BUILD=1 (use the release build as
#      it is: the stack needs workflowd only to migrate and seed the database).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BENCH_SECONDS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_SETTINGS_ROUNDS:-4}
CONNS=${BENCH_SETTINGS_CONNS:-16}
SCRIPT=${BENCH_SETTINGS_SCRIPT:-get}
bench_own_stack settings
bench_binary
TRANS_SEGMENTS=""
bench_start
# name → the options a backend starts with (libpq's PGOPTIONS): what workflowd's connections SET at start.
declare -A OPTIONS=(
  [none]=""
  [timeout]="-c statement_timeout=5000"
  [check]="-c client_connection_check_interval=1000"
  [both]="-c statement_timeout=5000 -c client_connection_check_interval=1000"
)
ORDER=(none timeout check both)
for ((r = 1; r <= ROUNDS; r++)); do
  for name in "${ORDER[@]}"; do
    PGOPTIONS=${OPTIONS[$name]} run_pgbench "$name-$r" "$SCRIPT" "$CONNS" "$BENCH_SECONDS" "$name"
  done
  ORDER=("${ORDER[@]:1}" "${ORDER[0]}")  # rotate, so that no setting always runs first
done
{
  echo "bench/session-settings.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "pgbench -M prepared $SCRIPT.sql, $CONNS connections, ${BENCH_SECONDS}s per run, $ROUNDS rounds (order rotated each round)"
  echo "| settings | PGOPTIONS | statements/s per round | PostgreSQL µs/statement per round | median µs |"
  echo "|---|---|---|---|---|"
  for name in none timeout check both; do
    rps="" us=""
    for ((r = 1; r <= ROUNDS; r++)); do
      rps+="$(printf '%.0f' "$(kv "$OUT/$name-$r/result" rps)") "
      us+="$(kv "$OUT/$name-$r/result" pg_us_per_req) "
    done
    median=$(tr ' ' '\n' <<<"$us" | grep . | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    echo "| $name | ${OPTIONS[$name]:-(none)} | ${rps% } | ${us% } | $median |"
  done
} | tee "$B/results/session-settings-latest.txt"
