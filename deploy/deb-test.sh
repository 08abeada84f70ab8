#!/usr/bin/env bash
# The package, installed on this machine as an operator would (run by `make test`):
#
#   1. deploy/deb.sh builds .build-deb/workflowd_*.deb (or reuses an up-to-date release build); lintian
#      errors fail it.
#   2. `dpkg -i`: the system user `workflowd` exists, the files are where they belong, the binary is
#      stripped and loads no Swift library, the env file is root's only, the nginx site is not enabled.
#   3. With the Swift toolchain off PATH (env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin) and the settings read
#      from the installed /etc/workflowd/workflowd.env, against a throwaway PostgreSQL: `workflowd check`
#      reports the built-in migrations as pending; `workflowd migrate` applies them (no migrations
#      directory anywhere); `check` then passes; a WORKFLOWD_MIGRATIONS_DIR still overrides the built-in set.
#   4. workflowd serves as user workflowd behind an nginx rendered from the installed site file: health
#      and an authenticated listing of the seeded definitions answer through nginx, and so does the
#      installed web console (/usr/share/workflowd/console) with its Content-Security-Policy.
#   5. Reinstalling keeps the edited env file (a dpkg conffile).
#   6. `dpkg -r` removes the binary and units and keeps the configuration; `dpkg --purge` removes the
#      configuration and the units' state; no process of the package is left running.
#
# systemd is not PID 1 here: workflowd is started directly, and the maintainer scripts must cope.
# Refuses to run when a workflowd package is already installed (it would remove it).
#
# Usage: deploy/deb-test.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
T=$ROOT/.run/deb-test
CLEAN_PATH=/usr/sbin:/usr/bin:/sbin:/bin
failures=0
die() { echo "deb-test: error: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...: ok/FAIL by the command's exit status
  if "${@:2}" >/dev/null 2>&1; then ok "$1"; else fail "$1"; fi
}

[[ $(id -u) -eq 0 ]] || die "installs a package: run as root"
package_state() { dpkg-query -W -f='${db:Status-Abbrev}' workflowd 2>/dev/null | tr -d ' ' || true; }
not_installed() { local s; s=$(package_state); [[ -z $s || $s == un ]]; }
state=$(package_state)
not_installed ||
  die "a workflowd package is already on this machine (dpkg state '$state'); this test would remove it." \
    "Remove it first (dpkg --purge workflowd) if it is a leftover of an earlier run."

# dpkg waits for nobody: retry while another apt/dpkg holds the lock (other jobs on this machine).
dpkg_() {
  local i out
  for ((i = 0; i < 60; i++)); do
    if out=$(env -i PATH=$CLEAN_PATH DEBIAN_FRONTEND=noninteractive dpkg "$@" 2>&1); then
      printf '%s\n' "$out"
      return 0
    fi
    grep -qi 'lock' <<<"$out" || { printf '%s\n' "$out" >&2; return 1; }
    sleep 2
  done
  printf '%s\n' "$out" >&2
  return 1
}

deb=$(deploy/deb.sh | tail -n 1)
[[ -f $deb ]] || die "deploy/deb.sh did not print a package path"

scripts/stack.sh sweep "$T"
mkdir -p "$T"
wpid=''
cleanup() {
  [[ -n $wpid ]] && kill -TERM "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
  scripts/nginx.sh stop "$T/nginx" || true
  scripts/pg.sh destroy "$T/pg" || true
  not_installed || dpkg_ --purge workflowd >/dev/null || true
  rm -rf -- "$RUNDIR"
}
RUNDIR=$(mktemp -d /tmp/workflowd-deb-test.XXXXXX)
chmod 0755 "$RUNDIR"  # workflowd (its own user) creates its socket below it
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_port=$(scripts/pg.sh free-port)
scripts/pg.sh start "$T/pg" "$pg_port"
database_url=$(scripts/pg.sh url "$T/pg")

# --- 2. install
dpkg_ -i "$deb" >"$T/dpkg-install.log" || die "dpkg -i $deb failed (see $T/dpkg-install.log)"
ok "dpkg -i $(basename "$deb")"
check "package state is installed" test "$(package_state)" = ii
check "system user workflowd exists, no login shell" \
  bash -c '[[ $(getent passwd workflowd | cut -d: -f7) == /usr/sbin/nologin && $(id -u workflowd) -lt 1000 ]]'
