#!/usr/bin/env bash
# The performance figures (README, Performance): builds in release mode and runs the bench
# binary against the fake Cognito. `scripts/bench.sh --quick` for a short smoke run. Prints
# one table of figures, goals and whether they hold; exits non-zero when a goal fails (see
# tests/src/bin/bench/main.rs for which do, and how a ratio's noise is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_moto
bash scripts/build-release.sh
exec target/release/bench "$@"
