#!/usr/bin/env bash
# GPU check of the metrics concern: tests/metrics (test_devices runs every path on CUDA too) and
# bench_metrics, built against the GPU machine's own PyTorch LibTorch (CUDA), which has no
# fmt/nlohmann/Catch2 of its own: `prepare` copies those headers here, `run` builds and runs there.
#
#   tests/metrics/gpu_check.sh prepare            # here, once (into the ignored .deps/)
#   device run, carry [".deps/gpu-check"]: bash tests/metrics/gpu_check.sh run
set -uo pipefail
DEPS=.deps/gpu-check
if [ "${1:-}" = prepare ]; then
  mkdir -p "$DEPS" && cp -r /usr/include/fmt /usr/include/nlohmann /usr/include/catch2 "$DEPS"/ && du -sh "$DEPS"
  exit $?
fi
[ "${1:-}" = run ] || { echo "usage: $0 prepare|run"; exit 2; }
[ -d "$DEPS/catch2" ] || { echo "run '$0 prepare' first and carry $DEPS"; exit 2; }
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
TORCH=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))")
python3 -c "import torch, sklearn; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'sklearn', sklearn.__version__)"
g++ --version | head -1
FMT_INC="$DEPS"
[ -d "$TORCH/include/fmt" ] && FMT_INC="$TORCH/include" && echo "using torch's bundled fmt"
ABI=$(python3 -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
FLAGS=(-std=c++20 -O2 -DNDEBUG -D_GLIBCXX_USE_CXX11_ABI=$ABI -DFMT_HEADER_ONLY
  "-DTPT_SOURCE_DIR=\"$PWD\"" "-DTPT_TEST_DATA_DIR=\"$PWD/tests/data\"" "-DTPT_REFERENCE_PYTHON=\"$(command -v python3)\""
  -Iinclude -Itests/support -isystem "$FMT_INC" -isystem "$DEPS"
  -isystem "$TORCH/include" -isystem "$TORCH/include/torch/csrc/api/include")
mkdir -p /tmp/obj
srcs=(tests/catch_main.cpp tests/metrics/test_devices.cpp tests/metrics/test_classification_metrics.cpp
      tests/metrics/test_classification_report.cpp tests/metrics/test_statistics.cpp tests/metrics/test_sklearn_equality.cpp
      benchmarks/bench_metrics.cpp)
start=$(date +%s)
pids=()
for s in "${srcs[@]}"; do
  g++ "${FLAGS[@]}" -c "$s" -o "/tmp/obj/$(basename "$s" .cpp).o" 2> "/tmp/obj/$(basename "$s" .cpp).err" &
  pids+=($!)
done
fail=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then fail=1; echo "COMPILE FAILED: ${srcs[$i]}"; head -40 "/tmp/obj/$(basename "${srcs[$i]}" .cpp).err"; fi
done
echo "compiled in $(( $(date +%s) - start )) s"
[ $fail = 0 ] || exit 1
LIBS=(-L"$TORCH/lib" -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed -ltorch -ltorch_cpu -lc10 -Wl,-rpath,"$TORCH/lib" -pthread)
g++ /tmp/obj/catch_main.o /tmp/obj/test_*.o "${LIBS[@]}" -o /tmp/obj/tpt_test_metrics || exit 1
g++ /tmp/obj/bench_metrics.o "${LIBS[@]}" -o /tmp/obj/bench_metrics || exit 1
/tmp/obj/tpt_test_metrics --durations yes 2>&1 | tail -40
echo "tests rc=$?"
/tmp/obj/tpt_test_metrics "every device gives the host's report, batch by batch" -s 2>&1 | grep -E "cuda|passed|failed" | head
/tmp/obj/bench_metrics
