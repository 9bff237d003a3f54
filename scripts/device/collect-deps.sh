#!/usr/bin/env bash
# Collect tpt's non-torch dependencies as Debian packages into .deps/debs, so that the tree can be
# built on a machine with no package registry (a GPU machine with a pip-installed, CUDA-enabled
# PyTorch). There, scripts/device/build.sh unpacks them into .deps/root (never into /) and points
# CMake at it. About 13 MB: headers, CMake package files and the few shared libraries.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$repo/.deps/debs"
packages=(
  libfmt-dev libfmt9
  librange-v3-dev
  libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev libjpeg62-turbo   # the turbojpeg CMake package lists both
  libpng-dev libpng16-16
  zlib1g-dev zlib1g                                                     # PNG's and the cache's CRC-32
  libsimdjson-dev libsimdjson14
  nlohmann-json3-dev
  libfccp-dev
  libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
)
rm -rf "$out"
mkdir -p "$out"
cd "$out"
# apt-get download refuses to write as _apt into root-owned folders; it falls back with a warning.
apt-get download "${packages[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
missing=()
for p in "${packages[@]}"; do
  compgen -G "${p}_*.deb" >/dev/null || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "collect-deps: could not download: ${missing[*]} (run apt-get update first?)" >&2
  exit 1
fi
echo "collect-deps: $(ls "$out" | wc -l) packages, $(du -sh "$out" | cut -f1) in $out"
