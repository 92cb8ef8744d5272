#!/usr/bin/env bash
# Sets up, then opens the editor with Pocket Foundry loaded on a sample workspace (a fresh copy of
# test/fixtures/node-hello); the extension starts the platform itself on the first push.
#   - desktop VS Code when `code` is on PATH (the extension loaded from this checkout);
#   - otherwise VS Code for the browser (code-server) with the packaged extension installed, at a
#     printed address (POCKET_EDITOR_PORT, default 8080 or the next free port; bound to 127.0.0.1
#     unless POCKET_EDITOR_HOST says otherwise).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${POCKET_FOUNDRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pocket-foundry}"
say() { printf '[open-editor] %s\n' "$*"; }

USE_CODE=0
if command -v code >/dev/null 2>&1 && [ -z "${POCKET_EDITOR_BROWSER:-}" ]; then USE_CODE=1; fi

if [ "$USE_CODE" -eq 1 ]; then
  bash scripts/setup.sh
else
  bash scripts/setup.sh --with-editor
fi

WS_PARENT="$(mktemp -d "${TMPDIR:-/tmp}/pocket-foundry-sample.XXXXXX")"
WS="$WS_PARENT/node-hello"
cp -R test/fixtures/node-hello "$WS"
say "sample workspace: $WS (a copy; push it with 'Pocket Foundry: Push Workspace')"

if [ "$USE_CODE" -eq 1 ]; then
  npm run --silent build
  say "opening VS Code with the extension from $ROOT"
  exec code --new-window --extensionDevelopmentPath="$ROOT" "$WS"
fi

# VS Code for the browser: the packaged extension, installed into a profile kept in the cache so
# apps and settings survive between runs.
PROFILE="$CACHE/editor"
mkdir -p "$PROFILE"
npm run --silent package >"$PROFILE/package.log" 2>&1 || { cat "$PROFILE/package.log"; exit 1; }
eval "$(bash scripts/install-code-server.sh | sed -n 's/^\(NODE24\|CODE_SERVER\)=\(.*\)$/\1="\2"/p')"
mkdir -p "$PROFILE/user/User" "$PROFILE/extensions"
if [ ! -f "$PROFILE/user/User/settings.json" ]; then
  cat > "$PROFILE/user/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden"
}
JSON
fi
"$NODE24" "$CODE_SERVER" --install-extension out/pocket-foundry.vsix --force \
  --extensions-dir "$PROFILE/extensions" --user-data-dir "$PROFILE/user" >/dev/null
printf 'auth: none\n' > "$PROFILE/code-server.yaml"

HOST="${POCKET_EDITOR_HOST:-127.0.0.1}"
PORT="${POCKET_EDITOR_PORT:-$(node -e '
  const net = require("net");
  const tryPort = (p) => { const s = net.createServer(); s.once("error", () => tryPort(p + 1));
    s.listen(p, "127.0.0.1", () => s.close(() => console.log(p))); };
  tryPort(8080);')}"
URL="http://$HOST:$PORT/?folder=$WS"
say "starting VS Code for the browser (code-server); open this address:"
echo
echo "    $URL"
echo
say "Ctrl-C stops the editor (and the platform it started)."
# Node 24 runs code-server; PATH is left alone so the platform runs on the system Node.
exec "$NODE24" "$CODE_SERVER" --auth none --bind-addr "$HOST:$PORT" --config "$PROFILE/code-server.yaml" \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  --user-data-dir "$PROFILE/user" --extensions-dir "$PROFILE/extensions" "$WS"
