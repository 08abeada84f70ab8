#!/usr/bin/env bash
# The web console's browser tests: a stack from scripts/stack.sh (PostgreSQL + workflowd + nginx serving
# console/), a second nginx on another port as a foreign origin, Debian's chromium driven by Playwright,
# axe-core for accessibility. Screenshots (desktop 1280 px and phone 360 px) go to .run/browser-artifacts/.
#
#   browser/run.sh [PYTEST_ARGS...]     (after a build; uses .build/debug/workflowd)
#
# Env: WORKFLOWD_BIN (default .build/debug/workflowd), CHROMIUM (default /usr/bin/chromium),
#      PYTHON (python3, for the venv).
# Exit: pytest's (0 = all passed), 2 when the stack or the tools are missing.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/.run/browser
VENV=$ROOT/.run/browser-venv
ART=$ROOT/.run/browser-artifacts
BIN=${WORKFLOWD_BIN:-$ROOT/.build/debug/workflowd}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PYTHON=${PYTHON:-python3}
die() { echo "browser/run.sh: error: $*" >&2; exit 2; }

[[ -x $BIN ]] || die "$BIN not found (build first: swift build)"
[[ -x $CHROMIUM ]] || die "$CHROMIUM not found (scripts/install-deps.sh installs Debian's chromium)"

# Playwright and axe in a venv, reinstalled when requirements.txt changes.
want=$(sha256sum browser/requirements.txt | cut -d' ' -f1)
if [[ $(cat "$VENV/.requirements.sha256" 2>/dev/null) != "$want" ]]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (apt-get install python3-venv)"
  echo "browser/run.sh: installing browser/requirements.txt into .run/browser-venv" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input -r browser/requirements.txt ||
    die "pip install -r browser/requirements.txt failed"
  echo "$want" >"$VENV/.requirements.sha256"
fi

scripts/stack.sh sweep "$DIR"
mkdir -p "$DIR" "$ART"
trap 'scripts/stack.sh sweep "$DIR" --keep || true' EXIT
trap 'exit 130' INT TERM

# The foreign origin: 127.0.0.1:P2 is allowed by WORKFLOWD_CORS_ORIGINS, 127.0.0.2:P2 (same files) is not.
P2=$(scripts/pg.sh free-port)
ALLOWED=http://127.0.0.1:$P2
scripts/stack.sh up "$DIR" --bin "$BIN" --env "WORKFLOWD_CORS_ORIGINS=$ALLOWED" \
  --env "WORKFLOWD_LOG_LEVEL=${WORKFLOWD_LOG_LEVEL:-warning}" || die "the stack did not start (see above)"
source "$DIR/env"

O=$DIR/origin
mkdir -p "$O/tmp"
{
  [[ $(id -u) -eq 0 ]] && echo "user root;"
  cat <<CONF
pid "$O/nginx.pid";
error_log "$O/error.log";
daemon on;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log "$O/access.log";
    client_body_temp_path "$O/tmp";
    server {
        listen 127.0.0.1:$P2;
        listen 127.0.0.2:$P2;
        location / { root "$ROOT/browser/origin"; default_type text/html; }
    }
}
CONF
} >"$O/nginx.conf"
/usr/sbin/nginx -p "$O/" -e "$O/error.log" -c "$O/nginx.conf" </dev/null >/dev/null 2>&1 || die "the second nginx did not start (see $O/error.log)"
scripts/stack.sh wait-http "$ALLOWED/" 10

export BASE_URL WORKFLOWD_BIN=$BIN CHROMIUM ARTIFACTS=$ART ALLOWED_ORIGIN=$ALLOWED REFUSED_ORIGIN=http://127.0.0.2:$P2
export STACK_DIR=$DIR WORKFLOWD_JWT_SECRET
rc=0
(cd browser && "$VENV/bin/python" -m pytest -q -p no:cacheprovider test_console.py "$@") || rc=$?
echo "browser/run.sh: screenshots in ${ART#"$ROOT"/}/"
exit "$rc"
