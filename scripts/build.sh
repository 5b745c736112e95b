#!/usr/bin/env bash
# Configures and builds everything into build/ (bin/, lib/, include/).
set -euo pipefail
cd "$(dirname "$0")/.."
# Go: the one on PATH, else where the official tarball installs it.
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
