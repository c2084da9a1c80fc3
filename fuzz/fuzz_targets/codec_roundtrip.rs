//! Messages drawn from the fuzzer's bytes, encoded, re-chunked and decoded back; see
//! `crew::wire::fuzzing::codec_roundtrip` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crew::wire::fuzzing::codec_roundtrip(data));
