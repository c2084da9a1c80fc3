//! Fuzz and regression entry point for the primary's protocol core: `fuzz/fuzz_targets/core.rs`
//! runs [`core`] under libFuzzer and `tests/fuzz_corpus.rs` replays the committed corpus
//! (`fuzz/corpus/core/`) through it on stable. It panics when [`PrimaryCore`] breaks one of its
//! promises; that is its purpose.
//!
//! The fuzzer's bytes become a sequence of driver inputs and user commands, applied the way
//! `cluster.rs` applies them: forks only with [`PrimaryCore::next_worker_id`] and only when
//! [`PrimaryCore::may_fork`], every action taken right after the call that queued it (a Spawn
//! answered at once with `on_spawned` or `on_respawn_failed`), a monotonic clock, kill signals
//! that the driver's `is_signal` accepts (plus, now and then, one it would refuse), exit
//! statuses with exactly one of code and signal, and a signal exit only by a signal the primary
//! requested if it requested any (the model's G6 assumption about the environment).

use std::ops::ControlFlow;
use std::time::Duration;

use crew_model::{check, CheckOptions, Event as TraceEvent, Trace, Verdict, WorkerId};

use crate::error::CommandError;
use crate::event::{ClusterEvent, ExitStatus, WorkerState};
use crate::protocol::primary::{Action, Phase, PrimaryConfig, PrimaryCore};
use crate::restart::{Restart, RestartPolicy};
use crate::wire::{self, Decoder, FrameKind, Hello, HEADER_LEN};

/// Driver inputs and commands per fuzz input at most.
const MAX_OPS: usize = 400;
/// User forks at most (replacements come on top).
const MAX_FORKS: WorkerId = 6;

/// A byte reader that never fails: past the end it yields zeros.
struct Source<'a>(&'a [u8]);

impl Source<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A message value: small ones mostly (one-byte varints), now and then large.
    fn value(&mut self) -> u64 {
        let b = self.byte();
        match b % 4 {
            0..=2 => u64::from(b >> 2),
            _ => u64::from(self.byte()) << (u32::from(self.byte() % 8) * 8),
        }
    }
}

/// Where a worker is in its event sequence: Fork, Online?, Message*, Disconnect, Exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Forked,
    Online,
    Disconnected,
    Exited,
}

/// What the harness knows about one forked worker.
struct Shadow {
    stage: Stage,
    protocol_error: bool,
    /// CloseChannel was taken.
    closed: bool,
    shutdown_write: bool,
    /// A disconnect was requested (by `disconnect` or `shutdown`).
    disconnect_requested: bool,
    /// Signals of the Signal actions for it.
    kills: Vec<i32>,
    /// The status the harness reported for it, once.
    exit_status: Option<ExitStatus>,
    /// Message events reported for it.
    messages: u64,
    /// Only well-formed frames were fed: the right handshake first, then messages that decode,
    /// none over the limit. Such a channel never gets a protocol error, and its messages are
    /// exactly `fed_values`, in order.
    clean: bool,
    hello_fed: bool,
    fed_values: Vec<u64>,
    /// The same bytes the core's decoder got, into a decoder of the same limit: its memory
    /// stays within the frame limit (the core's own decoder is not observable).
    inbound: Decoder,
    /// Values of the sends that returned Ok, in order (G4).
    sent_values: Vec<u64>,
    /// What the driver wrote of `outgoing`, decoded: always a prefix of `sent_values`.
    outbound: Decoder,
    written: Vec<u64>,
}

struct Harness {
    core: PrimaryCore<u64>,
    max_frame: u32,
    now: u64,
    workers: Vec<Shadow>,
    /// The replacement a Restart announced and no Spawn answered yet.
    announced: Option<WorkerId>,
    /// `shutdown` was called.
    shutdown: bool,
    /// End was reported.
    ended: bool,
    /// A Spawn was answered with `on_respawn_failed`.
    respawn_failed: bool,
    /// An input the driver would refuse (a signal `is_signal` rejects) reached the core: its
    /// trace is not held to the model.
    off_contract: bool,
    trace: Vec<TraceEvent>,
}

