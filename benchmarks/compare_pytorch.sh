#!/usr/bin/env bash
# tpt against PyTorch eager on this machine, same kernels (Debian's LibTorch 1.13 and
# python3-torch 1.13), same settings, one after the other in this script:
#   1. the ResNet-18 training step at 32, 64 and 224 px and at the demo grid's 28 px (ImageNet
#      stem, one channel), tpt as its programs run against PyTorch as a user writes it, and
#      PyTorch again with glibc's allocator tuned as tpt tunes it (GLIBC_TUNABLES);
#   2. what each of tpt's CPU choices adds to the grid's step: every row one process, with one
#      more choice on (allocator, fused Adam, padding taps skipped, small-map BatchNorm,
#      channels-last max-pool);
#   3. the phase-2 fast path against the plain path (tpt only: PyTorch has no fast path);
#   4. the demo grid end to end: tpt-grid against benchmarks/pytorch/grid.py, as written and with
#      the allocator tuned.
# Prints medians and tpt/PyTorch ratios; never fails on a time.
#   benchmarks/compare_pytorch.sh [build folder] [--skip-grid]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build"
skip_grid=""
for arg in "$@"; do  # [build folder] and --skip-grid, in any order
  if [[ "$arg" == "--skip-grid" ]]; then skip_grid="$arg"; else build="$arg"; fi
done
py=/usr/bin/python3
threads="$(nproc)"
export TPT_DATA_DIR="${TPT_DATA_DIR:-$repo/.cache}"
# What tpt::configure_cpu_allocator() sets with mallopt(), for a Python process.
tuned="glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"

rate() { sed -n "s/^$1 $2: median \([0-9.]*\) img\/s.*/\1/p"; }
ratio() { awk -v l="$1" -v t="$2" -v p="$3" 'BEGIN { printf "ratio %s: %.2f\n", l, t / p }'; }

echo "== training step, $threads threads, batch 64 (median img/s)"
tpt_out="$("$build/benchmarks/bench_train" --mode step --sizes 32,64,224 --threads "$threads")"
py_out="$("$py" "$repo/benchmarks/pytorch/bench_train.py" --mode step --sizes 32,64,224 --threads "$threads")"
pyt_out="$(GLIBC_TUNABLES="$tuned" "$py" "$repo/benchmarks/pytorch/bench_train.py" --mode step --sizes 32,64,224 --threads "$threads")"
echo "$tpt_out"; echo "$py_out"; echo "$pyt_out" | sed 's/^pytorch /pytorch (allocator tuned) /'
for s in 32px 64px 224px; do
  t="$(echo "$tpt_out" | rate tpt "$s")"
  ratio "$s tpt/pytorch" "$t" "$(echo "$py_out" | rate pytorch "$s")"
  ratio "$s tpt/pytorch-tuned" "$t" "$(echo "$pyt_out" | rate pytorch "$s")"
done

echo "== the demo grid's step: 28 px, ImageNet stem, 1 channel; each row one process (median img/s)"
grid_model=(--sizes 28 --stem imagenet --channels 1 --threads "$threads" --repeats 7)
declare -A step
off=(--skip-taps off --small-map-bn off --max-pool off)
for round in 1 2 3; do  # interleaved rounds, so all rows see the same machine load
  step[py$round]="$("$py" "$repo/benchmarks/pytorch/bench_train.py" --mode step "${grid_model[@]}" | rate pytorch 28px)"
  step[pyt$round]="$(GLIBC_TUNABLES="$tuned" "$py" "$repo/benchmarks/pytorch/bench_train.py" --mode step "${grid_model[@]}" | rate pytorch 28px)"
  step[none$round]="$("$build/benchmarks/bench_train" --mode step "${grid_model[@]}" --allocator off --optimizer torch "${off[@]}" | rate tpt 28px)"
  step[alloc$round]="$("$build/benchmarks/bench_train" --mode step "${grid_model[@]}" --optimizer torch "${off[@]}" | rate tpt 28px)"
  step[fused$round]="$("$build/benchmarks/bench_train" --mode step "${grid_model[@]}" "${off[@]}" | rate tpt 28px)"
  step[taps$round]="$("$build/benchmarks/bench_train" --mode step "${grid_model[@]}" --small-map-bn off --max-pool off | rate tpt 28px)"
  step[bn$round]="$("$build/benchmarks/bench_train" --mode step "${grid_model[@]}" --max-pool off | rate tpt 28px)"
  step[all$round]="$("$build/benchmarks/bench_train" --mode step "${grid_model[@]}" | rate tpt 28px)"
done
med() { printf '%s\n' "${step[${1}1]}" "${step[${1}2]}" "${step[${1}3]}" | sort -g | sed -n 2p; }
base="$(med py)"
for row in "py:PyTorch eager as written" "pyt:PyTorch eager, allocator tuned" \
           "none:tpt, every choice off (LibTorch's Adam and kernels, glibc defaults)" \
           "alloc:tpt + allocator (configure_cpu_allocator)" "fused:tpt + allocator + fused_adam" \
           "taps:  + padding taps skipped, 1x1 outputs as matrix products" \
           "bn:  + small-map BatchNorm" "all:  + channels-last max-pool: tpt as its programs run"; do
  key="${row%%:*}"; v="$(med "$key")"
  awk -v n="${row#*:}" -v v="$v" -v b="$base" 'BEGIN { printf "  %-78s %7.1f img/s  %.2fx PyTorch\n", n, v, v / b }'
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
  GLIBC_TUNABLES="$tuned" "$py" "$repo/benchmarks/pytorch/grid.py" --split "$out/tpt/fashion-mnist-lt-split.json" \
    --threads "$threads" > "$out/pyt.log"
  t3=$(date +%s.%N)
  tail -n 3 "$out/tpt.log"; tail -n 3 "$out/py.log"; tail -n 3 "$out/pyt.log"
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
    printf "grid wall time: tpt %.0f s, pytorch %.0f s, pytorch with the allocator tuned %.0f s\n", b - a, c - b, d - c
    printf "tpt/pytorch = %.2f, tpt/pytorch-tuned = %.2f\n", (b - a) / (c - b), (b - a) / (d - c) }'
  rm -rf "$out"
fi
