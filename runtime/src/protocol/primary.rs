//! The primary's side of the protocol, sans-IO.
//!
//! [`PrimaryCore`] takes what the driver observed (bytes read from a worker's channel, the
//! channel's EOF, a child's exit, the clock) and the user's commands, and hands out
//! [`Action`]s for the driver (spawn, signal, close), bytes to write (per-worker outgoing
//! queues), the [`ClusterEvent`]s to report, and, when tracing, the model's events. It makes no
//! syscall and reads no clock: time comes in as milliseconds since the cluster started.

use std::collections::VecDeque;
use std::ops::ControlFlow;

use crew_model::{Event as TraceEvent, WorkerId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CommandError;
use crate::event::{ClusterEvent, ExitStatus, WorkerInfo, WorkerState};
use crate::restart::{Decision, Intensity, Restart};
use crate::wire::{self, Decoder, FrameKind, Hello};

/// `SIGKILL`: used for disconnect-timeout escalation (G7) and bad frames (G10).
pub const SIGKILL: i32 = 9;

/// A deliberate fault, for proving that the conformance harness rejects a broken runtime
/// (`crew-conformance`'s self-test). Only with the `fault-injection` feature; never set unless
/// asked for with [`ClusterBuilder::inject_fault`](crate::ClusterBuilder::inject_fault).
#[cfg(feature = "fault-injection")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Each worker's last message is held back and dropped at its EOF. Breaks G3.
    DropLastMessageBeforeExit,
    /// Exit is reported before the channel is drained and closed (Node's order). Breaks G2.
    ExitBeforeDrain,
    /// A fork reports the previous worker's id. Breaks G1.
    ReuseId,
}

/// Limits and policy of a primary.
#[derive(Clone, Debug)]
pub struct PrimaryConfig {
    /// Largest frame payload accepted from or sent to a worker (G10).
    pub max_frame: u32,
    /// Deepest nesting accepted in a message payload (G10).
    pub max_depth: usize,
    /// Bytes queued for one worker before `send` says [`CommandError::QueueFull`].
    pub max_queued: usize,
    /// The restart policy (G11).
    pub restart: Restart,
    /// Record the model's events ([`PrimaryCore::drain_trace`]).
    pub tracing: bool,
    /// A deliberate fault (tests of the harness only).
    #[cfg(feature = "fault-injection")]
    pub fault: Option<Fault>,
}

impl Default for PrimaryConfig {
    fn default() -> Self {
        PrimaryConfig {
            max_frame: wire::DEFAULT_MAX_FRAME,
            max_depth: wire::DEFAULT_MAX_DEPTH,
            max_queued: 64 << 20,
            restart: Restart::NEVER,
            tracing: false,
            #[cfg(feature = "fault-injection")]
            fault: None,
        }
    }
}

/// Something the driver must do to the OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the process of worker `worker` (a replacement, G11); answer with
    /// [`PrimaryCore::on_spawned`] or [`PrimaryCore::on_respawn_failed`].
    Spawn {
        /// The id it gets.
        worker: WorkerId,
    },
    /// Signal the worker's process through its pidfd (G6).
    Signal {
        /// The worker.
        worker: WorkerId,
        /// The signal number.
        signal: i32,
    },
    /// Shut down the writing half of the channel: the worker reads EOF, the primary keeps
    /// reading what it still sends (G3, G7).
    ShutdownWrite {
        /// The worker.
        worker: WorkerId,
    },
    /// Close the channel entirely and stop reading it (G10, or after the process exited).
    CloseChannel {
        /// The worker.
        worker: WorkerId,
    },
}

/// The phase of the primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Forking and supervising.
    Running,
    /// Shutdown began: no forks, no restarts (G9).
    ShuttingDown,
    /// Every worker reaped after shutdown; End reported.
    Ended,
}

