#!/usr/bin/env bash
# What a write costs the primary: WAL bytes, WAL records and full-page images per create and per
# transition (pg_stat_wal deltas around a wrk run through nginx and workflowd), and PostgreSQL's CPU per
# request, with the GIN indexes on context and step_data and without them, interleaved (A B A B …) so
# both see the same machine. The inputs of docs/scaling.md and of the GIN decision (bench/README.md).
#
#   bench/wal.sh          (BENCH_WAL_ROUNDS=2 rounds, BENCH_SECONDS=5 s per run, 16 connections)
#
# BENCH_WAL_VARIANTS (default "gin nogin") may add gin-fastupdate: the GIN indexes with pending lists
# (`fastupdate = on`, PostgreSQL's default; Migrations/0013 turns it off), where a write now and then merges
# a list of 4 MB (the longest request tells: give the runs 30 s or more, long enough to fill one).
#
# Its own stack under .run/wal (bench/lib.sh's bench_start: fresh cluster, bench/sql/seed.sql, tokens),
# stopped at the end. A CHECKPOINT before every run, so that each starts by paying the same full-page
# images (the first change of each page after a checkpoint logs the whole page).
# Output: the table on stdout and in bench/results/wal-latest.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BENCH_SECONDS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_WAL_ROUNDS:-2}
VARIANTS=${BENCH_WAL_VARIANTS:-gin nogin}
for variant in $VARIANTS; do
  [[ $variant =~ ^(gin|nogin|gin-fastupdate)$ ]] || die "unknown variant '$variant' in BENCH_WAL_VARIANTS (gin, nogin, gin-fastupdate)"
done
CONNS=16
bench_own_stack wal
bench_binary
TRANS_SEGMENTS=""
for ((r = 1; r <= ROUNDS; r++)); do
  for variant in $VARIANTS; do TRANS_SEGMENTS+=" $variant-$r:$((BENCH_SECONDS * BENCH_MAX_RPS + 1000))"; done
done
bench_start
GIN_DDL=$(psql_q -c "SELECT string_agg(indexdef, '; ') FROM pg_indexes
                     WHERE tablename = 'workflow_instance_documents' AND indexname IN ('workflow_instance_documents_context', 'workflow_instance_documents_step_data')")
[[ -n $GIN_DDL ]] || die "no GIN indexes on workflow_instance_documents to compare with"

# gin_fastupdate on|off: both GIN indexes (off as migrated), then merges what is pending, so that no write
# of the next run inherits a list it did not fill
gin_fastupdate() {
  local index
  for index in workflow_instance_documents_context workflow_instance_documents_step_data; do
    psql_q -c "ALTER INDEX $index SET (fastupdate = $1)" -c "SELECT gin_clean_pending_list('$index')" >/dev/null
  done
}

wal_stats() { psql_q -F' ' -c "SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal"; }

# measure NAME SCENARIO: one run; appends WAL and CPU per request to its result
measure() {
  local name=$1 scenario=$2 trans=""
  [[ $scenario == transition ]] && trans=${name#transition-}
  psql_q -c "CHECKPOINT" >/dev/null
  local -a w0 w1
  read -r -a w0 <<<"$(wal_stats)"
  run_wrk "$name" "$scenario" workflowd "$CONNS" "$BASE_URL" "$BENCH_SECONDS" "$trans"
  read -r -a w1 <<<"$(wal_stats)"
  local n
  n=$(kv "$OUT/$name/result" requests)
  {
    echo "wal_records_per_req=$(awk -v d=$((w1[0] - w0[0])) -v n="$n" 'BEGIN { printf "%.1f", d / n }')"
    echo "wal_fpi_per_req=$(awk -v d=$((w1[1] - w0[1])) -v n="$n" 'BEGIN { printf "%.2f", d / n }')"
    echo "wal_bytes_per_req=$(awk -v d=$((w1[2] - w0[2])) -v n="$n" 'BEGIN { printf "%.0f", d / n }')"
  } >>"$OUT/$name/result"
}

for ((r = 1; r <= ROUNDS; r++)); do
  for variant in $VARIANTS; do
    case $variant in
      nogin) psql_q -c "DROP INDEX workflow_instance_documents_context" -c "DROP INDEX workflow_instance_documents_step_data" >/dev/null ;;
      gin-fastupdate) gin_fastupdate on ;;
    esac
    measure "create-$variant-$r" create
    measure "transition-$variant-$r" transition
    case $variant in
      nogin) psql_q -c "$GIN_DDL" >/dev/null ;;
      gin-fastupdate) gin_fastupdate off ;;
    esac
  done
done

mkdir -p "$B/results"
{
  echo "bench/wal.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD); $CONNS connections," \
    "${BENCH_SECONDS}s per run, CHECKPOINT before each; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  printf '| %-29s | %7s | %8s | %8s | %11s | %9s | %9s | %10s | %10s |\n' run "req/s" "p99 ms" "max ms" "WAL B/req" "records" \
    "FPI/req" "pg us/req" "wfd us/req"
  echo "|-------------------------------|---------|----------|----------|-------------|-----------|-----------|------------|------------|"
  while read -r name; do
    f=$OUT/$name/result
    printf '| %-29s | %7.0f | %8.2f | %8.1f | %11s | %9s | %9s | %10s | %10s |\n' "$name" "$(kv "$f" rps)" \
      "$(awk -v u="$(kv "$f" p99_us)" 'BEGIN { print u / 1000 }')" "$(awk -v u="$(kv "$f" max_us)" 'BEGIN { print u / 1000 }')" \
      "$(kv "$f" wal_bytes_per_req)" \
      "$(kv "$f" wal_records_per_req)" "$(kv "$f" wal_fpi_per_req)" "$(kv "$f" pg_us_per_req)" "$(kv "$f" wfd_us_per_req)"
  done <"$RUN/runs"
} | tee "$B/results/wal-latest.txt"
