#!/usr/bin/env bash
# Fuzzes the daemon with cargo fuzz (libFuzzer, no sanitizer: stable Rust):
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# runs each target (default: all four) for SECONDS (default 60), growing fuzz/corpus/<target>
# from fuzz/seeds/<target>, then minimizes the corpus. A crash is left in
# fuzz/artifacts/<target>/ and makes the script fail; once fixed, move its input into
# fuzz/regressions/<target>/, where the unit tests replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(api_request upstream_answer config state_file)

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi
cd fuzz
log "building the fuzz targets"
cargo fuzz build --sanitizer none

failed=0
summary=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log "fuzzing $target for $seconds s"
    output=$(cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 2>&1) || {
        failed=1
        echo "$output" | grep -E "panicked|SUMMARY|Test unit written" >&2 || echo "$output" | tail -30 >&2
    }
    runs=$(echo "$output" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
    cargo fuzz cmin --sanitizer none "$target" "corpus/$target" >/dev/null 2>&1 || true
    files=$(find "corpus/$target" -type f | wc -l)
    summary+=("$(printf '%-16s %10s executions in %4s s, corpus %5s inputs, crashes %s' \
        "$target" "${runs:-?}" "$seconds" "$files" "$(find "artifacts/$target" -type f | wc -l)")")
done
printf '%s\n' "${summary[@]}"
exit $failed
