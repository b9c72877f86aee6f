#!/usr/bin/env bash
# bench/query: SQL over HTTP against the same SQL in-process (see bench/query/bench_query.cpp).
# BENCH_QUERY_ROWS (default 8,000,000) sizes the dataset; BENCH_SECONDS the wrk run.
# Writes build/bench/query.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
command -v wrk >/dev/null || { echo "bench/query: wrk is missing; run scripts/install-deps" >&2; exit 1; }
mkdir -p build/bench
"$BUILD_DIR/quarry_bench_query" "$BUILD_DIR/quarry" build/bench/query.json "${BENCH_QUERY_ROWS:-8000000}"
