#!/usr/bin/env bash
# install_test.sh BUILD CONSUMER_SRC WORK CC CMAKE - install the build into
# a temporary prefix, build a tiny consumer both through find_package(ferry)
# and through pkg-config, and run both against the test cluster.
set -euo pipefail
build=$1 src=$2 work=$3 cc=$4 cmake=$5
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"
test -f "$prefix/include/ferry.h"
ls -l "$prefix"/lib*/libferry.so*
# What a site installs besides the library: servers, CLI, unit, MPI-IO.
test -x "$prefix/bin/ferryd" && test -x "$prefix/bin/ferry"
test -f "$prefix/lib/systemd/system/ferryd@.service"
if command -v mpicc.mpich >/dev/null || command -v mpicc.openmpi >/dev/null || command -v mpicc >/dev/null; then
  ls "$prefix"/lib*/libferry-mpiio-*.so
fi
version=$("$prefix/bin/ferry" --version)
dversion=$("$prefix/bin/ferryd" --version)
if [ "${version#ferry }" != "${dversion#ferryd }" ]; then
  echo "ferry --version ($version) and ferryd --version ($dversion) differ" >&2
  exit 1
fi
version=${version#ferry }
version=${version%% *} # ferry_version() is the part before " (protocol N)"

# 1. CMake: find_package(ferry) and ferry::ferry.
"$cmake" -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$work/configure.log"
"$cmake" --build "$work/cmake-build" >"$work/build.log"
"$work/cmake-build/consumer" cmake | tee "$work/consumer.out"
grep -qF "library $version," "$work/consumer.out" || {
  echo "ferry_version() differs from ferry --version ($version)" >&2
  exit 1
}

# 2. pkg-config.
pcdir=$(dirname "$(find "$prefix" -name ferry.pc | head -1)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs ferry)
echo "pkg-config: $flags"
"$cc" "$src/consumer.c" $flags -o "$work/consumer-pc"
LD_LIBRARY_PATH=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir ferry) "$work/consumer-pc" pkg-config

# 3. pkg-config ferry-rpath: runs without LD_LIBRARY_PATH.
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs ferry-rpath)
echo "pkg-config ferry-rpath: $flags"
"$cc" "$src/consumer.c" $flags -o "$work/consumer-rpath"
env -u LD_LIBRARY_PATH "$work/consumer-rpath" pkg-config-rpath
rm -rf "$work"
