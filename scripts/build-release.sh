#!/usr/bin/env bash
# The release binaries, in target/release. On a glibc host cognitoctl is linked statically:
# the AWS CLI and SDKs exec it for every command, and a static binary skips the dynamic
# loader, about a fifth of its cost (README, Performance). It makes no NSS lookups (users,
# hosts), the one thing static glibc cannot do alone; a test checks that it imports none.
# Where static linking is not possible (no libc.a), it stays dynamic, with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
if rustc -vV | grep -q '^host: .*-linux-gnu$'; then
    ctl=target/release/cognitoctl
    # cargo may count a dynamic build as fresh for the static one: make it link again.
    if readelf -lW "$ctl" | grep -q INTERP; then
        touch client/src/main.rs
    fi
    if ! cargo rustc --release -p cognitod-client --bin cognitoctl -- -C target-feature=+crt-static; then
        echo "build-release: cognitoctl cannot be linked statically here (is glibc's libc.a installed?); it stays dynamic" >&2
        cargo build --release -p cognitod-client --bin cognitoctl
    fi
fi
