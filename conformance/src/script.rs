//! What the harness tells a puppet to do ([`Script`], the primary-to-worker message) and what a
//! puppet answers ([`Report`], the worker-to-primary message).
//!
//! Every script is one primary-to-worker message, so each one is also a `PrimarySend` /
//! `WorkerReceive` pair in the trace (G4). The faults are here too: a puppet can crash, hang,
//! ignore SIGTERM, close its channel, or write bytes that are not a valid frame (G10).

use serde::{Deserialize, Serialize};

/// One behaviour a puppet performs when it receives it. See [`crate::puppet`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Script {
    /// Send `count` messages with the blocking `send`, one after the other.
    Send {
        /// Messages to send.
        count: u32,
    },
    /// Send `count` messages from two threads at once through `WorkerSender` clones (frames
    /// must never interleave, G3).
    Burst {
        /// Messages to send, in total.
        count: u32,
    },
    /// Queue `count` messages with `send_buffered`, then `flush`.
    Buffered {
        /// Messages to queue.
        count: u32,
    },
    /// Answer with [`Report::Echo`] carrying `payload`.
    Echo {
        /// Echoed back unchanged.
        payload: u64,
    },
    /// The seed's task: log Run, compute for a while, send [`Report::Task`].
    Task {
        /// Loop iterations of busy work.
        spins: u32,
    },
    /// Exit with `code` (`Worker::exit`: flushes first).
    Exit {
        /// The exit code.
        code: i32,
    },
    /// Send `count` messages, then exit with `code` immediately (G3: none may be lost).
    SendThenExit {
        /// Messages to send.
        count: u32,
        /// The exit code.
        code: i32,
    },
    /// `std::process::abort()`: dies by SIGABRT.
    Abort,
    /// Raise SIGSEGV: dies by it.
    Segv,
    /// Busy-loop forever without reading the channel (G7's timeout, G8).
    Hang,
    /// Block SIGTERM (it stays pending; the process lives on) and keep serving scripts.
    IgnoreTerm,
    /// Close the channel (`Worker::disconnect`), then exit with code 0.
    CloseChannel,
    /// Close the channel and live on (sleeping) until killed.
    CloseChannelAndLinger,
    /// Start a grandchild that lists the descriptors it inherited; send them in
    /// [`Report::Grandchild`] (G12).
    SpawnGrandchild,
    /// Send messages without end, `batch` at a time with a 1 ms pause between batches, until
    /// the channel breaks (the soak's load).
    Stream {
        /// Messages per batch.
        batch: u32,
    },
    /// Write bytes that are not a valid frame onto the channel (G10). Needs the raw-channel
    /// helper (see [`crate::puppet`]).
    Raw {
        /// Which bad bytes.
        fault: RawFault,
    },
}

/// Bad bytes a puppet can put on its channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RawFault {
    /// Bytes with the wrong magic: the primary reports a protocol error and kills the worker.
    Garbage,
    /// A header announcing a payload larger than the frame limit: protocol error, kill.
    Oversized,
    /// The first half of a valid frame, then exit with code 0: a send that never returned Ok,
    /// which the primary drops at EOF (no message, no protocol error).
    TruncatedThenExit,
}

impl Script {
    /// How many worker-to-primary messages the puppet sends for this script (the Receives the
    /// primary must then log, G3).
    pub fn messages(&self) -> u64 {
        match *self {
            Script::Send { count }
            | Script::Burst { count }
            | Script::Buffered { count }
            | Script::SendThenExit { count, .. } => u64::from(count),
            Script::Echo { .. } | Script::Task { .. } | Script::SpawnGrandchild => 1,
            _ => 0,
        }
    }
}

/// What a puppet sends to the primary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Report {
    /// Message `n` of a Send/Burst/Buffered/SendThenExit script (per script, from 0).
    Message {
        /// Index within the script.
        n: u32,
    },
    /// The answer to [`Script::Echo`].
    Echo {
        /// The payload received.
        payload: u64,
    },
    /// The seed's task result.
    Task {
        /// The computed value.
        result: u64,
    },
    /// The descriptors (above 2) a grandchild inherited (G12: must be empty).
    Grandchild {
        /// Open descriptor numbers the grandchild found, beyond stdin/stdout/stderr.
        inherited: Vec<i32>,
    },
}
