#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine: installs the Debian packages for the
# real servers, installs and builds the project, and runs unit, conformance and integration tests.
# Every server a test needs (etcd, ZooKeeper standalone and ensemble, PostgreSQL, Redis) is started by the
# test itself on 127.0.0.1, on ports below 32768, in a temporary directory, and stopped after it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-servers.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
shopt -s globstar nullglob
files=(test/unit/**/*.test.ts test/conformance/**/*.test.ts test/integration/**/*.test.ts)
status=0
# One file at a time: failover tests measure timings, and the machine has two cores.
node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=test-results.tap "${files[@]}" || status=$?
# Servers are stopped by each test; this catches any that a crashed test left behind (their
# data dirs are named lockd-etcd-*, lockd-zk-*, lockd-pg-*, lockd-redis-* and lockd-sentinel-*; a PostgreSQL backend exits on its
# own once its postmaster is gone).
pkill -9 -f -- '--data-dir=[^ ]*lockd-etcd-' 2>/dev/null || true
pkill -9 -f 'QuorumPeerMain [^ ]*lockd-zk-' 2>/dev/null || true
pkill -9 -f 'postgres -D [^ ]*lockd-pg-' 2>/dev/null || true
pkill -9 -f 'pgbouncer [^ ]*lockd-pgbouncer-' 2>/dev/null || true
pkill -9 -f -- '--dir [^ ]*lockd-redis-' 2>/dev/null || true
pkill -9 -f 'redis-(server|sentinel) [^ ]*lockd-sentinel-' 2>/dev/null || true
summary=$(grep -E '^# (tests|pass|fail|skipped) ' test-results.tap | tr '\n' ' ')
echo "test summary: ${summary}"
pass=$(awk '/^# pass /{print $3}' test-results.tap); fail=$(awk '/^# fail /{print $3}' test-results.tap)
echo "${pass:-0} passed, ${fail:-0} failed"
exit $status
