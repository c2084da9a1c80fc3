//! Errors. Each names the worker, the path or the limit involved.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::WorkerId;

/// Why `fork` failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ForkError {
    /// The executable could not be started.
    Spawn {
        /// The executable crew tried to run.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A socketpair, pidfd or other descriptor could not be made.
    Os {
        /// What crew was doing.
        what: &'static str,
        /// What the OS said.
        source: io::Error,
    },
    /// The cluster is shutting down or has ended: no new workers (G9).
    ShuttingDown,
}

impl fmt::Display for ForkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForkError::Spawn { path, source } => {
                write!(
                    f,
                    "cannot start worker executable {}: {source}",
                    path.display()
                )
            }
            ForkError::Os { what, source } => write!(f, "fork: {what}: {source}"),
            ForkError::ShuttingDown => f.write_str("fork refused: the cluster is shutting down"),
        }
    }
}

impl std::error::Error for ForkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ForkError::Spawn { source, .. } | ForkError::Os { source, .. } => Some(source),
            ForkError::ShuttingDown => None,
        }
    }
}

/// Why a command about one worker (send, kill, disconnect) was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum CommandError {
    /// No worker with this id was ever forked.
    NoSuchWorker {
        /// The id given.
        worker: WorkerId,
    },
    /// The worker has exited and been reaped (G4, G6).
    Dead {
        /// The worker.
        worker: WorkerId,
    },
    /// The worker's channel is closed or closing, so a message would not be delivered (G4).
    Disconnected {
        /// The worker.
        worker: WorkerId,
    },
    /// The message encodes to more than the frame limit.
    TooLarge {
        /// The worker.
        worker: WorkerId,
        /// The encoded size.
        len: usize,
        /// The frame limit.
        limit: u32,
    },
    /// The worker is not reading and its outgoing queue is at its limit.
    QueueFull {
        /// The worker.
        worker: WorkerId,
        /// The queue limit in bytes.
        limit: usize,
    },
    /// The message could not be serialized.
    Serialize {
        /// The worker.
        worker: WorkerId,
        /// What postcard said.
        reason: String,
    },
    /// The signal number is not a signal this platform knows.
    InvalidSignal {
        /// The worker.
        worker: WorkerId,
        /// The number given.
        signal: i32,
    },
    /// The OS refused the operation.
    Os {
        /// The worker.
        worker: WorkerId,
        /// What the OS said.
        source: io::Error,
    },
    /// The cluster has ended.
    Ended,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NoSuchWorker { worker } => write!(f, "no worker {worker}"),
            CommandError::Dead { worker } => write!(f, "worker {worker} is dead"),
            CommandError::Disconnected { worker } => {
                write!(f, "worker {worker} is disconnected: the message would not be delivered")
            }
            CommandError::TooLarge { worker, len, limit } => write!(
                f,
                "message to worker {worker} is {len} bytes, over the frame limit of {limit} bytes"
            ),
            CommandError::QueueFull { worker, limit } => write!(
                f,
                "worker {worker} is not reading: its outgoing queue is at its limit of {limit} bytes"
            ),
            CommandError::Serialize { worker, reason } => {
                write!(f, "message to worker {worker} does not serialize: {reason}")
            }
            CommandError::InvalidSignal { worker, signal } => {
                write!(f, "cannot signal worker {worker}: {signal} is not a known signal")
            }
            CommandError::Os { worker, source } => write!(f, "worker {worker}: {source}"),
            CommandError::Ended => f.write_str("the cluster has ended"),
        }
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CommandError::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why the event loop could not wait for events.
#[derive(Debug)]
pub struct LoopError {
    pub(crate) what: &'static str,
    pub(crate) source: io::Error,
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event loop: {}: {}", self.what, self.source)
    }
}

impl std::error::Error for LoopError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why a worker could not connect to its primary, send or receive.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerError {
    /// This process was not started by a crew primary (the environment variable is missing).
    NotAWorker,
    /// The environment crew set up is malformed or the channel descriptor is not open.
    BadEnvironment {
        /// The variable.
        variable: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// `Worker::connect` was called twice in this process.
    AlreadyConnected,
    /// The primary closed the channel (it disconnected this worker or is shutting down).
    Disconnected,
    /// The message encodes to more than the frame limit.
    TooLarge {
        /// The encoded size.
        len: usize,
        /// The frame limit.
        limit: u32,
    },
    /// The message could not be serialized.
    Serialize(String),
    /// The primary sent a frame that does not decode (G10, worker side).
    Protocol(String),
    /// The channel failed.
    Io(io::Error),
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::NotAWorker => f.write_str(
                "this process was not started by a crew primary (CREW_WORKER_ID is not set)",
            ),
            WorkerError::BadEnvironment { variable, problem } => {
                write!(f, "bad crew worker environment: {variable}: {problem}")
            }
            WorkerError::AlreadyConnected => {
                f.write_str("Worker::connect was already called in this process")
            }
            WorkerError::Disconnected => f.write_str("the primary closed the channel"),
            WorkerError::TooLarge { len, limit } => write!(
                f,
                "message is {len} bytes, over the frame limit of {limit} bytes"
            ),
            WorkerError::Serialize(reason) => write!(f, "message does not serialize: {reason}"),
            WorkerError::Protocol(reason) => {
                write!(f, "the primary sent a bad frame: {reason}")
            }
            WorkerError::Io(e) => write!(f, "channel: {e}"),
        }
    }
}

impl std::error::Error for WorkerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for WorkerError {
    fn from(e: io::Error) -> Self {
        if matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            WorkerError::Disconnected
        } else {
            WorkerError::Io(e)
        }
    }
}
