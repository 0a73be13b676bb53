#!/usr/bin/env bash
# The adversarial suite at full length (README, Reliability and security):
#   scripts/adversarial.sh [FUZZ_SECONDS_PER_TARGET] [KILL_CYCLES]
# runs tests/tests/adversarial.rs with KILL_CYCLES (default 200) kill -9 cycles and its figures
# printed, then every fuzz target for FUZZ_SECONDS_PER_TARGET (default 300). scripts/test.sh
# runs the same tests with 20 cycles and replays the fuzz corpus, without fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

fuzz_seconds=${1:-300}
cycles=${2:-200}
ensure_test_tools
cargo build --workspace --bins
log "adversarial tests, $cycles kill -9 cycles"
COGNITOD_KILL_CYCLES=$cycles cargo test -p cognitod-tests --test adversarial -- \
    --nocapture --test-threads 1 2>&1 | grep -E '^(test |[0-9]|500 |64 |10,000|cycle )|: (Some|None)\(|panicked'
log "fuzzing, $fuzz_seconds s per target"
exec scripts/fuzz.sh "$fuzz_seconds"
