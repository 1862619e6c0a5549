#!/usr/bin/env bash
# scripts/check_format.sh — fails when a C++ or CUDA source of the repository
# differs from what clang-format makes of it (the style is .clang-format at the
# root; Debian 12's clang-format 14). ctest runs it as `clang_format`.
# To format: git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check_format: clang-format is not installed (apt-get install clang-format; scripts/setup.sh installs it)" >&2
  exit 1
fi
files=$(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' 2>/dev/null || find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -print)
if ! echo "$files" | xargs clang-format --dry-run --Werror; then
  echo "check_format: the files above are not formatted; run: git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format -i" >&2
  exit 1
fi
echo "check_format: $(echo "$files" | wc -l) files follow .clang-format"
