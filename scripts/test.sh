#!/usr/bin/env bash
# The one test command (README): installs what it needs, then runs every suite — plain-Node broker tests,
# view/command tests against a fake vscode, and the end-to-end tests in a real VS Code (code-server + Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
echo "=== install dependencies"
npm ci --no-audit --no-fund --loglevel=error
echo "=== compile (tsc, strict) and bundle (esbuild)"
npx tsc -p .
npm run --silent lint
node esbuild.mjs
echo "=== unit and integration tests (mocha, plain Node)"
npx mocha
if [ "${SKIP_E2E:-}" = "1" ]; then
  echo "=== SKIP_E2E=1: end-to-end tests skipped"
else
  echo "=== end-to-end tests in a real VS Code"
  bash scripts/e2e.sh
fi
echo "=== all tests passed in $(( $(date +%s) - T0 ))s"
