#!/usr/bin/env bash
# `npm run bench` (README, "Benchmark"): installs dependencies if this is a fresh clone, compiles, builds the production
# bundle (figure 6 measures it), then prints every figure and writes the table to bench-results/latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then
  echo "=== install dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "=== compile (tsc) and bundle (esbuild --production)"
npx tsc -p .
node esbuild.mjs --production
echo "=== benchmark (BENCH_RUNS=${BENCH_RUNS:-5} runs per figure)"
node out/bench/run.js