for f in /usr/bin/workflowd /lib/systemd/system/workflowd.service /lib/systemd/system/workflowd.socket \
  /lib/systemd/system/workflowd@.service /lib/systemd/system/workflowd@.socket \
  /etc/nginx/sites-available/workflowd /usr/share/doc/workflowd/copyright /usr/share/workflowd/console/index.html; do
  check "installed $f" test -f "$f"
done
check "units start /usr/bin/workflowd" grep -q '^ExecStart=/usr/bin/workflowd serve$' /lib/systemd/system/workflowd.service
check "env file is root's only (0600 root:root)" test "$(stat -c '%a %U %G' /etc/workflowd/workflowd.env)" = "600 root root"
check "env file and nginx site are conffiles" \
  bash -c "dpkg-query -W -f='\${Conffiles}' workflowd | grep -q /etc/workflowd/workflowd.env && dpkg-query -W -f='\${Conffiles}' workflowd | grep -q /etc/nginx/sites-available/workflowd"
check "nginx site not enabled" test ! -e /etc/nginx/sites-enabled/workflowd
check "binary is stripped" bash -c '! readelf -S /usr/bin/workflowd | grep -q "\.symtab"'
check "binary loads no Swift library" bash -c '! ldd /usr/bin/workflowd | grep -Eq "swift|Foundation|dispatch|BlocksRuntime|not found"'

# --- 3. configure, migrate, check: the installed binary alone, toolchain off PATH, from /
sed -i -e "s#^DATABASE_URL=.*#DATABASE_URL='$database_url'#" \
  -e "s#^WORKFLOWD_JWT_SECRET=.*#WORKFLOWD_JWT_SECRET='$(openssl rand -hex 32)'#" /etc/workflowd/workflowd.env
# The docs' way to run workflowd with the service's environment (docs/operations.md).
wfd() { (cd / && env -i PATH=$CLEAN_PATH bash -c 'set -a; . /etc/workflowd/workflowd.env; set +a; exec /usr/bin/workflowd "$@"' wfd "$@"); }
check "swift is not on the clean PATH" bash -c "! env -i PATH=$CLEAN_PATH bash -c 'command -v swift'"

migrations=$(find Migrations -name '*.sql' | wc -l)
out=$(wfd check 2>&1) && fail "check passes before migrate: $out" ||
  { grep -q "$migrations migration(s) pending" <<<"$out" && ok "check before migrate: $migrations built-in migrations pending" ||
      fail "check before migrate said: $out"; }
out=$(wfd migrate 2>&1) && grep -q "applied $migrations migration(s)" <<<"$out" &&
  ok "migrate applied the $migrations built-in migrations" || fail "migrate said: $out"
out=$(wfd check 2>&1) && grep -q "migrations ok" <<<"$out" && ok "check passes after migrate" || fail "check said: $out"

# A directory still overrides the built-in set: one that lacks the applied migration 2 is refused.
mkdir -p "$RUNDIR/migrations"
cp Migrations/0001_*.sql "$RUNDIR/migrations/"
out=$(cd / && env -i PATH=$CLEAN_PATH WORKFLOWD_MIGRATIONS_DIR="$RUNDIR/migrations" bash -c \
  'set -a; . /etc/workflowd/workflowd.env; set +a; exec /usr/bin/workflowd check' 2>&1) &&
  fail "check accepted a directory without applied migrations: $out" ||
  { grep -q "migration 2 applied" <<<"$out" && ok "WORKFLOWD_MIGRATIONS_DIR overrides the built-in migrations" ||
      fail "check with an override directory said: $out"; }

