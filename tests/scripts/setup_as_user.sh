#!/usr/bin/env bash
# Run scripts/setup.sh as user nobody on a machine the tests have already set up (they run after
# it): it must find everything in place and finish without asking for root or sudo.
set -euo pipefail
repo="$1"
if [[ ${EUID:-$(id -u)} -ne 0 ]] || ! command -v setpriv >/dev/null 2>&1; then
  echo "not root (or no setpriv): cannot switch to an unprivileged user; skipped"
  exit 77
fi
data_dir="${TPT_DATA_DIR:-$repo/.cache}"
exec setpriv --reuid=65534 --regid=65534 --clear-groups env PATH=/usr/bin:/bin TPT_DATA_DIR="$data_dir" HOME=/tmp \
  bash "$repo/scripts/setup.sh"
