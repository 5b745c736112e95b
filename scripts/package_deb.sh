#!/usr/bin/env bash
# package_deb.sh [--test] [BUILD] - builds the Debian package with CPack
# from the build tree BUILD (default build/; scripts/build.sh makes it when
# it is not configured yet) into BUILD/deb/. The package installs under
# /usr (CPACK_PACKAGING_INSTALL_PREFIX) whatever prefix BUILD was
# configured for: nothing built depends on it (ferry.pc and the CMake
# package find the prefix from their own location, the MPI-IO libraries
# find libferry by $ORIGIN) and the systemd unit is written for the prefix
# at install time (packaging/systemd/install_unit.cmake).
#
# With --test, as root: packaging/deb/install_test.sh installs the package,
# checks it, runs ferryd (under systemd where systemd runs) and removes
# it. It refuses (exit 77, skipped) when not root or when a ferry package
# is installed already. ctest runs this as deb.install.
set -euo pipefail
test=0
if [ "${1:-}" = --test ]; then
  test=1
  shift
fi
build=${1:+$(realpath -m "$1")} # relative to where this was called from
cd "$(dirname "$0")/.."
src=$PWD
build=${build:-$src/build}
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
if [ "$test" = 1 ]; then
  # Before the package is built: a test that cannot run says so at once.
  command -v dpkg >/dev/null || { echo "package_deb.sh --test: skipped: no dpkg here"; exit 77; }
  [ "$(id -u)" = 0 ] || { echo "package_deb.sh --test: skipped: needs root (dpkg -i)"; exit 77; }
  if dpkg -s ferry >/dev/null 2>&1; then
    echo "package_deb.sh --test: skipped: a ferry package is installed already; not touching it"
    exit 77
  fi
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  [ "$build" = "$src/build" ] || { echo "package_deb.sh: $build is not a configured build tree" >&2; exit 1; }
  scripts/build.sh >/dev/null
fi
# cpack builds what is out of date first (its preinstall step), then
# installs into its staging tree with prefix /usr.
rm -rf "$build/deb"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$build/deb" >"$build/deb.log" ||
  { cat "$build/deb.log" >&2; exit 1; }
rm -rf "$build/deb/_CPack_Packages"
deb=$(ls "$build"/deb/ferry_*.deb)
echo "package: $deb"
dpkg-deb --field "$deb"
[ "$test" = 1 ] || exit 0
packaging/deb/install_test.sh "$deb" "$src"
