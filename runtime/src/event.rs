//! What the primary observes: the events `Cluster::next_event` returns.

use std::fmt;

use crate::WorkerId;

/// A worker process's lifecycle state, as the primary sees it (the model's states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkerState {
    /// Started; its handshake has not arrived yet.
    Forked,
    /// Handshake received; messages flow both ways.
    Online,
    /// The primary asked it to disconnect; its messages are still drained (G3, G7).
    Disconnecting,
    /// Its channel is closed and drained; the process may still run.
    Disconnected,
    /// It exited and was reaped (G1).
    Dead,
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkerState::Forked => "forked",
            WorkerState::Online => "online",
            WorkerState::Disconnecting => "disconnecting",
            WorkerState::Disconnected => "disconnected",
            WorkerState::Dead => "dead",
        })
    }
}

/// One row of the primary's worker table (Node's `cluster.workers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The worker's id (1, 2, 3, … never reused).
    pub id: WorkerId,
    /// Its process id. Informational only: crew never signals by pid (G6).
    pub pid: u32,
    /// Its lifecycle state.
    pub state: WorkerState,
    /// Messages received from it so far.
    pub received: u64,
    /// Messages sent to it so far.
    pub sent: u64,
}

impl WorkerInfo {
    /// Node's `worker.isConnected()`: the channel is open both ways.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, WorkerState::Forked | WorkerState::Online)
    }

    /// Node's `worker.isDead()`: the process has exited and been reaped.
    pub fn is_dead(&self) -> bool {
        self.state == WorkerState::Dead
    }
}

/// How a worker process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    /// The exit code, when it exited by itself.
    pub code: Option<i32>,
    /// The signal number, when a signal ended it.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "code {c}"),
            (None, Some(s)) => write!(f, "signal {s}"),
            (None, None) => f.write_str("unknown status"),
        }
    }
}

/// Something the primary observed, in the order it observed it.
///
/// Per worker the order is always Fork, Online, its Messages, Disconnect, Exit (G2); a worker
/// that dies before its handshake has no Online.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum ClusterEvent<M> {
    /// A worker process was started (Node: `'fork'`).
    Fork {
        /// The new worker.
        worker: WorkerId,
    },
    /// The worker's handshake arrived (Node: `'online'`).
    Online {
        /// The worker.
        worker: WorkerId,
    },
    /// A message from a worker (Node: `'message'`), in the worker's send order (G3).
    Message {
        /// The sender.
        worker: WorkerId,
        /// The message.
        message: M,
    },
    /// The worker's channel is closed and everything it sent has been delivered (Node:
    /// `'disconnect'`; G2, G3).
    Disconnect {
        /// The worker.
        worker: WorkerId,
    },
    /// The worker exited and was reaped (Node: `'exit'`). Always after its Disconnect (G2).
    Exit {
        /// The worker.
        worker: WorkerId,
        /// How it ended.
        status: ExitStatus,
        /// The primary had asked it to disconnect (disconnect or shutdown) before it exited
        /// (Node: `worker.exitedAfterDisconnect`; G7).
        exited_after_disconnect: bool,
    },
    /// The worker sent bytes that are not a valid frame: its channel was closed and it was
    /// killed with SIGKILL (G10).
    ProtocolError {
        /// The worker.
        worker: WorkerId,
        /// What was wrong.
        reason: String,
    },
    /// A worker that exited unexpectedly is being replaced; the replacement's Fork follows (G11).
    Restart {
        /// The worker that exited.
        worker: WorkerId,
        /// The replacement's id.
        replacement: WorkerId,
    },
    /// A replacement could not be started.
    RestartFailed {
        /// The worker that exited.
        worker: WorkerId,
        /// The id the replacement would have had.
        replacement: WorkerId,
        /// Why it failed.
        reason: String,
    },
    /// Restarts exceeded the policy's intensity: the primary stopped restarting (G11).
    GaveUp {
        /// The worker that was not replaced.
        worker: WorkerId,
        /// The policy's R.
        max_restarts: u32,
        /// The policy's T.
        window: std::time::Duration,
    },
    /// A command queued through a [`ClusterHandle`](crate::ClusterHandle) failed when the event
    /// loop carried it out (for example a send to a worker that had died meanwhile). Nothing
    /// queued is dropped silently (G4).
    CommandFailed {
        /// The worker the command was for.
        worker: WorkerId,
        /// Why it failed.
        error: String,
    },
    /// The cluster ended: shutdown completed and every worker is reaped (G9).
    End,
}
