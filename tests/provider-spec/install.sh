#!/usr/bin/env bash
# Install the pinned oracles used by the provider tests (tests/api/providers.rs, webhooks.rs):
#
#   tests/provider-spec/install.sh DEST
#
# Creates (or reuses)
#   DEST/node_modules          `npm ci` of package.json + package-lock.json
#                              (@stoplight/prism-cli@5.14.2, twilio@6.2.0)
#   DEST/twilio_api_v2010.json Twilio's OpenAPI description, from the npm package
#                              @twilio/cli-core@8.3.2 (fetched with `npm pack`, no deps; sha256 checked)
# and prints, on stdout, exactly three lines:
#   OTPD_PRISM=DEST/node_modules/.bin/prism
#   OTPD_TWILIO_SPEC=DEST/twilio_api_v2010.json
#   OTPD_PROVIDER_NODE_PATH=DEST/node_modules
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
CLI_CORE="@twilio/cli-core@8.3.2"
SPEC_SHA256="7f123267c8dd60bd5412ed723cc021f0e58d52b635e8fad41f72c4a3dda9e77e"

log() { echo "provider-spec install: $*" >&2; }

if command -v flock >/dev/null 2>&1; then
    exec 9>"$DEST/.install.lock"
    flock 9
fi

STAMP_WANT="$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1) $SPEC_SHA256 $(node --version)"
STAMP_FILE="$DEST/.otpd-provider-spec-stamp"
if [ -x "$DEST/node_modules/.bin/prism" ] && [ -f "$DEST/twilio_api_v2010.json" ] \
    && [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP_WANT" ]; then
    log "up to date: $DEST"
else
    log "installing at $DEST"
    rm -f "$STAMP_FILE"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$DEST/"
    (cd "$DEST" && "$NPM" ci --no-audit --no-fund --loglevel=error >&2)
    tmp="$(mktemp -d)"
    (cd "$tmp" && "$NPM" pack "$CLI_CORE" --loglevel=error >/dev/null \
        && tar xzf twilio-cli-core-*.tgz package/src/services/twilio-api/twilio_api_v2010.json)
    got="$(sha256sum "$tmp/package/src/services/twilio-api/twilio_api_v2010.json" | cut -d' ' -f1)"
    if [ "$got" != "$SPEC_SHA256" ]; then
        echo "provider-spec install: twilio_api_v2010.json sha256 $got, expected $SPEC_SHA256" >&2
        exit 1
    fi
    mv "$tmp/package/src/services/twilio-api/twilio_api_v2010.json" "$DEST/twilio_api_v2010.json"
    rm -rf "$tmp"
    echo "$STAMP_WANT" >"$STAMP_FILE"
fi

echo "OTPD_PRISM=$DEST/node_modules/.bin/prism"
echo "OTPD_TWILIO_SPEC=$DEST/twilio_api_v2010.json"
echo "OTPD_PROVIDER_NODE_PATH=$DEST/node_modules"
