#!/usr/bin/env bash
# build_lib.sh GO OUT SONAME WORKDIR - go build -buildmode=c-shared ./capi.
# Inside libferry the ferry_ prefix belongs to the public C API
# (include/ferry.h); the C helpers of verbs/ (fvb_) and regcache/
# (frc_uffd_) use private prefixes so nothing clashes, and capi/exports.map
# exports ferry_* alone. Run from the module root.
set -euo pipefail
go=$1 out=$2 soname=$3 work=$4
mkdir -p "$work"
CGO_ENABLED=1 "$go" build -buildmode=c-shared \
  "-ldflags=$("$(dirname "$0")/../scripts/ldflags.sh") -extldflags=-Wl,-soname,$soname,--version-script,$PWD/capi/exports.map" -o "$out" ./capi
