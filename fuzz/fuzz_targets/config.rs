//! `cargo fuzz run config`: see `cognitod::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cognitod::fuzzing::config(data));
