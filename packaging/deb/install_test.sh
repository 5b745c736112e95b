#!/usr/bin/env bash
# install_test.sh DEB SRCDIR - as root: installs the Ferry package DEB with
# dpkg -i; checks the installed programs, library, header, pkg-config and
# CMake files, systemd unit and versions; builds C programs against the
# installed header and library (pkg-config, find_package) and runs them;
# runs the installed ferryd, under systemd with its unit (ferryd@0) where
# systemd runs, else by `ferry local` (and says that the unit was not
# started); then removes the package with dpkg -r and checks that nothing
# of it is left: no file, no ferryd process, no /dev/shm region.
#
# Exits 77 (ctest: skipped) without touching anything when not root, when
# a ferry package is known to dpkg, or when a file of the package exists
# already (an install outside dpkg that dpkg -r would delete). On failure
# (or interrupt) the trap stops what was started and removes the package.
# CC and CMAKE name the compiler and cmake (default cc, cmake).
set -euo pipefail
deb=${1:?usage: install_test.sh DEB SRCDIR}
src=${2:?usage: install_test.sh DEB SRCDIR}
cc=${CC:-cc}
cmake=${CMAKE:-cmake}
deb=$(realpath "$deb")
src=$(realpath "$src")

skip() {
  echo "install_test.sh: skipped: $*"
  exit 77
}
fail() {
  echo "install_test.sh: FAIL: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i)"
if dpkg -s ferry >/dev/null 2>&1; then
  skip "dpkg knows a ferry package already ($(dpkg-query -W -f='${Version}, ${Status}' ferry)); not touching it"
fi
files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|' | grep -v '/$')
for f in $files; do
  if [ -e "$f" ] || [ -L "$f" ]; then
    skip "$f exists already (installed without dpkg?); dpkg -i would overwrite it and dpkg -r delete it"
  fi
done

# Processes running the installed ferryd, whoever started them.
installed_ferryd_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case $exe in
    /usr/bin/ferryd | "/usr/bin/ferryd (deleted)") echo "${p#/proc/}" ;;
    esac
  done
}
# shm names a process's regions /dev/shm/<pid>:<uid>:<n>; a process that
# closed its endpoints leaves none.
check_no_shm() {
  local pid left
  for pid in "$@"; do
    left=$(ls /dev/shm/"$pid":* 2>/dev/null || true)
    [ -z "$left" ] || fail "/dev/shm regions left by pid $pid: $left"
  done
}

work=$(mktemp -d /tmp/ferry-deb-test.XXXXXX)
installed=0 unit_started=0 etc_created=0 local_up=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$unit_started" = 1 ]; then
    systemctl stop ferryd@0 || true
    systemctl reset-failed ferryd@0 2>/dev/null || true
  fi
  if [ "$local_up" = 1 ]; then /usr/bin/ferry local down --dir "$work/local" >/dev/null 2>&1 || true; fi
  if [ "$installed" = 1 ]; then
    echo "install_test.sh: removing the package after a failure" >&2
    dpkg -r ferry >/dev/null 2>&1 || dpkg --purge --force-all ferry >/dev/null 2>&1 ||
      echo "install_test.sh: could not remove the ferry package: dpkg -r ferry" >&2
  fi
  if [ "$etc_created" = 1 ]; then rm -rf /etc/ferry; fi
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== dpkg -i $deb"
installed=1
dpkg -i "$deb"

echo "== installed files"
for f in /usr/bin/ferryd /usr/bin/ferry /usr/bin/ferry-plot; do
  [ -x "$f" ] || fail "missing after install: $f"
done
unit=/usr/lib/systemd/system/ferryd@.service
for f in /usr/include/ferry.h "$unit" /usr/share/doc/ferry/examples/ferry.toml.example; do
  [ -f "$f" ] || fail "missing after install: $f"