impl Harness {
    fn shadow(&mut self, worker: WorkerId) -> Option<&mut Shadow> {
        let index = (worker as usize).checked_sub(1)?;
        self.workers.get_mut(index)
    }

    fn forks(&self) -> WorkerId {
        self.workers.len() as WorkerId
    }

    /// A worker id: mostly a forked one, now and then 0, the next id or the largest.
    fn pick(&self, src: &mut Source<'_>) -> WorkerId {
        let b = src.byte();
        let forks = self.forks();
        if b < 232 && forks > 0 {
            WorkerId::from(b) % forks + 1
        } else {
            [0, forks + 1, WorkerId::MAX, forks][usize::from(b % 4)]
        }
    }

    fn spawn(&mut self, worker: WorkerId) {
        assert_eq!(worker, self.core.next_worker_id());
        self.core.on_spawned(worker, 1000 + worker);
    }

    /// Takes every queued event and action, checking each, answering Spawn the way the driver
    /// does; then cross-checks the core's worker table.
    fn settle(&mut self, src: &mut Source<'_>) {
        // Events and actions are separate queues: the call that reports End may also have
        // queued actions before it (the last worker's CloseChannel). Actions are only illegal
        // from calls made after End.
        let ended_before = self.ended;
        loop {
            while let Some(event) = self.core.poll_event() {
                self.on_event(event);
            }
            let Some(action) = self.core.poll_action() else {
                break;
            };
            assert!(!ended_before, "{action:?} after End");
            self.on_action(action, src);
        }
        self.trace.extend(self.core.drain_trace());
        self.cross_check();
    }

