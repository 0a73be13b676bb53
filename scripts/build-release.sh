#!/usr/bin/env bash
# The release binaries, in target/release. On a glibc host cognitoctl is linked statically:
# the AWS CLI and SDKs exec it for every command, and a static binary skips the dynamic
# loader, about a fifth of its cost (README, Performance). It makes no NSS lookups (users,
# hosts), the one thing static glibc cannot do alone; a test checks that it imports none.
# Where static linking is not possible (no libc.a), it stays dynamic, with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
ctl=target/release/cognitoctl
dynamic() { readelf -lW "$ctl" | grep INTERP >/dev/null; }
case "$(rustc --print host-tuple)" in
*-linux-gnu)
    # cargo may count a dynamic build as fresh for the static one: make it link again.
    if dynamic; then
        touch client/src/main.rs
    fi
    if ! cargo rustc --release -p cognitod-client --bin cognitoctl -- -C target-feature=+crt-static; then
        cargo build --release -p cognitod-client --bin cognitoctl
    fi
    if dynamic; then
        echo "build-release: cognitoctl could not be linked statically here (is glibc's libc.a installed?); it is dynamic, about a fifth slower to start" >&2
    fi
    ;;
esac
