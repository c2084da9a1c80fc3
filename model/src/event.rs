//! The event vocabulary: what a process of a crew cluster can observe, and the trace format.
//!
//! Every event names the worker it concerns. Which process logs an event follows from its kind
//! alone ([`Event::origin`]): the primary logs Fork, Online, Receive, PrimarySend, Kill,
//! DisconnectRequested, Disconnect, Exit, ProtocolError, Restart, GaveUp, Config, Shutdown and
//! End; worker `w` logs Run, Send and WorkerReceive about itself. A trace is therefore a set of
//! per-process logs, and the only order between them is causality (see the checker).
//!
//! # Trace format
//!
//! One JSON object per line (JSON Lines). The field `ev` names the kind in `snake_case`; the
//! other fields are the variant's. Examples:
//!
//! ```text
//! {"ev":"config","restart":"on_failure","max_restarts":3,"window_ms":5000}
//! {"ev":"fork","worker":1}
//! {"ev":"online","worker":1}
//! {"ev":"run","worker":1}
//! {"ev":"send","worker":1,"seq":0}
//! {"ev":"receive","worker":1,"seq":0}
//! {"ev":"primary_send","worker":1,"seq":0}
//! {"ev":"worker_receive","worker":1,"seq":0}
//! {"ev":"kill","worker":1,"signal":15}
//! {"ev":"disconnect_requested","worker":1}
//! {"ev":"disconnect","worker":1}
//! {"ev":"exit","worker":1,"code":0,"signal":null,"after_disconnect":true}
//! {"ev":"protocol_error","worker":1,"reason":"bad magic"}
//! {"ev":"restart","worker":1,"replacement":2,"at_ms":120}
//! {"ev":"restart_failed","worker":1,"replacement":2}
//! {"ev":"gave_up","worker":2,"at_ms":300}
//! {"ev":"shutdown"}
//! {"ev":"end"}
//! ```
//!
//! Lines of different processes may be interleaved in any way (each process appends to its own
//! file and the files are concatenated); lines of one process keep that process's order.

use serde::{Deserialize, Serialize};

/// A worker's id: 1, 2, 3, … in fork order, never reused (G1).
pub type WorkerId = u32;

/// Linux signal number (`SIGKILL` = 9, `SIGTERM` = 15, …).
pub type Signal = i32;

/// Signal numbers the model refers to by name.
pub mod signal {
    use super::Signal;
    /// `SIGABRT`: what `std::process::abort` raises.
    pub const SIGABRT: Signal = 6;
    /// `SIGKILL`: cannot be caught; used by crew for escalation and G10.
    pub const SIGKILL: Signal = 9;
    /// `SIGSEGV`: a crash.
    pub const SIGSEGV: Signal = 11;
    /// `SIGTERM`: Node's default for `worker.kill()`.
    pub const SIGTERM: Signal = 15;
}

/// When the primary replaces a worker that exited unexpectedly (G11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Never replace a worker.
    Never,
    /// Replace a worker whose unexpected exit was a failure: non-zero code or a signal.
    OnFailure,
    /// Replace every worker that exits unexpectedly, whatever its status.
    Always,
}

/// Which process logs an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The primary process.
    Primary,
    /// The worker with this id.
    Worker(WorkerId),
}

/// One observable step of a crew cluster. See the module docs for the JSON form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// Primary: the restart policy in force from here on (G11). May appear at any point before
    /// End; a trace without one runs under `Never`.
    Config {
        /// The policy.
        restart: RestartPolicy,
        /// R: at most this many restarts within `window_ms`.
        max_restarts: u32,
        /// T: the intensity window, in the primary's monotonic milliseconds.
        window_ms: u64,
    },
    /// Primary: a worker process was started with this id (ids 1, 2, 3, …; G1).
    Fork {
        /// The new worker.
        worker: WorkerId,
    },
    /// Primary: the worker's handshake arrived; the first thing on its channel (G2).
    Online {
        /// The worker.
        worker: WorkerId,
    },
    /// Worker: the worker's task starts (the seed's "run").
    Run {
        /// The worker logging it.
        worker: WorkerId,
    },
    /// Worker: it is sending its message number `seq` (0, 1, 2, …) to the primary. Logged
    /// before the bytes are written, so a Receive is never logged without its Send.
    Send {
        /// The worker logging it.
        worker: WorkerId,
        /// Per-worker message number.
        seq: u64,
    },
    /// Primary: it received the worker's message `seq` (G3).
    Receive {
        /// The sending worker.
        worker: WorkerId,
        /// Per-worker message number.
        seq: u64,
    },
    /// Primary: its send of message `seq` (0, 1, 2, … per worker) to the worker returned Ok (G4).
    PrimarySend {
        /// The addressee.
        worker: WorkerId,
        /// Per-worker message number, primary to worker.
        seq: u64,
    },
    /// Worker: it received the primary's message `seq` (G4).
    WorkerReceive {
        /// The worker logging it.
        worker: WorkerId,
        /// Per-worker message number, primary to worker.
        seq: u64,
    },
    /// Primary: it signalled the worker (a user's kill, a disconnect timeout's escalation, or a
    /// protocol error's SIGKILL).
    Kill {
        /// The worker.
        worker: WorkerId,
        /// The signal sent.
        signal: Signal,
    },
    /// Primary: it asked the worker to disconnect (user's disconnect or shutdown; G7, G9).
    DisconnectRequested {
        /// The worker.
        worker: WorkerId,
    },
    /// Primary: the worker's channel is closed and drained (G2, G3).
    Disconnect {
        /// The worker.
        worker: WorkerId,
    },
    /// Primary: the worker process ended and was reaped (G1).
    Exit {
        /// The worker.
        worker: WorkerId,
        /// Exit code, when it exited by itself.
        code: Option<i32>,
        /// Signal number, when a signal ended it.
        signal: Option<Signal>,
        /// Whether the primary had asked it to disconnect before it exited (G7).
        after_disconnect: bool,
    },
    /// Primary: the worker sent a frame that does not decode; its channel is closed and it is
    /// killed (G10).
    ProtocolError {
        /// The worker.
        worker: WorkerId,
        /// What was wrong, for people; the model does not read it.
        reason: String,
    },
    /// Primary: it replaces `worker`, which exited unexpectedly, with the next id (G11).
    Restart {
        /// The worker that exited.
        worker: WorkerId,
        /// The replacement's id; its Fork follows.
        replacement: WorkerId,
        /// The primary's monotonic clock, in ms since the cluster started.
        at_ms: u64,
    },
    /// Primary: the replacement a Restart announced could not be started (its executable is
    /// gone, say). The id is not used: the next Fork gets it (G1, G11).
    RestartFailed {
        /// The worker that exited.
        worker: WorkerId,
        /// The id the replacement would have had.
        replacement: WorkerId,
    },
    /// Primary: `worker` exited unexpectedly but the restart intensity is exceeded; the primary
    /// stops restarting (G11).
    GaveUp {
        /// The worker that was not replaced.
        worker: WorkerId,
        /// The primary's monotonic clock, in ms since the cluster started.
        at_ms: u64,
    },
    /// Primary: shutdown began: every worker is asked to disconnect, none is restarted (G9).
    Shutdown,
    /// Primary: the cluster ended; no worker is alive (G5, G9).
    End,
}

