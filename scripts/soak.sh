#!/usr/bin/env bash
# Soak test (not part of `make test`): mixed load from several workers on
# 4 local servers while servers are killed with -9 and restarted, for
# FERRY_SOAK_DURATION (default 30m); every read that succeeds is checked
# byte for byte, every file again at the end, and fsck --repair must
# leave no orphan. Example: FERRY_SOAK_DURATION=2m scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
export FERRY_SOAK_DURATION=${FERRY_SOAK_DURATION:-30m}
# No go test timeout: the soak ends itself after its duration, and a call
# that hangs fails it on its own (three client timeouts).
go test -count=1 -run '^TestSoak$' -v -timeout 0 ./itest/
