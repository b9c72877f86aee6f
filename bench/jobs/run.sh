#!/usr/bin/env bash
# bench/jobs: queue throughput, claim latency and fairness on the SQLite store (see
# bench/jobs/bench_jobs.cpp for what each figure measures). Writes build/bench/jobs.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
JOBS=${BENCH_JOBS:-5000}
mkdir -p build/bench
"$BUILD_DIR/quarry_bench_jobs" build/bench/jobs.json "$JOBS"
