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
use crate::wire::HEADER_LEN;

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
pub struct FrameSender<S: FrameSink> {
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
        // On error `encode` leaves the buffer as it was.
        encode_message(&mut st.buf, message, self.max_frame)?;
        st.buffered += 1;
        self.write_buffered(&mut st)
    }

    /// Queues one message; it is written by [`flush`](Self::flush), by the next `send`, or
    /// once the buffer holds 64 KiB. Ok does not mean delivered.
    pub fn send_buffered<Up: Serialize + ?Sized>(&self, message: &Up) -> Result<(), WorkerError> {
        let mut st = lock(&self.state);
        // On error `encode` leaves the buffer as it was.
        encode_message(&mut st.buf, message, self.max_frame)?;
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
        let State {
            sink,
            buf,
            buffered,
            next_seq,
            broken,
        } = st;
        let result = match &self.trace {
            None => sink.write_all(buf),
            // The trace records each Send before its bytes are written, so the primary's
            // Receive of a message is never in a trace without the worker's Send. And the frames
            // of a batch are written one at a time, so a worker killed mid-flush has at most
            // one recorded Send whose bytes did not all reach the kernel: the model's G3 rule
            // (only tracing pays for this).
            Some(trace) => {
                let mut rest: &[u8] = buf;
                let mut seq = *next_seq;
                let mut result = Ok(());
                while rest.len() >= HEADER_LEN && result.is_ok() {
                    let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
                    let (frame, tail) = rest.split_at((HEADER_LEN + len).min(rest.len()));
                    trace.record(&TraceEvent::Send {
                        worker: self.worker,
                        seq,
                    });
                    result = sink.write_all(frame);
                    seq += 1;
                    rest = tail;
                }
                result
            }
        };
        *next_seq += *buffered;
        *buffered = 0;
        buf.clear();
        if result.is_err() {
            *broken = true;
        }
        result.map_err(WorkerError::from)
    }
}

impl<S: FrameSink> Drop for FrameSender<S> {
    fn drop(&mut self) {
        // Buffered messages are written when the last handle goes, so a worker whose `main`
        // returns without `exit` or `flush` loses nothing it queued. An error has no one to go
        // to: the primary is gone.
        let _ = self.flush();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Every interleaving of threads sharing one worker's sender (G3).

    // std's Arc: loom's cannot be dropped while loom reports a failure (see commands.rs).
    use std::io;
    use std::sync::Arc;

    use crew_model::{check, CheckOptions, Event as TraceEvent, Trace, Verdict};
    use loom::sync::Mutex;

    use super::{FrameSender, FrameSink, TraceSink};
    use crate::event::ClusterEvent;
    use crate::protocol::primary::{PrimaryConfig, PrimaryCore};
    use crate::protocol::worker::encode_hello;
    use crate::wire::HEADER_LEN;

    /// The channel: what the primary will read. Written a header's length at a time, each part
    /// a separate loom step, as a socket may take a frame in several `send`s; only the sender's
    /// lock keeps two threads' frames apart.
    #[derive(Clone)]
    struct Channel(Arc<Mutex<Vec<u8>>>);

    impl FrameSink for Channel {
        fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
            for part in bytes.chunks(HEADER_LEN) {
                self.0.lock().unwrap().extend_from_slice(part);
            }
            Ok(())
        }
    }

    /// The worker's trace file. One `write` per record to an append-only file is atomic, so a
    /// std mutex (invisible to loom, adding no interleavings) models it exactly.
    #[derive(Clone, Default)]
    struct TraceFile(Arc<std::sync::Mutex<Vec<TraceEvent>>>);

    impl TraceSink for TraceFile {
        fn record(&self, event: &TraceEvent) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    /// A worker 1 whose handshake is already in the channel.
    fn worker() -> (Arc<FrameSender<Channel>>, Channel, TraceFile) {
        let channel = Channel(Arc::new(Mutex::new(Vec::new())));
        let trace = TraceFile::default();
        let sender = FrameSender::new(1, channel.clone(), 1 << 10, Some(Box::new(trace.clone())));
        let mut hello = Vec::new();
        encode_hello(&mut hello, 1, 1);
        sender.write_raw(&hello).unwrap();
        (Arc::new(sender), channel, trace)
    }

