#!/usr/bin/env bash
# CI entry for the fuzzer: a throwaway stack (PostgreSQL + workflowd + nginx,
# all on 127.0.0.1 under .run/fuzz-ci), a Participant token, fuzz/run.sh
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

scripts/run.sh sweep "$DIR"  # leftovers of an earlier run
mkdir -p "$DIR"
cleanup() {
  rm -rf "$LOGS"; mkdir -p "$LOGS"
  cp "$DIR/workflowd.log" "$DIR/nginx/error.log" "$DIR/nginx/access.log" "$LOGS/" 2>/dev/null || true
  scripts/run.sh sweep "$DIR" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/pg.sh start "$DIR/pg" "$(scripts/pg.sh free-port)"
DATABASE_URL=$(scripts/pg.sh url "$DIR/pg")
WORKFLOWD_MIGRATIONS_DIR=$ROOT/Migrations
WORKFLOWD_JWT_SECRET=$(openssl rand -hex 32)
WORKFLOWD_LOG_LEVEL=${WORKFLOWD_LOG_LEVEL:-warning}  # one info line per request otherwise
# Streams and long-polls end after 1 s here: the fuzzer opens many, and each would otherwise hold for minutes.
WORKFLOWD_STREAM_LIFETIME_SECONDS=1
export DATABASE_URL WORKFLOWD_MIGRATIONS_DIR WORKFLOWD_JWT_SECRET WORKFLOWD_LOG_LEVEL WORKFLOWD_STREAM_LIFETIME_SECONDS
"$BIN" migrate >/dev/null

# workflowd in the background; its pid file lets `run.sh sweep` stop it.
(
  source scripts/lib.sh
  close_inherited_fds
  exec "$BIN" serve --socket "$DIR/w.sock" --socket-mode 0666 </dev/null >"$DIR/workflowd.log" 2>&1
) &
echo $! >"$DIR/workflowd.pid"
for ((i = 0; i < 100; i++)); do
  [[ -S $DIR/w.sock ]] && break
  kill -0 "$(cat "$DIR/workflowd.pid")" 2>/dev/null || { cat "$DIR/workflowd.log" >&2; die "workflowd exited"; }
  sleep 0.1
done
[[ -S $DIR/w.sock ]] || die "workflowd did not create $DIR/w.sock within 10 s"

port=$(scripts/pg.sh free-port)
scripts/nginx.sh start "$DIR/nginx" "$port" "unix:$DIR/w.sock"
BASE_URL=http://127.0.0.1:$port
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE_URL/api/v1/health") || true
[[ $code == 200 ]] || die "$BASE_URL/api/v1/health answered ${code:-nothing}, not 200"

TOKEN=$("$BIN" token --sub "$SUB" --role Participant --ttl 1h)
rc=0
fuzz/run.sh "$BASE_URL" "$TOKEN" || rc=$?
exit "$rc"
