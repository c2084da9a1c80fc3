//! Traces drawn from the fuzzer's bytes (biased toward legal runs) into crew-model's checker,
//! state machine, JSON-lines format and table; see `crew_model::fuzzing::checker` for what it
//! checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crew_model::fuzzing::checker(data));
