#!/usr/bin/env bash
# examples_test.sh BINDIR TMPDIR - the C examples round-trip a file:
# local -> Ferry (striped) -> local is identical, and the parallel reader
# reads every byte with the same checksum for 1 and 5 threads.
set -euo pipefail
bin=$1
work=$(mktemp -d "$2/examples.XXXXXX")
trap 'rm -rf "$work"' EXIT
f=/examples-$$
head -c 1000037 /dev/urandom >"$work/src"
"$bin/ferry_cp" -s 65536 -c 4 "$work/src" "ferry:$f"
"$bin/ferry_cp" "ferry:$f" "$work/back"
cmp "$work/src" "$work/back"
one=$("$bin/ferry_parallel_read" "$f" 1)
five=$("$bin/ferry_parallel_read" "ferry:$f" 5)
echo "$one"
echo "$five"
[ "$(echo "$one" | awk '{print $2}')" = 1000037 ]
[ "$(echo "$one" | awk '{print $4}')" = "$(echo "$five" | awk '{print $4}')" ]
# Usage errors exit 2; a missing file exits 1.
set +e
"$bin/ferry_cp" "$work/src" "$work/back" 2>/dev/null; [ $? = 2 ] || exit 1
"$bin/ferry_parallel_read" /examples-missing-$$ 2>/dev/null &
pid=$!
wait $pid; [ $? = 1 ] || exit 1
# An error exit still finalizes: no shm endpoint file outlives the process.
if compgen -G "/dev/shm/$pid:*" >/dev/null; then echo "left /dev/shm/$pid:*" >&2; exit 1; fi
echo "examples: ok"
