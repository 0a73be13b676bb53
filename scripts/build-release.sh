#!/usr/bin/env bash
# The release binaries, in target/release. On a glibc host cognitoctl is linked statically:
# the AWS CLI and SDKs exec it for every command, and a static binary skips the dynamic
# loader, about a third of its cost (README, Performance). It makes no NSS lookups (users,
# hosts), the one thing static glibc cannot do alone; the linker says so when a change brings
# one in, and `-D linker-messages` makes that an error.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
if rustc -vV | grep -q '^host: .*-linux-gnu$'; then
    cargo rustc --release -p cognitod-client --bin cognitoctl -- \
        -C target-feature=+crt-static -D linker-messages
fi
