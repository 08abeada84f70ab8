#!/usr/bin/env bash
# A throwaway PgBouncer (Debian's, 1.18 on Debian 12) in transaction mode, for tests and benchmarks.
#
#   pgbouncer.sh start DIR PORT PG_PORT [POOL_SIZE]
#                          listen on 127.0.0.1:PORT; relay every database name to PostgreSQL on
#                          127.0.0.1:PG_PORT with at most POOL_SIZE (default 4) server connections per
#                          database and user; auth_type trust for the users "postgres" and "workflowd"
#   pgbouncer.sh stop DIR  stop it (ok if not running)
#   pgbouncer.sh url DIR DATABASE   prints postgresql://postgres@127.0.0.1:PORT/DATABASE
#
# Installs the pgbouncer package when it is missing (as root). PgBouncer refuses to run as root, so as
# root it runs as the "postgres" user, which must be able to write DIR.
# The config file is named workflowd-pgbouncer.ini so that `scripts/run.sh sweep` (which stops any
# process whose pid file it finds and whose command line names workflowd) stops a leftover one too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BIN=/usr/sbin/pgbouncer
die() { echo "pgbouncer.sh: error: $*" >&2; exit 1; }
usage() { sed -n '4,10s/^# \{0,1\}//p' "$0" >&2; exit 2; }

as_runner() {
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

install_if_missing() {
  [[ -x $BIN ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "pgbouncer is not installed; run: sudo apt-get install -y pgbouncer"
  echo "pgbouncer.sh: installing pgbouncer" >&2
  # Another apt run (a parallel build) may hold the lock for a while: wait for it.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends pgbouncer \
    >/dev/null || die "apt-get install pgbouncer failed"
}

DEFAULT_SIGNALS_EXEC='
import os, signal, sys
signal.pthread_sigmask(signal.SIG_SETMASK, [])
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT): signal.signal(s, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])'

pid_of() { local pid; pid=$(head -n 1 "$1/pgbouncer.pid" 2>/dev/null) || return 1; [[ $pid =~ ^[0-9]+$ ]] && echo "$pid"; }
is_ours() { [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") == *pgbouncer* ]]; }

cmd_start() {
  local dir=$1 port=$2 pg_port=$3 pool=${4:-4} i
  [[ $port =~ ^[0-9]+$ && $pg_port =~ ^[0-9]+$ && $pool =~ ^[0-9]+$ ]] || die "PORT, PG_PORT and POOL_SIZE must be numbers"
  install_if_missing
  mkdir -p -- "$dir"
  dir=$(realpath -- "$dir")
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  as_runner test -w "$dir" || die "$dir is not writable by the postgres user (PgBouncer does not run as root)"
  printf '"postgres" ""\n"workflowd" ""\n' >"$dir/userlist.txt"
  cat >"$dir/workflowd-pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 500
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"/*
  # A caller may have blocked or ignored SIGINT/SIGTERM (a test runner does), and PgBouncer inherits the mask
  # and never resets it: then it would ignore `stop`. Start it with default signal handling.
  (close_inherited_fds; as_runner python3 -c "$DEFAULT_SIGNALS_EXEC" "$BIN" -d -q "$dir/workflowd-pgbouncer.ini" \
    </dev/null >/dev/null 2>&1) ||
    { tail -n 20 "$dir/pgbouncer.log" >&2 2>/dev/null || true; die "pgbouncer did not start"; }
  for ((i = 0; i < 100; i++)); do
    pg_isready -q -t 1 -h 127.0.0.1 -p "$port" -d postgres -U postgres && return 0
    sleep 0.1
  done
  tail -n 20 "$dir/pgbouncer.log" >&2 2>/dev/null || true
  die "pgbouncer did not answer on 127.0.0.1:$port within 10 s"
}

cmd_stop() {
  local dir=$1 pid i
  pid=$(pid_of "$dir") || return 0
  is_ours "$pid" || return 0
  kill -INT "$pid" 2>/dev/null || true  # SIGINT: close client connections after their transaction
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true  # 1.18: SIGTERM is the immediate shutdown
}

CMD=${1:-}
case $CMD in
  start) (($# == 4 || $# == 5)) || usage; cmd_start "${@:2}" ;;
  stop) (($# == 2)) || usage; cmd_stop "$2" ;;
  url)
    (($# == 3)) || usage
    port=$(sed -n 's/^listen_port = //p' "$2/workflowd-pgbouncer.ini" 2>/dev/null) || true
    [[ -n $port ]] || die "no pgbouncer configured in $2 (use: pgbouncer.sh start …)"
    echo "postgresql://postgres@127.0.0.1:$port/$3" ;;
  *) usage ;;
esac
