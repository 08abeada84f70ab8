#!/usr/bin/env bash
# The local development stack in .run/ (scripts/stack.sh): PostgreSQL + workflowd (release) + nginx.
#
#   scripts/run.sh [start]   install deps, build, start (or restart) everything,
#                            wait for /api/v1/health, write .run/env  (make run)
#   scripts/run.sh stop      stop what start started, by pid files  (make stop)
#   scripts/run.sh clean     stop, delete the clusters' data, .run and .build  (make clean)
#
# Env: PORT (nginx, default 8080), PG_PORT (default 54329), WORKFLOWD_* (passed to workflowd, e.g.
#      WORKFLOWD_CORS_ORIGINS), WORKFLOWD_JWT_SECRET (else .run/jwt-secret, else a new one kept there).
# Prints sign-in links to the web console for four demo users (token in the URL fragment, which the
# browser never sends to a server: it stays out of every log).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/.run
PORT=${PORT:-8080}
PG_PORT=${PG_PORT:-54329}
DEMO_SUB=adaadaad-0000-4000-8000-000000000001
# The demo users of the console: two Participants (their own instances), an Approver (the four-eyes gate)
# and an Admin (everyone's instances).
DEMO_USERS=(
  "Participant $DEMO_SUB Participant (Ada)"
  "Participant bebebebe-0000-4000-8000-000000000002 Participant (Ben)"
  "Approver c1e0c1e0-0000-4000-8000-000000000003 Approver (Cleo)"
  "Admin de0de0de-0000-4000-8000-000000000004 Admin (Dev)"
)
command -v swift >/dev/null 2>&1 || PATH=/opt/swift/usr/bin:$PATH

start_all() {
  scripts/install-deps.sh
  swift build -c release --static-swift-stdlib  # the binary make release and the package ship
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

The web console: http://127.0.0.1:$PORT/ — sign in as a demo user (each link valid 8 h). A tab keeps
its own sign-in: paste two links into two new tabs to try the four-eyes flow.
EOT
  local user role sub label
  for user in "${DEMO_USERS[@]}"; do
    read -r role sub label <<<"$user"
    printf '  %-20s http://127.0.0.1:%s/#token=%s\n' "$label" "$PORT" \
      "$(.build/release/workflowd token --sub "$sub" --role "$role" --ttl 8h)"
  done
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
