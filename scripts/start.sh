#!/usr/bin/env bash
# The main job (`npm start`): set up, then run Pocket Foundry.
#   - editor mode: when scripts/open-editor.sh exists and POCKET_NO_EDITOR is unset, it takes over
#     (opens the editor with the extension loaded on a sample workspace).
#   - headless mode: start the platform (`pocket up`) on the data dir ($POCKET_HOME, else the
#     default under the user's data home; --temp for a throwaway one), push the bundled node sample,
#     print what happened, and keep the platform in the foreground until Ctrl-C.
# Usage: bash scripts/start.sh [--temp] [APP_PATH]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[start] %s\n' "$*"; }
die() { printf '[start] ERROR: %s\n' "$*" >&2; exit 1; }

SAMPLE="test/fixtures/node-hello"
POCKET=(node "$ROOT/dist/pocket.js")

editor_mode_available() {
  [ -f scripts/open-editor.sh ] && [ -z "${POCKET_NO_EDITOR:-}" ]
}

# The editor cache (code-server) only when the editor will be opened.
setup() {
  if editor_mode_available; then
    bash scripts/setup.sh --with-editor
  else
    bash scripts/setup.sh
  fi
}

run_editor() {
  say "opening the editor (set POCKET_NO_EDITOR=1 for the headless platform only)"
  exec bash scripts/open-editor.sh "$@"
}

# The data dir the CLI uses too: $POCKET_HOME, else $XDG_DATA_HOME/pocket-foundry, else ~/.local/share/pocket-foundry.
default_data_dir() {
  if [ -n "${POCKET_HOME:-}" ]; then echo "$POCKET_HOME"
  elif [ -n "${XDG_DATA_HOME:-}" ]; then echo "$XDG_DATA_HOME/pocket-foundry"
  else echo "$HOME/.local/share/pocket-foundry"
  fi
}

# pid from <dir>/endpoint.json when that process is alive, else nothing.
running_platform_pid() {
  local file="$1/endpoint.json" pid
  [ -f "$file" ] || return 0
  pid="$(node -e "try { const e = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); if (Number.isInteger(e.pid)) console.log(e.pid); } catch {}" "$file")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

push_sample() {
  local app="$1" out url
  out="$(mktemp)"
  say "running: pocket push $app"
  if "${POCKET[@]}" push "$app" | tee "$out"; then
    url="$(grep -Eo 'http://[^ ]+\.localhost:[0-9]+/' "$out" | tail -1 || true)"
    rm -f "$out"
    say "pushed $app"
    [ -n "$url" ] && show_response "$url"
  else
    rm -f "$out"
    say "the push failed (see above); the platform keeps running so you can retry: npx pocket push $app"
  fi
}

# The app's first answer through the router (*.localhost resolves to loopback; the Host header routes).
show_response() {
  local url="$1" hostport host port body
  hostport="${url#http://}"; hostport="${hostport%/}"
  host="${hostport%:*}"; port="${hostport##*:}"
  if body="$(curl -sS --max-time 10 -H "Host: $host" "http://127.0.0.1:$port/" 2>&1)"; then
    say "GET $url answered: $(printf '%s' "$body" | head -c 200)"
  else
    say "GET $url failed: $body"
  fi
}

run_headless() {
  local temp=0 app="$SAMPLE" data platform_pid=""
  for arg in "$@"; do
    case "$arg" in
      --temp) temp=1 ;;
      -*) die "unknown option '$arg' (usage: npm start -- [--temp] [APP_PATH])" ;;
      *) app="$arg" ;;
    esac
  done
  [ -f dist/pocket.js ] || die "dist/pocket.js is missing: the build did not produce the pocket CLI (run: npm run build)"
  [ -d "$app" ] || die "no app folder at $app"

  if [ "$temp" -eq 1 ]; then
    data="$(mktemp -d "${TMPDIR:-/tmp}/pocket-foundry.XXXXXX")"
  else
    data="$(default_data_dir)"
  fi
  export POCKET_HOME="$data"

  local existing
  existing="$(running_platform_pid "$data")"
  if [ -n "$existing" ]; then
    say "a platform is already running on $data (pid $existing): pushing to it"
    push_sample "$app"
    say "it keeps running in its own terminal; stop it there with Ctrl-C"
    return 0
  fi

  say "starting the platform: pocket up --data $data"
  # Its own process group (job control on), so Ctrl-C reaches it once, through the trap below, and it
  # can stop cleanly instead of seeing a second SIGINT ("exit without waiting").
  set -m
  "${POCKET[@]}" up --data "$data" &
  platform_pid=$!
  set +m
  trap 'kill -TERM "$platform_pid" 2>/dev/null || true' TERM HUP
  trap 'kill -INT "$platform_pid" 2>/dev/null || true' INT

  local waited=0
  until [ "$(running_platform_pid "$data")" = "$platform_pid" ]; do
    kill -0 "$platform_pid" 2>/dev/null || { wait "$platform_pid" || true; die "pocket up exited before it was ready (see above)"; }
    [ "$waited" -ge 600 ] && { kill -TERM "$platform_pid" 2>/dev/null || true; wait "$platform_pid" || true; die "pocket up did not write $data/endpoint.json within 60 s"; }
    sleep 0.1; waited=$((waited + 1))
  done
  say "platform running (pid $platform_pid); endpoint: $data/endpoint.json"

  push_sample "$app"
  say "the platform stays up: try 'npx pocket apps' in another terminal (POCKET_HOME=$data); Ctrl-C stops it"
  local rc=0
  wait "$platform_pid" || rc=$?
  # wait returns early when a trapped signal arrives: wait again for the platform's own clean exit.
  while kill -0 "$platform_pid" 2>/dev/null; do wait "$platform_pid" || rc=$?; done
  [ "$temp" -eq 1 ] && rm -rf "$data"
  say "platform stopped"
  return "$rc"
}

setup
if editor_mode_available; then run_editor "$@"; fi
run_headless "$@"
