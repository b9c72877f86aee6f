#!/usr/bin/env bash
# bench/ingest: `quarry upload` of an 8,000,000-row CSV against DuckDB alone converting the same
# file, the server's peak RSS, and 20 tenants uploading 2 files each at once (see
# bench/ingest/bench_ingest.cpp). Writes build/bench/ingest.json.
# BENCH_INGEST_ROWS / BENCH_INGEST_SMALL_ROWS shrink it for a quick look; BENCH_INGEST_PG_URL (a
# PostgreSQL connection URL, psql on the PATH) adds PostgreSQL's COPY FROM time for reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
mkdir -p build/bench
"$BUILD_DIR/quarry_bench_ingest" "$BUILD_DIR/quarry" build/bench/ingest.json \
  "${BENCH_INGEST_ROWS:-8000000}" "${BENCH_INGEST_SMALL_ROWS:-350000}"
