#!/usr/bin/env bash
# Build and run the image benchmarks against a pip LibTorch with CUDA (e.g. on a GPU machine
# without Debian's -dev packages), which also checks that the loader's CUDA path (pinned memory,
# non-blocking copies, channels_last on the GPU) compiles against LibTorch 2.x and gives the same
# batches as the CPU path. Such machines often lack TurboJPEG and fccp headers:
#   here:  benchmarks/run_image_benchmarks_cuda.sh --prepare build/device-carry   (copies them)
#   there: TPT_DEVICE_CARRY=build/device-carry benchmarks/run_image_benchmarks_cuda.sh [OUT]
set -euo pipefail
if [[ "${1:-}" == "--prepare" ]]; then
  dir="$2"
  mkdir -p "$dir/include/libfccp" "$dir/lib"
  cp /usr/include/turbojpeg.h "$dir/include/"
  cp /usr/include/libfccp/csv.h "$dir/include/libfccp/"
  cp "$(readlink -f /usr/lib/x86_64-linux-gnu/libturbojpeg.so.0)" "$dir/lib/libturbojpeg.so.0"
  exit 0
fi
out="${1:-.}"
carry="${TPT_DEVICE_CARRY:?set TPT_DEVICE_CARRY to the folder made with --prepare}"
torch_dir=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))")
abi=$(python3 -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
flags=(-std=c++20 -O3 -DNDEBUG "-D_GLIBCXX_USE_CXX11_ABI=$abi" -DFMT_HEADER_ONLY -Wall -Wextra
       -Iinclude -Itests/data_images -Ibenchmarks "-I$carry/include" -isystem "$carry/include/libfccp"
       -isystem "$torch_dir/include" -isystem "$torch_dir/include/torch/csrc/api/include")
# --no-as-needed: nothing references libtorch_cuda directly, but without it CUDA is "unavailable".
libs=("-L$torch_dir/lib" "-Wl,-rpath,$torch_dir/lib" -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed
      -ltorch -ltorch_cpu -lc10 "$carry/lib/libturbojpeg.so.0" "-Wl,-rpath,$(cd "$carry" && pwd)/lib" -lpng -lz -lpthread)
g++ "${flags[@]}" benchmarks/bench_image_loader.cpp -o /tmp/tpt_bench_image_loader "${libs[@]}" &
g++ "${flags[@]}" benchmarks/bench_image_cache.cpp -o /tmp/tpt_bench_image_cache "${libs[@]}" &
wait
/tmp/tpt_bench_image_loader --images=1024 --repeats=3 | tee "$out/bench_image_loader_cuda.txt"
/tmp/tpt_bench_image_cache --images=96 --repeats=3 --threads=16 | tee "$out/bench_image_cache_16.txt"
