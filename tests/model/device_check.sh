#!/usr/bin/env bash
# Build the model suite against a GPU machine's LibTorch 2.x (the PyTorch wheel of its python3)
# and run it there, test_cuda.cpp included; writes logs to $OUT. The machine lacks Debian's
# header-only libraries, so copy them first and carry them (.deps/ is git-ignored):
#   mkdir -p .deps/include && cp -r /usr/include/{fmt,nlohmann,catch2} .deps/include/
#   device run: bash tests/model/device_check.sh   (carry: [".deps"])
set -u
exec > >(tee "$OUT/devcheck.log") 2>&1
nvidia-smi -L
PY=$(command -v python3)
$PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda, 'abi', torch._C._GLIBCXX_USE_CXX11_ABI)"
TORCH=$($PY -c "import torch, os; print(os.path.dirname(torch.__file__))")
ABI=$($PY -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
g++ --version | head -1
INC="-Iinclude -Itests/support -Itests/model -isystem .deps/include -isystem $TORCH/include -isystem $TORCH/include/torch/csrc/api/include"
mkdir -p /tmp/obj
start=$(date +%s)
for f in tests/catch_main.cpp tests/model/test_*.cpp; do
  b=$(basename "$f" .cpp)
  g++ -std=c++20 -O1 -Wall -Wextra -Wpedantic $INC -DFMT_HEADER_ONLY -D_GLIBCXX_USE_CXX11_ABI=$ABI \
    -DTPT_SOURCE_DIR="\"$PWD\"" -DTPT_TEST_DATA_DIR="\"$PWD/tests/data\"" -DTPT_REFERENCE_PYTHON="\"$PY\"" \
    -c "$f" -o /tmp/obj/$b.o > "$OUT/compile_$b.log" 2>&1 &
done
wait
echo "compiled in $(( $(date +%s) - start )) s"
for l in "$OUT"/compile_*.log; do echo "== $l: $(grep -c 'error' "$l") error lines, $(grep -c 'warning' "$l") warning lines, $(grep -c 'include/tpt/' "$l") mentioning include/tpt"; done
grep -h -B2 -A6 'error' "$OUT"/compile_*.log | head -80
g++ /tmp/obj/*.o -o /tmp/test_model -L$TORCH/lib -Wl,-rpath,$TORCH/lib -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10 -lpthread || exit 3
start=$(date +%s)
/tmp/test_model --durations yes > "$OUT/tests.log" 2>&1
rc=$?
echo "tests rc=$rc in $(( $(date +%s) - start )) s"
tail -60 "$OUT/tests.log"
grep -A15 -i "FAILED\|warning" "$OUT/tests.log" | head -100
