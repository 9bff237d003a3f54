#!/usr/bin/env bash
# tpt against PyTorch eager on this machine, same kernels (Debian's LibTorch 1.13 and
# python3-torch 1.13), same settings, one after the other in this script:
#   1. the ResNet-18 training step at 32, 64 and 224 px (bench_train --mode step);
#   2. the phase-2 fast path against the plain path (tpt only: PyTorch has no fast path);
#   3. the demo grid end to end: tpt-grid against benchmarks/pytorch/grid.py.
# Prints medians and tpt/PyTorch ratios; never fails on a time.
#   benchmarks/compare_pytorch.sh [build folder] [--skip-grid]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
skip_grid="${2:-}"
py=/usr/bin/python3
threads="$(nproc)"
export TPT_DATA_DIR="${TPT_DATA_DIR:-$repo/.cache}"

rate() { sed -n "s/^$1 $2: median \([0-9.]*\) img\/s.*/\1/p"; }

echo "== training step, $threads threads, batch 64 (median img/s)"
tpt_out="$("$build/benchmarks/bench_train" --mode step --sizes 32,64,224 --threads "$threads")"
py_out="$("$py" "$repo/benchmarks/pytorch/bench_train.py" --mode step --sizes 32,64,224 --threads "$threads")"
echo "$tpt_out"; echo "$py_out"
for s in 32px 64px 224px; do
  t="$(echo "$tpt_out" | rate tpt "$s")"; p="$(echo "$py_out" | rate pytorch "$s")"
  awk -v s="$s" -v t="$t" -v p="$p" 'BEGIN { printf "ratio %s: tpt/pytorch = %.2f\n", s, t / p }'
done

echo "== phase 2: fast path against the plain path"
"$build/benchmarks/bench_train" --mode phase2 --sizes 32 --images 2048 --epochs 3 --repeats 3 --threads "$threads"

if [[ "$skip_grid" != "--skip-grid" ]]; then
  echo "== demo grid end to end (long-tailed Fashion-MNIST, 5 models)"
  out="$(mktemp -d)"
  t0=$(date +%s.%N)
  "$build/examples/tpt-grid" --quiet --out "$out/tpt" --threads "$threads" > "$out/tpt.log"
  t1=$(date +%s.%N)
  "$py" "$repo/benchmarks/pytorch/grid.py" --split "$out/tpt/fashion-mnist-lt-split.json" --threads "$threads" > "$out/py.log"
  t2=$(date +%s.%N)
  tail -n 3 "$out/tpt.log"; tail -n 3 "$out/py.log"
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "grid wall time: tpt %.0f s, pytorch %.0f s, tpt/pytorch = %.2f\n", b - a, c - b, (b - a) / (c - b) }'
  rm -rf "$out"
fi
