//! crew-model: the executable specification of crew's primary/worker protocol.
#![forbid(unsafe_code)]

pub mod check;
pub mod enabled;
pub mod event;
pub mod explore;
pub mod guarantee;
mod hash;
pub mod state;
pub mod table;

pub use check::{check, CheckOptions, Trace, TraceParseError, Verdict};
pub use enabled::Bounds;
pub use event::{Event, Origin, RestartPolicy, Signal, WorkerId};
pub use explore::{explore, Exploration, InvariantFailure};
pub use guarantee::Guarantee;
pub use state::{
    Lifecycle, Obligation, Pending, Phase, Policy, State, Tracker, Violation, WorkerRecord,
};
pub use table::{render_table, rows, seed_rows, Row};
#[doc(hidden)]
pub mod fuzzing;
