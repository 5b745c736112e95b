#!/usr/bin/env bash
# package_deb.sh [--test] - builds the Debian package with CPack in
# build-deb/ (configured for prefix /usr, so the unit and paths are the
# system's). With --test, as root: installs it with dpkg -i, checks the
# installed programs, library, unit and versions, starts ferryd@auto with
# systemd where systemd runs, then removes it with dpkg -r and checks that
# nothing of it is left.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF >/dev/null
cmake --build build-deb -j "$(nproc)" >/dev/null
(cd build-deb && cpack -G DEB >/dev/null)
deb=$(ls -t build-deb/ferry_*.deb | head -1)
echo "package: $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
[ "${1:-}" = --test ] || exit 0

[ "$(id -u)" = 0 ] || { echo "package_deb.sh --test: needs root (dpkg -i)" >&2; exit 1; }
if dpkg -s ferry >/dev/null 2>&1; then
  echo "package_deb.sh --test: a ferry package is already installed; not touching it" >&2
  exit 1
fi
files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|' | grep -v '/$')
dpkg -i "$deb"
trap 'dpkg -r ferry >/dev/null 2>&1 || true' EXIT
for f in /usr/bin/ferryd /usr/bin/ferry /usr/include/ferry.h /usr/lib/systemd/system/ferryd@.service; do
  test -e "$f" || { echo "missing after install: $f" >&2; exit 1; }
done
find /usr/lib /usr/lib64 -name 'libferry*.so*' 2>/dev/null
pkg-config --modversion ferry
v1=$(/usr/bin/ferry --version) v2=$(/usr/bin/ferryd --version)
echo "$v1"; echo "$v2"
[ "${v1#ferry }" = "${v2#ferryd }" ] || { echo "ferry and ferryd versions differ" >&2; exit 1; }
systemd-analyze verify /usr/lib/systemd/system/ferryd@.service 2>&1 | grep -v 'is not executable\|Failed to' || true
if [ -d /run/systemd/system ] && [ ! -e /etc/ferry/ferry.toml ]; then
  # One server on loopback under systemd: ready, answering, clean stop.
  mkdir -p /etc/ferry
  /usr/bin/ferry genconfig --servers 127.0.0.1:7990 --storage /var/tmp/ferry-deb-test >/etc/ferry/ferry.toml
  systemctl start ferryd@0 # returns once ferryd sent READY=1 (Type=notify)
  systemctl is-active ferryd@0
  pid=$(systemctl show -p MainPID --value ferryd@0)
  /usr/bin/ferry ping --config /etc/ferry/ferry.toml
  systemctl stop ferryd@0
  ls /dev/shm/"$pid":* 2>/dev/null && { echo "/dev/shm files left by ferryd" >&2; exit 1; }
  journalctl -u ferryd@0 --no-pager | tail -5
  rm -rf /etc/ferry /var/tmp/ferry-deb-test
else
  echo "systemd does not run here (or /etc/ferry/ferry.toml exists): ferryd@.service not started (skipped)"
fi
dpkg -r ferry
trap - EXIT
if dpkg -s ferry >/dev/null 2>&1; then
  echo "dpkg still knows ferry after dpkg -r: $(dpkg -s ferry | grep Status)" >&2
  exit 1
fi
left=0
for f in $files; do
  if [ -e "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1; then echo "left after dpkg -r: $f" >&2; left=1; fi
done
[ "$left" = 0 ] || exit 1
echo "package_deb.sh: installed, checked and removed cleanly"
