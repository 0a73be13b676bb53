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
# The floor linked statically too, as cognitoctl is: shown beside the goal's (plain) floor.
case "$(rustc --print host-tuple)" in
*-linux-gnu)
    rustc --edition 2024 -C opt-level=3 -C panic=abort -C codegen-units=1 -C strip=symbols \
        -C target-feature=+crt-static tests/src/bin/bench-floor.rs \
        -o target/release/bench-floor-static ||
        echo "bench: no static floor (static linking failed)" >&2
    ;;
esac
exec target/release/bench "$@"
