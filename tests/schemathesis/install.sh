#!/usr/bin/env bash
# Install the pinned schemathesis used by the OpenAPI fuzz test (tests/api/schemathesis.rs):
#
#   tests/schemathesis/install.sh DEST
#
# Creates (or reuses) DEST/venv with requirements.txt installed (schemathesis==4.32.5) and
# prints, on stdout, exactly one line:
#   OTPD_SCHEMATHESIS=DEST/venv/bin/st
# Everything else goes to stderr. Idempotent and fast when already installed (a stamp file
# records the requirements hash and interpreter version); serialised with flock.
#
# Env: PYTHON (default python3).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
DEST="$(cd "$1" && pwd)"
PYTHON="${PYTHON:-python3}"

log() { echo "schemathesis install: $*" >&2; }

if command -v flock >/dev/null 2>&1; then
    exec 9>"$DEST/.install.lock"
    flock 9
fi

VENV="$DEST/venv"
STAMP_WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
STAMP_FILE="$VENV/.otpd-stamp"
if [ -x "$VENV/bin/st" ] && [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP_WANT" ]; then
    log "venv up to date: $VENV"
else
    log "creating venv at $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$HERE/requirements.txt" >&2
    log "$("$VENV/bin/st" --version)"
    echo "$STAMP_WANT" >"$STAMP_FILE"
fi

echo "OTPD_SCHEMATHESIS=$VENV/bin/st"
