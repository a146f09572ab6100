#!/usr/bin/env bash
# `npm run bench [-- SECTION]`: installs the servers if needed, builds, and runs the benchmarks (all,
# or only SECTION: latency, failover, start-delay, kill-margin, scale, postgres, redis); not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-servers.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
node --import tsx bench/bench.ts "$@"
