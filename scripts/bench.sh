#!/usr/bin/env bash
# The performance figures (README, Performance): builds in release mode and runs the bench
# binary against the fake Cognito. `scripts/bench.sh --quick` for a short smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_moto
bash scripts/build-release.sh
exec target/release/bench "$@"
