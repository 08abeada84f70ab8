#!/usr/bin/env bash
# A local workflowd stack in .run/: PostgreSQL + workflowd (release) + nginx.
#
#   scripts/run.sh [start]   install deps, build, start (or restart) everything,
#                            wait for /api/v1/health, write .run/env  (make run)
#   scripts/run.sh stop      stop what start started, by pid files  (make stop)
#   scripts/run.sh clean     stop, delete the clusters' data, .run and .build  (make clean)
#   scripts/run.sh sweep DIR [--keep]
#                            stop whatever left pid files under DIR, then delete
#                            DIR and its clusters' data (unless --keep)
#
# Env: PORT (nginx, default 8080), PG_PORT (default 54329),
#      WORKFLOWD_JWT_SECRET (else .run/jwt-secret, else a new one kept there).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/.run
PORT=${PORT:-8080}
PG_PORT=${PG_PORT:-54329}
BIN=$ROOT/.build/release/workflowd
SOCK=$RUN/workflowd.sock
PIDFILE=$RUN/workflowd.pid
LOG=$RUN/workflowd.log
DEMO_SUB=00000000-0000-4000-8000-000000000001
die() { echo "run.sh: error: $*" >&2; exit 1; }
command -v swift >/dev/null 2>&1 || PATH=/opt/swift/usr/bin:$PATH

# stop_workflowd [PIDFILE]: SIGTERM the pid in PIDFILE if that process is alive
# and really workflowd (a stale file's recycled pid is left alone), wait <= 15 s.
stop_workflowd() {
  local file=${1:-$PIDFILE} pid i
  pid=$(head -n 1 "$file" 2>/dev/null) || pid=
  if [[ $pid =~ ^[0-9]+$ && $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == *workflowd* ]]; then
    kill -TERM "$pid"  # workflowd finishes in-flight requests, then exits
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: workflowd (pid $pid) still running after 15 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

# sweep DIR [--keep]: stop every nginx, workflowd and cluster that left a
# pid/port file under DIR (e.g. tests that died half-way); unless --keep, drop
# the clusters' data and delete DIR.
sweep() {
  local dir=$1 keep=${2:-} f pg=destroy
  [[ -d $dir ]] || return 0
  [[ $keep == --keep ]] && pg=stop
  while IFS= read -r -d '' f; do scripts/nginx.sh stop "${f%/*}"; done \
    < <(find "$dir" -name nginx.pid -print0)
  while IFS= read -r -d '' f; do stop_workflowd "$f"; done \
    < <(find "$dir" -name '*.pid' ! -name nginx.pid ! -name postmaster.pid -print0)
  while IFS= read -r -d '' f; do scripts/pg.sh "$pg" "${f%/*}"; done \
    < <(find -L "$dir" -name workflowd.port -print0)  # -L: data may be under /var/tmp
  [[ $keep == --keep ]] || rm -rf "$dir"
}

stop_all() {
  scripts/nginx.sh stop "$RUN/nginx"
  stop_workflowd
  scripts/pg.sh stop "$RUN/pg"
}

start_all() {
  scripts/install-deps.sh
  swift build -c release
  mkdir -p "$RUN"

  scripts/pg.sh start "$RUN/pg" "$PG_PORT"
  DATABASE_URL=$(scripts/pg.sh url "$RUN/pg")
  export DATABASE_URL
  "$BIN" migrate

  if [[ -z ${WORKFLOWD_JWT_SECRET:-} ]]; then
    if [[ ! -s $RUN/jwt-secret ]]; then
      (umask 077 && openssl rand -hex 32 >"$RUN/jwt-secret")
    fi
    WORKFLOWD_JWT_SECRET=$(cat "$RUN/jwt-secret")
  fi
  ((${#WORKFLOWD_JWT_SECRET} >= 32)) || die "WORKFLOWD_JWT_SECRET must be at least 32 bytes"
  export WORKFLOWD_JWT_SECRET

  # Restart so that a freshly built binary is the one serving.
  stop_workflowd
  rm -f "$SOCK"
  nohup "$BIN" serve --socket "$SOCK" --socket-mode 0666 >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local pid=$!

  scripts/nginx.sh start "$RUN/nginx" "$PORT" "unix:$SOCK"

  local i url=http://127.0.0.1:$PORT/api/v1/health
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break  # workflowd exited (bad config, pending migration...)
    sleep 0.1
  done
  if ! curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
    echo "--- tail of $LOG:" >&2
    tail -n 30 "$LOG" >&2 || true
    kill -0 "$pid" 2>/dev/null || die "workflowd exited during startup (log above)"
    die "$url did not answer 200 within 30 s"
  fi

  (umask 077 && printf 'export DATABASE_URL=%q\nexport WORKFLOWD_JWT_SECRET=%q\nexport BASE_URL=%q\n' \
    "$DATABASE_URL" "$WORKFLOWD_JWT_SECRET" "http://127.0.0.1:$PORT" >"$RUN/env")
  local token
  token=$("$BIN" token --sub "$DEMO_SUB" --role Participant --ttl 8h)
  cat <<EOF

workflowd is up at http://127.0.0.1:$PORT (log: .run/workflowd.log). Next:

  source .run/env
  export TOKEN='$token'   # Participant $DEMO_SUB, valid 8 h
  curl -s -H "Authorization: Bearer \$TOKEN" \$BASE_URL/api/v1/workflow-definitions
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"workflowId":"create-prd","parameters":{"projectName":"Apollo"}}' \$BASE_URL/api/v1/workflows

  make stop    # stops nginx, workflowd and PostgreSQL
EOF
}

case ${1:-start} in
  start) start_all ;;
  stop) stop_all ;;
  clean)
    stop_all
    sweep "$RUN"  # also test leftovers and /var/tmp/workflowd-pg copies
    rm -rf "$ROOT/.build" ;;
  sweep) (($# >= 2)) || die "usage: run.sh sweep DIR [--keep]"; sweep "$2" "${3:-}" ;;
  *) sed -n '4,13s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
