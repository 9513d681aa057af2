#!/usr/bin/env bash
# Fails, naming the files, when a C++ source is not as clang-format leaves it (Debian's
# clang-format-14 with the root .clang-format). The files are those git knows of, tracked or new
# and not ignored, so build trees and the code generated into them are never checked.
# To fix: clang-format-14 -i FILE...
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format-14}
files=()
while IFS= read -r f; do
  [ -f "$f" ] && files+=("$f")  # not one deleted in the work tree but still in the index
done < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h' | sort -u)
# One clang-format for all files; it names each offending file in "FILE:LINE:COL: error: ...".
unformatted=()
if ((${#files[@]})); then
  mapfile -t unformatted < <("$clang_format" --style=file --dry-run --Werror "${files[@]}" 2>&1 |
    sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*clang-format-violations.*/\1/p' | sort -u)
fi
if ((${#unformatted[@]})); then
  echo "check-format: ${#unformatted[@]} of ${#files[@]} C++ files are not as $clang_format leaves them:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "fix with: $clang_format -i FILE..." >&2
  exit 1
fi
echo "check-format: ${#files[@]} C++ files as $clang_format leaves them"
