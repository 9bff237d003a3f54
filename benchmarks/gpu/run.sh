#!/usr/bin/env bash
# The GPU check, in one call on a machine with a CUDA GPU, a pip-installed PyTorch and no package
# registry. The tree must carry .deps/debs (14 MB, made by scripts/device/collect-deps.sh; not
# .deps/root, which build.sh unpacks there):
#   device tool: run(command="bash benchmarks/gpu/run.sh", carry=[".deps/debs"], timeout_s=600)
#   1. build bench_train and bench_image_loader against that PyTorch's CUDA LibTorch
#      (scripts/device/build.sh);
#   2. correctness: CUDA (bf16 autocast, channels_last) logits agree with the CPU's float32 ones
#      to bf16 tolerance, and the loss falls when training on CUDA; the loader's CUDA batches
#      (pinned memory, non-blocking copies) equal the CPU loader's. A failure stops the run;
#   3. speed at 224 px, ResNet-18, bf16 autocast, channels_last, cuDNN benchmark mode, tpt then
#      PyTorch eager with the same settings in the same run: the training step alone (batch 64
#      and 256), and end to end from uint8 images through augmentation on 6 loader workers.
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

start=$(date +%s)
TPT_TARGETS=bench_train TPT_BUILD_DIR=/tmp/tpt-build-cuda scripts/device/build.sh -DTPT_USE_PCH=OFF \
  -DTPT_BUILD_EXAMPLES=OFF > "$out/build.log" 2>&1
status=$?
grep -E "error|warning: unused|LibTorch from" "$out/build.log" | head -20
echo "build: exit $status after $(( $(date +%s) - start )) s"
[[ $status -eq 0 ]] || { tail -40 "$out/build.log"; exit 1; }
export LD_LIBRARY_PATH="$repo/.deps/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bench=/tmp/tpt-build-cuda/benchmarks/bench_train
py=benchmarks/pytorch/bench_train.py

echo "== correctness"
"$bench" --mode check --device cuda || { echo "FAIL: CUDA check; no speed measured"; exit 1; }
# The loader's CUDA path, built second: its failure to build is reported, and costs no speed run.
if TPT_TARGETS=bench_image_loader TPT_BUILD_DIR=/tmp/tpt-build-cuda scripts/device/build.sh -DTPT_USE_PCH=OFF \
     -DTPT_BUILD_EXAMPLES=OFF > "$out/build-loader.log" 2>&1; then
  /tmp/tpt-build-cuda/benchmarks/bench_image_loader --images=256 --repeats=1 | tee "$out/loader.log"
  grep -q "equal to the CPU loader's: yes" "$out/loader.log" || { echo "FAIL: loader CUDA check"; exit 1; }
else
  echo "loader: bench_image_loader did not build (see build-loader.log):"; grep -m5 error "$out/build-loader.log"
fi

echo "== training step, 224 px (synthetic tensors on the GPU)"
for batch in 64 256; do
  "$bench" --mode step --sizes 224 --batch "$batch" --device cuda --amp on --channels-last on --repeats 5
  python3 "$py" --mode step --sizes 224 --batch "$batch" --device cuda --amp on --channels-last on --repeats 5
done

echo "== end to end, 224 px from uint8 images (augmentation on 6 loader workers)"
for batch in 256 64; do
  "$bench" --mode pipeline --size 224 --images 8192 --epochs 2 --batch "$batch" --workers 6 --device cuda \
    --amp on --channels-last on
  python3 "$py" --mode pipeline --size 224 --images 8192 --epochs 2 --batch "$batch" --workers 6 --device cuda \
    --amp on --channels-last on
done
echo "done after $(( $(date +%s) - start )) s"
