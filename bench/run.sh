#!/bin/sh
# bench/run.sh: builds bench_ingest (in $BUILD_DIR, default build/) and runs
# it; every argument goes to the benchmark (see: bench/run.sh --help).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j2 --target bench_ingest >/dev/null
exec "$build/bench/ingest" "$@"
