#!/usr/bin/env bash
# header_check.sh HEADER LIBRARY CGO_HEADER CC - static checks of ferry.h:
#  1. it compiles alone as strict C99 and C11 (and as C++ if c++ exists);
#  2. every function it declares is a dynamic symbol of the library, and
#     every ferry_* function the library exports (but the internal
#     ferry_go_* bridge) is declared in it, and it exports nothing else;
#  3. it and cgo's generated header compile together in one unit.
# (The prototypes themselves are checked when the library is built: ferry.c
# defines every function with the header in scope.)
set -euo pipefail
header=$1 lib=$2 cgo=$3 cc=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
inc=$(dirname "$header")

printf '#include <ferry.h>\nint main(void) { return ferry_version()[0] == 0; }\n' >"$tmp/alone.c"
for std in c99 c11; do
  "$cc" -std=$std -pedantic-errors -Wall -Wextra -Werror -I"$inc" -c "$tmp/alone.c" -o "$tmp/alone.o"
done
langs="c99, c11"
if command -v c++ >/dev/null; then
  cp "$tmp/alone.c" "$tmp/alone.cc"
  c++ -std=c++11 -pedantic-errors -Wall -Wextra -Werror -I"$inc" -c "$tmp/alone.cc" -o "$tmp/alone.o"
  langs="$langs, c++11"
fi
echo "header compiles alone ($langs)"

declared=$(grep -oE '^[a-z_ ]+\*?(ferry_[a-z_]+)\(' "$header" | grep -oE 'ferry_[a-z_]+' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" && $3 ~ /^ferry_/ && $3 !~ /^ferry_go_/ {print $3}' | sort -u)
if [ "$declared" != "$exported" ]; then
  echo "declared in ferry.h but not exported:"; comm -23 <(echo "$declared") <(echo "$exported")
  echo "exported but not declared in ferry.h:"; comm -13 <(echo "$declared") <(echo "$exported")
  exit 1
fi
echo "$(echo "$declared" | wc -l) functions declared and exported"
# Nothing else is exported (capi/exports.map): a program's own symbol of
# the same name as a cgo helper (fatalf, crosscall2, ...) must not take it.
others=$(nm -D --defined-only "$lib" | awk '$3 !~ /^ferry_/ {print $3}')
if [ -n "$others" ]; then
  echo "exported beside ferry_*:"; echo "$others" | head -20
  exit 1
fi
echo "nothing but ferry_* exported"

printf '#include <ferry.h>\n#include "%s"\nint main(void) { return 0; }\n' "$cgo" >"$tmp/both.c"
"$cc" -Wall -Werror -I"$inc" -c "$tmp/both.c" -o "$tmp/both.o"
echo "ferry.h and cgo's header compile together"
