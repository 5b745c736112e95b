#!/usr/bin/env bash
# Ferry's main job, end to end: set up, build, start 4 local servers, copy a
# 1 GiB random file into Ferry (striped over the 4 servers) and back out,
# check the bytes, print the throughput both ways and that of a read into
# memory alone, stop the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
ferry=build/bin/ferry
dir=build/demo
size_mib=${FERRY_DEMO_MIB:-1024}
rm -rf "$dir"
mkdir -p "$dir"
trap '$ferry local down --dir "$dir" >/dev/null 2>&1 || true' EXIT

$ferry local up --servers 4 --dir "$dir"
export FERRY_CONFIG=$dir/ferry.toml
$ferry ping
echo "== making a ${size_mib} MiB random file"
head -c "${size_mib}M" /dev/urandom > "$dir/in.bin"
echo "== write: local file -> ferry:/demo.bin"
$ferry cp --stats "$dir/in.bin" ferry:/demo.bin
$ferry stat ferry:/demo.bin
echo "== read: ferry:/demo.bin -> local file"
$ferry cp --stats ferry:/demo.bin "$dir/out.bin"
cmp "$dir/in.bin" "$dir/out.bin"
echo "== the file read back is byte-identical"
# The two copies above include this machine's disk (the local files, and
# the dirty pages the servers' writes leave); this one is Ferry's data
# path alone, from the servers' page cache into this process's memory.
echo "== read again: ferry:/demo.bin -> /dev/null (the data path alone)"
$ferry cp --stats ferry:/demo.bin /dev/null
rm -f "$dir/in.bin" "$dir/out.bin"
