# Shared by scripts/e2e.sh and scripts/start.sh; source it after scripts/e2e-tools.sh.
# Packages the extension, and runs code-server and the demo mesh each in its own process group (setsid), because
# their children (extension host, file watcher, pty host) outlive the started pid: stopping means the whole group.

STARTED_GROUPS=()

# free_port: a port that was free on 127.0.0.1 a moment ago.
free_port() {
  node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"
}

# port_is_free PORT: whether 127.0.0.1:PORT can be listened on right now.
port_is_free() {
  node -e "require('net').createServer().once('error', () => process.exit(1)).listen(+process.argv[1], '127.0.0.1', function () { this.close(); })" "$1"
}

# start_group LOG COMMAND...: runs COMMAND in a new session; sets STARTED_PID (= its process-group id).
start_group() {
  local log=$1
  shift
  (exec setsid "$@" >"$log" 2>&1 </dev/null) &
  STARTED_PID=$!
  STARTED_GROUPS+=("$STARTED_PID")
}

# stop_group PID: SIGTERM to the whole group, SIGKILL to whatever is left after 15 s.
stop_group() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for i in $(seq 1 150); do
    pgrep -g "$pid" >/dev/null || return 0
    sleep 0.1
  done
  echo "process group $pid ignored SIGTERM for 15 s; killing it"
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# stop_all_groups: for an EXIT trap; newest first, so code-server goes before the broker it talks to.
stop_all_groups() {
  local i
  for ((i = ${#STARTED_GROUPS[@]} - 1; i >= 0; i--)); do stop_group "${STARTED_GROUPS[i]}"; done
  STARTED_GROUPS=()
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds; fails after SECONDS.
wait_for() {
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "gave up after ${seconds}s waiting for $what"
  return 1
}

# package_vsix REPO OUT: the .vsix from the current dist/ (vsce needs Node >= 22; the bundle has every dependency).
# The manifest names no repository, so vsce cannot rewrite the README's relative links (docs/...) and would refuse to
# package: they stay as written (the docs are in the repository, not in the .vsix).
package_vsix() {
  local repo=$1 out=$2
  [ -f "$repo/dist/extension.js" ] || { echo "no $repo/dist/extension.js: build first (npx tsc -p . && node esbuild.mjs)"; return 1; }
  (cd "$repo" && PATH=$E2E_NODE24/bin:$PATH "$E2E_VSCE" package --no-dependencies --skip-license --allow-missing-repository --no-rewrite-relative-links -o "$out" | tail -n 1)
}

# start_demo_mesh DIR [run.js options...]: runs the demo mesh (config and demo.json in DIR) until stopped; sets DEMO_PID.
start_demo_mesh() {
  local dir=$1
  mkdir -p "$dir"
  start_group "$dir/demo.log" node "$REPO/out/demo/run.js" --dir "$dir" "${@:2}"
  DEMO_PID=$STARTED_PID
  wait_for "the demo mesh (log: $dir/demo.log)" 60 test -f "$dir/demo.json" || { cat "$dir/demo.log"; return 1; }
}

# Reads one field of DIR/demo.json: demo_field DIR configPath
demo_field() {
  node -p "require(process.argv[1])[process.argv[2]]" "$1/demo.json" "$2"
}

# cs_prepare RUN_DIR [SETTINGS_JSON]: a fresh run folder (user data with quiet settings merged with SETTINGS_JSON,
# extensions, workspace, home, temp) so no run sees another's state and nothing is written to the real $HOME.
# SETTINGS_JSON also goes to the remote (Machine) settings: a code-server window is remote, and it ignores
# machine-scoped settings such as claudemesh.configPath in the user settings.
cs_prepare() {
  local run=$1 extra=${2:-\{\}}
  rm -rf "$run"
  mkdir -p "$run/user-data/User" "$run/user-data/Machine" "$run/extensions" "$run/workspace" "$run/home" "$run/tmp"
  node -e '
    const fs = require("fs");
    const [userFile, machineFile, extraJson] = process.argv.slice(1);
    const quiet = {
      "chat.disableAIFeatures": true,
      "workbench.startupEditor": "none",
      "workbench.secondarySideBar.defaultVisibility": "hidden",
      "workbench.tips.enabled": false,
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "extensions.ignoreRecommendations": true,
      "telemetry.telemetryLevel": "off",
      "update.mode": "none",
      "git.enabled": false,
      "github.gitAuthentication": false,
      // code-server offers to forward every port a process opens (a toast and a Ports badge); here nothing needs it.
      "remote.autoForwardPorts": false,
      "remote.restoreForwardedPorts": false,
    };
    const extra = JSON.parse(extraJson);
    fs.writeFileSync(userFile, JSON.stringify({ ...quiet, ...extra }, null, 2) + "\n");
    fs.writeFileSync(machineFile, JSON.stringify(extra, null, 2) + "\n");
  ' "$run/user-data/User/settings.json" "$run/user-data/Machine/settings.json" "$extra"
}

# cs_command RUN_DIR: sets CS_COMMAND to code-server under Node 24, with $HOME, XDG dirs and TMPDIR inside RUN_DIR.
cs_command() {
  local run=$1
  CS_COMMAND=(env "PATH=$E2E_NODE24/bin:$PATH" "HOME=$run/home" "TMPDIR=$run/tmp" "XDG_CONFIG_HOME=$run/home/.config"
    "XDG_DATA_HOME=$run/home/.local/share" "XDG_CACHE_HOME=$run/home/.cache" "$E2E_NODE24/bin/node" "$E2E_CODE_SERVER"
    --user-data-dir "$run/user-data" --extensions-dir "$run/extensions")
}

# cs_install_vsix RUN_DIR VSIX
cs_install_vsix() {
  local run=$1 vsix=$2
  cs_command "$run"
  "${CS_COMMAND[@]}" --install-extension "$vsix" >"$run/install.log" 2>&1 || { cat "$run/install.log"; return 1; }
}

# cs_start RUN_DIR PORT [code-server args...]: serves RUN_DIR/workspace on 127.0.0.1:PORT; sets CS_PID.
cs_start() {
  local run=$1 port=$2
  shift 2
  cs_command "$run"
  start_group "$run/code-server.log" "${CS_COMMAND[@]}" --auth none --bind-addr "127.0.0.1:$port" --disable-telemetry \
    --disable-update-check --disable-workspace-trust --disable-getting-started-override "$@" "$run/workspace"
  CS_PID=$STARTED_PID
  wait_for "code-server on port $port (log: $run/code-server.log)" 60 curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" ||
    { cat "$run/code-server.log"; return 1; }
}
