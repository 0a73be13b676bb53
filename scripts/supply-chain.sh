#!/usr/bin/env bash
# The dependency policy (deny.toml) with cargo-deny: RustSec advisories, licenses, sources
# (crates.io only) and duplicate versions (reported).
#   scripts/supply-chain.sh          offline, against a snapshot of the advisory database when
#                                    there is one (COGNITOD_ADVISORY_DB, else
#                                    ../shared/supply-chain/advisory-db.tar.gz); without one the
#                                    advisory check is skipped, and says so
#   scripts/supply-chain.sh --fetch  fetches the current advisory database first
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

CARGO_DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
    log "installing cargo-deny $CARGO_DENY_VERSION (a few minutes, once)"
    cargo install --quiet --locked "cargo-deny@$CARGO_DENY_VERSION"
fi

# cargo-deny keeps the database under db-path in a folder named for its URL.
db_dir=target/advisory-dbs/advisory-db-3157b0e258782691
metadata=target/deny-metadata.json
mkdir -p target
# The crate graph of every target platform (crates.io is reachable; the check itself is not).
cargo metadata --format-version 1 --locked >"$metadata"

if [ "${1:-}" = --fetch ]; then
    log "checking with a freshly fetched advisory database"
    exec cargo deny --metadata-path "$metadata" check
fi

snapshot=${COGNITOD_ADVISORY_DB:-}
if [ -z "$snapshot" ]; then
    for candidate in ../shared/supply-chain/advisory-db.tar.gz /work/shared/supply-chain/advisory-db.tar.gz; do
        [ -f "$candidate" ] && snapshot=$candidate && break
    done
fi
if [ -n "$snapshot" ] && [ -f "$snapshot" ]; then
    rm -rf "$db_dir" && mkdir -p "$db_dir"
    tar xzf "$snapshot" -C "$db_dir" --strip-components=1
    version_file="$(dirname "$snapshot")/advisory-db.version"
    log "advisory database: the snapshot $snapshot ($(cat "$version_file" 2>/dev/null || echo 'version unknown'))"
    cargo deny --metadata-path "$metadata" --offline check
else
    log "NO ADVISORY CHECK: no advisory database snapshot here and none is fetched offline;"
    log "run scripts/supply-chain.sh --fetch on a machine that reaches GitHub"
    cargo deny --metadata-path "$metadata" --offline check bans licenses sources
fi
