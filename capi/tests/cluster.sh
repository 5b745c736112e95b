#!/usr/bin/env bash
# cluster.sh up|down DIR BINDIR - the ctest fixture: 4 local ferryd servers
# in a fresh DIR, started by `BINDIR/ferry local up` and stopped by
# `ferry local down`. Tests find the config in $FERRY_CONFIG (DIR/ferry.toml).
#
# The C library picks its fabric itself (provider auto: shm for servers on
# this host) and falls back to sockets when it cannot open one, which the
# tests cannot see. So `up` checks with `ferry ping` that a client here
# reaches every server by RDMA; if not, it says so, and with
# FERRY_TEST_REQUIRE_FABRIC=1 (scripts/test.sh) it fails, like a Go test
# that needs a provider.
set -euo pipefail
cmd=${1:?usage: cluster.sh up|down DIR BINDIR}
dir=${2:?DIR}
bin=${3:?BINDIR}

case $cmd in
up)
  if [ -d "$dir" ]; then "$bin/ferry" local down --dir "$dir" >/dev/null; fi
  rm -rf "$dir"
  "$bin/ferry" local up --servers 4 --dir "$dir" </dev/null
  if ! ping=$("$bin/ferry" ping --config "$dir/ferry.toml" 2>&1); then
    echo "$ping" >&2
    "$bin/ferry" local down --dir "$dir" >/dev/null
    exit 1
  fi
  if [ "$(grep -c ' rdma:' <<<"$ping")" -ne 4 ]; then
    echo "$ping"
    if [ "${FERRY_TEST_REQUIRE_FABRIC:-}" = 1 ]; then
      echo "cluster.sh: the C tests would run on sockets, not RDMA (FERRY_TEST_REQUIRE_FABRIC=1)" >&2
      "$bin/ferry" local down --dir "$dir" >/dev/null
      exit 1
    fi
    echo "cluster.sh: note: no RDMA data path here; the C tests run on sockets"
  fi
  ;;
down)
  "$bin/ferry" local down --dir "$dir"
  ;;
*)
  echo "usage: cluster.sh up|down DIR BINDIR" >&2
  exit 2
  ;;
esac