struct Slot {
    id: WorkerId,
    pid: u32,
    state: WorkerState,
    decoder: Decoder,
    /// Messages received from the worker (next expected is this number; G3).
    received: u64,
    /// Messages sent to the worker (G4).
    sent: u64,
    /// Encoded frames not yet written; `out_pos` bytes of it are written.
    out: Vec<u8>,
    out_pos: usize,
    /// The handshake arrived (G2). Not derived from `state`: a disconnect requested before
    /// the handshake moves `state` to Disconnecting, and the handshake is still owed.
    online: bool,
    /// The primary asked for a disconnect (G7); Exit reports it.
    disconnect_requested: bool,
    /// The channel is closed (EOF read or closed by the primary).
    channel_closed: bool,
    /// When to escalate a disconnect to SIGKILL (G7), in ms since start.
    kill_at: Option<u64>,
}

impl Slot {
    fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

/// The primary's protocol state machine. `Up` is the type workers send.
pub struct PrimaryCore<Up> {
    config: PrimaryConfig,
    /// Slot of worker `id` is at index `id - 1`: ids are dense (G1).
    slots: Vec<Slot>,
    phase: Phase,
    intensity: Intensity,
    events: VecDeque<ClusterEvent<Up>>,
    actions: VecDeque<Action>,
    trace: Vec<TraceEvent>,
    /// (exited worker, replacement) announced by a Restart and not yet spawned.
    pending_respawn: Option<(WorkerId, WorkerId)>,
    /// Messages held back by [`Fault::DropLastMessageBeforeExit`].
    #[cfg(feature = "fault-injection")]
    held: std::collections::HashMap<WorkerId, Up>,
}

impl<Up: DeserializeOwned> PrimaryCore<Up> {
    /// A primary with no workers.
    pub fn new(config: PrimaryConfig) -> Self {
        let mut core = PrimaryCore {
            config,
            slots: Vec::new(),
            phase: Phase::Running,
            intensity: Intensity::default(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            trace: Vec::new(),
            pending_respawn: None,
            #[cfg(feature = "fault-injection")]
            held: std::collections::HashMap::new(),
        };
        let restart = core.config.restart;
        core.record_config(restart);
        core
    }

    /// The id the next forked worker gets (G1: 1, 2, 3, … never reused).
    pub fn next_worker_id(&self) -> WorkerId {
        self.slots.len() as WorkerId + 1
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Workers not yet reaped.
    pub fn alive(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state != WorkerState::Dead)
            .count()
    }

    /// Whether a user fork may proceed now.
    pub fn may_fork(&self) -> bool {
        self.phase == Phase::Running && self.pending_respawn.is_none()
    }

    /// Changes the restart policy from now on; the intensity count starts afresh. Errors with
    /// [`CommandError::Ended`] once the cluster has ended (nothing follows End).
    pub fn set_restart(&mut self, restart: Restart) -> Result<(), CommandError> {
        if self.phase == Phase::Ended {
            return Err(CommandError::Ended);
        }
        self.config.restart = restart;
        self.intensity.reset();
        self.record_config(restart);
        Ok(())
    }

    fn record_config(&mut self, restart: Restart) {
        if self.config.tracing {
            self.trace.push(TraceEvent::Config {
                restart: restart.policy,
                max_restarts: restart.max_restarts,
                window_ms: restart.window_ms(),
            });
        }
    }

    /// The driver started worker `worker` (which must be [`next_worker_id`](Self::next_worker_id))
    /// as process `pid`. Reports Fork.
    pub fn on_spawned(&mut self, worker: WorkerId, pid: u32) {
        debug_assert_eq!(worker, self.next_worker_id(), "ids are dense (G1)");
        if self.pending_respawn.is_some_and(|(_, r)| r == worker) {
            self.pending_respawn = None;
        }
        self.slots.push(Slot {
            id: worker,
            pid,
            state: WorkerState::Forked,
            decoder: Decoder::new(self.config.max_frame),
            received: 0,
            sent: 0,
            out: Vec::new(),
            out_pos: 0,
            online: false,
            disconnect_requested: false,
            channel_closed: false,
            kill_at: None,
        });
        #[cfg(feature = "fault-injection")]
        let worker = if self.has_fault(Fault::ReuseId) && worker > 1 {
            worker - 1
        } else {
            worker
        };
        self.record(TraceEvent::Fork { worker });
        self.events.push_back(ClusterEvent::Fork { worker });
    }

    /// Whether `fault` is injected.
    #[cfg(feature = "fault-injection")]
    pub fn has_fault(&self, fault: Fault) -> bool {
        self.config.fault == Some(fault)
    }

    /// The worker whose exit the pending replacement `replacement` answers.
    pub fn restart_origin(&self, replacement: WorkerId) -> WorkerId {
        match self.pending_respawn {
            Some((dead, r)) if r == replacement => dead,
            _ => 0,
        }
    }

    /// A command from a [`ClusterHandle`](crate::ClusterHandle) failed in the loop.
    pub fn report_command_failed(&mut self, worker: WorkerId, error: String) {
        self.events
            .push_back(ClusterEvent::CommandFailed { worker, error });
    }

    /// The replacement announced by a Restart could not be started.
    pub fn on_respawn_failed(&mut self, worker: WorkerId, replacement: WorkerId, reason: String) {
        self.pending_respawn = None;
        // The replacement's id stays unused: the next fork gets it (G1).
        self.record(TraceEvent::RestartFailed {
            worker,
            replacement,
        });
        self.events.push_back(ClusterEvent::RestartFailed {
            worker,
            replacement,
            reason,
        });
        self.maybe_end();
    }

    /// Bytes read from worker `worker`'s channel.
    pub fn on_bytes(&mut self, worker: WorkerId, bytes: &[u8]) {
        let Some(index) = self.index(worker) else {
            return;
        };
        if self.slots[index].channel_closed {
            return;
        }
        let max_depth = self.config.max_depth;
        let tracing = self.config.tracing;
        let slot = &mut self.slots[index];
        let events = &mut self.events;
        let trace = &mut self.trace;
        #[cfg(feature = "fault-injection")]
        let mut held =
            (self.config.fault == Some(Fault::DropLastMessageBeforeExit)).then_some(&mut self.held);
        let mut bad: Option<String> = None;
        let fed = slot.decoder.feed(bytes, |frame| {
            match (slot.online, frame.kind) {
                (false, FrameKind::Hello) => {
                    match wire::decode_payload::<Hello>(frame.payload, max_depth) {
                        Ok(hello) if hello.worker == slot.id => {
                            // G2: Online is the first thing on the channel.
                            slot.online = true;
                            if slot.state == WorkerState::Forked {
                                slot.state = WorkerState::Online;
                            }
                            if tracing {
                                trace.push(TraceEvent::Online { worker: slot.id });
                            }
                            events.push_back(ClusterEvent::Online { worker: slot.id });
                            ControlFlow::Continue(())
                        }
                        Ok(hello) => {
                            bad = Some(format!(
                                "handshake names worker {}, expected {}",
                                hello.worker, slot.id
                            ));
                            ControlFlow::Break(())
                        }
                        Err(e) => {
                            bad = Some(format!("bad handshake: {e}"));
                            ControlFlow::Break(())
                        }
                    }
                }
                (false, FrameKind::Message) => {
                    bad = Some("message before the handshake".to_string());
                    ControlFlow::Break(())
                }
                (true, FrameKind::Hello) => {
                    bad = Some("second handshake".to_string());
                    ControlFlow::Break(())
                }
                (true, FrameKind::Message) => {
                    match wire::decode_payload::<Up>(frame.payload, max_depth) {
                        Ok(message) => {
                            #[cfg(feature = "fault-injection")]
                            let message = match held.as_mut() {
                                Some(held) => match held.insert(slot.id, message) {
                                    Some(previous) => previous,
                                    None => return ControlFlow::Continue(()),
                                },
                                None => message,
                            };
                            // G3: frames arrive in send order on a stream socket; the count
                            // is the worker's sequence number.
                            if tracing {
                                trace.push(TraceEvent::Receive {
                                    worker: slot.id,
                                    seq: slot.received,
                                });
                            }
                            slot.received += 1;
                            events.push_back(ClusterEvent::Message {
                                worker: slot.id,
                                message,
                            });
                            ControlFlow::Continue(())
                        }
                        Err(e) => {
                            bad = Some(format!("message {} does not decode: {e}", slot.received));
                            ControlFlow::Break(())
                        }
                    }
                }
            }
        });
        if let Err(e) = fed {
            bad.get_or_insert_with(|| e.to_string());
        }
        if let Some(reason) = bad {
            self.protocol_error(index, reason);
        }
    }

    /// G10: a bad frame closes the channel and kills the worker; other workers are untouched.
    fn protocol_error(&mut self, index: usize, reason: String) {
        let worker = self.slots[index].id;
        self.record(TraceEvent::ProtocolError {
            worker,
            reason: reason.clone(),
        });
        self.events
            .push_back(ClusterEvent::ProtocolError { worker, reason });
        self.record(TraceEvent::Kill {
            worker,
            signal: SIGKILL,
        });
        self.actions.push_back(Action::Signal {
            worker,
            signal: SIGKILL,
        });
        self.close_channel(index);
    }

    /// Closes the channel of slot `index` (if open) and reports Disconnect.
    fn close_channel(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.channel_closed {
            return;
        }
        slot.channel_closed = true;
        slot.state = WorkerState::Disconnected;
        // Slots live as long as the cluster: release a half-received frame's buffer (up to the
        // frame limit) now, or a crash-looping worker would keep one per restart.
        slot.decoder = Decoder::new(self.config.max_frame);
        #[cfg(feature = "fault-injection")]
        self.held.remove(&slot.id);
        slot.out = Vec::new();
        slot.out_pos = 0;
        let worker = slot.id;
        self.actions.push_back(Action::CloseChannel { worker });
        self.record(TraceEvent::Disconnect { worker });
        self.events.push_back(ClusterEvent::Disconnect { worker });
    }

    /// The worker's channel reached EOF: everything it wrote has been fed through
    /// [`on_bytes`](Self::on_bytes) (G2, G3). Reports Disconnect.
    pub fn on_channel_eof(&mut self, worker: WorkerId) {
        let Some(index) = self.index(worker) else {
            return;
        };
        // The faulty order reports Disconnect only after Exit, whichever the driver saw first.
        #[cfg(feature = "fault-injection")]
        if self.has_fault(Fault::ExitBeforeDrain) && self.slots[index].state != WorkerState::Dead {
            return;
        }
        // A frame cut short at EOF is a send that never returned Ok (the worker died inside
        // `write`): it is not a message, and G3 makes no promise about it. It is dropped.
        self.close_channel(index);
    }

    /// The worker's process exited and was reaped. The driver calls this after draining the
    /// channel (G2, G3); if the channel is still open it is closed first, so Disconnect always
    /// precedes Exit.
    pub fn on_exit(&mut self, worker: WorkerId, status: ExitStatus, now_ms: u64) {
        let Some(index) = self.index(worker) else {
            return;
        };
        if self.slots[index].state == WorkerState::Dead {
            return;
        }
        #[cfg(feature = "fault-injection")]
        let exit_first = self.has_fault(Fault::ExitBeforeDrain);
        #[cfg(not(feature = "fault-injection"))]
        let exit_first = false;
        // G2: Disconnect before Exit.
        if !exit_first {
            self.close_channel(index);
        }
        let slot = &mut self.slots[index];
        slot.state = WorkerState::Dead;
        slot.kill_at = None;
        let after_disconnect = slot.disconnect_requested;
        self.record(TraceEvent::Exit {
            worker,
            code: status.code,
            signal: status.signal,
            after_disconnect,
        });
        self.events.push_back(ClusterEvent::Exit {
            worker,
            status,
            exited_after_disconnect: after_disconnect,
        });
        if exit_first {
            let state = self.slots[index].state;
            self.close_channel(index);
            self.slots[index].state = state;
        }
        // G11: only an unexpected exit (not after disconnect, not during shutdown) is a case
        // for the restart policy.
        if !after_disconnect && self.phase == Phase::Running {
            let restart = self.config.restart;
            match self.intensity.decide(&restart, status.code, now_ms) {
                Decision::None => {}
                Decision::Restart => {
                    let replacement = self.next_worker_id();
                    self.pending_respawn = Some((worker, replacement));
                    self.record(TraceEvent::Restart {
                        worker,
                        replacement,
                        at_ms: now_ms,
                    });
                    self.events.push_back(ClusterEvent::Restart {
                        worker,
                        replacement,
                    });
                    self.actions.push_back(Action::Spawn {
                        worker: replacement,
                    });
                }
                Decision::GiveUp => {
                    self.record(TraceEvent::GaveUp {
                        worker,
                        at_ms: now_ms,
                    });
                    self.events.push_back(ClusterEvent::GaveUp {
                        worker,
                        max_restarts: restart.max_restarts,
                        window: restart.window,
                    });
                }
            }
        }
        self.maybe_end();
    }

    fn maybe_end(&mut self) {
        // G9: End only after shutdown and after the last Exit; G5: none alive.
        if self.phase == Phase::ShuttingDown && self.alive() == 0 && self.pending_respawn.is_none()
        {
            self.phase = Phase::Ended;
            self.record(TraceEvent::End);
            self.events.push_back(ClusterEvent::End);
        }
    }

    /// Queues `message` for worker `worker` (G4: FIFO, exactly once into its channel; an error
    /// for a worker that is disconnected or dead, never a silent drop).
    pub fn send<Down: Serialize + ?Sized>(
        &mut self,
        worker: WorkerId,
        message: &Down,
    ) -> Result<(), CommandError> {
        let max_frame = self.config.max_frame;
        self.enqueue(worker, |out| {
            encode_message(out, worker, message, max_frame)
        })
    }

    /// Queues an already-encoded frame (from a [`ClusterHandle`](crate::ClusterHandle)).
    pub fn send_encoded(&mut self, worker: WorkerId, frame: &[u8]) -> Result<(), CommandError> {
        self.enqueue(worker, |out| {
            out.extend_from_slice(frame);
            Ok(())
        })
    }

    /// Appends one frame (written by `put`) to the worker's outgoing queue, if the worker can
    /// still receive it (G4), and records the PrimarySend.
    fn enqueue(
        &mut self,
        worker: WorkerId,
        put: impl FnOnce(&mut Vec<u8>) -> Result<(), CommandError>,
    ) -> Result<(), CommandError> {
        let index = self.live_index(worker)?;
        let max_queued = self.config.max_queued;
        let slot = &mut self.slots[index];
        if slot.disconnect_requested || slot.channel_closed {
            return Err(CommandError::Disconnected { worker });
        }
        if slot.queued() >= max_queued {
            return Err(CommandError::QueueFull {
                worker,
                limit: max_queued,
            });
        }
        if slot.out_pos == slot.out.len() {
            slot.out.clear();
            slot.out_pos = 0;
        }
        put(&mut slot.out)?;
        let seq = slot.sent;
        slot.sent += 1;
        self.record(TraceEvent::PrimarySend { worker, seq });
        Ok(())
    }

    /// Bytes queued for `worker` and not yet written.
    pub fn outgoing(&self, worker: WorkerId) -> &[u8] {
        match self.index(worker) {
            Some(i) => &self.slots[i].out[self.slots[i].out_pos..],
            None => &[],
        }
    }

    /// The driver wrote `n` bytes of [`outgoing`](Self::outgoing).
    pub fn advance_outgoing(&mut self, worker: WorkerId, n: usize) {
        if let Some(i) = self.index(worker) {
            let slot = &mut self.slots[i];
            slot.out_pos = (slot.out_pos + n).min(slot.out.len());
            if slot.out_pos == slot.out.len() {
                slot.out.clear();
                slot.out_pos = 0;
            }
        }
    }

    /// Signals the worker (G6: an error if it is already dead; the driver signals through the
    /// pidfd, never by pid).
    pub fn kill(&mut self, worker: WorkerId, signal: i32) -> Result<(), CommandError> {
        self.live_index(worker)?;
        self.record(TraceEvent::Kill { worker, signal });
        self.actions.push_back(Action::Signal { worker, signal });
        Ok(())
    }

    /// Asks the worker to disconnect (G7): its channel's writing half is shut, it reads EOF,
    /// everything it still sends is delivered, and if it has not exited `timeout_ms` from
    /// `now_ms` it is killed with SIGKILL.
    pub fn disconnect(
        &mut self,
        worker: WorkerId,
        timeout_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<(), CommandError> {
        let index = self.live_index(worker)?;
        self.request_disconnect(index, timeout_ms, now_ms);
        Ok(())
    }

    fn request_disconnect(&mut self, index: usize, timeout_ms: Option<u64>, now_ms: u64) {
        let slot = &mut self.slots[index];
        let worker = slot.id;
        if let Some(t) = timeout_ms {
            let at = now_ms.saturating_add(t);
            slot.kill_at = Some(slot.kill_at.map_or(at, |k| k.min(at)));
        }
        if slot.disconnect_requested {
            return;
        }
        slot.disconnect_requested = true;
        if !slot.channel_closed {
            slot.state = WorkerState::Disconnecting;
            self.actions.push_back(Action::ShutdownWrite { worker });
        }
        self.record(TraceEvent::DisconnectRequested { worker });
    }

    /// Begins shutdown (G9): every live worker is asked to disconnect with `timeout_ms`, no
    /// worker is forked or restarted any more, and End is reported after the last Exit.
    pub fn shutdown(&mut self, timeout_ms: Option<u64>, now_ms: u64) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::ShuttingDown;
        self.record(TraceEvent::Shutdown);
        for index in 0..self.slots.len() {
            if self.slots[index].state != WorkerState::Dead {
                self.request_disconnect(index, timeout_ms, now_ms);
            }
        }
        self.maybe_end();
    }

    /// The clock advanced to `now_ms`: escalates overdue disconnects to SIGKILL (G7).
    pub fn on_tick(&mut self, now_ms: u64) {
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if slot.state != WorkerState::Dead && slot.kill_at.is_some_and(|k| k <= now_ms) {
                slot.kill_at = None;
                let worker = slot.id;
                self.record(TraceEvent::Kill {
                    worker,
                    signal: SIGKILL,
                });
                self.actions.push_back(Action::Signal {
                    worker,
                    signal: SIGKILL,
                });
            }
        }
    }

