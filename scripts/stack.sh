#!/usr/bin/env bash
# A workflowd stack in one directory: PostgreSQL cluster, migrations, workflowd responders on
# unix sockets, nginx in front, and the wait until /api/v1/health answers 200 through nginx.
# make run, bench/, fuzz/ci.sh and the Swift end-to-end tests all start their stacks here.
#
#   stack.sh up DIR [--responders N] [--port P] [--pg-port P | --database-url URL] [--pg-socket]
#                   [--env K=V]... [--release | --bin PATH] [--timeout S]
#       Starts (or restarts) the stack in DIR, waits until it is healthy, writes DIR/env
#       (DATABASE_URL, WORKFLOWD_JWT_SECRET, BASE_URL). Free ports when none are given.
#   stack.sh responder DIR NAME [--socket PATH] [--env K=V]... [--database-url URL]
#                   [--bin PATH] [--timeout S]
#       (Re)starts one responder with DIR's settings; waits until it listens.
#   stack.sh down DIR           stops nginx, the responders and the cluster of DIR (keeps the data)
#   stack.sh status DIR         what runs in DIR; exit 0 when healthy, 3 otherwise
#   stack.sh sweep DIR [--keep] stops whatever left pid files anywhere under DIR, then deletes DIR
#                               and its clusters' data (unless --keep)
#   stack.sh wait-http URL SECONDS [PID...]
#                               waits until URL answers 200 (fails early when a PID exits)
#
# workflowd gets the caller's environment (so WORKFLOWD_* settings pass through), then
# DATABASE_URL, WORKFLOWD_JWT_SECRET, WORKFLOWD_MIGRATIONS_DIR (when unset), then the --env pairs.
# The secret: WORKFLOWD_JWT_SECRET when set, else DIR/jwt-secret, else a new one kept there.
# Default binary: .build/debug/workflowd (--release: .build/release/workflowd).
# Per responder NAME: DIR/NAME.{sock,pid,log}, and DIR/NAME.exit with its exit status once it ended.
# Every wait is bounded (--timeout, default 30 s); a failure prints the logs' tails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPTS=$ROOT/scripts
die() { echo "stack.sh: error: $*" >&2; exit 1; }
usage() { sed -n '6,25s/^# \{0,1\}//p' "$0" >&2; exit 2; }

tail_log() {  # tail_log FILE [LINES]: the end of a log, labelled, on stderr
  [[ -s $1 ]] || return 0
  echo "--- tail of $1:" >&2
  tail -n "${2:-20}" "$1" >&2 || true
}

