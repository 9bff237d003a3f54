#!/usr/bin/env bash
# Every shell script of the repository parses (bash -n), and no tracked text file holds a merge
# conflict's markers. Scripts such as scripts/device/build.sh run only on machines the tests never
# see (a GPU machine lent for minutes), so a syntax error there would surface only when it costs
# the most.
#   check_scripts.sh REPO SCRIPT...
set -uo pipefail
repo="$1"
shift
status=0
for script in "$@"; do
  if ! out="$(bash -n "$script" 2>&1)"; then
    echo "does not parse: ${script#"$repo"/}"
    echo "$out"
    status=1
  fi
done
# Conflict markers: 7 '<' or '>' at the start of a line followed by a space, or a line of 7 '='
# between them (the pattern is written so that this file does not match itself).
conflicts="$(grep -rnE --include='*.hpp' --include='*.cpp' --include='*.sh' --include='*.py' --include='*.md' \
  --include='*.txt' --include='*.cmake' --include='*.in' --include='*.json' --include='run' \
  '^(<{7}|>{7}) ' "$repo/include" "$repo/examples" "$repo/tests" "$repo/benchmarks" "$repo/scripts" \
  "$repo/docs" "$repo/cmake" "$repo/.ci" "$repo/CMakeLists.txt" "$repo/README.md" 2>/dev/null)"
if [[ -n "$conflicts" ]]; then
  echo "merge conflict markers left in:"
  echo "$conflicts" | sed "s#^$repo/##"
  status=1
fi
if [[ $status -eq 0 ]]; then echo "checked $# shell scripts and the tree for conflict markers: fine"; fi
exit $status