    fn on_event(&mut self, event: ClusterEvent<u64>) {
        assert!(!self.ended, "{event:?} after End");
        match event {
            ClusterEvent::Fork { worker } => {
                assert_eq!(worker, self.forks() + 1, "Fork ids are dense (G1)");
                let max_frame = self.max_frame;
                self.workers.push(Shadow {
                    stage: Stage::Forked,
                    protocol_error: false,
                    closed: false,
                    shutdown_write: false,
                    disconnect_requested: false,
                    kills: Vec::new(),
                    exit_status: None,
                    messages: 0,
                    clean: true,
                    hello_fed: false,
                    fed_values: Vec::new(),
                    inbound: Decoder::new(max_frame),
                    sent_values: Vec::new(),
                    outbound: Decoder::new(u32::MAX),
                    written: Vec::new(),
                });
            }
            ClusterEvent::Online { worker } => {
                let w = self.shadow(worker).expect("Online of an unforked worker");
                assert_eq!(
                    w.stage,
                    Stage::Forked,
                    "Online of worker {worker} out of order"
                );
                assert!(!w.protocol_error, "Online after a protocol error");
                if w.clean {
                    assert!(w.hello_fed, "Online without a handshake");
                }
                w.stage = Stage::Online;
            }
            ClusterEvent::Message { worker, message } => {
                let w = self
                    .shadow(worker)
                    .expect("Message from an unforked worker");
                assert_eq!(
                    w.stage,
                    Stage::Online,
                    "Message from worker {worker} out of order"
                );
                assert!(!w.protocol_error, "Message after a protocol error");
                if w.clean {
                    let expected = w.fed_values.get(w.messages as usize);
                    assert_eq!(
                        Some(&message),
                        expected,
                        "message {} of worker {worker}",
                        w.messages
                    );
                }
                w.messages += 1;
            }
            ClusterEvent::Disconnect { worker } => {
                let w = self
                    .shadow(worker)
                    .expect("Disconnect of an unforked worker");
                assert!(
                    matches!(w.stage, Stage::Forked | Stage::Online),
                    "Disconnect of worker {worker} in stage {:?}",
                    w.stage
                );
                w.stage = Stage::Disconnected;
            }
            ClusterEvent::Exit {
                worker,
                status,
                exited_after_disconnect,
            } => {
                let w = self.shadow(worker).expect("Exit of an unforked worker");
                assert_eq!(
                    w.stage,
                    Stage::Disconnected,
                    "Exit of worker {worker} before its Disconnect"
                );
                assert_eq!(
                    Some(status),
                    w.exit_status,
                    "Exit status of worker {worker}"
                );
                assert_eq!(
                    exited_after_disconnect, w.disconnect_requested,
                    "exited_after_disconnect of worker {worker} (G7)"
                );
                w.stage = Stage::Exited;
            }
            ClusterEvent::ProtocolError { worker, reason } => {
                let w = self
                    .shadow(worker)
                    .expect("ProtocolError of an unforked worker");
                assert!(
                    matches!(w.stage, Stage::Forked | Stage::Online),
                    "ProtocolError of worker {worker} in stage {:?}",
                    w.stage
                );
                assert!(!w.protocol_error, "second ProtocolError of worker {worker}");
                assert!(!w.clean, "ProtocolError on well-formed frames: {reason}");
                w.protocol_error = true;
            }
            ClusterEvent::Restart {
                worker,
                replacement,
            } => {
                assert!(!self.shutdown, "Restart during shutdown (G9)");
                assert!(
                    self.announced.is_none(),
                    "a second Restart before the first's Spawn"
                );
                assert_eq!(replacement, self.forks() + 1, "replacement id (G1, G11)");
                let w = self.shadow(worker).expect("Restart of an unforked worker");
                assert_eq!(w.stage, Stage::Exited, "Restart of a live worker");
                assert!(
                    !w.disconnect_requested,
                    "Restart after an expected exit (G11)"
                );
                self.announced = Some(replacement);
            }
            ClusterEvent::RestartFailed { replacement, .. } => {
                assert!(
                    self.respawn_failed,
                    "RestartFailed without a failed respawn"
                );
                assert_eq!(replacement, self.forks() + 1);
            }
            ClusterEvent::GaveUp { worker, .. } => {
                assert!(!self.shutdown, "GaveUp during shutdown (G9)");
                let w = self.shadow(worker).expect("GaveUp of an unforked worker");
                assert_eq!(w.stage, Stage::Exited, "GaveUp for a live worker");
                assert!(
                    !w.disconnect_requested,
                    "GaveUp after an expected exit (G11)"
                );
            }
            ClusterEvent::CommandFailed { worker, error } => {
                panic!("CommandFailed {worker}: {error} (the harness reports none)")
            }
            ClusterEvent::End => {
                assert!(self.shutdown, "End without shutdown (G9)");
                assert!(self.announced.is_none(), "End with a replacement announced");
                for (i, w) in self.workers.iter().enumerate() {
                    assert_eq!(
                        w.stage,
                        Stage::Exited,
                        "End with worker {} alive (G5)",
                        i + 1
                    );
                }
                self.ended = true;
            }
        }
    }

    fn on_action(&mut self, action: Action, src: &mut Source<'_>) {
        match action {
            Action::Spawn { worker } => {
                assert_eq!(
                    self.announced,
                    Some(worker),
                    "Spawn of {worker} not announced by a Restart"
                );
                assert_eq!(worker, self.core.next_worker_id(), "Spawn of a non-next id");
                self.announced = None;
                if src.byte() % 8 == 7 {
                    self.respawn_failed = true;
                    let dead = self.core.restart_origin(worker);
                    assert_ne!(dead, 0, "restart_origin of the announced replacement");
                    self.core
                        .on_respawn_failed(dead, worker, "fuzz: spawn failed".into());
                } else {
                    self.spawn(worker);
                }
            }
            Action::Signal { worker, signal } => {
                let w = self.shadow(worker).expect("Signal to an unforked worker");
                assert!(
                    w.stage != Stage::Exited,
                    "Signal to exited worker {worker} (G6)"
                );
                w.kills.push(signal);
            }
            Action::ShutdownWrite { worker } => {
                let w = self
                    .shadow(worker)
                    .expect("ShutdownWrite of an unforked worker");
                assert!(
                    w.stage != Stage::Exited,
                    "ShutdownWrite of an exited worker"
                );
                assert!(!w.closed, "ShutdownWrite of a closed channel");
                assert!(!w.shutdown_write, "second ShutdownWrite of worker {worker}");
                w.shutdown_write = true;
            }
            Action::CloseChannel { worker } => {
                let w = self
                    .shadow(worker)
                    .expect("CloseChannel of an unforked worker");
                assert!(!w.closed, "second CloseChannel of worker {worker}");
                w.closed = true;
            }
        }
    }