# stop_workflowd PIDFILE: SIGTERM the pid in PIDFILE if that process is alive and really workflowd
# (a stale file's recycled pid is left alone), KILL it after 15 s.
stop_workflowd() {
  local file=$1 pid i cmdline dir
  pid=$(head -n 1 "$file" 2>/dev/null) || pid=
  dir=$(cd "$(dirname "$file")" && pwd)
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || cmdline=
  # Only the process this pid file is about: a stale file's pid may since belong to another stack's
  # workflowd, or to a PostgreSQL backend of a database named workflowd. Ours runs with its socket in
  # the pid file's directory.
  if [[ $pid =~ ^[0-9]+$ && $cmdline == *workflowd* && $cmdline == *"$dir/"* ]]; then
    kill -TERM "$pid"  # workflowd finishes in-flight requests, then exits
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stack.sh: workflowd (pid $pid) still running after 15 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

# wait_http URL SECONDS [PID...]: until URL answers 200; 1 when a PID exits or time runs out.
wait_http() {
  local url=$1 secs=$2 i pid
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null || return 1; done
    sleep 0.1
  done
  return 1
}

# Settings of DIR kept by `up` for later `responder` calls (DIR/stack.conf, mode 600).
load_conf() {
  BIN=$ROOT/.build/debug/workflowd DATABASE_URL='' EXTRA_ENV=() PORT='' RESPONDERS=0
  [[ -f $DIR/stack.conf ]] && source "$DIR/stack.conf"
  return 0
}
save_conf() {
  (umask 077
   { printf 'BIN=%q\nDATABASE_URL=%q\nPORT=%q\nRESPONDERS=%q\n' "$BIN" "$DATABASE_URL" "$PORT" "$RESPONDERS"
     printf 'EXTRA_ENV=('; ((${#EXTRA_ENV[@]} == 0)) || printf ' %q' "${EXTRA_ENV[@]}"; printf ' )\n'
   } >"$DIR/stack.conf")
}

# Sets WORKFLOWD_JWT_SECRET: the environment's, else DIR/jwt-secret, else a new one kept there.
load_secret() {
  if [[ -z ${WORKFLOWD_JWT_SECRET:-} ]]; then
    [[ -s $DIR/jwt-secret ]] || (umask 077 && openssl rand -hex 32 >"$DIR/jwt-secret")
    WORKFLOWD_JWT_SECRET=$(cat "$DIR/jwt-secret")
  fi
  ((${#WORKFLOWD_JWT_SECRET} >= 32)) || die "WORKFLOWD_JWT_SECRET must be at least 32 bytes"
  export WORKFLOWD_JWT_SECRET
}

# start_responder NAME TIMEOUT SOCKET: stops the previous NAME, starts `workflowd serve` on SOCKET
# in the background with pid, log and exit-status files, waits until it listens.
start_responder() {
  local name=$1 secs=$2 pidfile=$DIR/$1.pid log=$DIR/$1.log exitfile=$DIR/$1.exit
  local -a args=(--socket "$3" --socket-mode 0666)
  [[ -x $BIN ]] || die "$BIN not found (build it first: swift build${BIN_HINT:-})"
  [[ -n $DATABASE_URL ]] || die "no database for $DIR (stack.sh up first, or --database-url)"
  stop_workflowd "$pidfile"
  rm -f "$exitfile" "$pidfile.new"
  local socket=${args[1]} i
  rm -f "$socket"  # its owner was stopped above; a stale file would look ready
  # A subshell that waits for workflowd, so that its exit status is kept (DIR/NAME.exit).
  (
    close_inherited_fds
    trap '' HUP  # survive the terminal of `make run`
    export DATABASE_URL WORKFLOWD_JWT_SECRET
    export WORKFLOWD_MIGRATIONS_DIR=${WORKFLOWD_MIGRATIONS_DIR:-$ROOT/Migrations}
    for kv in "${EXTRA_ENV[@]}"; do export "${kv?}"; done
    "$BIN" serve "${args[@]}" </dev/null >"$log" 2>&1 &
    echo $! >"$pidfile.new"
    mv "$pidfile.new" "$pidfile"
    wait $! && rc=0 || rc=$?
    echo "$rc" >"$exitfile"
  ) </dev/null >/dev/null 2>&1 &
  local pid=''
  for ((i = 0; i < secs * 10; i++)); do
    [[ -z $pid && -f $pidfile ]] && pid=$(cat "$pidfile")
    if [[ -f $exitfile ]]; then
      rm -f "$pidfile"
      tail_log "$log" 30
      die "$name exited with status $(cat "$exitfile") during startup (log above)"
    fi
    [[ -n $pid && -S $socket ]] && return 0
    sleep 0.1
  done
  tail_log "$log" 30
  [[ -n $pid ]] && stop_workflowd "$pidfile"
  die "$name did not start listening within $secs s (log above)"
}

responders_pids() {  # the pids of DIR's running responders
  local f pid
  for f in "$DIR"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(head -n 1 "$f")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  done
  return 0
}

stop_responders() {
  local f
  for f in "$DIR"/*.pid; do [[ -f $f ]] && stop_workflowd "$f"; done
  return 0
}

# The options of `up` and `responder`; sets the variables named after them.
parse_options() {
  while (($#)); do
    case $1 in
      --responders) RESPONDERS=${2:?}; shift ;;
      --port) PORT=${2:?}; shift ;;
      --pg-port) PG_PORT=${2:?}; shift ;;
      --pg-socket) PG_SOCKET=1 ;;
      --database-url) DATABASE_URL=${2:?}; OWN_DATABASE=1; shift ;;
      --env) [[ ${2:-} == [A-Za-z_]*=* ]] || die "--env wants K=V, got '${2:-}'"; EXTRA_ENV+=("$2"); shift ;;
      --release) BIN=$ROOT/.build/release/workflowd BIN_HINT=' -c release' ;;
      --bin) BIN=${2:?}; shift ;;
      --timeout) TIMEOUT=${2:?}; shift ;;
      --socket) SOCKET=${2:?}; shift ;;
      *) usage ;;
    esac
    shift
  done
  [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout wants seconds, got '$TIMEOUT'"
}

cmd_up() {
  BIN=$ROOT/.build/debug/workflowd DATABASE_URL='' EXTRA_ENV=() PORT='' PG_PORT='' PG_SOCKET=0
  OWN_DATABASE=0 TIMEOUT=30 RESPONDERS=1
  parse_options "$@"
  [[ $RESPONDERS =~ ^[1-9][0-9]*$ ]] || die "--responders wants a positive number, got '$RESPONDERS'"
  [[ -x $BIN ]] || die "$BIN not found (build it first: swift build${BIN_HINT:-})"
  [[ -n $PORT ]] || PORT=$("$SCRIPTS/pg.sh" free-port)
  load_secret

  if ((!OWN_DATABASE)); then
    if [[ -z $PG_PORT ]]; then  # the running cluster's port, else a free one
      PG_PORT=$("$SCRIPTS/pg.sh" status "$DIR/pg" 2>/dev/null) && PG_PORT=${PG_PORT##* } ||
        PG_PORT=$("$SCRIPTS/pg.sh" free-port)
    fi
    "$SCRIPTS/pg.sh" start "$DIR/pg" "$PG_PORT"
    if ((PG_SOCKET)); then
      DATABASE_URL=$("$SCRIPTS/pg.sh" socket-url "$DIR/pg")
    else
      DATABASE_URL=$("$SCRIPTS/pg.sh" url "$DIR/pg")
    fi
  fi
  DATABASE_URL=$DATABASE_URL WORKFLOWD_MIGRATIONS_DIR=${WORKFLOWD_MIGRATIONS_DIR:-$ROOT/Migrations} \
    "$BIN" migrate >"$DIR/migrate.log" 2>&1 || { tail_log "$DIR/migrate.log" 30; die "workflowd migrate failed"; }
  save_conf

  # From here on a failure stops what this call started (the cluster stays: `down` stops it).
  trap 'rc=$?; ((rc)) && { "$SCRIPTS/nginx.sh" stop "$DIR/nginx" || true; stop_responders; }; exit $rc' EXIT
  stop_responders  # restart: a freshly built binary is the one serving
  rm -f "$DIR"/*.exit
  local i upstreams=()
  for ((i = 0; i < RESPONDERS; i++)); do
    start_responder "workflowd$i" "$TIMEOUT" "$DIR/workflowd$i.sock"
    upstreams+=("unix:$DIR/workflowd$i.sock")
  done
  "$SCRIPTS/nginx.sh" start "$DIR/nginx" "$PORT" "${upstreams[@]}"

  local url=http://127.0.0.1:$PORT
  # shellcheck disable=SC2046
  if ! wait_http "$url/api/v1/health" "$TIMEOUT" $(responders_pids); then
    for ((i = 0; i < RESPONDERS; i++)); do
      tail_log "$DIR/workflowd$i.log" 30
      [[ -f $DIR/workflowd$i.exit ]] && echo "workflowd$i exited with status $(cat "$DIR/workflowd$i.exit")" >&2
    done
    tail_log "$DIR/nginx/error.log" 10
    die "$url/api/v1/health did not answer 200 within $TIMEOUT s (logs above)"
  fi
  (umask 077 && printf 'export DATABASE_URL=%q\nexport WORKFLOWD_JWT_SECRET=%q\nexport BASE_URL=%q\n' \
    "$DATABASE_URL" "$WORKFLOWD_JWT_SECRET" "$url" >"$DIR/env")
}

cmd_responder() {
  local name=$1
  shift
  [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad responder NAME '$name'"
  load_conf
  TIMEOUT=30 SOCKET=$DIR/$name.sock
  parse_options "$@"
  load_secret
  start_responder "$name" "$TIMEOUT" "$SOCKET"
}

cmd_down() {
  "$SCRIPTS/nginx.sh" stop "$DIR/nginx"
  stop_responders
  [[ -e $DIR/pg ]] && "$SCRIPTS/pg.sh" stop "$DIR/pg"
  return 0
}

cmd_status() {
  local healthy=1 f name pid code
  load_conf
  if [[ -e $DIR/pg ]]; then
    local pg
    pg=$("$SCRIPTS/pg.sh" status "$DIR/pg") || healthy=0
    echo "postgresql: $pg"
  fi
  for f in "$DIR"/*.pid "$DIR"/*.exit; do
    [[ -f $f ]] || continue
    name=${f##*/} name=${name%.*}
    if [[ $f == *.pid ]]; then
      pid=$(head -n 1 "$f")
      if kill -0 "$pid" 2>/dev/null; then echo "$name: running, pid $pid"; else echo "$name: gone (pid $pid)"; healthy=0; fi
    elif [[ ! -f $DIR/$name.pid ]]; then
      echo "$name: exited with status $(cat "$f")"
    fi
  done
  pid=$(cat "$DIR/nginx/nginx.pid" 2>/dev/null) || pid=''
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then echo "nginx: running, pid $pid"; else echo "nginx: stopped"; healthy=0; fi
  if [[ -n $PORT ]]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/api/v1/health") || true
    echo "health: http://127.0.0.1:$PORT/api/v1/health answers ${code:-nothing}"
    [[ $code == 200 ]] || healthy=0
  fi
  ((healthy)) || exit 3
}

# sweep DIR [--keep]: stop every nginx, workflowd and cluster that left a pid/port file under DIR
# (e.g. tests that died half-way); unless --keep, drop the clusters' data and delete DIR.
cmd_sweep() {
  local keep=${1:-} f pg=destroy
  [[ -d $DIR ]] || return 0
  [[ $keep == --keep ]] && pg=stop
  while IFS= read -r -d '' f; do "$SCRIPTS/nginx.sh" stop "${f%/*}"; done \
    < <(find "$DIR" -name nginx.pid -print0)
  while IFS= read -r -d '' f; do stop_workflowd "$f"; done \
    < <(find "$DIR" -name '*.pid' ! -name nginx.pid ! -name postmaster.pid -print0)
  while IFS= read -r -d '' f; do "$SCRIPTS/pg.sh" "$pg" "${f%/*}"; done \
    < <(find -L "$DIR" -name workflowd.port -print0)  # -L: data may be under /var/tmp
  [[ $keep == --keep ]] || rm -rf "$DIR"
}

cmd=${1:-}
case $cmd in
  wait-http)
    (($# >= 3)) && [[ $3 =~ ^[0-9]+$ ]] || usage
    wait_http "$2" "$3" "${@:4}" || die "$2 did not answer 200 within $3 s (or its process exited)"
    exit 0 ;;
  up|responder|down|status|sweep) (($# >= 2)) || usage ;;
  *) usage ;;
esac
case $cmd in up|responder) mkdir -p "$2" ;; esac
if [[ ! -d $2 ]]; then  # nothing ever ran there
  [[ $cmd == status ]] && { echo "nothing in $2"; exit 3; }
  exit 0
fi
DIR=$(cd "$2" && pwd)
shift 2
case $cmd in
  up) cmd_up "$@" ;;
  responder) (($# >= 1)) || usage; cmd_responder "$@" ;;
  down) (($# == 0)) || usage; cmd_down ;;
  status) (($# == 0)) || usage; cmd_status ;;
  sweep) (($# <= 1)) || usage; cmd_sweep "${1:-}" ;;
esac
