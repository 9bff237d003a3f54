#!/usr/bin/env bash
# The GPU check, in one call on a machine with a CUDA GPU, a pip-installed PyTorch and no package
# registry. The tree must carry .deps/debs (14 MB, made by scripts/device/collect-deps.sh; not
# .deps/root, which build.sh unpacks there):
#   device tool: run(command="bash benchmarks/gpu/run.sh", carry=[".deps/debs"], timeout_s=600)
#   1. build bench_train and bench_image_loader against that PyTorch's CUDA LibTorch
#      (scripts/device/build.sh), both at once and past the first failing file, so one call
#      shows every compile error there is;
#   2. correctness, which stops the run on failure: CUDA (bf16 autocast, channels_last) logits
#      agree with the CPU's float32 ones to bf16 tolerance, fused_adam's multi-tensor update takes
#      LibTorch's Adam steps, and the loss falls when training on CUDA;
#   3. speed at 224 px, ResNet-18, bf16 autocast, channels_last, cuDNN benchmark mode, tpt then
#      PyTorch eager with the same settings in the same run: the training step alone (batch 64
#      and 256; tpt with LibTorch's per-tensor Adam too; PyTorch also captured in a CUDA graph, to
#      learn whether graphs pay), and end to end from uint8 images through augmentation on 6
#      and 12 loader workers (again with pageable memory if the pinned run fails);
#   4. the loader's CUDA batches (pinned memory, non-blocking copies) against the CPU loader's,
#      with a backtrace from cuda-gdb if the program dies.
# Each program runs under a time limit, so one that hangs costs its own minutes, not the call's.
# The log goes to $OUT/gpu.log (or /tmp/tpt-gpu/gpu.log); docs/benchmarks.md quotes it.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/tpt-gpu}"
mkdir -p "$out"
exec > >(tee "$out/gpu.log") 2>&1
tee_pid=$!
finish() {  # let tee write the log's last lines before the process group ends
  exec >&- 2>&-
  wait "$tee_pid" 2>/dev/null || true
}
trap finish EXIT
cd "$repo"
export PYTHONUNBUFFERED=1
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, torchvision; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)'
echo "CPU cores: $(nproc); compiler: $(c++ --version | head -1)"

start=$(date +%s)
TPT_TARGETS="bench_train bench_image_loader" TPT_KEEP_GOING=1 TPT_BUILD_DIR=/tmp/tpt-build-cuda \
  scripts/device/build.sh -DTPT_USE_PCH=OFF -DTPT_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS=-g1 > "$out/build.log" 2>&1
status=$?
grep -E "LibTorch from" "$out/build.log"
echo "build: exit $status after $(( $(date +%s) - start )) s"
# The programs find the unpacked Debian libraries through their build RPATH and this; Python runs
# with the machine's own library path, so none of them can shadow what its wheels were built with.
python_ld="${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$repo/.deps/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
python=(env "LD_LIBRARY_PATH=$python_ld" python3)
bench=/tmp/tpt-build-cuda/benchmarks/bench_train
loader=/tmp/tpt-build-cuda/benchmarks/bench_image_loader
py=benchmarks/pytorch/bench_train.py
if [[ $status -ne 0 ]]; then
  echo "== build errors (every failing file; build.log holds all)"
  grep -E -A3 "error:|undefined reference|CMake Error" "$out/build.log" | head -150
  [[ -x "$bench" ]] || { echo "FAIL: bench_train did not build; no speed measured"; exit 1; }
fi

echo "== correctness"
timeout 180 "$bench" --mode check --device cuda || { echo "FAIL: CUDA check; no speed measured"; exit 1; }

echo "== training step, 224 px (synthetic tensors on the GPU)"
for batch in 64 256; do
  timeout 120 "$bench" --mode step --sizes 224 --batch "$batch" --device cuda --amp on --channels-last on --repeats 5
  timeout 120 "$bench" --mode step --sizes 224 --batch "$batch" --device cuda --amp on --channels-last on --repeats 5 \
    --optimizer torch
  timeout 180 "${python[@]}" "$py" --mode step --sizes 224 --batch "$batch" --device cuda --amp on --channels-last on \
    --repeats 5 --graph on
done

echo "== end to end, 224 px from uint8 images (augmentation on loader workers)"
for run in "256 6" "256 12" "64 6"; do
  read -r batch workers <<< "$run"
  e2e=(--mode pipeline --size 224 --images 8192 --epochs 2 --batch "$batch" --workers "$workers" --device cuda
       --amp on --channels-last on)
  if ! timeout 150 stdbuf -oL "$bench" "${e2e[@]}"; then
    echo "tpt pipeline failed (exit above); again with pageable memory and blocking copies"
    timeout 150 stdbuf -oL "$bench" "${e2e[@]}" --pin-memory off
  fi
  timeout 150 "${python[@]}" "$py" "${e2e[@]}"
done

echo "== the loader's CUDA batches against the CPU loader's"
if [[ -x "$loader" ]]; then
  if ! timeout 120 stdbuf -oL "$loader" --images=256 --repeats=1 > "$out/loader.log" 2>&1; then
    cat "$out/loader.log"
    echo "FAIL: bench_image_loader stopped; where, by cuda-gdb:"
    timeout 120 cuda-gdb -q -batch -ex "set pagination off" -ex run -ex bt -ex "info threads" \
      --args "$loader" --images=256 --repeats=1 2>&1 | grep -v "^\[New Thread\|^\[Thread" | tail -80
  else
    cat "$out/loader.log"
    grep -q "equal to the CPU loader's: yes" "$out/loader.log" || echo "FAIL: loader CUDA check"
  fi
else
  echo "loader: bench_image_loader did not build (errors above)"
fi
echo "done after $(( $(date +%s) - start )) s"
