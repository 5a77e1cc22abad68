#!/usr/bin/env bash
# End-to-end tests in a real VS Code: code-server (VS Code server + web workbench) driven by headless Chromium.
#   1. UI: the packaged .vsix installed, the demo mesh running, the workbench driven like a user (test/e2e/ui.test.cjs);
#      a PNG per step goes to $E2E_HOME/shots/<run>/.
#   2. Hostile peer: the same, with Mallory on the demo mesh and the sentinel extension (test/e2e/sentinel) installed;
#      every surface she reaches is opened, hovered and Ctrl+clicked, and nothing may act (test/e2e/hostile.test.cjs).
#   3. First run: the packaged extension with no claudemesh config: the welcome, and Open Config creating one
#      (test/e2e/firstrun.test.cjs).
#   4. Extension host: the mocha suite in test/e2e/suite runs inside code-server's Node extension host.
# Each phase gets its own code-server, fresh run folder and process group. Expects a build (npx tsc -p . && node esbuild.mjs).
# Ends with `e2e: N passed, N failed`; exits non-zero when anything failed.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
T_ALL=$SECONDS
source "$REPO/scripts/e2e-tools.sh"
source "$REPO/scripts/code-server.sh"
for built in dist/extension.js out/demo/run.js out/test/e2e/suite/index.js; do
  [ -f "$REPO/$built" ] || { echo "e2e: $built is missing; build first: npx tsc -p . && node esbuild.mjs"; exit 1; }
done

mkdir -p "$E2E_HOME/runs" "$E2E_HOME/shots"
# Keep the ten newest screenshot folders and failed runs; older ones only fill the disk.
for kept in "$E2E_HOME/runs" "$E2E_HOME/shots"; do
  # (On a new machine the folder is empty and ls fails: under pipefail that must not end the run.)
  { ls -1dt "$kept"/*/ 2>/dev/null || true; } | tail -n +11 | xargs -r rm -rf
done
RUNS=$(mktemp -d "$E2E_HOME/runs/e2e-$(date +%Y%m%d-%H%M%S)-XXXX")
SHOTS=$E2E_HOME/shots/$(basename "$RUNS")
trap stop_all_groups EXIT
PASSED=0
FAILED=0
phase() { echo; echo "=== e2e $(date +%T) $*"; T_PHASE=$SECONDS; }
phase_result() { # phase_result NAME EXIT_CODE
  if [ "$2" -eq 0 ]; then PASSED=$((PASSED + 1)); echo "=== $1 passed ($((SECONDS - T_PHASE)) s)"
  else FAILED=$((FAILED + 1)); echo "=== $1 FAILED ($((SECONDS - T_PHASE)) s); logs in $RUNS"; fi
}

phase "package the extension"
VSIX=$RUNS/claudemesh.vsix
package_vsix "$REPO" "$VSIX" || { echo "e2e: packaging the extension failed"; echo "e2e: 0 passed, 4 failed"; exit 1; }
SENTINEL_VSIX=$RUNS/sentinel.vsix
(cd "$REPO/test/e2e/sentinel" && PATH=$E2E_NODE24/bin:$PATH "$E2E_VSCE" package --skip-license --allow-missing-repository -o "$SENTINEL_VSIX" | tail -n 1) ||
  { echo "e2e: packaging the sentinel extension failed"; echo "e2e: 0 passed, 4 failed"; exit 1; }

# Each phase returns non-zero on any failure, its set-up included, so the summary line is always printed.
ui_phase() {
  local run=$RUNS/ui port config
  start_demo_mesh "$run/demo" || return 1
  config=$(demo_field "$run/demo" configPath) || return 1
  cs_prepare "$run/vscode" "{\"claudemesh.configPath\": $(node -p 'JSON.stringify(process.argv[1])' "$config")}" || return 1
  cs_install_vsix "$run/vscode" "$VSIX" || return 1
  port=$(free_port) || return 1
  # Without enable-smoke-test-driver: that option suppresses the notification toasts this test reads.
  cs_start "$run/vscode" "$port" || return 1
  BASE_URL=http://127.0.0.1:$port/ DEMO_DIR=$run/demo RUN_DIR=$run/vscode SHOTS=$SHOTS NODE_PATH=$E2E_NODE_PATH \
    "$REPO/node_modules/.bin/mocha" --no-config --bail --timeout 300000 "$REPO/test/e2e/ui.test.cjs"
}

hostile_phase() {
  local run=$RUNS/hostile port config
  start_demo_mesh "$run/demo" --hostile || return 1
  config=$(demo_field "$run/demo" configPath) || return 1
  cs_prepare "$run/vscode" "{\"claudemesh.configPath\": $(node -p 'JSON.stringify(process.argv[1])' "$config")}" || return 1
  cs_install_vsix "$run/vscode" "$VSIX" || return 1
  cs_install_vsix "$run/vscode" "$SENTINEL_VSIX" || return 1
  port=$(free_port) || return 1
  cs_start "$run/vscode" "$port" || return 1
  BASE_URL=http://127.0.0.1:$port/ RUN_DIR=$run/vscode SHOTS=$SHOTS NODE_PATH=$E2E_NODE_PATH \
    "$REPO/node_modules/.bin/mocha" --no-config --bail --timeout 300000 "$REPO/test/e2e/hostile.test.cjs"
}

firstrun_phase() {
  local run=$RUNS/firstrun port
  # No settings: the extension reads the default config path under the run's own HOME, where nothing is yet.
  cs_prepare "$run/vscode" || return 1
  cs_install_vsix "$run/vscode" "$VSIX" || return 1
  port=$(free_port) || return 1
  cs_start "$run/vscode" "$port" || return 1
  BASE_URL=http://127.0.0.1:$port/ RUN_DIR=$run/vscode SHOTS=$SHOTS NODE_PATH=$E2E_NODE_PATH \
    "$REPO/node_modules/.bin/mocha" --no-config --bail --timeout 300000 "$REPO/test/e2e/firstrun.test.cjs"
}

exthost_phase() {
  local run=$RUNS/exthost port
  cs_prepare "$run/vscode" || return 1
  port=$(free_port) || return 1
  cs_start "$run/vscode" "$port" --vscode-option enable-smoke-test-driver || return 1
  BASE_URL=http://127.0.0.1:$port/ FOLDER=$run/vscode/workspace EXT_DIR=$REPO TESTS_ENTRY=$REPO/out/test/e2e/suite/index \
    RUN_DIR=$run/vscode NODE_PATH=$E2E_NODE_PATH node "$REPO/test/e2e/exthost.cjs"
}

phase "UI: the packaged extension against the demo mesh, in Chromium"
code=0
ui_phase || code=$?
stop_all_groups
phase_result "UI" "$code"

phase "hostile peer: Mallory on the demo mesh, the sentinel extension watching, in Chromium"
code=0
hostile_phase || code=$?
stop_all_groups
phase_result "hostile peer" "$code"

phase "first run: the packaged extension with no claudemesh config, in Chromium"
code=0
firstrun_phase || code=$?
stop_all_groups
phase_result "first run" "$code"

phase "extension host: test/e2e/suite inside code-server's Node extension host"
code=0
exthost_phase || code=$?
stop_all_groups
phase_result "extension host" "$code"

echo
if [ "$FAILED" -eq 0 ]; then rm -rf "$RUNS"; else echo "e2e: run folders kept for their logs: $RUNS"; fi
echo "e2e: screenshots in $SHOTS"
echo "e2e: total $((SECONDS - T_ALL)) s"
echo "e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
