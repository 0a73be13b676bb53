#!/usr/bin/env bash
# The test suite: unit tests, and the real cognitod and cognitoctl binaries against moto (which
# this script installs into .venv and starts on 127.0.0.1) and against a closed port.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_moto
ensure_test_tools
ensure_container_root
log "building the binaries"
cargo build --workspace --bins

work=$(mktemp -d)
MOTO_PID=
trap 'stop_pid "$MOTO_PID"; rm -rf "$work"' EXIT
start_moto "$work/moto.log"

export COGNITOD_TEST_MOTO="$MOTO_ENDPOINT"
export MOTO_SERVER="$VENV/bin/moto_server"
# The secret sweep: daemons log at trace level into $sweep, the fakes list every secret they
# saw, and afterwards no log, standard error or test output may hold any of them.
sweep="$work/sweep"
mkdir -p "$sweep"
export COGNITOD_TEST_SECRET_SWEEP="$sweep"
log "running the tests"
cargo test --workspace "$@" 2>&1 | tee "$sweep/cargo-test.log"
log "sweeping the logs for secrets"
cargo run --quiet -p cognitod-tests --bin sweep -- "$sweep"