    fn cross_check(&self) {
        let alive = self
            .workers
            .iter()
            .filter(|w| w.stage != Stage::Exited)
            .count();
        assert_eq!(self.core.alive(), alive, "alive()");
        assert_eq!(
            self.core.next_worker_id(),
            self.forks() + 1,
            "next_worker_id()"
        );
        assert_eq!(
            self.core.phase() == Phase::Ended,
            self.ended,
            "phase() vs End"
        );
        for (i, w) in self.workers.iter().enumerate() {
            let id = i as WorkerId + 1;
            assert_eq!(
                w.closed,
                w.stage >= Stage::Disconnected,
                "CloseChannel and Disconnect of worker {id} disagree"
            );
            let info = self.core.worker(id).expect("a forked worker has a row");
            assert_eq!(info.received, w.messages, "received count of worker {id}");
            assert_eq!(
                info.sent,
                w.sent_values.len() as u64,
                "sent count of worker {id}"
            );
            assert_eq!(info.state == WorkerState::Dead, w.stage == Stage::Exited);
            let outgoing = self.core.outgoing(id);
            if w.closed {
                assert!(outgoing.is_empty(), "bytes queued for closed worker {id}");
            }
            assert_eq!(
                self.core.wants_write(id),
                !w.closed && !outgoing.is_empty(),
                "wants_write of worker {id}"
            );
        }
    }

    /// Bytes from a worker: pieces of well-formed and malformed frames and garbage, fed in
    /// fuzzer-chosen chunks.
    fn feed(&mut self, src: &mut Source<'_>) {
        let worker = self.pick(src);
        let max_frame = self.max_frame;
        let mut stream = Vec::new();
        let mut clean = true;
        let mut hello = self.shadow(worker).is_some_and(|w| w.hello_fed);
        let mut values = Vec::new();
        for _ in 0..=src.byte() % 4 {
            let start = stream.len();
            let well_formed = match src.byte() % 10 {
                0 | 1 => {
                    let pid = u32::from(src.byte());
                    let hello_frame = Hello { worker, pid };
                    encode(&mut stream, FrameKind::Hello, &hello_frame);
                    let ok = !hello;
                    hello = true;
                    ok
                }
                2 => {
                    let wrong = worker.wrapping_add(1 + u32::from(src.byte() % 3));
                    encode(
                        &mut stream,
                        FrameKind::Hello,
                        &Hello {
                            worker: wrong,
                            pid: 1,
                        },
                    );
                    false
                }
                3..=5 => {
                    let value = src.value();
                    encode(&mut stream, FrameKind::Message, &value);
                    values.push(value);
                    hello
                }
                6 => {
                    // A payload that does not decode as u64: empty, an overlong varint, or
                    // trailing bytes.
                    let payload: &[u8] = match src.byte() % 3 {
                        0 => &[],
                        1 => &[0xff; 11],
                        _ => &[1, 2],
                    };
                    let kind = if src.byte() & 1 == 0 {
                        FrameKind::Message
                    } else {
                        FrameKind::Hello
                    };
                    raw_frame(&mut stream, kind as u8, payload);
                    false
                }
                7 => {
                    let n = usize::from(src.byte() % 12);
                    stream.extend_from_slice(src.take(n));
                    false
                }
                8 => {
                    // A header announcing more than the limit, or a frame cut short.
                    let len = if src.byte() & 1 == 0 {
                        max_frame.saturating_add(1)
                    } else {
                        u32::from(src.byte())
                    };
                    stream.extend_from_slice(&[
                        b'c',
                        b'w',
                        wire::VERSION,
                        FrameKind::Message as u8,
                    ]);
                    stream.extend_from_slice(&len.to_le_bytes());
                    false
                }
                _ => {
                    // A bad version or kind byte.
                    let b = src.byte();
                    stream.extend_from_slice(&[b'c', b'w', b, b ^ 0x55, 0, 0, 0, 0]);
                    false
                }
            };
            let payload_len = stream.len().saturating_sub(start + HEADER_LEN);
            if !well_formed || payload_len > max_frame as usize {
                clean = false;
            }
        }
        if let Some(w) = self.shadow(worker) {
            if !w.closed && w.clean {
                if clean {
                    w.hello_fed = hello;
                    w.fed_values.extend(values);
                } else {
                    w.clean = false;
                }
            }
        }
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let b = src.byte();
            let n = if b & 0x80 != 0 {
                rest.len()
            } else {
                usize::from(b % 16) + 1
            };
            let (chunk, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            if let Some(w) = self.shadow(worker) {
                if !w.closed && w.inbound.error().is_none() {
                    let _ = w.inbound.feed(chunk, |_| ControlFlow::Continue(()));
                    assert!(
                        w.inbound.allocated() <= HEADER_LEN + max_frame as usize,
                        "decoder memory past the frame limit"
                    );
                }
            }
            self.core.on_bytes(worker, chunk);
            self.settle(src);
        }
    }

