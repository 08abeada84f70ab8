#!/usr/bin/env bash
# The benchmark harness's smoke test (CI): the whole of bench/run.sh, 2 s per run, on the debug
# build (waits for .build/debug/workflowd; never builds it). Exits non-zero if the harness breaks:
# the correctness check fails, a scenario got no 2xx, or the database does not hold exactly what
# was acknowledged. The figures themselves mean nothing here; they go to
# bench/results/smoke-latest.txt (and smoke-<time>.txt), never to latest.txt.
# Both connection counts, as make bench runs them: at 16 only, the webhook delivery rate measured
# nothing in 2 of 4 runs, the delivery workers' claims hitting the 5-s statement timeout while they
# fanned out the backlog of one short run (seen in workflowd's log; not yet explained).
set -euo pipefail
BENCH_SECONDS=2 BENCH_BUILD=debug BENCH_REPORT=smoke exec "$(dirname "$0")/run.sh" "$@"