# --- 4. serve as user workflowd, through nginx rendered from the installed site
install -d -o workflowd -g workflowd -m 0755 "$RUNDIR/run"
sock=$RUNDIR/run/workflowd.sock
# Like systemd: the env file is read as root, workflowd runs as its user.
(cd / && exec env -i PATH=$CLEAN_PATH bash -c 'set -a; . /etc/workflowd/workflowd.env; set +a
  exec setpriv --reuid workflowd --regid workflowd --init-groups --inh-caps=-all \
    /usr/bin/workflowd serve --socket "$1" --workers 2 --pool-size 2' serve "$sock") </dev/null >"$T/workflowd.log" 2>&1 &
wpid=$!
for ((i = 0; i < 100; i++)); do [[ -S $sock ]] && break; sleep 0.1; done
check "workflowd serves on its socket as user workflowd" \
  bash -c "[[ -S '$sock' ]] && ps -o user= -p $wpid | grep -qx workflowd"

nginx_port=$(scripts/pg.sh free-port)
WORKFLOWD_NGINX_SITE=/etc/nginx/sites-available/workflowd WORKFLOWD_CONSOLE_DIR=/usr/share/workflowd/console scripts/nginx.sh start "$T/nginx" "$nginx_port" "unix:$sock"
base=http://127.0.0.1:$nginx_port
out=$(curl -sS -w ' %{http_code}' "$base/api/v1/health" 2>&1) || true
[[ $out == *'"status":"ok"'*' 200' ]] && ok "GET /api/v1/health through nginx: 200 ok" || fail "health through nginx: $out"
token=$(wfd token --sub 00000000-0000-4000-8000-000000000001 --role Viewer --ttl 5m)
out=$(curl -sS -w ' %{http_code}' -H "Authorization: Bearer $token" "$base/api/v1/workflow-definitions" 2>&1) || true
[[ $out == *' 200' && $out == *'"id"'* ]] && ok "GET /api/v1/workflow-definitions through nginx: the seeded definitions" ||
  fail "definitions through nginx: ${out:0:300}"
out=$(curl -sS -D - -o /dev/null "$base/js/app.js" 2>&1) || true
[[ $out == *' 200'* && $out == *'Content-Security-Policy: default-src '"'self'"* && $out == *'text/javascript'* ]] &&
  ok "GET /js/app.js through nginx: the installed console, with its CSP" || fail "console through nginx: ${out:0:400}"

# --- 5. reinstall: the edited env file stays
dpkg_ -i "$deb" >"$T/dpkg-reinstall.log" || fail "dpkg -i again (see $T/dpkg-reinstall.log)"
check "reinstall keeps the edited env file" grep -qF "DATABASE_URL='$database_url'" /etc/workflowd/workflowd.env

kill -TERM "$wpid" 2>/dev/null || true
rc=0
wait "$wpid" || rc=$?
wpid=''
check "workflowd exits 0 on SIGTERM" test "$rc" -eq 0
scripts/nginx.sh stop "$T/nginx"

# --- 6. remove, purge
dpkg_ -r workflowd >"$T/dpkg-remove.log" || fail "dpkg -r (see $T/dpkg-remove.log)"
check "after dpkg -r: state config-files" test "$(package_state)" = rc
check "after dpkg -r: binary and units gone" \
  bash -c '[[ ! -e /usr/bin/workflowd && -z $(ls /lib/systemd/system/workflowd* 2>/dev/null) ]]'
check "after dpkg -r: edited env file kept" grep -qF "DATABASE_URL='$database_url'" /etc/workflowd/workflowd.env
dpkg_ --purge workflowd >"$T/dpkg-purge.log" || fail "dpkg --purge (see $T/dpkg-purge.log)"
check "after dpkg --purge: not installed" not_installed
check "after dpkg --purge: /etc/workflowd and the nginx site gone" \
  bash -c '[[ ! -e /etc/workflowd && ! -e /etc/nginx/sites-available/workflowd ]]'
check "after dpkg --purge: no unit state or links left" \
  bash -c '[[ -z $(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name "*workflowd*" 2>/dev/null) ]]'
check "nothing of the package left running" \
  bash -c '! pgrep -u workflowd >/dev/null && ! ls -l /proc/[0-9]*/exe 2>/dev/null | grep -q " /usr/bin/workflowd"'

if ((failures)); then
  echo "deb-test: $failures check(s) failed (logs in $T)"
  exit 1
fi
echo "deb-test: all checks passed"