    fn exit(&mut self, src: &mut Source<'_>) {
        let worker = self.pick(src);
        let b = src.byte();
        let kills = self
            .shadow(worker)
            .map(|w| w.kills.clone())
            .unwrap_or_default();
        let status = if b & 1 == 0 {
            ExitStatus {
                code: Some([0, 1, 2, -1, 137, 0, 1, 255][usize::from(b >> 5)]),
                signal: None,
            }
        } else {
            let signal = if kills.is_empty() {
                [9, 15, 11, 6][usize::from(b >> 6)]
            } else {
                kills[usize::from(b >> 1) % kills.len()]
            };
            ExitStatus {
                code: None,
                signal: Some(signal),
            }
        };
        if let Some(w) = self.shadow(worker) {
            if w.stage != Stage::Exited {
                w.exit_status = Some(status);
            }
        }
        self.core.on_exit(worker, status, self.now);
    }

    fn send(&mut self, src: &mut Source<'_>, encoded: bool) {
        let worker = self.pick(src);
        let value = src.value();
        let result = if encoded {
            // What a ClusterHandle sends: a frame encoded with the cluster's limit.
            let mut frame = Vec::new();
            if wire::encode(&mut frame, FrameKind::Message, &value, self.max_frame).is_err() {
                return;
            }
            self.core.send_encoded(worker, &frame)
        } else {
            self.core.send(worker, &value)
        };
        let ended = self.ended;
        match (result, self.shadow(worker)) {
            (Ok(()), Some(w)) => {
                assert!(!ended, "send Ok after End");
                assert!(
                    w.stage < Stage::Disconnected,
                    "send Ok to a disconnected or dead worker (G4)"
                );
                assert!(
                    !w.closed && !w.disconnect_requested,
                    "send Ok to a disconnecting worker (G4)"
                );
                w.sent_values.push(value);
            }
            (Ok(()), None) => panic!("send Ok to unforked worker {worker}"),
            (Err(CommandError::NoSuchWorker { .. }), Some(_)) if !ended => {
                panic!("NoSuchWorker for forked worker {worker}")
            }
            (Err(_), _) => {}
        }
    }