done
lib=
for f in /usr/lib/libferry.so.0 /usr/lib/*/libferry.so.0; do
  if [ -e "$f" ]; then lib=$f; fi
done
[ -n "$lib" ] || fail "no libferry.so.0 under /usr/lib"
libdir=$(dirname "$lib")
ls -l "$libdir"/libferry*.so*
# The stand-ins for libfabric's PSM dependencies, where libferry and the
# programs look for them (verbs/doc.go, "Loading libfabric").
for f in libpsm2.so.2 libpsm_infinipath.so.1; do
  [ -f "$libdir/ferry/$f" ] || fail "missing after install: $libdir/ferry/$f"
done
if command -v mpicc.mpich >/dev/null || command -v mpicc.openmpi >/dev/null || command -v mpicc >/dev/null; then
  ls "$libdir"/libferry-mpiio-*.so >/dev/null || fail "no MPI-IO library beside libferry (an MPI is installed)"
fi
# The unit runs the installed ferryd with the system's config.
grep -qxF 'ExecStart=/usr/bin/ferryd --config /etc/ferry/ferry.toml --id %i $FERRYD_ARGS' "$unit" ||
  fail "$unit: ExecStart is not /usr/bin/ferryd with /etc/ferry/ferry.toml: $(grep ExecStart "$unit")"
grep -qxF 'EnvironmentFile=-/etc/default/ferryd' "$unit" || fail "$unit: EnvironmentFile is not /etc/default/ferryd"
# No text file of the package names another prefix or the build's tree.
for f in $files; do
  if [ -f "$f" ] && grep -Iq . "$f" && grep -lF -e /usr/local -e "$src" "$f"; then
    fail "$f names /usr/local or the source tree"
  fi
done
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" 2>&1 | grep -v 'is not executable\|Failed to' || true
fi

echo "== versions"
v=$(/usr/bin/ferry --version) vd=$(/usr/bin/ferryd --version)
echo "$v"
echo "$vd"
[ "${v#ferry }" = "${vd#ferryd }" ] || fail "ferry and ferryd versions differ"
version=${v#ferry }
version=${version%% *} # 0.1.0+<commit>, as ferry_version() returns it
pkgver=$(dpkg-query -W -f='${Version}' ferry)
[ "$pkgver" = "${version%%+*}" ] || fail "package version $pkgver, programs ${version%%+*}"

echo "== pkg-config"
[ "$(pkg-config --modversion ferry)" = "$pkgver" ] || fail "pkg-config --modversion ferry: $(pkg-config --modversion ferry)"
# ferry.pc is relocatable (prefix from its own directory): it must resolve
# to the installed tree.
for want in prefix=/usr includedir=/usr/include libdir="$libdir"; do
  got=$(realpath -m "$(pkg-config --variable="${want%%=*}" ferry)")
  [ "$got" = "${want#*=}" ] || fail "pkg-config --variable=${want%%=*} ferry: $got, want ${want#*=}"
done
flags=$(pkg-config --cflags --libs ferry)
echo "pkg-config --cflags --libs ferry: $flags"

echo "== a C program against the installed header and library"
cat >"$work/version.c" <<'C'
#include <stdio.h>
#include <ferry.h>
int main(void) {
  printf("%s %s\n", ferry_version(), FERRY_VERSION);
  return 0;
}
C
# shellcheck disable=SC2086 # flags are words
"$cc" -Wall -Werror "$work/version.c" $flags -o "$work/version"
# (/lib is /usr/lib where /usr is merged: compared by real path)
loaded=$(ldd "$work/version" | sed -n 's/^[[:space:]]*libferry\.so\.0 => \([^ ]*\) .*/\1/p')
[ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$lib")" ] ||
  fail "the program does not load the installed libferry: $(ldd "$work/version" | grep libferry)"
got=$(env -u LD_LIBRARY_PATH "$work/version")
echo "ferry_version() FERRY_VERSION: $got"
[ "$got" = "$version $pkgver" ] || fail "ferry_version() FERRY_VERSION: $got, want $version $pkgver"
# The consumer of capi/tests: I/O through a server (below).
# shellcheck disable=SC2086
"$cc" "$src/capi/tests/consumer/consumer.c" $flags -o "$work/consumer-pc"
"$cmake" -S "$src/capi/tests/consumer" -B "$work/cmake" -DCMAKE_C_COMPILER="$cc" >"$work/cmake.log"
grep -qx 'ferry_DIR:PATH=/usr/lib/cmake/ferry\|ferry_DIR:PATH=/usr/lib/.*/cmake/ferry' "$work/cmake/CMakeCache.txt" ||
  fail "find_package(ferry) did not find the installed package: $(grep ferry_DIR "$work/cmake/CMakeCache.txt")"
"$cmake" --build "$work/cmake" >"$work/cmake-build.log"

