//! crew-model: the executable specification of crew's primary/worker protocol.
//!
//! The contract (`GUARANTEES.md`, G1–G12) as code: a state machine that takes one observable
//! [`Event`] at a time and rejects, with the guarantee it breaks, any event a correct cluster
//! could not produce; a checker that decides whether a real multi-process run — one log per
//! process, no shared clock — admits an order the model accepts; an execution table for the
//! seed lesson; and a bounded exhaustive exploration of every reachable state. Pure Rust, no
//! I/O, no `unsafe`.
//!
//! - [`event`]: the vocabulary and the JSON-lines trace format.
//! - [`state`]: [`State`], [`State::apply`]/[`State::step`], [`Violation`], the derived
//!   [`Tracker`].
//! - [`enabled`]: [`State::enabled`] within [`Bounds`]: the legal next events, for generators.
//! - [`check`](mod@check): [`Trace`], [`check()`], [`Verdict`].
//! - [`table`]: the seed's execution table ([`rows`], [`seed_rows`], [`render_table`]).
//! - [`explore`](mod@explore): breadth-first exploration with invariants ([`explore()`]).
//!
//! # Example
//!
//! ```
//! use crew_model::{check, CheckOptions, Event, Guarantee, Trace, Verdict};
//!
//! // The seed: two workers each send one result; the logs may come in any interleaving.
//! let text = r#"
//! {"ev":"fork","worker":1}
//! {"ev":"fork","worker":2}
//! {"ev":"online","worker":1}
//! {"ev":"online","worker":2}
//! {"ev":"run","worker":2}
//! {"ev":"send","worker":2,"seq":0}
//! {"ev":"receive","worker":1,"seq":0}
//! {"ev":"receive","worker":2,"seq":0}
//! {"ev":"disconnect","worker":1}
//! {"ev":"exit","worker":1,"code":0,"signal":null,"after_disconnect":false}
//! {"ev":"disconnect","worker":2}
//! {"ev":"exit","worker":2,"code":0,"signal":null,"after_disconnect":false}
//! {"ev":"end"}
//! {"ev":"run","worker":1}
//! {"ev":"send","worker":1,"seq":0}
//! "#;
//! let trace = Trace::from_jsonl(text)?;
//! let verdict = check(&trace, &CheckOptions::default());
//! let Verdict::Accepted { linearisation, final_state } = verdict else { panic!("{verdict}") };
//! assert_eq!(linearisation.len(), 15);
//! assert_eq!(final_state.tracker().messages_received, 2);
//! print!("{}", crew_model::render_table(&crew_model::seed_rows(&linearisation)?));
//!
//! // A worker that exits by itself with a message still unreceived broke G3.
//! let lossy = Trace::from_events([
//!     Event::Fork { worker: 1 },
//!     Event::Online { worker: 1 },
//!     Event::Send { worker: 1, seq: 0 },
//!     Event::Disconnect { worker: 1 },
//!     Event::Exit { worker: 1, code: Some(0), signal: None, after_disconnect: false },
//!     Event::End,
//! ]);
//! let verdict = check(&lossy, &CheckOptions::default());
//! assert_eq!(verdict.violation().unwrap().guarantee, Guarantee::G3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The guarantees, as the model states them
//!
//! Every rule lives in [`State::apply`] (one `match` arm per event kind); a rejection names the
//! most specific guarantee. "P:" events are logged by the primary, "W:" by the worker itself.
//! Tests are in `model/tests/`.
//!
//! | id | rule in the model | enforced in | checked by |
//! |----|-------------------|-------------|------------|
//! | G1 | Fork carries the next id (1, 2, 3, …); a Restart's replacement is the next id; exactly one Exit per forked worker, with exactly one of code/signal; an Exit or event of a never-forked id is rejected. A second Exit is G1 (not G5: workersAlive cannot go negative without one). | `apply`: `Fork`, `Exit`, `Restart` arms | `reused_id_is_rejected_for_g1`, `extra_exit_is_rejected_for_g1`, `legal_runs_keep_counters_ids_order_and_fifo` |
//! | G2 | Online after Fork, at most once, not after Disconnect; Run (at most once) and Send need Online; Receive needs Online and precedes Disconnect; Disconnect at most once; an online worker's Exit needs its Disconnect (a never-online worker may exit with or without one); no event of a worker after its Exit. | `Online`, `Run`, `Send`, `Receive`, `Disconnect`, `Exit` arms; `State::live` | `exit_before_disconnect_of_online_worker_is_rejected_for_g2`, `message_after_exit_is_rejected_for_g2`, `send_after_exit_is_rejected_for_g2_by_the_model` |
//! | G3 | Send seq = sent; Receive seq = received and < sent; at Disconnect at most one send unreceived; a Send after Disconnect only if none is unreceived; an Exit by code with a send unreceived is rejected (only a signal may interrupt the last send). None of this after a protocol error (the primary discarded the channel). | `Send`, `Receive`, `Disconnect`, `Exit` arms; `WorkerRecord::unreceived` | `dropped_receive_is_rejected_for_g3`, `duplicated_receive_is_rejected_for_g3`, `swapped_messages_of_one_worker_are_rejected_for_g3`, `killed_worker_may_lose_only_its_last_send` |
//! | G4 | PrimarySend only to a forked worker (Online or not: a send before Online is queued) that is not asked to disconnect, not disconnected, not cut off by a protocol error, not dead; seq 0, 1, 2, …; WorkerReceive seq = worker_received and < primary_sent. | `PrimarySend`, `WorkerReceive` arms; `WorkerRecord::accepts_primary_send` | `primary_send_to_dead_worker_is_rejected_for_g4` |
//! | G5 | The tracker is derived from the state ([`State::tracker`]); End only when no worker is alive. | `End` arm; `State::tracker`; explorer's `Tracker::after` check | `end_while_a_worker_is_alive_is_rejected_for_g5`, `legal_runs_keep_counters_ids_order_and_fifo`, `exploration_of_small_bound_keeps_every_invariant` |
//! | G6 | Kill only of a forked, live worker, signal in 1..=64; if kills were requested, an Exit by signal carries one of them (an exit by code is fine); with no kill requested any signal is a crash. | `Kill`, `Exit` arms | `exit_signal_other_than_the_requested_kill_is_rejected_for_g6` |
//! | G7 | DisconnectRequested for a forked, live worker, at most once; Exit's `after_disconnect` equals whether it was requested. | `DisconnectRequested`, `Exit` arms | `wrong_after_disconnect_is_rejected_for_g7` |
//! | G8 | Not observable in a trace (the primary is gone); the runtime's tests keep it. | — | — |
//! | G9 | Shutdown at most once; no Fork (nor Restart) after it; during shutdown an Exit needs the worker's DisconnectRequested (so every worker alive at Shutdown is asked to disconnect before End); nothing after End; a complete trace ends with End. | `Fork`, `Exit`, `Shutdown` arms, the `Ended` guard; `State::obligations` | `fork_after_shutdown_is_rejected_for_g9`, `unfinished_runs_are_reported_with_their_obligations` |
//! | G10 | A ProtocolError for a forked, live worker before its Disconnect, at most once; then no Online or Receive from it; its Exit needs a SIGKILL requested after the error and its Disconnect. | `ProtocolError`, `Receive`, `Online`, `Kill`, `Exit` arms | `protocol_error_must_be_followed_by_sigkill_and_disconnect`, `exploration_with_kills_and_protocol_errors_keeps_every_invariant` |
//! | G11 | An Exit is *unexpected* when not after a disconnect request and not during shutdown (a protocol error's kill counts as unexpected). Under `OnFailure` an unexpected failure (code ≠ 0 or a signal), under `Always` any unexpected Exit, creates a pending decision unless the primary gave up: the primary's next event must be Restart (allowed iff fewer than R restarts have `at_ms > now − T`) or GaveUp (iff at least R), with non-decreasing `at_ms`; a Restart's replacement Fork is the primary's next event. A Restart/GaveUp without a pending decision is G11 (G9 during shutdown). A Config sets the policy and starts a fresh count (clears the restart history and the gave-up flag). | `Exit`, `Restart`, `GaveUp`, `Config` arms; `State::check_pending` | `restart_beyond_intensity_is_rejected_for_g11`, `exploration_of_small_bound_keeps_every_invariant` |
//! | G12 | Not observable in a trace; the runtime's tests keep it. | — | — |
//!
//! # Costs
//!
//! [`State::apply`] is O(1); [`check()`] is a single pass, O(events), tens of millions of
//! events/s in release; [`explore()`] keeps every distinct state as a 16-byte packed key in a
//! flat hash set (≈ 1 M states at [`Bounds::small`], ≈ 4 M at [`Bounds::large`], about 1 M
//! states/s on one core).
//! Run `cargo run --release -p crew-model --example figures` for current figures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
