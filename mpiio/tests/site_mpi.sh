#!/usr/bin/env bash
# site_mpi.sh FERRY_ROOT MPICC WORK - builds the MPI-IO library for a "site"
# MPI named only by its mpicc (FERRY_MPI_C_COMPILER), as a cluster whose MPI
# is not Debian's would, and checks it exports MPI-IO entry points.
set -euo pipefail
root=$1 mpicc=$2 work=$3
rm -rf "$work"
cmake -S "$root/mpiio" -B "$work" -DFERRY_ROOT="$root" -DFERRY_MPI_C_COMPILER="$mpicc" \
  -DFERRY_MPIIO_SITE_NAME=site -DBUILD_TESTING=OFF >"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
cmake --build "$work" >>"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
lib=$work/lib/libferry-mpiio-site.so
nm -D --defined-only "$lib" | grep ' T MPI_File_open$' >/dev/null || { echo "$lib exports no MPI_File_open" >&2; exit 1; }
echo "site_mpi: $lib built with $mpicc"
rm -rf "$work" "$work.log"
