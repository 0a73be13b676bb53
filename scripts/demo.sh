#!/usr/bin/env bash
# The demo: a local Cognito emulator (moto), cognitod, an SRP sign-in with cognitoctl, the
# current user, the session and AWS credentials (read by the AWS CLI through
# credential_process), then sign-out. Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_moto
ensure_browser
log "building cognitod and cognitoctl"
cargo build --quiet --workspace --bins
export PATH="$PWD/target/debug:$PATH"

demo=$(mktemp -d "${TMPDIR:-/tmp}/cognitod-demo.XXXXXX")
chmod 700 "$demo"
MOTO_PID= DAEMON_PID= FAKE_PID= BROWSER_DAEMON_PID=
cleanup() {
    stop_pid "$BROWSER_DAEMON_PID"
    stop_pid "$FAKE_PID"
    stop_pid "$DAEMON_PID"
    stop_pid "$MOTO_PID"
    rm -rf "$demo"
}
trap cleanup EXIT
start_moto "$demo/moto.log"

password='Demo-Passw0rd!'
log "creating a user pool, an app client and the user 'alice' in moto"
printf '%s\n' "$password" | testbed provision "$MOTO_ENDPOINT" "$demo" alice

cognitod --config "$demo/config.toml" --check-config >/dev/null
# Starts cognitod with config $1, logging to $2; sets COGNITOD_SOCKET ($3) and STARTED_PID.
start_daemon() {
    cognitod --config "$1" 2>"$2" &
    STARTED_PID=$!
    export COGNITOD_SOCKET="$3"
    for _ in $(seq 1 100); do
        [ -S "$COGNITOD_SOCKET" ] && break
        sleep 0.1
    done
}
start_daemon "$demo/config.toml" "$demo/cognitod.log" "$demo/run/socket"
DAEMON_PID=$STARTED_PID

run() {
    printf '\n$ %s\n' "$*"
    "$@" || printf '(exit status %s)\n' "$?"
}
run cognitoctl status
printf '\n$ cognitoctl login alice --password-stdin   # SRP: the password never leaves this machine\n'
printf '%s\n' "$password" | cognitoctl login alice --password-stdin
run cognitoctl whoami
run cognitoctl whoami --json
run cognitoctl session
printf '\n$ cognitoctl session --json   # tokens shortened here\n'
cognitoctl session --json | sed -E 's/(eyJ[A-Za-z0-9_-]{12})[A-Za-z0-9_.-]+/\1.../g'
run cognitoctl status
printf '\n$ cognitoctl token access | cut -d. -f2 | base64 -d   # the claims\n'
cognitoctl token access | cut -d. -f2 | tr '_-' '/+' | { base64 -d 2>/dev/null || true; }
echo
run cognitoctl credentials
printf '\n$ aws sts get-caller-identity --profile cognitod   # credential_process = cognitoctl credential-process\n'
printf '[profile cognitod]\nregion = us-east-1\ncredential_process = %s --socket %s credential-process\n' \
    "$(command -v cognitoctl)" "$COGNITOD_SOCKET" >"$demo/aws-config"
AWS_CONFIG_FILE="$demo/aws-config" AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    "$VENV/bin/aws" sts get-caller-identity --profile cognitod --endpoint-url "$MOTO_ENDPOINT" --output json \
    || printf '(exit status %s)\n' "$?"
# GlobalSignOut (moto has no RevokeToken, which a plain logout uses).
run cognitoctl logout --global
run cognitoctl session
echo
log "what cognitod logged (no secret ever appears here):"
cat "$demo/cognitod.log" >&2

# The browser sign-in: moto has no managed login, so the project's fake Cognito serves one,
# with an external provider (TestIdP); a headless Chromium is the browser ($BROWSER).
log "browser sign-in: the project's fake Cognito with a managed login, and headless Chromium"
mkdir -p "$demo/browser"
coproc FAKE { testbed managed-login "$demo/browser"; }
FAKE_PID=$FAKE_PID
read -r ready <&"${FAKE[0]}"
log "$ready"
start_daemon "$demo/browser/config.toml" "$demo/browser/cognitod.log" "$demo/browser/run/socket"
BROWSER_DAEMON_PID=$STARTED_PID
export BROWSER="$PWD/target/debug/testbed browse" TESTBED_BROWSER_LOG="$demo/browser/browser.log"
run cognitoctl login --browser
browser_log() { # what the browser did, once its tab has its last page
    for _ in $(seq 1 50); do
        grep -q 'the tab now says' "$TESTBED_BROWSER_LOG" 2>/dev/null && break
        sleep 0.2
    done
    cat "$TESTBED_BROWSER_LOG"
}
browser_log
run cognitoctl whoami --json
run cognitoctl credentials
: >"$TESTBED_BROWSER_LOG"
printf '\n$ cognitoctl logout   # also opens the managed login'"'"'s /logout, so the browser forgets the sign-in\n'
cognitoctl logout || printf '(exit status %s)\n' "$?"
browser_log
echo
log "what this cognitod logged:"
cat "$demo/browser/cognitod.log" >&2
