#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wshub::fuzzing::http_head(data));
