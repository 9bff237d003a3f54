#!/usr/bin/env bash
# Configure and build tpt (tests, examples, benchmarks) in build/ with Ninja, two jobs.
# Extra arguments go to the configure step, e.g. scripts/build.sh -DTPT_USE_PCH=OFF.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TPT_BUILD_DIR:-$repo/build}"
jobs="${TPT_JOBS:-2}"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