impl Event {
    /// The process that logs this event.
    pub fn origin(&self) -> Origin {
        match *self {
            Event::Run { worker }
            | Event::Send { worker, .. }
            | Event::WorkerReceive { worker, .. } => Origin::Worker(worker),
            _ => Origin::Primary,
        }
    }

    /// The worker this event concerns, if any.
    pub fn worker(&self) -> Option<WorkerId> {
        match *self {
            Event::Fork { worker }
            | Event::Online { worker }
            | Event::Run { worker }
            | Event::Send { worker, .. }
            | Event::Receive { worker, .. }
            | Event::PrimarySend { worker, .. }
            | Event::WorkerReceive { worker, .. }
            | Event::Kill { worker, .. }
            | Event::DisconnectRequested { worker }
            | Event::Disconnect { worker }
            | Event::Exit { worker, .. }
            | Event::ProtocolError { worker, .. }
            | Event::Restart { worker, .. }
            | Event::RestartFailed { worker, .. }
            | Event::GaveUp { worker, .. } => Some(worker),
            Event::Config { .. } | Event::Shutdown | Event::End => None,
        }
    }

    /// Parses one line of the trace format.
    pub fn from_json_line(line: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// Renders this event as one line of the trace format (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serializing this enum cannot fail: every field is a plain number, bool or string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Compact, human-readable form used in violations and tables:
/// `receive{worker 1, seq 2}`, `exit{worker 1, signal 9, after_disconnect}`, `end`.
impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Config {
                restart,
                max_restarts,
                window_ms,
            } => {
                let policy = match restart {
                    RestartPolicy::Never => "never",
                    RestartPolicy::OnFailure => "on_failure",
                    RestartPolicy::Always => "always",
                };
                write!(
                    f,
                    "config{{restart {policy}, max_restarts {max_restarts}, window_ms {window_ms}}}"
                )
            }
            Event::Fork { worker } => write!(f, "fork{{worker {worker}}}"),
            Event::Online { worker } => write!(f, "online{{worker {worker}}}"),
            Event::Run { worker } => write!(f, "run{{worker {worker}}}"),
            Event::Send { worker, seq } => write!(f, "send{{worker {worker}, seq {seq}}}"),
            Event::Receive { worker, seq } => write!(f, "receive{{worker {worker}, seq {seq}}}"),
            Event::PrimarySend { worker, seq } => {
                write!(f, "primary_send{{worker {worker}, seq {seq}}}")
            }
            Event::WorkerReceive { worker, seq } => {
                write!(f, "worker_receive{{worker {worker}, seq {seq}}}")
            }
            Event::Kill { worker, signal } => write!(f, "kill{{worker {worker}, signal {signal}}}"),
            Event::DisconnectRequested { worker } => {
                write!(f, "disconnect_requested{{worker {worker}}}")
            }
            Event::Disconnect { worker } => write!(f, "disconnect{{worker {worker}}}"),
            Event::Exit {
                worker,
                code,
                signal,
                after_disconnect,
            } => {
                write!(f, "exit{{worker {worker}")?;
                if let Some(code) = code {
                    write!(f, ", code {code}")?;
                }
                if let Some(signal) = signal {
                    write!(f, ", signal {signal}")?;
                }
                if *after_disconnect {
                    write!(f, ", after_disconnect")?;
                }
                write!(f, "}}")
            }
            Event::ProtocolError { worker, reason } => {
                write!(f, "protocol_error{{worker {worker}, reason {reason:?}}}")
            }
            Event::Restart {
                worker,
                replacement,
                at_ms,
            } => write!(
                f,
                "restart{{worker {worker}, replacement {replacement}, at_ms {at_ms}}}"
            ),
            Event::RestartFailed {
                worker,
                replacement,
            } => write!(
                f,
                "restart_failed{{worker {worker}, replacement {replacement}}}"
            ),
            Event::GaveUp { worker, at_ms } => {
                write!(f, "gave_up{{worker {worker}, at_ms {at_ms}}}")
            }
            Event::Shutdown => f.write_str("shutdown"),
            Event::End => f.write_str("end"),
        }
    }
}
