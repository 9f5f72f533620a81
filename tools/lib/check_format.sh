#!/usr/bin/env bash
# Checks (or with --fix, applies) clang-format on every C++ source the
# repository tracks, with the style in .clang-format.
#   check_format.sh [--fix]
# Exits 1 naming the files that differ; `./cf format` fixes them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [ -d .git ]; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h')
else
  mapfile -t files < <(find . -path ./build -prune -o -path ./build-fuzz -prune -o \( -name '*.cpp' -o -name '*.h' \) -print)
fi
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "cf: ${#bad[@]} file(s) not clang-formatted (run ./cf format):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "cf: clang-format clean (${#files[@]} files)" >&2
