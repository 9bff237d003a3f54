#!/usr/bin/env bash
# Build tpt against a CUDA-enabled LibTorch on a machine without package registries: the LibTorch
# inside a pip-installed PyTorch, plus the Debian packages scripts/device/collect-deps.sh put in
# .deps/debs (unpacked here into .deps/root, never into /).
#   scripts/device/build.sh [extra cmake arguments]      build folder: build-cuda/
#   TPT_TARGETS="bench_train tpt-grid" scripts/device/build.sh   builds only those targets
#   TPT_TORCH_PREFIX=/path/to/share/cmake                       another LibTorch than python3's
#   TPT_KEEP_GOING=1                                            report every failing file
# Prints the environment the programs need (LD_LIBRARY_PATH) as its last line.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
root="$repo/.deps/root"
build="${TPT_BUILD_DIR:-$repo/build-cuda}"
python="${TPT_PYTHON:-python3}"

if [[ ! -d "$repo/.deps/debs" ]]; then
  echo "build: no .deps/debs; run scripts/device/collect-deps.sh on a machine with Debian's archive" >&2
  exit 1
fi
# .complete holds the folder it was unpacked for: the CMake files below are rewritten to absolute
# paths, so a copy travelling to another checkout is unpacked afresh.
if [[ "$(cat "$root/.complete" 2>/dev/null)" != "$root" ]]; then
  rm -rf "$root"
  mkdir -p "$root"
  for f in "$repo"/.deps/debs/*.deb; do dpkg-deb -x "$f" "$root"; done
  # Some Debian CMake package files name their libraries by absolute /usr/lib paths; point them
  # at the unpacked copies.
  grep -rl '"/usr/lib' "$root/usr/lib/x86_64-linux-gnu/cmake" | xargs -r sed -i "s#\"/usr/lib#\"$root/usr/lib#g"
  echo "$root" > "$root/.complete"
fi

if [[ -n "${TPT_TORCH_PREFIX:-}" ]]; then
  torch_prefix="$TPT_TORCH_PREFIX"
else
  torch_prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  echo "build: LibTorch from $torch_prefix ($("$python" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)'))"
fi
libdir="$root/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$root/usr" \
  -DCMAKE_BUILD_RPATH="$libdir" \
  -DTPT_BUILD_TESTS=OFF -DTPT_WARNINGS_AS_ERRORS=OFF -DTPT_USE_CCACHE=OFF "$@"
# TPT_KEEP_GOING=1: build every target that can be built and report every failing file, not
# only the first (one call on a lent GPU machine should show all there is to fix).
keep_going=()
[[ -n "${TPT_KEEP_GOING:-}" ]] && keep_going=(-- -k 0)
if [[ -n "${TPT_TARGETS:-}" ]]; then
  # shellcheck disable=SC2086
  cmake --build "$build" -j "${TPT_JOBS:-$(nproc)}" --target ${TPT_TARGETS} "${keep_going[@]}"
else
  cmake --build "$build" -j "${TPT_JOBS:-$(nproc)}" "${keep_going[@]}"
fi
echo "export LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
