#!/usr/bin/env bash
# README command 2: set up the machine, build everything, run every test (CTest prints the
# summary; the exit status is non-zero if any test fails).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TPT_BUILD_DIR:-$repo/build}"
"$repo/scripts/setup.sh"
"$repo/scripts/build.sh" -DTPT_BUILD_TESTS=ON
# --no-tests=error: a build configured without tests must not pass for one whose tests passed.
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "${TPT_JOBS:-2}" --timeout 900 "$@"
