#!/usr/bin/env bash
# The local development stack in .run/ (scripts/stack.sh): PostgreSQL + workflowd (release) + nginx.
#
#   scripts/run.sh [start]   install deps, build, start (or restart) everything,
#                            wait for /api/v1/health, write .run/env  (make run)
#   scripts/run.sh stop      stop what start started, by pid files  (make stop)
#   scripts/run.sh clean     stop, delete the clusters' data, .run and .build  (make clean)
#
# Env: PORT (nginx, default 8080), PG_PORT (default 54329), WORKFLOWD_* (passed to workflowd),
#      WORKFLOWD_JWT_SECRET (else .run/jwt-secret, else a new one kept there).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/.run
PORT=${PORT:-8080}
PG_PORT=${PG_PORT:-54329}
DEMO_SUB=00000000-0000-4000-8000-000000000001
command -v swift >/dev/null 2>&1 || PATH=/opt/swift/usr/bin:$PATH

start_all() {
  scripts/install-deps.sh
  swift build -c release
  scripts/stack.sh up "$RUN" --release --port "$PORT" --pg-port "$PG_PORT"
  source "$RUN/env"
  local token
  token=$(.build/release/workflowd token --sub "$DEMO_SUB" --role Participant --ttl 8h)
  cat <<EOT

workflowd is up at http://127.0.0.1:$PORT (log: .run/workflowd0.log). Next:

  source .run/env
  export TOKEN='$token'   # Participant $DEMO_SUB, valid 8 h
  curl -s -H "Authorization: Bearer \$TOKEN" \$BASE_URL/api/v1/workflow-definitions
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"workflowId":"create-prd","parameters":{"projectName":"Apollo"}}' \$BASE_URL/api/v1/workflows

  make stop    # stops nginx, workflowd and PostgreSQL
EOT
}

case ${1:-start} in
  start) start_all ;;
  stop) scripts/stack.sh down "$RUN" ;;
  clean)
    scripts/stack.sh down "$RUN"
    scripts/stack.sh sweep "$RUN"  # also test leftovers and /var/tmp/workflowd-pg copies
    rm -rf "$ROOT/.build" ;;
  *) sed -n '4,10s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
