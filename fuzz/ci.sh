#!/usr/bin/env bash
# CI entry for the fuzzer: a throwaway stack (scripts/stack.sh: PostgreSQL + workflowd
# + nginx, all on 127.0.0.1 under .run/fuzz-ci), a Participant token, fuzz/run.sh
# against it, and the stack always stopped and deleted afterwards.
#
#   fuzz/ci.sh          (after a build; uses .build/debug/workflowd)
#
# Env: WORKFLOWD_BIN (default .build/debug/workflowd), and fuzz/run.sh's
# FUZZ_SEED, FUZZ_MAX_EXAMPLES, FUZZ_TIMEOUT, FUZZ_REPORT_DIR.
# The logs of workflowd and nginx are kept in .run/fuzz-ci-logs/.
# Exit: fuzz/run.sh's exit code (0 = no failures), 2 when the stack won't start.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/.run/fuzz-ci
LOGS=$ROOT/.run/fuzz-ci-logs
BIN=${WORKFLOWD_BIN:-$ROOT/.build/debug/workflowd}
SUB=00000000-0000-4000-8000-00000000f022
die() { echo "fuzz/ci.sh: error: $*" >&2; exit 2; }

[[ -x $BIN ]] || die "$BIN not found (build first: swift build)"

scripts/stack.sh sweep "$DIR"  # leftovers of an earlier run
mkdir -p "$DIR"
cleanup() {
  rm -rf "$LOGS"; mkdir -p "$LOGS"
  cp "$DIR/workflowd0.log" "$DIR/nginx/error.log" "$DIR/nginx/access.log" "$LOGS/" 2>/dev/null || true
  scripts/stack.sh sweep "$DIR" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One info line per request otherwise. Streams and long-polls end after 1 s here: the fuzzer opens many,
# and each would otherwise hold for minutes.
scripts/stack.sh up "$DIR" --bin "$BIN" --env "WORKFLOWD_LOG_LEVEL=${WORKFLOWD_LOG_LEVEL:-warning}" \
  --env WORKFLOWD_STREAM_LIFETIME_SECONDS=1 || die "the stack did not start (see above)"
source "$DIR/env"

TOKEN=$("$BIN" token --sub "$SUB" --role Participant --ttl 1h)
rc=0
fuzz/run.sh "$BASE_URL" "$TOKEN" || rc=$?
exit "$rc"
