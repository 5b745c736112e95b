#!/usr/bin/env bash
# run_mpi.sh FLAVOR MPIEXEC PRELOAD EXE TAG SCRATCH - run EXE on 4 ranks
# with FLAVOR's mpiexec, LD_PRELOADing PRELOAD when it is not "".
# EXE gets TAG (names its files) and SCRATCH (a local directory for the
# MPI library's own copy). FERRY_CONFIG comes from the environment.
set -euo pipefail
fl=$1 mpiexec=$2 pre=$3 exe=$4 tag=$5 scratch=$6
mkdir -p "$scratch"
# A site MPI (any other flavor name): its launcher says which family it is.
if [ "$fl" != mpich ] && [ "$fl" != openmpi ]; then
  if "$mpiexec" --version 2>&1 | grep -q "Open MPI"; then fl=openmpi; else fl=mpich; fi
fi
case $fl in
mpich)
  args=(-n 4 -genv FERRY_CONFIG "${FERRY_CONFIG:-}")
  [ -n "$pre" ] && args+=(-genv LD_PRELOAD "$pre")
  ;;
openmpi)
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  args=(-n 4 --oversubscribe -x FERRY_CONFIG)
  [ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)
  [ -n "$pre" ] && args+=(-x "LD_PRELOAD=$pre")
  ;;
*)
  echo "run_mpi.sh: unknown flavor $fl" >&2
  exit 2
  ;;
esac
echo "+ $mpiexec ${args[*]} $exe $tag $scratch"
exec "$mpiexec" "${args[@]}" "$exe" "$tag" "$scratch"
