#!/usr/bin/env bash
# Mount benchmark: builds, starts 4 local ferryd servers (`ferry local
# up`), mounts them with `ferry mount --daemon`, and measures in one run,
# interleaved, REPS times each (medians reported):
#   - a sequential read of a page-cache-warm 1 GiB file through the mount
#     (dd bs=4M to /dev/null) against `ferry cp ferry:/f /dev/null`;
#   - a sequential 1 GiB write through the mount (dd bs=4M from a file in
#     /dev/shm, conv=fsync) against `ferry cp` of the same file (which
#     fsyncs too);
#   - fio 4 KiB random reads (one job, psync, FIO_RUNTIME seconds) on a
#     256 MiB file in the mount beside the same job on a local file.
# Stops the mount and the servers and removes every file it made.
#
# Environment (defaults in brackets):
#   FERRY_BENCH_SIZE_MB  file size in MiB [1024]
#   FERRY_BENCH_REPS     repetitions [5]
#   FIO_RUNTIME          seconds per fio job [10]
#   FERRY_BENCH_DIR      where the servers' storage and the local file go [a new directory under /var/tmp]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/build.sh >/dev/null
ferry=$root/build/bin/ferry
mb=${FERRY_BENCH_SIZE_MB:-1024}
reps=${FERRY_BENCH_REPS:-5}
fiotime=${FIO_RUNTIME:-10}
dir=${FERRY_BENCH_DIR:-$(mktemp -d /var/tmp/ferry-bench-mount.XXXXXX)}
mnt=$dir/mnt
src=$(mktemp /dev/shm/ferry-bench-mount.XXXXXX)
mkdir -p "$mnt" "$dir/local"
cleanup() {
  "$ferry" umount "$mnt" >/dev/null 2>&1 || fusermount3 -u "$mnt" >/dev/null 2>&1 || true
  "$ferry" local down --dir "$dir/servers" >/dev/null 2>&1 || true
  rm -f "$src"
  rm -rf "$dir"
}
trap cleanup EXIT
"$ferry" local up --servers 4 --dir "$dir/servers" >/dev/null
export FERRY_CONFIG=$dir/servers/ferry.toml
"$ferry" mount --daemon "$mnt"

head -c $((mb << 20)) /dev/urandom >"$src"
"$ferry" cp --no-fsync "$src" ferry:/r
cat "$mnt/r" >/dev/null # warm: the servers' page cache and the mount's path

# secs CMD... runs CMD and prints its wall time in seconds.
secs() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
rate() { awk -v m="$mb" -v s="$1" 'BEGIN {print m / s}'; } # MiB/s from seconds
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print a / b}'; }

declare -A t
for ((i = 0; i < reps; i++)); do
  t[rd_mount]+="$(secs dd if="$mnt/r" of=/dev/null bs=4M) "
  t[rd_cp]+="$(secs "$ferry" cp ferry:/r /dev/null) "
  rm -f "$mnt/w"
  t[wr_mount]+="$(secs dd if="$src" of="$mnt/w" bs=4M conv=fsync) "
  "$ferry" rm /w2 >/dev/null 2>&1 || true
  t[wr_cp]+="$(secs "$ferry" cp "$src" ferry:/w2) "
done
med() { tr ' ' '\n' <<<"${t[$1]}" | grep . | median; }
rm_=$(rate "$(med rd_mount)") rc=$(rate "$(med rd_cp)")
wm=$(rate "$(med wr_mount)") wc=$(rate "$(med wr_cp)")

# fio: 4 KiB random reads, one job, on the mount and on a local file.
fiojob() {
  fio --name=rr --filename="$1" --rw=randread --bs=4k --size=256M --ioengine=psync \
    --direct=0 --time_based --runtime="$fiotime" --output-format=terse --terse-version=3 2>/dev/null |
    awk -F';' '{print $8}' # read IOPS
}
head -c $((256 << 20)) /dev/urandom >"$dir/local/f"
cp "$dir/local/f" "$mnt/fio"
cat "$dir/local/f" >/dev/null
fio_mount=$(fiojob "$mnt/fio")
fio_local=$(fiojob "$dir/local/f")

echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "1 GiB = ${mb} MiB, medians of $reps, interleaved"
echo
echo "| figure | mount | ferry cp | mount / cp | target |"
echo "|---|---:|---:|---:|---|"
printf "| sequential read, dd bs=4M | %.0f MiB/s | %.0f MiB/s | %.2f | >= 0.7 |\n" "$rm_" "$rc" "$(ratio "$rm_" "$rc")"
printf "| sequential write, dd bs=4M conv=fsync | %.0f MiB/s | %.0f MiB/s | %.2f | >= 0.5 |\n" "$wm" "$wc" "$(ratio "$wm" "$wc")"
echo
echo "| fio 4 KiB random read, 1 job, psync | IOPS |"
echo "|---|---:|"
echo "| on the mount | $fio_mount |"
echo "| on a local file (page cache) | $fio_local |"
