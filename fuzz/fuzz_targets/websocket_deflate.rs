#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wshub::fuzzing::websocket_deflate(data));