# run_consumers CONFIG - both consumers do I/O through the running server;
# their own shm regions must be gone when they exit.
# ping_installed CONFIG: the installed ferry pings the servers with the
# installed stand-ins loaded in place of the real PSM libraries.
ping_installed() {
  local out
  out=$(/usr/bin/ferry ping --config "$1") || fail "ferry ping: $out"
  echo "$out"
  grep -qF 'stand_ins=[libpsm2.so.2,libpsm_infinipath.so.1]' <<<"$out" ||
    fail "the installed ferry did not load the installed PSM stand-ins"
}

run_consumers() {
  local how pid
  for how in pkg-config cmake; do
    if [ "$how" = cmake ]; then prog=$work/cmake/consumer; else prog=$work/consumer-pc; fi
    env -u LD_LIBRARY_PATH FERRY_CONFIG="$1" "$prog" "$how" &
    pid=$!
    wait "$pid" || fail "consumer ($how) failed"
    check_no_shm "$pid"
  done
}

if [ -d /run/systemd/system ] && [ ! -e /etc/ferry ]; then
  echo "== ferryd@0 under systemd"
  etc_created=1
  mkdir /etc/ferry
  /usr/bin/ferry genconfig --servers 127.0.0.1:7990 --storage "$work/storage" \
    --key-file /etc/ferry/key >/etc/ferry/ferry.toml
  unit_started=1
  systemctl start ferryd@0 # returns once ferryd sent READY=1 (Type=notify)
  systemctl is-active ferryd@0
  pid=$(systemctl show -p MainPID --value ferryd@0)
  [ "$(readlink "/proc/$pid/exe")" = /usr/bin/ferryd ] || fail "ferryd@0's main process $pid is not /usr/bin/ferryd"
  ping_installed /etc/ferry/ferry.toml
  run_consumers /etc/ferry/ferry.toml
  echo "== dpkg -i again (an upgrade): the running server is restarted, not left down"
  dpkg -i "$deb"
  systemctl is-active ferryd@0 || fail "ferryd@0 is not running after the package was installed over itself"
  old=$pid
  pid=$(systemctl show -p MainPID --value ferryd@0)
  [ "$pid" != "$old" ] || fail "ferryd@0 was not restarted by the upgrade (pid $pid)"
  check_no_shm "$old"
  ping_installed /etc/ferry/ferry.toml
  systemctl stop ferryd@0
  unit_started=0
  journalctl -u ferryd@0 --no-pager | tail -5
  check_no_shm "$pid"
  rm -rf /etc/ferry
  etc_created=0
  servers=$pid
else
  if [ -d /run/systemd/system ]; then
    echo "install_test.sh: skipped: ferryd@0 under systemd: /etc/ferry exists on this machine (its config is not replaced)"
  else
    echo "install_test.sh: skipped: ferryd@0 under systemd: systemd does not run here (no /run/systemd/system)"
  fi
  echo "== the installed ferryd under ferry local instead"
  local_up=1
  /usr/bin/ferry local up --servers 1 --dir "$work/local" </dev/null
  servers=$(installed_ferryd_pids)
  [ "$(wc -w <<<"$servers")" = 1 ] || fail "ferry local up: want one /usr/bin/ferryd, have pids: $servers"
  ping_installed "$work/local/ferry.toml"
  run_consumers "$work/local/ferry.toml"
  echo "== dpkg -i again (an upgrade): its scripts run with an upgrade's arguments"
  dpkg -i "$deb"
  ping_installed "$work/local/ferry.toml"
  /usr/bin/ferry local down --dir "$work/local"
  local_up=0
  check_no_shm $servers
fi

echo "== dpkg -r ferry"
dpkg -r ferry
installed=0
# The package has no postrm (CMakeLists.txt says why): systemd forgets the
# removed unit on its next reload, here.
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
if dpkg -s ferry >/dev/null 2>&1; then
  fail "dpkg still knows ferry after dpkg -r: $(dpkg -s ferry | grep Status)"
fi
for f in $files; do
  if [ -e "$f" ] || [ -L "$f" ]; then fail "left after dpkg -r: $f"; fi
done
left=$(installed_ferryd_pids)
[ -z "$left" ] || fail "ferryd processes left after dpkg -r: $left"
check_no_shm $servers
echo "install_test.sh: installed, checked, ran and removed cleanly"
