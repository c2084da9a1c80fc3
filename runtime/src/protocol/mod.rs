//! The sans-IO protocol core: the primary's and the worker's logic as state machines that take
//! events in and hand actions out, with no syscalls. The OS driver (the private `os` module) performs the
//! actions; loom tests and the model drive the same code over in-memory channels.

#[doc(hidden)]
pub mod fuzzing;
pub mod primary;
pub mod worker;
