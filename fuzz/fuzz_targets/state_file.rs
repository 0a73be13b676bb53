//! `cargo fuzz run state_file`: see `cognitod::fuzzing::state_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cognitod::fuzzing::state_file(data));
