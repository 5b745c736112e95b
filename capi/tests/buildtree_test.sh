#!/usr/bin/env bash
# buildtree_test.sh BUILD CONSUMER_SRC WORK CC CMAKE - build the consumer
# against the build tree, without installing: through pkg-config
# (build/lib/pkgconfig; ferry-rpath so it runs without LD_LIBRARY_PATH)
# and through find_package(ferry) with CMAKE_PREFIX_PATH=build; run both
# against the test cluster.
set -euo pipefail
build=$1 src=$2 work=$3 cc=$4 cmake=$5
rm -rf "$work"
mkdir -p "$work"

# 1. pkg-config: the include and library directories exist.
export PKG_CONFIG_PATH=$build/lib/pkgconfig
test -f "$(pkg-config --variable=includedir ferry)/ferry.h"
test -e "$(pkg-config --variable=libdir ferry)/libferry.so"
flags=$(pkg-config --cflags --libs ferry-rpath)
echo "pkg-config ferry-rpath: $flags"
"$cc" "$src/consumer.c" $flags -o "$work/consumer-pc"
env -u LD_LIBRARY_PATH "$work/consumer-pc" build-tree-pkg-config

# 2. CMake: find_package(ferry) from the build tree.
"$cmake" -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$build" -DCMAKE_C_COMPILER="$cc" >"$work/configure.log"
"$cmake" --build "$work/cmake-build" >"$work/build.log"
env -u LD_LIBRARY_PATH "$work/cmake-build/consumer" build-tree-cmake
rm -rf "$work"
