#!/usr/bin/env bash
# Install what the staging console's browser test needs (tests/api/console.rs).
#
#   tests/console/install.sh DEST
#
# Creates (or reuses)
#   DEST/node/node_modules   `npm ci` of package.json + package-lock.json (puppeteer-core@24.9.0,
#                            which downloads no browser)
# makes sure Debian's Chromium is installed (`apt-get install chromium` when missing and root),
# and prints, on stdout, exactly two lines:
#   OTPD_CONSOLE_NODE_PATH=DEST/node/node_modules
#   OTPD_CONSOLE_CHROMIUM=/usr/bin/chromium
# Everything else goes to stderr.
#
# Idempotent and fast when already installed: npm is skipped when a stamp file records the
# same inputs (lock hash, node version). Concurrent runs on the same DEST are serialised
# with flock (apt has its own lock).
#
# Env: NPM (default npm), CHROMIUM (default: chromium on PATH, else /usr/bin/chromium).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
DEST="$(cd "$1" && pwd)"
NPM="${NPM:-npm}"

log() { echo "console install: $*" >&2; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

if command -v flock >/dev/null 2>&1; then
    exec 9>"$DEST/.install.lock"
    flock 9
fi

# -------------------------------------------------------------- Chromium ----
CHROMIUM="${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"
if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian's chromium (apt-get)"
        { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
            || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; } >&2
        CHROMIUM="$(command -v chromium || echo /usr/bin/chromium)"
    fi
fi
if [ ! -x "$CHROMIUM" ]; then
    log "chromium not found; install Debian's chromium package (apt-get install chromium)"
    exit 1
fi
log "$("$CHROMIUM" --version 2>/dev/null || echo "chromium at $CHROMIUM")"

# ------------------------------------------------------------------ Node ----
NODE_DIR="$DEST/node"
NODE_STAMP_WANT="$(hash_of "$HERE/package.json" "$HERE/package-lock.json") $(node --version)"
NODE_STAMP_FILE="$NODE_DIR/.otpd-console-stamp"
if [ -f "$NODE_DIR/node_modules/puppeteer-core/package.json" ] && [ -f "$NODE_STAMP_FILE" ] \
    && [ "$(cat "$NODE_STAMP_FILE")" = "$NODE_STAMP_WANT" ]; then
    log "node modules up to date: $NODE_DIR/node_modules"
else
    log "installing node modules at $NODE_DIR"
    mkdir -p "$NODE_DIR"
    rm -f "$NODE_STAMP_FILE"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
    (cd "$NODE_DIR" && "$NPM" ci --no-audit --no-fund --loglevel=error >&2)
    log "puppeteer-core $(node -p 'require(process.argv[1]).version' "$NODE_DIR/node_modules/puppeteer-core/package.json")"
    echo "$NODE_STAMP_WANT" >"$NODE_STAMP_FILE"
fi

echo "OTPD_CONSOLE_NODE_PATH=$NODE_DIR/node_modules"
echo "OTPD_CONSOLE_CHROMIUM=$CHROMIUM"
