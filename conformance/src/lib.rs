//! crew-conformance: holds crew's real multi-process runtime to crew-model.
//!
//! - [`script`]: what a puppet can be told to do (including faults) and what it reports.
//! - [`puppet`]: the puppet worker (started through the real runtime).
//! - [`scenario`]: the steps and the reference state machine that generates them.
//! - [`harness`]: the system under test: a real cluster, driven and observed step by step.
//! - [`oracle`]: the one call into crew-model's checker; canonical traces; coverage.
//! - [`machine`]: the proptest-state-machine test and its runner.
//! - [`mutate`]: faults applied to real traces (the self-test: the checker must reject them).
//! - [`soak`]: long runs under random SIGKILLs.
#![forbid(unsafe_code)]

pub mod harness;
pub mod machine;
pub mod mutate;
pub mod oracle;
pub mod puppet;
pub mod scenario;
pub mod script;
pub mod soak;
