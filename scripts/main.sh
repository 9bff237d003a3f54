#!/usr/bin/env bash
# README command 1: set up this machine, build tpt-grid, and run the paper's experiment grid
# (baseline, ROS, RUS, ROS&RUS(15K), ROS&RUS(5K)) on long-tailed Fashion-MNIST with the short
# demo schedule. Prints the paper-style comparison and writes out/grid/report/report.md.
# Extra arguments go to tpt-grid (see build/examples/tpt-grid --help), e.g. --seeds 1 2 3.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TPT_BUILD_DIR:-$repo/build}"
export TPT_DATA_DIR="${TPT_DATA_DIR:-$repo/.cache}"
"$repo/scripts/setup.sh"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" --target tpt-grid -j "${TPT_JOBS:-2}"
"$build/examples/tpt-grid" --out "$repo/out/grid" "$@"
