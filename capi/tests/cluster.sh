#!/usr/bin/env bash
# cluster.sh up|down DIR BINDIR - the ctest fixture: 4 local ferryd servers.
#
# `up` runs `ferry local up --servers 4 --dir DIR`. If that subcommand is
# not available (an older ferry), it writes DIR/ferry.toml itself and
# starts BINDIR/ferryd once per server, detached, recording the pids in
# DIR/pids. `down` stops whatever `up` started: the recorded pids, else
# `ferry local down --dir DIR`. Tests find the config in $FERRY_CONFIG.
set -euo pipefail
cmd=${1:?usage: cluster.sh up|down DIR BINDIR}
dir=${2:?DIR}
bin=${3:?BINDIR}
servers=4

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_ready() {
  local addrs port
  addrs=$(sed -n 's/^ *address *= *"\(.*\)"/\1/p' "$dir/ferry.toml")
  for a in $addrs; do
    port=${a##*:}
    for _ in $(seq 1 300); do
      port_open "$port" && continue 2
      sleep 0.05
    done
    echo "server at $a did not come up" >&2
    cat "$dir"/*.log >&2 2>/dev/null || true
    return 1
  done
}

free_ports() {
  python3 - "$1" <<'PY' 2>/dev/null && return 0
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
  # No python: random high ports that nothing answers on right now.
  local out=() p
  while [ ${#out[@]} -lt "$1" ]; do
    p=$((20000 + RANDOM % 40000))
    port_open "$p" || out+=("$p")
  done
  echo "${out[@]}"
}

case $cmd in
up)
  if [ -f "$dir/pids" ]; then "$0" down "$dir" "$bin" || true; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  if "$bin/ferry" local up --servers $servers --dir "$dir" </dev/null >"$dir/local-up.log" 2>&1 &&
    [ -f "$dir/ferry.toml" ]; then
    wait_ready
    echo "cluster up (ferry local up): $dir/ferry.toml"
    exit 0
  fi
  echo "ferry local up unavailable, starting ferryd directly" >&2
  read -r -a ports <<<"$(free_ports $servers)"
  {
    echo 'strip_size = 65536'
    echo 'strip_count = 0'
    echo 'metadata_server = 0'
    echo 'timeout = "10s"'
    for i in $(seq 0 $((servers - 1))); do
      echo
      echo '[[server]]'
      echo "id = $i"
      echo "address = \"127.0.0.1:${ports[$i]}\""
      echo "storage = \"$dir/server$i\""
    done
  } >"$dir/ferry.toml"
  for i in $(seq 0 $((servers - 1))); do
    setsid "$bin/ferryd" --config "$dir/ferry.toml" --id "$i" \
      </dev/null >"$dir/server$i.log" 2>&1 &
    echo $! >>"$dir/pids"
  done
  wait_ready
  echo "cluster up (ferryd): $dir/ferry.toml"
  ;;
down)
  if [ -f "$dir/pids" ]; then
    pids=$(cat "$dir/pids")
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $pids; do
      for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
      kill -KILL "$p" 2>/dev/null || true
    done
    rm -f "$dir/pids"
  elif [ -d "$dir" ]; then
    "$bin/ferry" local down --dir "$dir"
  fi
  echo "cluster down"
  ;;
*)
  echo "usage: cluster.sh up|down DIR BINDIR" >&2
  exit 2
  ;;
esac
