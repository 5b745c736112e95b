#!/usr/bin/env bash
# launch_mpiexec.sh BIN_DIR MPIEXEC RUN_MPI CLIENT_EXE WORK - start a file
# system as an administrator would with MPICH's mpiexec: four ferryd from
# one command line, no --id (each takes its rank, PMI_RANK), then an MPI-IO
# client job on it, then SIGTERM to mpiexec and a clean stop of all four.
set -euo pipefail
bin=$1 mpiexec=$2 run_mpi=$3 client=$4 work=$5
rm -rf "$work"
mkdir -p "$work"
ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(",".join("127.0.0.1:%d" % s.getsockname()[1] for s in ss))')
cfg=$work/ferry.toml
"$bin/ferry" genconfig --servers "$ports" --storage "$work/storage" --key-file "$work/ferry.key" --timeout 20s >"$cfg"

"$mpiexec" -n 4 "$bin/ferryd" --config "$cfg" >"$work/servers.log" 2>&1 &
launcher=$!
cleanup() {
  if kill -0 "$launcher" 2>/dev/null; then
    kill -TERM "$launcher" 2>/dev/null || true
    wait "$launcher" 2>/dev/null || true
  fi
}
trap cleanup EXIT
for i in $(seq 60); do
  if "$bin/ferry" ping --config "$cfg" >"$work/ping.out" 2>&1; then break; fi
  if ! kill -0 "$launcher" 2>/dev/null; then
    cat "$work/servers.log"
    echo "launch_mpiexec: mpiexec exited before the servers answered" >&2
    exit 1
  fi
  sleep 1
done
cat "$work/ping.out"
for r in 0 1 2 3; do
  grep -q "id_from=\"PMI_RANK=$r\"" "$work/servers.log" || {
    cat "$work/servers.log"
    echo "launch_mpiexec: no server took its id from PMI_RANK=$r" >&2
    exit 1
  }
done

# The client job: 4 MPI ranks doing MPI-IO on the file system.
FERRY_CONFIG=$cfg "$run_mpi" mpich "$mpiexec" "" "$client" launch "$work/scratch"

kill -TERM "$launcher"
status=0
wait "$launcher" || status=$?
trap - EXIT
if [ "$status" != 0 ] || [ "$(grep -c 'shutting down' "$work/servers.log")" != 4 ]; then
  cat "$work/servers.log"
  echo "launch_mpiexec: mpiexec exit $status after SIGTERM; want 0 and 4 servers shutting down" >&2
  exit 1
fi
echo "launch_mpiexec: 4 servers started by $mpiexec with ids from ranks, client job ok, clean stop"
rm -rf "$work"
