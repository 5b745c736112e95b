#!/usr/bin/env bash
# MPI-IO benchmark: builds, starts 4 local ferryd servers (`ferry local
# up`), and runs the MPI-IO workload generator (mpiio/bench/mpiio_bench.c)
# on 4 ranks with each MPI built, Ferry against a local page-cached file
# in the same run, printing MiB/s and the ratio Ferry / local per
# workload and transfer size; then the parallel HDF5 benchmark where it
# is built (MPICH). Stops the servers and removes every file it made.
#
# Environment (defaults in brackets):
#   FERRY_BENCH_PER_RANK  bytes each rank writes and reads per workload [16777216]
#   FERRY_BENCH_XFERS     transfer sizes, comma-separated [4096,47008,1048576,16777216]
#   FERRY_BENCH_FLAVORS   MPIs to run [mpich openmpi]
#   FERRY_BENCH_HDF5_N    the HDF5 dataset is N x N doubles [1024]
#   FERRY_BENCH_DIR       where the local files and the servers' storage go [a new directory under /tmp]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/build.sh >/dev/null
per=${FERRY_BENCH_PER_RANK:-16777216}
xfers=${FERRY_BENCH_XFERS:-4096,47008,1048576,16777216}
flavors=${FERRY_BENCH_FLAVORS:-mpich openmpi}
h5n=${FERRY_BENCH_HDF5_N:-1024}
dir=${FERRY_BENCH_DIR:-$(mktemp -d /tmp/ferry-bench-mpiio.XXXXXX)}
mkdir -p "$dir/local"
cleanup() {
  "$root/build/bin/ferry" local down --dir "$dir/servers" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$root/build/bin/ferry" local up --servers 4 --dir "$dir/servers" >/dev/null
export FERRY_CONFIG=$dir/servers/ferry.toml

echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
for fl in $flavors; do
  bin=$root/build/mpiio/$fl
  lib=$root/build/lib/libferry-mpiio-$fl.so
  if [ ! -x "$bin/mpiio_bench" ] || [ ! -f "$lib" ]; then
    echo "($fl: not built, skipped)"
    continue
  fi
  case $fl in
  mpich) run=(mpiexec.mpich -n 4 -genv LD_PRELOAD "$lib") ;;
  openmpi)
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    run=(mpiexec.openmpi -n 4 --oversubscribe -x FERRY_CONFIG -x "LD_PRELOAD=$lib")
    [ "$(id -u)" = 0 ] && run+=(--allow-run-as-root)
    ;;
  esac
  echo
  echo "== $fl =="
  "${run[@]}" "$bin/mpiio_bench" "ferry:/bench-$fl" "$dir/local/bench-$fl" "$per" "$xfers"
  if [ -x "$bin/hdf5_bench" ]; then
    "${run[@]}" "$bin/hdf5_bench" "ferry:/bench-$fl.h5" "$dir/local/bench-$fl.h5" "$h5n"
  fi
done
