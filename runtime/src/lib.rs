//! crew: what Node.js `cluster` gives JavaScript, for Rust: a primary process forks worker
//! processes, exchanges typed messages with them, and supervises them (exit, kill, graceful
//! disconnect, restart, shutdown), with a protocol whose guarantees are written down as an
//! executable model ([`crew_model`], re-exported as [`model`]) and checked against real runs.
//!
//! # Example
//!
//! One program is both the primary and its workers: the primary re-executes the current binary
//! with a marker in the environment, and `main` asks [`role`] which side it is.
//!
//! ```no_run
//! use crew::{Cluster, ClusterEvent, Role, Worker};
//! use std::time::Duration;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     match crew::role() {
//!         Role::Worker(_) => {
//!             // Worker: receive a number, send back its square, exit.
//!             let mut worker = Worker::<u64, u64>::connect()?;
//!             let n = worker.recv()?;
//!             worker.send(&(n * n))?;
//!             worker.exit(0);
//!         }
//!         Role::Primary => {
//!             let mut cluster: Cluster<u64, u64> = Cluster::builder().build()?;
//!             let id = cluster.fork()?;
//!             cluster.send(id, &7)?;
//!             while let Some(event) = cluster.next_event(Some(Duration::from_secs(10)))? {
//!                 match event {
//!                     ClusterEvent::Message { message, .. } => println!("7² = {message}"),
//!                     ClusterEvent::Exit { .. } => break,
//!                     _ => {}
//!                 }
//!             }
//!             cluster.shutdown(Some(Duration::from_secs(5)))?;
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Guarantees
//!
//! The contract is `GUARANTEES.md`; each id below is stated by [`crew_model`], kept by the code
//! named here, and checked by the test of the same name in `runtime/tests/`.
//!
//! | id | kept by | tests (`runtime/tests/`) |
//! |----|---------|------|
//! | G1 ids 1, 2, 3, … and every worker reaped | `PrimaryCore::next_worker_id`, pidfd reaping in `Cluster::reap_if_exited`, `Drop for Cluster` | `g1_identity_and_reaping.rs` |
//! | G2 Fork, Online, messages, Disconnect, Exit | the handshake is the first frame; `PrimaryCore::on_exit` closes the channel (Disconnect) before Exit | `g2_lifecycle_order.rs` |
//! | G3 FIFO, exactly-once, nothing lost at exit | blocking `send` returns once the bytes are in the kernel; the primary drains a dead worker's socket before Exit | `g3_worker_to_primary_delivery.rs` |
//! | G4 primary→worker FIFO, errors for dead workers | per-worker outgoing queue written in order; `PrimaryCore::send` refuses disconnected or dead workers | `g4_primary_to_worker_delivery.rs` |
//! | G5 exact counters | derived from the worker table | `g5_tracker_counters.rs` |
//! | G6 race-free kill | `pidfd_send_signal`, never a pid; kill of a dead (or exited, unreaped) worker is an error | `g6_race_free_kill.rs` |
//! | G7 graceful disconnect, timeout kills | `PrimaryCore::disconnect`, `on_tick` escalation | `g7_graceful_disconnect.rs` |
//! | G8 no orphans | `PR_SET_PDEATHSIG(SIGKILL)` and a parent check in the child | `g8_no_orphans.rs` |
//! | G9 shutdown completes | `Cluster::shutdown` returns after End | `g9_shutdown_completes.rs` |
//! | G10 bad frames isolated | `wire::Decoder` limits; `PrimaryCore::protocol_error`; `protocol::worker::Inbox` | `g10_bad_input_isolation.rs`, `wire_*.rs` |
//! | G11 restart with intensity | `restart::Intensity` | `g11_restart.rs` |
//! | G12 close-on-exec | socketpair, pidfd, eventfd all `CLOEXEC`; the child marks every inherited descriptor but its channel `CLOEXEC`; the worker re-marks its channel | `g12_descriptor_hygiene.rs` |
//!
//! Platform: Linux (pidfds, `PR_SET_PDEATHSIG`). `PR_SET_PDEATHSIG` fires when the *thread*
//! that forked a worker exits: fork from a thread that lives as long as the cluster (usually
//! the main thread).
//!
//! # Layout
//!
//! - [`protocol`]: the sans-IO core (primary and worker state machines; no syscalls).
//! - [`wire`]: the frame format and the streaming decoder.
//! - `cluster`, `worker`: the public API over the OS driver (`os`, the only `unsafe`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod cluster;
pub mod commands;
mod error;
mod event;
mod os;
pub mod protocol;
pub mod restart;
pub mod sender;
mod sync;
pub mod wire;
mod worker;

pub use crew_model as model;
pub use crew_model::WorkerId;

pub use cluster::{Cluster, ClusterBuilder, ClusterHandle};
pub use error::{CommandError, ForkError, LoopError, WorkerError};
pub use event::{ClusterEvent, ExitStatus, WorkerInfo, WorkerState};
#[cfg(feature = "fault-injection")]
pub use protocol::primary::Fault;
pub use restart::{Restart, RestartPolicy};
pub use worker::{role, Role, Worker, WorkerSender};

/// Signal numbers for [`Cluster::kill`].
pub mod signal {
    pub use crew_model::event::signal::*;
    /// `SIGINT`.
    pub const SIGINT: i32 = 2;
    /// `SIGUSR1`.
    pub const SIGUSR1: i32 = 10;
}