    /// The driver writes `n` bytes of a worker's queue.
    fn write(&mut self, src: &mut Source<'_>) {
        let worker = self.pick(src);
        let pending = self.core.outgoing(worker).to_vec();
        let b = src.byte();
        let n = if b & 0x80 != 0 {
            pending.len() + usize::from(b & 1)
        } else {
            usize::from(b) % (pending.len() + 1)
        };
        if let Some(w) = self.shadow(worker) {
            let written = &pending[..n.min(pending.len())];
            let mut decoded = Vec::new();
            let fed = w.outbound.feed(written, |frame| {
                assert_eq!(
                    frame.kind,
                    FrameKind::Message,
                    "a non-message frame to a worker"
                );
                decoded
                    .push(wire::decode_owned::<u64>(frame.payload).expect("queued frame decodes"));
                ControlFlow::Continue(())
            });
            assert!(fed.is_ok(), "queued bytes do not frame: {fed:?}");
            w.written.extend(decoded);
            assert!(
                w.sent_values.starts_with(&w.written),
                "worker {worker} is written {:?}, not a prefix of what was sent {:?} (G4)",
                w.written,
                w.sent_values
            );
        } else {
            assert!(
                pending.is_empty(),
                "bytes queued for unforked worker {worker}"
            );
        }
        self.core.advance_outgoing(worker, n);
    }

    fn kill(&mut self, src: &mut Source<'_>) {
        let worker = self.pick(src);
        let b = src.byte();
        let signal = if b < 240 {
            [9, 15, 11, 6, 1, 2, 10, 12][usize::from(b % 8)]
        } else {
            // The driver refuses these before the core sees them (`os::is_signal`).
            self.off_contract = true;
            [0, -1, 65, i32::MAX][usize::from(b % 4)]
        };
        let result = self.core.kill(worker, signal);
        if result.is_ok() {
            let w = self.shadow(worker).expect("kill Ok of an unforked worker");
            assert!(w.stage != Stage::Exited, "kill Ok of an exited worker (G6)");
        }
    }

    fn disconnect(&mut self, src: &mut Source<'_>) {
        let worker = self.pick(src);
        let timeout = timeout(src.byte());
        if self.core.disconnect(worker, timeout, self.now).is_ok() {
            let w = self
                .shadow(worker)
                .expect("disconnect Ok of an unforked worker");
            assert!(
                w.stage != Stage::Exited,
                "disconnect Ok of an exited worker"
            );
            w.disconnect_requested = true;
        }
    }

    fn shutdown(&mut self, src: &mut Source<'_>) {
        let timeout = timeout(src.byte());
        if !self.shutdown {
            self.shutdown = true;
            for w in &mut self.workers {
                if w.stage != Stage::Exited {
                    w.disconnect_requested = true;
                }
            }
        }
        self.core.shutdown(timeout, self.now);
    }
}

fn timeout(b: u8) -> Option<u64> {
    [None, Some(0), Some(10), Some(1000)][usize::from(b % 4)]
}

fn restart(src: &mut Source<'_>) -> Restart {
    let b = src.byte();
    Restart {
        policy: [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ][usize::from(b % 3)],
        max_restarts: u32::from((b >> 2) % 4),
        window: Duration::from_millis([0, 100, 1000, 5000][usize::from(b >> 6)]),
    }
}

/// Appends a well-formed frame (limit: whatever fits a u32), to be fed to the core.
fn encode<T: serde::Serialize>(out: &mut Vec<u8>, kind: FrameKind, value: &T) {
    wire::encode(out, kind, value, u32::MAX).expect("small values encode");
}