    /// The earliest pending deadline, in ms since start.
    pub fn next_deadline(&self) -> Option<u64> {
        self.slots
            .iter()
            .filter(|s| s.state != WorkerState::Dead)
            .filter_map(|s| s.kill_at)
            .min()
    }

    /// The next event to report to the user.
    pub fn poll_event(&mut self) -> Option<ClusterEvent<Up>> {
        self.events.pop_front()
    }

    /// Whether an event is waiting.
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The model's events recorded since the last call (empty unless tracing).
    pub fn drain_trace(&mut self) -> std::vec::Drain<'_, TraceEvent> {
        self.trace.drain(..)
    }

    /// The worker table.
    pub fn workers(&self) -> impl Iterator<Item = WorkerInfo> + '_ {
        self.slots.iter().map(|s| WorkerInfo {
            id: s.id,
            pid: s.pid,
            state: s.state,
            received: s.received,
            sent: s.sent,
        })
    }

    /// One worker's row.
    pub fn worker(&self, worker: WorkerId) -> Option<WorkerInfo> {
        self.workers().nth(self.index(worker)?)
    }

    /// Ids of workers whose channel is open, with queued bytes (for the driver's poll set).
    pub fn wants_write(&self, worker: WorkerId) -> bool {
        self.index(worker)
            .is_some_and(|i| !self.slots[i].channel_closed && self.slots[i].queued() > 0)
    }

    fn index(&self, worker: WorkerId) -> Option<usize> {
        let i = (worker as usize).checked_sub(1)?;
        (i < self.slots.len()).then_some(i)
    }

    fn live_index(&self, worker: WorkerId) -> Result<usize, CommandError> {
        if self.phase == Phase::Ended {
            return Err(CommandError::Ended);
        }
        let index = self
            .index(worker)
            .ok_or(CommandError::NoSuchWorker { worker })?;
        if self.slots[index].state == WorkerState::Dead {
            return Err(CommandError::Dead { worker });
        }
        Ok(index)
    }

    fn record(&mut self, event: TraceEvent) {
        if self.config.tracing {
            self.trace.push(event);
        }
    }
}

/// Appends one Message frame holding `message` for `worker` to `out` (left as it was on error).
pub(crate) fn encode_message<Down: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    worker: WorkerId,
    message: &Down,
    max_frame: u32,
) -> Result<(), CommandError> {
    wire::encode(out, FrameKind::Message, message, max_frame).map_err(|e| match e {
        wire::EncodeError::TooLarge { len, limit } => CommandError::TooLarge { worker, len, limit },
        other => CommandError::Serialize {
            worker,
            reason: other.to_string(),
        },
    })
}
