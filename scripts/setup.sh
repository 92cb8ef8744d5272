#!/usr/bin/env bash
# Sets up this checkout for Pocket Foundry: system packages (Debian/Ubuntu: installed; elsewhere:
# listed), nats-server, npm dependencies and the build. Idempotent: a second run only checks.
#   bash scripts/setup.sh [--with-editor]
# --with-editor also prepares the editor test/run cache (code-server and its Node) when the project
# has scripts/install-code-server.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WITH_EDITOR=0
for arg in "$@"; do
  case "$arg" in
    --with-editor) WITH_EDITOR=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say()  { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die()  { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

START_SECONDS=$SECONDS
# The same cache folder scripts/install-code-server.sh uses (POCKET_FOUNDRY_CACHE to move it).
CACHE_DIR="${POCKET_FOUNDRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pocket-foundry}"
# Where platform/bus/server.ts looks for a downloaded nats-server.
NATS_CACHE_DIR="${HOME}/.cache/pocket-foundry/nats-server"

# ---------------------------------------------------------------------------------------------
# Node.js: the platform and better-sqlite3's native build use the `node` on PATH.
# ---------------------------------------------------------------------------------------------
check_node() {
  command -v node >/dev/null 2>&1 || die "Node.js >= 20 is required and 'node' is not on PATH. Install Node.js 20 or later (https://nodejs.org, or your system's package manager), then run this again."
  command -v npm >/dev/null 2>&1 || die "npm is required and not on PATH (it ships with Node.js; on Debian: apt-get install npm)."
  local version major
  version="$(node -p 'process.versions.node')"
  major="${version%%.*}"
  if [ "$major" -lt 20 ]; then
    die "Node.js >= 20 is required; found $version at $(command -v node). Install Node.js 20 or later and run this again."
  fi
  say "node $version ($(command -v node)), npm $(npm -v)"
}

# ---------------------------------------------------------------------------------------------
# System packages. Each entry: "<debian package>:<command that proves it is there, or empty>:<why>"
# ---------------------------------------------------------------------------------------------
SYSTEM_PACKAGES=(
  "nats-server:nats-server:the message bus the platform runs on"
  "chromium:chromium:headless browser for the editor and end-to-end tests"
  "libkrb5-dev::headers needed to build code-server (editor tests)"
  "ruby-sinatra::runtime for the sinatra sample app"
  "python3-flask::runtime for the flask sample app"
  "postgresql::PostgreSQL service instances (the platform runs its own server in its data dir)"
  "redis-server::Redis service instances (one redis-server per instance, in the data dir)"
  "mariadb-server::MySQL service instances (MariaDB; the platform runs its own server in its data dir)"
  "python3-redis::the Redis sample app's client library"
  "python3-psycopg2::PostgreSQL client library for Python apps"
  "rsync:rsync:reference tool in the push benchmark"
  "nginx:nginx:reference reverse proxy in the router benchmark"
  "wrk:wrk:HTTP load generator for the router benchmark"
  "hyperfine:hyperfine:command timing for benchmarks"
  "tar:tar:droplet archives"
  "gzip:gzip:droplet archives"
  "curl:curl:HTTP checks"
  "procps:ps:process inspection"
  "python3:python3:node-gyp, to build better-sqlite3 when no prebuilt binary can be fetched"
  "make:make:node-gyp build"
  "g++:g++:node-gyp build"
)

dpkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# nats-server may live in sbin dirs that are not on a non-root PATH.
have_nats_server() {
  command -v nats-server >/dev/null 2>&1 && return 0
  local p
  for p in /usr/sbin/nats-server /usr/bin/nats-server /usr/local/bin/nats-server /opt/homebrew/bin/nats-server \
           "${POCKET_NATS_SERVER:-/nonexistent}" "$NATS_CACHE_DIR/nats-server"; do
    [ -x "$p" ] && [ -f "$p" ] && return 0
  done
  return 1
}

package_present() {
  local pkg="$1" cmd="$2"
  if [ "$pkg" = nats-server ]; then have_nats_server && return 0; fi
  if command -v dpkg-query >/dev/null 2>&1 && dpkg_installed "$pkg"; then return 0; fi
  [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1
}

MISSING=()
collect_missing() {
  local entry pkg cmd
  for entry in "${SYSTEM_PACKAGES[@]}"; do
    IFS=: read -r pkg cmd _ <<<"$entry"
    package_present "$pkg" "$cmd" || MISSING+=("$pkg")
  done
}

why_of() {
  local entry pkg cmd why
  for entry in "${SYSTEM_PACKAGES[@]}"; do
    IFS=: read -r pkg cmd why <<<"$entry"
    [ "$pkg" = "$1" ] && { echo "$why"; return; }
  done
}

# Root, or sudo that works without a prompt (or with one when someone is at the terminal).
SUDO=""
can_install_debian() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; return 0; fi
  if command -v sudo >/dev/null 2>&1; then
    if sudo -n true 2>/dev/null || [ -t 0 ]; then SUDO="sudo"; return 0; fi
  fi
  return 1
}

install_debian_packages() {
  local pkgs=("$@") installed_nginx=0 added_policy=0 p services=()
  for p in "${pkgs[@]}"; do
    case "$p" in
      nginx) installed_nginx=1; services+=(nginx) ;;
      postgresql) services+=(postgresql) ;;
      redis-server) services+=(redis-server) ;;
      mariadb-server) services+=(mariadb) ;;
    esac
  done
  say "installing Debian packages: ${pkgs[*]}"
  say "running: ${SUDO:+$SUDO }apt-get update"
  $SUDO apt-get update -qq || warn "apt-get update failed; trying the install with the package lists already present"
  # Ubuntu ships Chromium as chromium-browser.
  if [[ " ${pkgs[*]} " == *" chromium "* ]] && ! apt-cache show chromium >/dev/null 2>&1 \
      && apt-cache show chromium-browser >/dev/null 2>&1; then
    pkgs=("${pkgs[@]/#chromium/chromium-browser}")
  fi
  # nginx is only a benchmark reference, and the database servers run as the platform's own processes
  # in its data dir: do not let their install start system services.
  if [ "${#services[@]}" -gt 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  say "running: ${SUDO:+$SUDO }apt-get install -y --no-install-recommends ${pkgs[*]}"
  local rc=0
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" || rc=$?
  [ "$added_policy" -eq 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
  for p in "${services[@]}"; do
    # The benchmark and the platform start their own servers with their own config; keep the system services off.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      $SUDO systemctl disable --now "$p" >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null 2>&1; then
      $SUDO update-rc.d "$p" disable >/dev/null 2>&1 || true
    fi
  done
  [ "$installed_nginx" -eq 1 ] && say "nginx installed for benchmarks only; its system service is left disabled"
  [ "${#services[@]}" -gt 0 ] && say "system services of ${services[*]} left disabled (the platform runs its own servers)"
  [ "$rc" -eq 0 ] || warn "apt-get install exited with $rc"
}

print_manual_install() {
  local p
  warn "these system packages are missing and this script cannot install them here:"
  for p in "$@"; do warn "  - $p: $(why_of "$p")"; done
  if command -v apt-get >/dev/null 2>&1; then
    warn "install them as root with:"
    warn "  apt-get update && apt-get install -y --no-install-recommends $*"
  elif command -v brew >/dev/null 2>&1; then
    warn "on macOS with Homebrew:"
    warn "  brew install nats-server rsync nginx wrk hyperfine && brew install --cask chromium"
    warn "  gem install sinatra && pip3 install flask"
  elif command -v dnf >/dev/null 2>&1; then
    warn "on Fedora/RHEL (nats-server is not packaged there; it is fetched below if reachable):"
    warn "  dnf install -y chromium krb5-devel rubygem-sinatra python3-flask rsync nginx wrk hyperfine tar gzip curl procps-ng python3 make gcc-c++"
  else
    warn "install with your system's package manager: nats-server (https://github.com/nats-io/nats-server/releases),"
    warn "  chromium, Kerberos development headers (gssapi.h), ruby with sinatra, python3 with flask, rsync, nginx, wrk,"
    warn "  hyperfine, tar, gzip, curl, procps, python3, make and a C++ compiler"
  fi
}

ensure_system_packages() {
  collect_missing
  if [ "${#MISSING[@]}" -eq 0 ]; then
    say "system packages: all present"
    return
  fi
  if can_install_debian; then
    install_debian_packages "${MISSING[@]}"
    MISSING=()
    collect_missing
    [ "${#MISSING[@]}" -eq 0 ] && { say "system packages: all present"; return; }
  fi
  print_manual_install "${MISSING[@]}"
}

# ---------------------------------------------------------------------------------------------
# npm dependencies and the build
# ---------------------------------------------------------------------------------------------
ensure_node_modules() {
  # node-gyp must build against the running Node's own headers when they are installed beside it,
  # instead of downloading them (which needs more than the npm registry).
  if [ -z "${npm_config_nodedir:-}" ] && [ -z "$(npm config get nodedir 2>/dev/null | grep -v '^undefined$' || true)" ]; then
    local prefix
    prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
    if [ -f "$prefix/include/node/common.gypi" ]; then
      export npm_config_nodedir="$prefix"
      say "native modules build against $prefix/include/node"
    fi
  fi
  # better-sqlite3 compiles from source where its prebuilt binary cannot be downloaded (minutes): keep
  # this machine's build as a local prebuild, which its installer (prebuild-install) picks up next time.
  local prebuild_name=""
  prebuild_name="$(sqlite_prebuild_name || true)"
  if [ -n "$prebuild_name" ] && [ -z "${npm_config_better_sqlite3_local_prebuilds:-}" ]; then
    export npm_config_better_sqlite3_local_prebuilds="$CACHE_DIR/prebuilds"
  fi
  export JOBS="${JOBS:-max}"  # node-gyp: compile with every core when it does build
  if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    if [ -n "$prebuild_name" ] && [ -f "${npm_config_better_sqlite3_local_prebuilds:-/nonexistent}/$prebuild_name" ]; then
      say "better-sqlite3: installing this machine's earlier build ($npm_config_better_sqlite3_local_prebuilds/$prebuild_name)"
    fi
    say "running: npm ci (node_modules missing or older than package-lock.json)"
    npm ci --no-audit --no-fund
  else
    say "node_modules: up to date with package-lock.json"
  fi
  # A Node upgrade since the install leaves better-sqlite3 built for another ABI: rebuild it.
  if ! node -e "new (require('better-sqlite3'))(':memory:').close()" >/dev/null 2>&1; then
    say "running: npm rebuild better-sqlite3 (native module does not load on node $(node -v))"
    npm rebuild better-sqlite3
    node -e "new (require('better-sqlite3'))(':memory:').close()" \
      || die "better-sqlite3 does not load on node $(node -v) even after a rebuild; see the output above (python3, make and g++ are needed to build it)."
  fi
  save_sqlite_prebuild "$prebuild_name"
}

# The file name prebuild-install looks for: better-sqlite3-v<version>-node-v<abi>-<platform><libc>-<arch>.tar.gz
sqlite_prebuild_name() {
  node -e '
    const lock = require("./package-lock.json");
    const v = (lock.packages && lock.packages["node_modules/better-sqlite3"] || {}).version;
    if (!v) process.exit(1);
    const glibc = process.platform !== "linux" || Boolean(process.report.getReport().header.glibcVersionRuntime);
    console.log(`better-sqlite3-v${v}-node-v${process.versions.modules}-${process.platform}${glibc ? "" : "musl"}-${process.arch}.tar.gz`);
  '
}

save_sqlite_prebuild() {
  local name="$1" dir="$CACHE_DIR/prebuilds" tmp
  [ -n "$name" ] && [ ! -f "$dir/$name" ] || return 0
  [ -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ] || return 0
  mkdir -p "$dir"
  tmp="$dir/.$name.$$.tmp"
  if tar -czf "$tmp" -C node_modules/better-sqlite3 build/Release/better_sqlite3.node; then
    mv "$tmp" "$dir/$name"
    say "better-sqlite3: kept this build for later installs ($dir/$name)"
  else
    rm -f "$tmp"
  fi
}

# nats-memory-server's own download, into the cache dir that platform/bus/server.ts searches.
ensure_nats_server() {
  if have_nats_server; then
    local bin
    bin="$(command -v nats-server 2>/dev/null || true)"
    for p in /usr/sbin/nats-server /usr/bin/nats-server /usr/local/bin/nats-server /opt/homebrew/bin/nats-server \
             "${POCKET_NATS_SERVER:-/nonexistent}" "$NATS_CACHE_DIR/nats-server"; do
      [ -n "$bin" ] && break
      [ -x "$p" ] && [ -f "$p" ] && bin="$p"
    done
    say "nats-server: $bin ($("$bin" --version 2>/dev/null || echo 'version unknown'))"
    return
  fi
  say "nats-server is not installed: fetching it with nats-memory-server's downloader into $NATS_CACHE_DIR"
  local tmp
  tmp="$(mktemp -d)"
  mkdir -p "$CACHE_DIR"
  rm -rf "$NATS_CACHE_DIR"  # the downloader skips an existing (possibly partial) dir
  printf '{"name":"pocket-foundry-nats-download","private":true,"natsMemoryServer":{"download":true,"downloadDir":"%s"}}\n' \
    "$NATS_CACHE_DIR" >"$tmp/package.json"
  if (cd "$tmp" && node "$ROOT/node_modules/nats-memory-server/dist/scripts/download.js"); then
    rm -rf "$tmp"
  else
    rm -rf "$tmp"
    die "nats-server is missing and could not be downloaded. Install it (Debian/Ubuntu: apt-get install nats-server; macOS: brew install nats-server; or a release from https://github.com/nats-io/nats-server/releases) or set POCKET_NATS_SERVER to its path, then run this again."
  fi
  [ -x "$NATS_CACHE_DIR/nats-server" ] || die "the download finished but $NATS_CACHE_DIR/nats-server is not there"
  say "nats-server: $NATS_CACHE_DIR/nats-server"
}

build() {
  if [ ! -f platform/cli.ts ]; then
    warn "platform/cli.ts does not exist yet: skipping the build"
    return
  fi
  say "running: npm run build"
  npm run --silent build
}

ensure_editor_cache() {
  [ "$WITH_EDITOR" -eq 1 ] || return 0
  if [ -f scripts/install-code-server.sh ]; then
    say "running: bash scripts/install-code-server.sh (editor cache)"
    bash scripts/install-code-server.sh
  else
    say "editor cache: scripts/install-code-server.sh not present, nothing to prepare"
  fi
}

main() {
  check_node
  ensure_system_packages
  ensure_node_modules
  ensure_nats_server
  build
  ensure_editor_cache
  say "done in $((SECONDS - START_SECONDS)) s"
}

# Sourcing the file (to try one step) defines the functions without running them.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main; fi
