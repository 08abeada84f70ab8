#!/usr/bin/env bash
# make test: build, start a throwaway PostgreSQL cluster, run `swift test`
# against it, then (whole suite only) the systemd unit check, the benchmark
# harness smoke run, the schemathesis fuzz run and the web console's browser tests; always stop what was started
# (and what the tests left running under .run/test); exit non-zero on any failure.
#
#   scripts/test.sh            (extra `swift test` args in TEST_ARGS, e.g. TEST_ARGS='--filter Foo')
#
# The tests get: WORKFLOWD_TEST_DATABASE_URL (the throwaway cluster),
# WORKFLOWD_TEST_ROOT (repo root), WORKFLOWD_TEST_BINARY (.build/debug/workflowd).
# They start their stacks (scripts/stack.sh), nginx (scripts/nginx.sh) and more clusters
# (scripts/pg.sh) themselves, under .run/test/ preferably, which is wiped at the next run.
set -euo pipefail

cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || PATH=/opt/swift/usr/bin:$PATH
T=.run/test

scripts/install-deps.sh
began=$SECONDS
swift build --build-tests
echo "== swift build --build-tests: $((SECONDS - began)) s"

# Leftovers of an earlier run: stop what still runs there (by pid files), wipe it.
scripts/stack.sh sweep "$T"

port=$(scripts/pg.sh free-port)
# Afterwards stop our cluster and whatever the tests left running; keep the logs.
trap 'scripts/stack.sh sweep "$T" --keep || true' EXIT
trap 'exit 130' INT TERM
scripts/pg.sh start "$T/pg" "$port"

WORKFLOWD_TEST_DATABASE_URL=$(scripts/pg.sh url "$T/pg")
WORKFLOWD_TEST_ROOT=$PWD
WORKFLOWD_TEST_BINARY=$PWD/.build/debug/workflowd
export WORKFLOWD_TEST_DATABASE_URL WORKFLOWD_TEST_ROOT WORKFLOWD_TEST_BINARY

eval "args=(${TEST_ARGS:-})"  # word splitting that honours quotes: '--filter "A B"'
rc=0
began=$SECONDS
swift test "${args[@]}" || rc=$?
echo "== swift test: exit $rc ($((SECONDS - began)) s)"

# The whole suite only (a filtered run is someone looking at a few tests): the checks that are
# not Swift tests. Each failure fails `make test`.
if [[ -z ${TEST_ARGS:-} ]]; then
  step() {  # step NAME COMMAND...: run it, say how it went and how long it took, remember a failure
    local began=$SECONDS
    echo "== $1"
    if "${@:2}"; then echo "== $1: ok ($((SECONDS - began)) s)"; else echo "== $1: FAILED ($((SECONDS - began)) s)"; rc=1; fi
  }
  step "systemd units (deploy/verify.sh)" deploy/verify.sh "$WORKFLOWD_TEST_BINARY"
  step "Debian package: lintian, dpkg -i, serve through nginx, purge (deploy/deb-test.sh)" deploy/deb-test.sh
  step "benchmark harness smoke (bench/smoke.sh)" bench/smoke.sh
  step "OpenAPI fuzzing through nginx (fuzz/ci.sh)" fuzz/ci.sh
  step "web console in Chromium: flows, CORS, axe, screenshots (browser/run.sh)" browser/run.sh
  step "alert rules and dashboard (deploy/check-monitoring.sh)" deploy/check-monitoring.sh
fi
exit "$rc"
