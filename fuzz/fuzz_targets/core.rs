//! The primary's protocol core fed input events drawn from the fuzzer's bytes; see
//! `crew::protocol::fuzzing::core` for what it checks (legal actions and events, and the
//! recorded trace against crew-model).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crew::protocol::fuzzing::core(data));