    /// What the primary makes of the channel: the messages in order, and the combined trace
    /// (primary and worker), which the model must accept as a run prefix.
    fn primary_reads(channel: &Channel, worker_trace: &TraceFile) -> Vec<u64> {
        let mut core = PrimaryCore::<u64>::new(PrimaryConfig {
            tracing: true,
            ..PrimaryConfig::default()
        });
        core.on_spawned(1, 1);
        core.on_bytes(1, &channel.0.lock().unwrap());
        let mut messages = Vec::new();
        while let Some(event) = core.poll_event() {
            match event {
                ClusterEvent::Message { message, .. } => messages.push(message),
                ClusterEvent::Fork { .. } | ClusterEvent::Online { .. } => {}
                other => panic!("frames interleaved or cut: {other:?}"),
            }
        }
        let mut trace = Trace::from_events(core.drain_trace());
        for event in worker_trace.0.lock().unwrap().iter() {
            trace.push(event.clone());
        }
        let verdict = check(
            &trace,
            &CheckOptions {
                complete: false,
                ..CheckOptions::default()
            },
        );
        assert!(
            matches!(verdict, Verdict::Accepted { .. }),
            "model: {verdict}\n{}",
            trace.to_jsonl()
        );
        messages
    }

    /// `messages` holds every one of `sent`, each once, and each thread's in its order.
    fn assert_each_once_in_thread_order(messages: &[u64], threads: &[&[u64]]) {
        let mut sorted = messages.to_vec();
        sorted.sort_unstable();
        let mut expected: Vec<u64> = threads.iter().flat_map(|t| t.iter().copied()).collect();
        expected.sort_unstable();
        assert_eq!(sorted, expected, "a frame lost or duplicated: {messages:?}");
        for thread in threads {
            let order: Vec<u64> = messages
                .iter()
                .copied()
                .filter(|m| thread.contains(m))
                .collect();
            assert_eq!(
                order, *thread,
                "one thread's frames reordered: {messages:?}"
            );
        }
    }

    /// G3 with two threads: whole frames, none lost or doubled, each thread's in order, and the
    /// trace's Send numbers match the order on the channel (the model checks Send k before
    /// Receive k, and Receive k for the k-th frame).
    #[test]
    fn loom_concurrent_senders_never_interleave_or_lose_frames() {
        crate::sync::loom_support::model("concurrent senders", 3, || {
            let (sender, channel, trace) = worker();
            let other = {
                let sender = Arc::clone(&sender);
                loom::thread::spawn(move || {
                    sender.send(&20u64).unwrap();
                    sender.send(&21u64).unwrap();
                })
            };
            sender.send(&10u64).unwrap();
            sender.send(&11u64).unwrap();
            other.join().unwrap();
            let messages = primary_reads(&channel, &trace);
            assert_each_once_in_thread_order(&messages, &[&[10, 11], &[20, 21]]);
            assert_eq!(sender.sent(), 4);
        });
    }

    /// The trace recorder: buffered sends, flushes and direct sends racing still record Send
    /// 0, 1, 2 exactly once each, in channel order, and `sent` counts exactly the frames written.
    #[test]
    fn loom_trace_sequence_numbers_stay_unique_and_complete() {
        crate::sync::loom_support::model("trace sequence numbers", 3, || {
            let (sender, channel, trace) = worker();
            let buffering = {
                let sender = Arc::clone(&sender);
                loom::thread::spawn(move || {
                    sender.send_buffered(&10u64).unwrap();
                    sender.send_buffered(&11u64).unwrap();
                    sender.flush().unwrap();
                })
            };
            sender.send(&20u64).unwrap();
            let sent_midway = sender.sent();
            buffering.join().unwrap();
            assert!((1..=3).contains(&sent_midway), "sent() = {sent_midway}");
            assert_eq!(sender.sent(), 3);
            let seqs: Vec<u64> = trace
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|e| match e {
                    TraceEvent::Send { seq, .. } => *seq,
                    other => panic!("unexpected record {other:?}"),
                })
                .collect();
            assert_eq!(seqs, [0, 1, 2], "Send numbers not unique and complete");
            let messages = primary_reads(&channel, &trace);
            assert_each_once_in_thread_order(&messages, &[&[10, 11], &[20]]);
        });
    }
}
