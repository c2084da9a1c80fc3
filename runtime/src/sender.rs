//! A frame sender shared by threads: whole frames, in one order, never interleaved (G3).
//!
//! One mutex guards the sink, the buffer of not-yet-written frames and the sequence counter, so
//! the order of sequence numbers, of trace records and of bytes on the channel is the same.
//! The sink is a socket in the OS driver and an in-memory channel under loom.

use std::io;

use crew_model::{Event as TraceEvent, WorkerId};
use serde::Serialize;

use crate::error::WorkerError;
use crate::protocol::worker::encode_message;
use crate::sync::{lock, Mutex};

/// Where frames go: a socket, or a loom channel.
pub trait FrameSink {
    /// Writes all of `bytes`; returns only when they are in the channel (for a socket: in the
    /// kernel, so they are delivered even if this process dies next; G3).
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// Where the worker's trace records go (one whole line per call; safe to call from several
/// threads).
pub trait TraceSink: Send + Sync {
    /// Records one event.
    fn record(&self, event: &TraceEvent);
}

/// Buffered frames are written once they reach this many bytes, even without `flush`.
const FLUSH_AT: usize = 64 << 10;

struct State<S> {
    sink: S,
    /// Encoded frames not yet written (buffered sends).
    buf: Vec<u8>,
    /// Frames in `buf`.
    buffered: u64,
    /// Sequence number of the next frame to be written (G3: 0, 1, 2, …).
    next_seq: u64,
    /// A write failed: the channel is unusable.
    broken: bool,
}

/// The sending half of a worker's channel.
pub struct FrameSender<S> {
    worker: WorkerId,
    max_frame: u32,
    state: Mutex<State<S>>,
    trace: Option<Box<dyn TraceSink>>,
}

impl<S: FrameSink> FrameSender<S> {
    /// A sender for worker `worker` writing to `sink`.
    pub fn new(
        worker: WorkerId,
        sink: S,
        max_frame: u32,
        trace: Option<Box<dyn TraceSink>>,
    ) -> Self {
        FrameSender {
            worker,
            max_frame,
            state: Mutex::new(State {
                sink,
                buf: Vec::new(),
                buffered: 0,
                next_seq: 0,
                broken: false,
            }),
            trace,
        }
    }

    /// Writes raw bytes that are not a numbered message (the handshake).
    pub fn write_raw(&self, bytes: &[u8]) -> Result<(), WorkerError> {
        let mut st = lock(&self.state);
        st.sink.write_all(bytes).map_err(WorkerError::from)
    }

    /// Sends one message now, after any buffered ones; Ok means it is in the channel (G3).
    pub fn send<Up: Serialize + ?Sized>(&self, message: &Up) -> Result<(), WorkerError> {
        let mut st = lock(&self.state);
        let start = st.buf.len();
        if let Err(e) = encode_message(&mut st.buf, message, self.max_frame) {
            st.buf.truncate(start);
            return Err(e);
        }
        st.buffered += 1;
        self.write_buffered(&mut st)
    }

    /// Queues one message; it is written by [`flush`](Self::flush), by the next `send`, or
    /// once the buffer holds 64 KiB. Ok does not mean delivered.
    pub fn send_buffered<Up: Serialize + ?Sized>(&self, message: &Up) -> Result<(), WorkerError> {
        let mut st = lock(&self.state);
        let start = st.buf.len();
        if let Err(e) = encode_message(&mut st.buf, message, self.max_frame) {
            st.buf.truncate(start);
            return Err(e);
        }
        st.buffered += 1;
        if st.buf.len() >= FLUSH_AT {
            self.write_buffered(&mut st)?;
        }
        Ok(())
    }

    /// Writes every buffered message; Ok means all are in the channel (G3).
    pub fn flush(&self) -> Result<(), WorkerError> {
        let mut st = lock(&self.state);
        self.write_buffered(&mut st)
    }

    /// Messages written so far (the next one's sequence number).
    pub fn sent(&self) -> u64 {
        lock(&self.state).next_seq
    }

    fn write_buffered(&self, st: &mut State<S>) -> Result<(), WorkerError> {
        if st.buffered == 0 {
            return Ok(());
        }
        if st.broken {
            return Err(WorkerError::Disconnected);
        }
        // The trace records each Send before its bytes are written, so the primary's Receive
        // of a message is never in a trace without the worker's Send.
        if let Some(trace) = &self.trace {
            for seq in st.next_seq..st.next_seq + st.buffered {
                trace.record(&TraceEvent::Send {
                    worker: self.worker,
                    seq,
                });
            }
        }
        let State {
            sink,
            buf,
            buffered,
            next_seq,
            broken,
        } = st;
        let result = sink.write_all(buf);
        *next_seq += *buffered;
        *buffered = 0;
        buf.clear();
        if result.is_err() {
            *broken = true;
        }
        result.map_err(WorkerError::from)
    }
}
