#!/usr/bin/env bash
# `npm start`: the extension in a real VS Code in your browser, connected to a demo mesh on this machine, no account.
# Installs what it needs (npm packages; once per machine: chromium, Node 24, code-server, vsce), builds and packages the
# extension, starts the demo mesh (local broker + demo peers), writes the demo identity, and serves code-server with
# the .vsix installed on http://127.0.0.1:PORT. Ctrl-C stops everything it started.
#   CLAUDEMESH_DEMO_PORT   port to serve VS Code on (default 8080; a free one if that is taken)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
T0=$SECONDS

if ! [ -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "=== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
source scripts/e2e-tools.sh
source scripts/code-server.sh

echo "=== build and package the extension"
npx tsc -p .
node esbuild.mjs --production
RUN=$E2E_HOME/demo
rm -rf "$RUN"
mkdir -p "$RUN"
package_vsix "$REPO" "$RUN/claudemesh.vsix"

trap stop_all_groups EXIT
trap 'echo; echo "=== stopping"; exit 130' INT TERM

echo "=== demo mesh"
start_demo_mesh "$RUN/mesh"
grep -h 'demo mesh ready\|peers:' "$RUN/mesh/demo.log"
CONFIG=$(demo_field "$RUN/mesh" configPath)

echo "=== VS Code (code-server)"
# The workspace README opens on start-up and says what to try.
cs_prepare "$RUN/vscode" "{\"claudemesh.configPath\": $(node -p 'JSON.stringify(process.argv[1])' "$CONFIG"), \"workbench.startupEditor\": \"readme\"}"
cat >"$RUN/vscode/workspace/README.md" <<'EOF'
# Claudemesh demo

You are "Demo User" on a mesh served from this machine. Open the Claudemesh icon in the activity bar.

- **Ada** answers every direct message: run **Claudemesh: Send Message** (F1), pick Ada, and watch her reply arrive.
- **Grace** keeps `build` and `release` in Shared State, shared the `review-checklist` skill, and remembered a fact
  (**Claudemesh: Recall** `demo`).
- **Linus** goes working and idle every 15 seconds.

The status bar shows the connection and peer count. Stop `npm start` with Ctrl-C.
EOF
cs_install_vsix "$RUN/vscode" "$RUN/claudemesh.vsix"
PORT=${CLAUDEMESH_DEMO_PORT:-8080}
if ! port_is_free "$PORT"; then
  echo "port $PORT is taken; using a free one (set CLAUDEMESH_DEMO_PORT to choose)"
  PORT=$(free_port)
fi
cs_start "$RUN/vscode" "$PORT"

CONTROL=$(demo_field "$RUN/mesh" controlUrl)
echo
echo "Claudemesh demo ready in $((SECONDS - T0)) s. Open:"
echo
echo "    http://127.0.0.1:$PORT/"
echo
echo "Demo control (simulate a broker outage):"
echo "    curl -X POST $CONTROL/broker/stop     curl -X POST $CONTROL/broker/start     curl $CONTROL/status"
echo "Logs in $RUN: mesh/demo.log (demo mesh), vscode/code-server.log (VS Code)."
echo "Ctrl-C stops everything."
wait "$CS_PID" || true
echo "code-server exited; see $RUN/vscode/code-server.log"
exit 1
