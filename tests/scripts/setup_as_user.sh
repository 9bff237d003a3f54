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
# A checkout under a folder nobody cannot enter (a clone in /root, mode 700) cannot be run as
# nobody at all: that says nothing about setup.sh, so the test is skipped.
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$repo/scripts/setup.sh" -a -r "$data_dir"; then
  echo "user nobody cannot read $repo or $data_dir (a parent folder is closed to others); skipped"
  exit 77
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups env PATH=/usr/bin:/bin TPT_DATA_DIR="$data_dir" HOME=/tmp \
  bash "$repo/scripts/setup.sh"
