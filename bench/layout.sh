#!/usr/bin/env bash
# Does laying the request path's hot code out together help? The release binary is profiled under
# callgrind (bench/instructions.sh: get, list, create, transition), its functions ranked by self
# instructions (bench/hot_functions.py), and the same source built again with every Swift function in a
# section of its own (`-function-sections`; the static Swift runtime and standard library already are)
# and those sections placed first to last in rank by gold (`--section-ordering-file`) into .build-layout.
# Then both binaries are counted with the cache simulation and timed alternately (bench/ab.sh).
#
#   bench/layout.sh            builds .build/release/workflowd first unless BENCH_NO_BUILD=1
#
# Env: BENCH_LAYOUT_AB_SCENARIOS (default "get create"), BENCH_AB_ROUNDS (bench/ab.sh's, default 4).
# Results: the two tables on stdout; the order in .run/layout/order.txt. Measured in bench/README.md
# ("Hot code laid out together"); not adopted, so the shipped build does not do this.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
command -v swift >/dev/null 2>&1 || PATH=/opt/swift/usr/bin:$PATH
say() { printf '[layout %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
WORK=$ROOT/.run/layout
mkdir -p "$WORK"

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
  say "swift build -c release --static-swift-stdlib"
  swift build -c release --static-swift-stdlib >"$WORK/build.log" 2>&1 || { tail -n 20 "$WORK/build.log" >&2; exit 1; }
fi
cp .build/release/workflowd "$WORK/workflowd-as-shipped"

say "profiling the shipped layout under callgrind"
BENCH_INSN_CEILING=0 BENCH_INSN_VALGRIND_ARGS=--demangle=no bench/instructions.sh "$WORK/workflowd-as-shipped" >"$WORK/profile.txt"
# instructions.sh runs its one binary as workflowd-w0-nodebug: that object's functions only.
bench/hot_functions.py workflowd-w0-nodebug .run/insn/out/*/callgrind.out >"$WORK/order.txt"
say "$(wc -l <"$WORK/order.txt") functions ranked"

say "building the hot-first layout into .build-layout (a build of its own: several minutes from scratch)"
swift build -c release --static-swift-stdlib --scratch-path "$ROOT/.build-layout" \
  -Xswiftc -Xfrontend -Xswiftc -function-sections \
  -Xlinker "--section-ordering-file=$WORK/order.txt" >"$WORK/build-layout.log" 2>&1 ||
  { tail -n 20 "$WORK/build-layout.log" >&2; exit 1; }
cp .build-layout/release/workflowd "$WORK/workflowd-hot-first"

say "counting both with the cache simulation"
BENCH_INSN_CEILING=0 BENCH_INSN_VALGRIND_ARGS=--cache-sim=yes \
  bench/instructions.sh "$WORK/workflowd-as-shipped" "$WORK/workflowd-hot-first"
say "timing both, alternately"
BENCH_AB_SCENARIOS=${BENCH_LAYOUT_AB_SCENARIOS:-get create} \
  bench/ab.sh "$WORK/workflowd-as-shipped" "$WORK/workflowd-hot-first"
