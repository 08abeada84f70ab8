#!/usr/bin/env bash
# The benchmark harness's smoke test (CI): the whole of bench/run.sh, 2 s per run, at 16 connections
# only (every scenario, pair and ceiling still runs; a second connection count would only repeat them),
# on the debug build (waits for .build/debug/workflowd; never builds it). Exits non-zero if the harness
# breaks: the correctness check fails, a scenario got no 2xx, or the database does not hold exactly
# what was acknowledged. The figures themselves mean nothing here; they go to
# bench/results/smoke-latest.txt (and smoke-<time>.txt), never to latest.txt.
set -euo pipefail
BENCH_SECONDS=2 BENCH_CONNS=${BENCH_CONNS:-16} BENCH_BUILD=debug BENCH_REPORT=smoke exec "$(dirname "$0")/run.sh" "$@"
