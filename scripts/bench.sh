#!/usr/bin/env bash
# Ferry's benchmark, quick mode (under 3 minutes): sets up, builds, then
# `ferry bench --quick` starts 4 local ferryd servers, measures every
# strategy on each provider plus sockets, read and write, at 64 KiB, 1 MiB
# and 16 MiB requests on a 256 MiB striped file, with the baselines (memcpy,
# local pread, raw fabric write, TCP loopback) and the registration-cost
# experiment, and writes CSV, Markdown and PNG plots to bench/results/latest.
# The registration-cost experiment runs twice, as the providers here leave
# pages unpinned and again with --pin (mlock at registration, as NIC
# drivers do). Extra arguments go to `ferry bench` (e.g. --out DIR, or
# --full instead of the quick sweep: scripts/bench.sh --full).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
# Go: the one on PATH, else where the official tarball installs it.
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
if [ "$#" -gt 0 ] && [[ " $* " == *" --full "* ]]; then
  exec build/bin/ferry bench "$@"
fi
exec build/bin/ferry bench --quick --pin --out bench/results/latest "$@"
