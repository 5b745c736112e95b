#!/usr/bin/env bash
# Installs everything Ferry needs on a Debian 12 machine, idempotently:
# the C toolchain, libfabric (tcp, shm providers), CMake, both MPIs, valgrind,
# FUSE 3 and fio (for `ferry mount` and its tests), MUNGE (auth mode munge;
# the tests start their own munged), and the Go modules.
# Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential pkg-config cmake libfabric-dev libfabric-bin
      mpich libmpich-dev openmpi-bin libopenmpi-dev gfortran
      libhdf5-mpich-dev valgrind iproute2 util-linux procps fuse3 fio
      munge libmunge-dev)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH=/usr/local/go/bin:$PATH
  else echo "setup: Go toolchain not found (expected /usr/local/go/bin/go or go on PATH)" >&2; exit 1; fi
fi
go mod download
echo "setup: dependencies installed"
