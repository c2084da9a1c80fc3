//! Raw bytes into the frame decoder, split and stopped at fuzzer-chosen points; see
//! `crew::wire::fuzzing::decoder_raw` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crew::wire::fuzzing::decoder_raw(data));