fn raw_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.extend_from_slice(&[b'c', b'w', wire::VERSION, kind]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The primary's trace with the worker-side events it implies: `Send{w, k}` for each
/// `Receive{w, k}` (the worker logged it before writing the frame) and `Run{w}` after
/// `Online{w}`. Worker-to-primary sends that were never received are unknown, so the trace is
/// a snapshot: checked with `complete: false`, or `complete: true` once End is in it.
fn with_worker_events(primary: &[TraceEvent]) -> Trace {
    let mut trace = Trace::new();
    for event in primary {
        if let TraceEvent::Receive { worker, seq } = *event {
            trace.push(TraceEvent::Send { worker, seq });
        }
        trace.push(event.clone());
        if let TraceEvent::Online { worker } = *event {
            trace.push(TraceEvent::Run { worker });
        }
    }
    trace
}

/// Fuzz entry point: byte 0 picks the frame limit and the queue limit, byte 1 the restart
/// policy; the rest is a sequence of driver inputs and commands (see the module docs).
///
/// Checks: the core never panics; every action is legal (Signal only to a forked worker not yet
/// exited; Spawn only of the next id and only after a Restart announced it; ShutdownWrite and
/// CloseChannel at most once per worker); per worker the events come in the order Fork,
/// Online?, Message*, Disconnect, Exit, with at most one ProtocolError before Disconnect and
/// never on well-formed frames, whose messages arrive exactly, in order; Restart and GaveUp
/// follow only an unexpected exit outside shutdown; nothing follows End, and End comes only
/// after shutdown with no worker alive; bytes are queued only for open channels and frame as
/// the values sent, in order (G4); the worker table agrees with the events; and the recorded
/// trace, completed with the worker-side Sends, is accepted by crew-model.
pub fn core(data: &[u8]) {
    let mut src = Source(data);
    let config_byte = src.byte();
    let max_frame = [4, 16, 64, 4096][usize::from(config_byte % 4)];
    // The `fault-injection` feature adds a field; without it the update is empty.
    #[allow(clippy::needless_update)]
    let config = PrimaryConfig {
        max_frame,
        max_depth: wire::DEFAULT_MAX_DEPTH,
        max_queued: [16, 64, 1 << 20, 1 << 20][usize::from((config_byte >> 2) % 4)],
        restart: restart(&mut src),
        tracing: true,
        ..PrimaryConfig::default()
    };
    let mut h = Harness {
        core: PrimaryCore::new(config),
        max_frame,
        now: 0,
        workers: Vec::new(),
        announced: None,
        shutdown: false,
        ended: false,
        respawn_failed: false,
        off_contract: false,
        trace: Vec::new(),
    };
    h.settle(&mut src);
    let mut ops = 0;
    while !src.is_empty() && ops < MAX_OPS {
        ops += 1;
        match src.byte() % 16 {
            0 | 1 => {
                if h.core.may_fork() && h.forks() < MAX_FORKS {
                    let next = h.core.next_worker_id();
                    h.spawn(next);
                }
            }
            2..=4 => h.feed(&mut src),
            5 => {
                let worker = h.pick(&mut src);
                h.core.on_channel_eof(worker);
            }
            6 | 7 => h.exit(&mut src),
            8 => h.send(&mut src, false),
            9 => h.send(&mut src, true),
            10 => h.kill(&mut src),
            11 => h.disconnect(&mut src),
            12 => {
                // Shutdown ends the interesting part: make it rarer.
                if src.byte() % 4 == 0 {
                    h.shutdown(&mut src);
                }
            }
            13 => {
                h.now += [0, 1, 5, 10, 100, 1000, 10_000, 0][usize::from(src.byte() % 8)];
                h.core.on_tick(h.now);
            }
            14 => {
                let restart = restart(&mut src);
                // After End the core refuses (and records nothing: nothing follows End).
                let changed = h.core.set_restart(restart);
                assert_eq!(changed.is_err(), h.ended, "set_restart: {changed:?}");
            }
            _ => h.write(&mut src),
        }
        h.settle(&mut src);
    }

    // The trace against the model.
    let counted: Vec<u64> = h.workers.iter().map(|w| w.messages).collect();
    for (i, &messages) in counted.iter().enumerate() {
        let worker = i as WorkerId + 1;
        let receives = h
            .trace
            .iter()
            .filter(|e| matches!(e, TraceEvent::Receive { worker: w, .. } if *w == worker))
            .count() as u64;
        assert_eq!(
            receives, messages,
            "Receive events vs Message events of worker {worker}"
        );
    }
    if h.off_contract {
        return;
    }
    let trace = with_worker_events(&h.trace);
    let snapshot = CheckOptions {
        max_nodes: 1 << 24,
        complete: h.ended,
    };
    let verdict = check(&trace, &snapshot);
    if !verdict.is_accepted() {
        let detail = match &verdict {
            Verdict::Rejected { violation, .. } => violation.to_string(),
            other => other.to_string(),
        };
        panic!(
            "crew-model rejects the core's trace: {detail}\ntrace:\n{}",
            trace.to_jsonl()
        );
    }
}
