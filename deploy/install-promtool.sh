#!/usr/bin/env bash
# Makes sure `promtool` (Prometheus' checker for metrics, rules and rule tests) is on PATH, installing
# Debian's `prometheus` package when it is missing. Nothing is started: the package's service is
# masked for the install (policy-rc.d) so a test machine doesn't get a Prometheus server running.
#
#   deploy/install-promtool.sh        exit 0 when promtool is usable afterwards
set -euo pipefail

command -v promtool >/dev/null 2>&1 && exit 0
die() { echo "install-promtool.sh: error: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "promtool is missing; install it with: sudo apt-get install prometheus"
command -v apt-get >/dev/null 2>&1 || die "promtool is missing and apt-get is not available"

echo "install-promtool.sh: installing Debian's prometheus package for promtool" >&2
# Refuse service starts during the install (exit 101 = "action forbidden" for invoke-rc.d), unless the
# machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
fi
trap '((own_policy)) && rm -f "$policy"' EXIT
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"; }
apt_get install --no-install-recommends prometheus >/dev/null ||
  { apt_get update >/dev/null && apt_get install --no-install-recommends prometheus >/dev/null; } ||
  die "apt-get install prometheus failed"
command -v promtool >/dev/null 2>&1 || die "the prometheus package did not provide promtool"
