#!/usr/bin/env bash
# gobuild.sh GO ARGS... - go build ARGS with the commit stamped in
# (scripts/ldflags.sh); CMake builds the Go programs through it.
set -euo pipefail
go=$1
shift
exec "$go" build "-ldflags=$("$(dirname "$0")/ldflags.sh")" "$@"
