//! crew-model: the executable specification of crew's primary/worker protocol.
#![forbid(unsafe_code)]

pub mod event;

pub use event::{Event, Origin, RestartPolicy, Signal, WorkerId};
