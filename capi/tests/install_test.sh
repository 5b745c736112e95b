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

# 1. CMake: find_package(ferry) and ferry::ferry.
"$cmake" -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$work/configure.log"
"$cmake" --build "$work/cmake-build" >"$work/build.log"
"$work/cmake-build/consumer" cmake

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
