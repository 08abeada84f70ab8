#!/usr/bin/env bash
# Checks the files in deploy/ without installing anything:
#
#   1. `systemd-analyze verify` on workflowd.socket + workflowd.service, on the
#      TCP variant of the socket (the commented ListenStream=127.0.0.1:9000),
#      and on an instance of the templates (workflowd@2.socket/.service).
#      verify checks that ExecStart= exists, so the units are copied to a
#      temporary directory with /usr/local/bin/workflowd replaced by BINARY.
#      verify exits 0 on some problems (an unknown key is only a warning), so
#      any output at all counts as a failure.
#   2. Both services keep RestartPreventExitStatus=2 and a start rate limit.
#   3. workflowd.env.example names every variable of the README's
#      configuration table.
#
# It then prints `systemd-analyze security --offline` 's overall exposure
# score for information (it does not fail on it).
#
# What it does not check: that the workflowd user, /etc/workflowd/workflowd.env
# and the migrations directory exist (verify does not look at them), nor how
# the sandboxing behaves at run time (that needs systemd as PID 1).
#
# Usage: deploy/verify.sh [BINARY]   (default: .build/debug/workflowd)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
binary=${1:-$repo/.build/debug/workflowd}
die() { echo "verify.sh: error: $*" >&2; exit 2; }

command -v systemd-analyze >/dev/null 2>&1 ||
  die "systemd-analyze not found (Debian: apt-get install systemd)"
[[ -f $binary && -x $binary ]] || die "$binary is not an executable file; build it or pass a binary path"
binary=$(realpath -- "$binary")

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
failed=0

# verify_units LABEL DIR UNIT...: runs verify; prints and counts anything it says.
verify_units() {
  local label=$1 dir=$2 out rc=0
  shift 2
  out=$(cd "$dir" && systemd-analyze verify --man=no --generators=no --recursive-errors=one "$@" 2>&1) || rc=$?
  if ((rc != 0)) || [[ -n $out ]]; then
    echo "FAIL systemd-analyze verify $*$label (exit $rc):"
    printf '%s\n' "$out" | sed 's/^/    /'
    failed=1
  else
    echo "ok   systemd-analyze verify $*$label"
  fi
}

# The units as shipped, with ExecStart pointing at the binary under test.
mkdir "$tmp/unix" "$tmp/tcp"
for f in workflowd.socket workflowd.service workflowd@.socket workflowd@.service; do
  [[ -f $here/$f ]] || die "missing $here/$f"
  sed "s#^ExecStart=/usr/local/bin/workflowd #ExecStart=$binary #" "$here/$f" >"$tmp/unix/$f"
done
grep -q "^ExecStart=$binary serve\$" "$tmp/unix/workflowd.service" ||
  die "workflowd.service: ExecStart=/usr/local/bin/workflowd serve not found"
verify_units "" "$tmp/unix" workflowd.socket workflowd.service
verify_units "" "$tmp/unix" workflowd@2.socket workflowd@2.service

# Exit status 2 (a refusal a restart cannot fix) is never retried, and retries are rate-limited
# (StartLimit*= belong in [Unit]; systemd ignores them in [Service] with only a warning).
for f in workflowd.service workflowd@.service; do
  if grep -q '^RestartPreventExitStatus=2$' "$here/$f" &&
    awk '/^\[/ { unit = ($0 == "[Unit]") } unit && /^StartLimitIntervalSec=[1-9]/ { i = 1 } unit && /^StartLimitBurst=[1-9]/ { b = 1 } END { exit !(i && b) }' "$here/$f"; then
    echo "ok   $f: RestartPreventExitStatus=2, start rate limit in [Unit]"
  else
    echo "FAIL $f: needs RestartPreventExitStatus=2 and StartLimitIntervalSec=/StartLimitBurst= (non-zero) in [Unit]"
    failed=1
  fi
done

# The TCP alternative: the commented ListenStream= line instead of the unix one.
grep -q '^#ListenStream=127.0.0.1:9000$' "$here/workflowd.socket" ||
  die "workflowd.socket: the commented '#ListenStream=127.0.0.1:9000' line is missing"
cp "$tmp/unix/workflowd.service" "$tmp/tcp/"
sed -e 's|^ListenStream=/|#ListenStream=/|' -e 's|^#ListenStream=127.0.0.1:9000$|ListenStream=127.0.0.1:9000|' \
  "$here/workflowd.socket" >"$tmp/tcp/workflowd.socket"
verify_units " (TCP variant)" "$tmp/tcp" workflowd.socket workflowd.service

# Every configuration variable of the README is in the example environment file.
readme_vars=$(grep -oE '^\| `(DATABASE_URL|WORKFLOWD_[A-Z_]+)`' "$repo/README.md" | tr -d '|` ' | sort -u)
[[ -n $readme_vars ]] || die "no configuration table found in README.md"
missing=()
for v in $readme_vars; do
  grep -qE "^#?$v=" "$here/workflowd.env.example" || missing+=("$v")
done
if ((${#missing[@]})); then
  echo "FAIL workflowd.env.example lacks: ${missing[*]}"
  failed=1
else
  echo "ok   workflowd.env.example names all $(wc -w <<<"$readme_vars") variables of the README's configuration table"
fi

# For information only.
score=$(cd "$tmp/unix" && systemd-analyze security --offline=yes --no-pager ./workflowd.service 2>/dev/null |
  grep 'Overall exposure level' || true)
[[ -n $score ]] && echo "info systemd-analyze security --offline: ${score#→ }"

exit "$failed"
