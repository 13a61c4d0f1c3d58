#!/usr/bin/env bash
# Install the pinned official Stytch SDKs used by the SDK compatibility test.
#
#   tests/sdk/install.sh DEST
#
# Creates (or reuses)
#   DEST/venv                the Python venv with requirements.txt installed (stytch==15.3.0)
#   DEST/node/node_modules   `npm ci` of package.json + package-lock.json (stytch@14.2.0)
# and prints, on stdout, exactly two lines:
#   OTPD_SDK_PYTHON=DEST/venv/bin/python
#   OTPD_SDK_NODE_PATH=DEST/node/node_modules
# Everything else goes to stderr.
#
# Idempotent and fast when already installed: each half is skipped when a stamp
# file records the same inputs (requirements/lock hash, interpreter version).
# Concurrent runs on the same DEST are serialised with flock.
#
# Env: PYTHON (default python3), NPM (default npm).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
DEST="$(cd "$1" && pwd)"
PYTHON="${PYTHON:-python3}"
NPM="${NPM:-npm}"

log() { echo "sdk install: $*" >&2; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Serialise concurrent installers on the same DEST (flock is in util-linux;
# if it is missing we just go ahead).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DEST/.install.lock"
    flock 9
fi

# ---------------------------------------------------------------- Python ----
VENV="$DEST/venv"
PY_STAMP_WANT="$(hash_of "$HERE/requirements.txt") $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
PY_STAMP_FILE="$VENV/.otpd-sdk-stamp"
if [ -x "$VENV/bin/python" ] && [ -f "$PY_STAMP_FILE" ] && [ "$(cat "$PY_STAMP_FILE")" = "$PY_STAMP_WANT" ]; then
    log "python venv up to date: $VENV"
else
    log "creating python venv at $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$HERE/requirements.txt" >&2
    "$VENV/bin/python" -c 'import stytch, stytch.version; print("sdk install: python stytch", stytch.version.__version__)' >&2
    echo "$PY_STAMP_WANT" >"$PY_STAMP_FILE"
fi

# ------------------------------------------------------------------ Node ----
NODE_DIR="$DEST/node"
NODE_STAMP_WANT="$(hash_of "$HERE/package.json" "$HERE/package-lock.json") $(node --version)"
NODE_STAMP_FILE="$NODE_DIR/.otpd-sdk-stamp"
if [ -f "$NODE_DIR/node_modules/stytch/package.json" ] && [ -f "$NODE_STAMP_FILE" ] \
    && [ "$(cat "$NODE_STAMP_FILE")" = "$NODE_STAMP_WANT" ]; then
    log "node modules up to date: $NODE_DIR/node_modules"
else
    log "installing node modules at $NODE_DIR"
    mkdir -p "$NODE_DIR"
    rm -f "$NODE_STAMP_FILE"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
    (cd "$NODE_DIR" && "$NPM" ci --no-audit --no-fund --loglevel=error >&2)
    log "node stytch $(node -p 'require(process.argv[1]).version' "$NODE_DIR/node_modules/stytch/package.json")"
    echo "$NODE_STAMP_WANT" >"$NODE_STAMP_FILE"
fi

echo "OTPD_SDK_PYTHON=$VENV/bin/python"
echo "OTPD_SDK_NODE_PATH=$NODE_DIR/node_modules"
