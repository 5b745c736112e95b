#!/usr/bin/env bash
# ldflags.sh - prints the -X flags that stamp the commit into ferry, ferryd
# and libferry (internal/buildinfo), so all three report the same build.
# Outside a git checkout (a release tarball) it prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$(git rev-parse --short=12 HEAD 2>/dev/null) || exit 0
if ! git diff --quiet HEAD -- 2>/dev/null; then
  rev=$rev-dirty
fi
printf -- '-X github.com/ferry-hpc/ferry/internal/buildinfo.commit=%s' "$rev"
