#!/usr/bin/env bash
# On-disk bytes per instance, event and idempotency key, for sizing a deployment (docs/operations.md).
#
#   scripts/sizing.sh [INSTANCES]     (default 100000)
#
# A throwaway cluster in .run/sizing; `workflowd migrate` (.build/release or .build/debug);
# bench/sql/seed.sql's instances (statuses cycling Created … Completed, 1 to 3 events each, a
# ~100-byte context) plus one idempotency key per instance for a fifth of them; VACUUM ANALYZE;
# then pg_total_relation_size (heap + TOAST + indexes) per table divided by its rows.
# The cluster is destroyed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "sizing.sh: INSTANCES must be a positive number" >&2; exit 2; }
BIN=.build/release/workflowd
[[ -x $BIN ]] || BIN=.build/debug/workflowd
[[ -x $BIN ]] || { echo "sizing.sh: build workflowd first (make build)" >&2; exit 1; }
DIR=.run/sizing
scripts/stack.sh sweep "$DIR"
trap 'scripts/stack.sh sweep "$DIR"' EXIT
scripts/pg.sh start "$DIR/pg" "$(scripts/pg.sh free-port)"
DATABASE_URL=$(scripts/pg.sh url "$DIR/pg")
export DATABASE_URL
WORKFLOWD_MIGRATIONS_DIR=$PWD/Migrations "$BIN" migrate >"$DIR/migrate.log" 2>&1 || { cat "$DIR/migrate.log" >&2; exit 1; }
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }
psql -v users=$(((N + 19) / 20)) -v get_instances="$N" -v trans_instances=0 -f bench/sql/seed.sql >/dev/null
psql -c "INSERT INTO idempotency_keys (user_id, key, request_hash, workflow_instance_id)
         SELECT user_id, 'create-' || id, encode(sha256(id::text::bytea), 'hex'), id
         FROM workflow_instances WHERE (get_byte(uuid_send(id), 0) % 5) = 0"
psql -c "VACUUM ANALYZE"
echo "after $N instances (PostgreSQL $(psql -tAc 'SHOW server_version'), VACUUM ANALYZE):"
psql -c "SELECT t AS table, n_rows AS rows,
                pg_size_pretty(total) AS total, pg_size_pretty(heap) AS heap, pg_size_pretty(total - heap) AS indexes_toast,
                round(total::numeric / nullif(n_rows, 0)) AS bytes_per_row
         FROM (SELECT t, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I', t), false, true, '')))[1]::text::bigint AS n_rows,
                      pg_total_relation_size(t) AS total, pg_relation_size(t) AS heap
               FROM unnest(ARRAY['workflow_instances', 'workflow_instance_documents', 'workflow_events', 'idempotency_keys']) AS t) s" \
  -c "SELECT indexrelid::regclass AS index, pg_size_pretty(pg_relation_size(indexrelid)) AS size
      FROM pg_index WHERE indrelid IN ('workflow_instances'::regclass, 'workflow_instance_documents'::regclass, 'workflow_events'::regclass, 'idempotency_keys'::regclass)
      ORDER BY pg_relation_size(indexrelid) DESC" \
  -c "SELECT pg_size_pretty(pg_database_size(current_database())) AS database_size"
