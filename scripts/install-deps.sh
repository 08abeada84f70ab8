#!/usr/bin/env bash
# Installs the Debian packages workflowd needs to build, test and run locally.
# Idempotent: prints nothing when everything is already present.
# Usage: scripts/install-deps.sh [--profiling]   (--profiling: also perf, for BENCH_PERF=1, and valgrind,
#        for bench/instructions.sh)
set -euo pipefail

# nginx-light: /usr/sbin/nginx with the fastcgi module; postgresql: 15 on Debian 12.
pkgs=(nginx-light libfcgi-dev libpq-dev libcurl4-openssl-dev postgresql postgresql-contrib pkg-config
      spawn-fcgi wrk curl openssl gcc procps python3-venv
      chromium)  # the web console's browser tests (browser/run.sh: Playwright drives it; no browser download)
# python3 / pip: only when missing altogether (a pyenv python on PATH is fine).
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
[[ ${1:-} == --profiling ]] && pkgs+=(linux-perf valgrind binutils)
{ command -v pip3 >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1; } || pkgs+=(python3-pip)

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done

if ((${#missing[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  had_nginx=0
  installed nginx-light && had_nginx=1
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >/dev/null
  "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null
  # Debian starts the system nginx on :80 right after installing it; we run our
  # own instances (scripts/nginx.sh), so stop the one we just caused to start.
  if ((had_nginx == 0)); then
    "${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
  fi
fi

# Swift is not a Debian package here: it lives in /opt/swift.
if ! command -v swift >/dev/null 2>&1 && [[ ! -x /opt/swift/usr/bin/swift ]]; then
  echo "install-deps: error: swift not found on PATH nor in /opt/swift/usr/bin;" \
       "install a Swift 6 toolchain and put its usr/bin on PATH" >&2
  exit 1
fi
