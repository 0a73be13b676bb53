//! `cargo fuzz run api_request`: see `cognitod::fuzzing::api_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cognitod::fuzzing::api_request(data));
