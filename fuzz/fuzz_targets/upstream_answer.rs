//! `cargo fuzz run upstream_answer`: see `cognitod::fuzzing::upstream_answer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cognitod::fuzzing::upstream_answer(data));
