#!/usr/bin/env bash
# Throwaway / dev PostgreSQL 15 clusters, listening on 127.0.0.1 only.
#
#   pg.sh start DATADIR PORT   initdb if needed, start, wait until ready, create db "workflowd"
#   pg.sh stop DATADIR         fast shutdown (ok if not running or missing)
#   pg.sh restart DATADIR      stop + start on the port it was started with
#   pg.sh status DATADIR       prints "running on port N" (exit 0) or "stopped" (exit 3)
#   pg.sh url DATADIR          prints postgresql://postgres@127.0.0.1:PORT/workflowd
#   pg.sh socket-url DATADIR   the same database through the cluster's unix socket (cheaper per
#                              round trip than loopback TCP); the TCP url when there is no socket
#   pg.sh destroy DATADIR      stop and delete the cluster's data (and its /var/tmp copy)
#   pg.sh free-port            prints a free loopback TCP port
#
# As root, initdb/postgres run as the "postgres" user. When postgres cannot
# traverse DATADIR's parents (e.g. a repo under /root), the data lives in
# /var/tmp/workflowd-pg/<sha of DATADIR's absolute path> and DATADIR is a symlink to it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PGBIN=/usr/lib/postgresql/15/bin
DB=workflowd
die() { echo "pg.sh: error: $*" >&2; exit 1; }
usage() { sed -n '4,12s/^# \{0,1\}//p' "$0" >&2; exit 2; }

# Run a PostgreSQL server binary as the cluster owner ("postgres" when we are root).
# cd / so that an unreadable cwd (e.g. under /root) doesn't bother it.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Sets ABS (absolute DATADIR, symlink not resolved) and REAL (where the data is).
# Only `start` creates DATADIR's parent; the other commands leave no trace.
resolve() {
  local d=$1
  [[ $CMD == start ]] && mkdir -p -- "$(dirname -- "$d")"
  ABS="$(realpath -m -- "$(dirname -- "$d")")/$(basename -- "$d")"
  REAL=$ABS
  if [[ -L $ABS ]]; then
    REAL=$(readlink -f -- "$ABS")
  elif [[ ! -e $ABS && $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "${ABS%/*}" 2>/dev/null; then
    REAL=/var/tmp/workflowd-pg/$(printf '%s' "$ABS" | sha256sum | cut -c1-16)
  fi
}

port_file() { echo "$REAL/workflowd.port"; }
stored_port() { [[ -f $(port_file) ]] && cat "$(port_file)"; }
is_running() { [[ -f $REAL/PG_VERSION ]] && as_owner "$PGBIN/pg_ctl" -D "$REAL" status >/dev/null 2>&1; }

# Create the data directory where the postgres user can reach it.
prepare_dir() {
  [[ $(id -u) -eq 0 ]] || { mkdir -p -- "$REAL"; return; }
  mkdir -p -- "$REAL"
  if [[ $REAL != "$ABS" && ! -L $ABS ]]; then
    chmod 755 /var/tmp/workflowd-pg
    ln -s -- "$REAL" "$ABS"
  fi
  runuser -u postgres -- test -x "$REAL" 2>/dev/null ||
    die "$REAL is not reachable by the postgres user (remove it and retry)"
  [[ $(stat -c %U "$REAL") == postgres ]] || chown -R postgres:postgres "$REAL"
  chmod 700 "$REAL"
}

cmd_start() {
  local port=$1 running_port
  [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
  if is_running; then
    running_port=$(stored_port || true)
    [[ $running_port == "$port" ]] ||
      die "cluster $ABS is already running on port ${running_port:-?}, not $port"
    return 0
  fi
  prepare_dir
  if [[ ! -f $REAL/PG_VERSION ]]; then
    local locale=C
    locale -a 2>/dev/null | grep -qix 'c.utf-\{0,1\}8' && locale=C.UTF-8
    # --no-sync: these are dev/test clusters; skipping initdb's fsyncs saves seconds.
    as_owner "$PGBIN/initdb" -D "$REAL" --auth=trust -U postgres --encoding=UTF8 \
      --locale="$locale" --no-sync >"$REAL.initdb.log" 2>&1 ||
      { cat "$REAL.initdb.log" >&2; die "initdb failed for $REAL"; }
    rm -f -- "$REAL.initdb.log"
  fi
  echo "$port" >"$(port_file)"
  # Unix socket inside the data dir unless the path would exceed the 107-byte
  # sun_path limit; then TCP only (clients use the 127.0.0.1 URL anyway).
  local sockdir=$REAL
  (( ${#REAL} + 20 < 100 )) || sockdir=''
  local log=$REAL/postgres.log
  (close_inherited_fds; as_owner "$PGBIN/pg_ctl" -D "$REAL" -l "$log" -W \
    -o "-p $port -c listen_addresses=127.0.0.1 -k '$sockdir'" start </dev/null >/dev/null) ||
    { tail -n 20 "$log" >&2 2>/dev/null || true; die "pg_ctl start failed"; }
  local i
  for ((i = 0; i < 300; i++)); do
    pg_isready -q -t 2 -h 127.0.0.1 -p "$port" -d postgres -U postgres && break
    if ((i > 10)) && ! is_running; then break; fi  # postmaster died (port in use?)
    sleep 0.1
  done
  if ! pg_isready -q -t 2 -h 127.0.0.1 -p "$port" -d postgres -U postgres; then
    echo "--- tail of $log:" >&2; tail -n 20 "$log" >&2 2>/dev/null || true
    is_running || die "PostgreSQL in $ABS exited during startup on 127.0.0.1:$port (log above)"
    die "PostgreSQL in $ABS did not become ready on 127.0.0.1:$port within 30 s"
  fi
  psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA \
    -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
    createdb -h 127.0.0.1 -p "$port" -U postgres "$DB"
}

cmd_stop() {
  is_running || return 0
  as_owner "$PGBIN/pg_ctl" -D "$REAL" -m fast -w -t 60 stop >/dev/null ||
    die "could not stop PostgreSQL in $ABS (see $REAL/postgres.log)"
}

CMD=${1:-}
case $CMD in
  free-port)
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' ;;
  start)
    (($# == 3)) || usage
    resolve "$2"; cmd_start "$3" ;;
  stop|restart|status|url|socket-url|destroy)
    (($# == 2)) || usage
    resolve "$2"
    case $CMD in
      stop) cmd_stop ;;
      restart)
        port=$(stored_port) || die "no cluster started in $ABS yet (use: pg.sh start DATADIR PORT)"
        cmd_stop; cmd_start "$port" ;;
      status)
        if is_running; then echo "running on port $(stored_port)"; else echo stopped; exit 3; fi ;;
      url)
        port=$(stored_port) || die "no cluster started in $ABS yet (use: pg.sh start DATADIR PORT)"
        echo "postgresql://postgres@127.0.0.1:$port/$DB" ;;
      socket-url)
        port=$(stored_port) || die "no cluster started in $ABS yet (use: pg.sh start DATADIR PORT)"
        if [[ -S $REAL/.s.PGSQL.$port ]]; then
          echo "postgresql://postgres@/$DB?host=$REAL&port=$port"
        else
          echo "postgresql://postgres@127.0.0.1:$port/$DB"
        fi ;;
      destroy)
        cmd_stop
        [[ $REAL != "$ABS" ]] && rm -rf -- "$REAL"
        rm -rf -- "$ABS" ;;
    esac ;;
  *) usage ;;
esac
