#!/usr/bin/env bash
# Install what the real-browser test (tests/api/browser.rs) needs:
#
#   tests/browser/install.sh DEST
#
# Creates (or reuses)
#   DEST/node_modules   `npm ci` of package.json + package-lock.json
#                       (@stytch/vanilla-js@6.3.0, puppeteer-core@24.9.0)
# and makes sure Debian's `chromium` and `certutil` (package libnss3-tools, used to trust
# the test's throw-away CA in a private NSS database) are installed: when one is missing
# and we run as root with apt-get, it installs them from Debian. Nothing downloads a
# browser of its own (puppeteer-core never does). Prints, on stdout, exactly two lines:
#   OTPD_BROWSER_NODE_PATH=DEST/node_modules
#   OTPD_CHROMIUM=/usr/bin/chromium
# Everything else goes to stderr. Idempotent (stamp file), serialised with flock.
#
# Env: NPM (default npm).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
DEST="$(cd "$1" && pwd)"
NPM="${NPM:-npm}"
CHROMIUM=/usr/bin/chromium

log() { echo "browser install: $*" >&2; }

if command -v flock >/dev/null 2>&1; then
    exec 9>"$DEST/.install.lock"
    flock 9
fi

# ------------------------------------------------------- Debian packages ----
if [ ! -x "$CHROMIUM" ] || ! command -v certutil >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian packages chromium libnss3-tools (about a minute)"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y -q --no-install-recommends chromium libnss3-tools \
            || { apt-get update -q && apt-get install -y -q --no-install-recommends chromium libnss3-tools; }; } >&2
    fi
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "browser install: $CHROMIUM not found; install the Debian package chromium" >&2
    exit 1
fi
if ! command -v certutil >/dev/null 2>&1; then
    echo "browser install: certutil not found; install the Debian package libnss3-tools" >&2
    exit 1
fi

# ------------------------------------------------------------------ Node ----
STAMP_WANT="$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1) $(node --version)"
STAMP_FILE="$DEST/.otpd-browser-stamp"
if [ -f "$DEST/node_modules/@stytch/vanilla-js/package.json" ] \
    && [ -f "$DEST/node_modules/puppeteer-core/package.json" ] \
    && [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP_WANT" ]; then
    log "node modules up to date: $DEST/node_modules"
else
    log "installing node modules at $DEST"
    rm -f "$STAMP_FILE"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$DEST/"
    (cd "$DEST" && PUPPETEER_SKIP_DOWNLOAD=1 "$NPM" ci --no-audit --no-fund --loglevel=error >&2)
    echo "$STAMP_WANT" >"$STAMP_FILE"
fi

echo "OTPD_BROWSER_NODE_PATH=$DEST/node_modules"
echo "OTPD_CHROMIUM=$CHROMIUM"
