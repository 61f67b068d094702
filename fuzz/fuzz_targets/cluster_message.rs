#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wshub::fuzzing::cluster_message(data));
