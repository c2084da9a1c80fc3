//! The model's state and its transition function: what a cluster may do next, per guarantee.
//!
//! [`State`] is the whole cluster as the contract sees it: one [`WorkerRecord`] per forked worker
//! (indexed by id − 1, ids being contiguous by G1), the primary's [`Phase`], the restart
//! [`Policy`] and its bookkeeping. [`State::apply`] takes one [`Event`] or rejects it with a
//! [`Violation`] naming the most specific guarantee; the rules are listed, event by event, in the
//! crate docs.
//!
//! Every field of a state is either a count of events taken (messages each way, forks) or a
//! fact written only by the primary's events (lifecycle flags, kills, policy, pending decision)
//! or only by one worker's events (`Run`). The checker relies on this: the state reached by a
//! set of events does not depend on how the processes' logs were interleaved.

use std::fmt;

use crate::event::{signal, Event, Origin, RestartPolicy, Signal, WorkerId};
use crate::guarantee::Guarantee;

/// A worker's lifecycle as the primary sees it (G2). Derived from a [`WorkerRecord`]'s flags by
/// [`WorkerRecord::lifecycle`]; the later stage wins (a worker asked to disconnect whose channel
/// then closed is `Disconnected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lifecycle {
    /// Forked, no handshake yet.
    Forked,
    /// Handshake received.
    Online,
    /// The primary asked it to disconnect; its channel is still open.
    Disconnecting,
    /// Its channel is closed and drained (Disconnect).
    Disconnected,
    /// It exited and was reaped (Exit).
    Dead,
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lifecycle::Forked => "forked",
            Lifecycle::Online => "online",
            Lifecycle::Disconnecting => "disconnecting",
            Lifecycle::Disconnected => "disconnected",
            Lifecycle::Dead => "dead",
        })
    }
}

/// The primary's phase (G9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Forking, supervising, restarting.
    Running,
    /// Shutdown began: no more forks or restarts; every worker is asked to disconnect.
    ShuttingDown,
    /// End was logged; nothing can follow.
    Ended,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Running => "running",
            Phase::ShuttingDown => "shutting down",
            Phase::Ended => "ended",
        })
    }
}

/// The restart policy in force (G11), set by [`Event::Config`]. The default is `Never`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// When to replace a worker that exited unexpectedly.
    pub restart: RestartPolicy,
    /// R: at most this many restarts within `window_ms`.
    pub max_restarts: u32,
    /// T: the intensity window in milliseconds.
    pub window_ms: u64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            restart: RestartPolicy::Never,
            max_restarts: 0,
            window_ms: 0,
        }
    }
}

impl Policy {
    /// The `Config` event that sets this policy.
    pub fn to_event(self) -> Event {
        Event::Config {
            restart: self.restart,
            max_restarts: self.max_restarts,
            window_ms: self.window_ms,
        }
    }
}

/// What the primary owes next because of a restart policy (G11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pending {
    /// `worker` exited unexpectedly under a policy that replaces it: the primary's next event
    /// must be `Restart{worker, ..}` or `GaveUp{worker, ..}`.
    Decision {
        /// The worker that exited.
        worker: WorkerId,
    },
    /// A Restart announced `replacement`: the primary's next event must be its Fork.
    ReplacementFork {
        /// The announced id (always the next id).
        replacement: WorkerId,
    },
}

/// The seed's variable tracker (G5). Always derived from a [`State`] by [`State::tracker`]:
/// `worker_count` = Forks so far, `messages_received` = Receives so far,
/// `workers_alive` = Forks − Exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tracker {
    /// Forks so far.
    pub worker_count: u32,
    /// Receives so far (worker-to-primary messages the primary received).
    pub messages_received: u64,
    /// Forks − Exits.
    pub workers_alive: u32,
}

impl Tracker {
    /// The tracker after `event`, by the seed's counting rules alone (no model): Fork adds a
    /// worker and a live worker, Receive adds a message, Exit removes a live worker. Returns
    /// `None` if `workers_alive` would go negative. The explorer checks [`State::tracker`]
    /// against this at every transition (G5).
    pub fn after(self, event: &Event) -> Option<Tracker> {
        let mut next = self;
        match event {
            Event::Fork { .. } => {
                next.worker_count = next.worker_count.checked_add(1)?;
                next.workers_alive = next.workers_alive.checked_add(1)?;
            }
            Event::Receive { .. } => {
                next.messages_received = next.messages_received.checked_add(1)?
            }
            Event::Exit { .. } => next.workers_alive = next.workers_alive.checked_sub(1)?,
            _ => {}
        }
        Some(next)
    }
}

/// Flag bits of a [`WorkerRecord`] (7 bits; the explorer's packed keys rely on that).
pub(crate) mod flag {
    pub const ONLINE: u8 = 1 << 0;
    pub const RAN: u8 = 1 << 1;
    pub const DISCONNECT_REQUESTED: u8 = 1 << 2;
    pub const DISCONNECTED: u8 = 1 << 3;
    pub const DEAD: u8 = 1 << 4;
    pub const PROTOCOL_ERROR: u8 = 1 << 5;
    /// SIGKILL was requested after this worker's protocol error (G10).
    pub const PROTOCOL_KILL: u8 = 1 << 6;
}

/// One worker as the model tracks it: 48 bytes, `Copy`. The fields are crate-visible for the
/// explorer's packed state keys (`explore.rs`); everything else goes through the methods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WorkerRecord {
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) primary_sent: u64,
    pub(crate) worker_received: u64,
    /// Bit `s - 1` set when signal `s` (1..=64) was requested by a Kill.
    pub(crate) kills: u64,
    pub(crate) flags: u8,
}

impl WorkerRecord {
    fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }
    /// Worker-to-primary messages the worker logged as sent (Send).
    pub fn sent(&self) -> u64 {
        self.sent
    }
    /// Worker-to-primary messages the primary received (Receive).
    pub fn received(&self) -> u64 {
        self.received
    }
    /// Primary-to-worker messages whose send returned Ok (PrimarySend).
    pub fn primary_sent(&self) -> u64 {
        self.primary_sent
    }
    /// Primary-to-worker messages the worker received (WorkerReceive).
    pub fn worker_received(&self) -> u64 {
        self.worker_received
    }
    /// Sends not (yet) received: `sent − received`.
    pub fn unreceived(&self) -> u64 {
        self.sent - self.received
    }
    /// Whether the primary requested `signal` for this worker.
    pub fn kill_requested(&self, signal: Signal) -> bool {
        signal_bit(signal).is_some_and(|bit| self.kills & bit != 0)
    }
    /// The signals requested for this worker, ascending.
    pub fn kills(&self) -> impl Iterator<Item = Signal> + '_ {
        (1..=64).filter(move |&s| self.kill_requested(s))
    }
    /// Whether its handshake arrived (Online), whatever happened since.
    pub fn came_online(&self) -> bool {
        self.has(flag::ONLINE)
    }
    /// Whether it logged Run.
    pub fn has_run(&self) -> bool {
        self.has(flag::RAN)
    }
    /// Whether the primary asked it to disconnect.
    pub fn disconnect_requested(&self) -> bool {
        self.has(flag::DISCONNECT_REQUESTED)
    }
    /// Whether its channel is closed and drained (Disconnect).
    pub fn is_disconnected(&self) -> bool {
        self.has(flag::DISCONNECTED)
    }
    /// Whether it exited (Exit).
    pub fn is_dead(&self) -> bool {
        self.has(flag::DEAD)
    }
    /// Whether the primary reported a protocol error for it (G10).
    pub fn protocol_error(&self) -> bool {
        self.has(flag::PROTOCOL_ERROR)
    }
    /// Whether SIGKILL was requested after its protocol error (G10).
    pub fn protocol_kill(&self) -> bool {
        self.has(flag::PROTOCOL_KILL)
    }
    /// Its lifecycle stage.
    pub fn lifecycle(&self) -> Lifecycle {
        if self.is_dead() {
            Lifecycle::Dead
        } else if self.is_disconnected() {
            Lifecycle::Disconnected
        } else if self.disconnect_requested() {
            Lifecycle::Disconnecting
        } else if self.came_online() {
            Lifecycle::Online
        } else {
            Lifecycle::Forked
        }
    }
    /// Whether the primary may send to it (G4): forked (a send before Online is queued), not
    /// asked to disconnect, channel open, no protocol error, alive.
    pub fn accepts_primary_send(&self) -> bool {
        self.flags
            & (flag::DISCONNECT_REQUESTED | flag::DISCONNECTED | flag::DEAD | flag::PROTOCOL_ERROR)
            == 0
    }
    /// Whether a Send now would be legal with respect to loss (G3): after Disconnect without a
    /// protocol error, at most one send may stay unreceived.
    fn may_send_more(&self) -> bool {
        !self.is_disconnected() || self.protocol_error() || self.unreceived() == 0
    }
}

fn signal_bit(signal: Signal) -> Option<u64> {
    if (1..=64).contains(&signal) {
        Some(1u64 << (signal - 1))
    } else {
        None
    }
}

/// Signal name for people (`SIGTERM`), or the number.
pub fn signal_name(signal: Signal) -> String {
    match signal {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        3 => "SIGQUIT".into(),
        signal::SIGABRT => "SIGABRT".into(),
        signal::SIGKILL => "SIGKILL".into(),
        signal::SIGSEGV => "SIGSEGV".into(),
        signal::SIGTERM => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}

/// An event the model rejects: which guarantee it breaks, and what the model expected instead.
/// Display: `G3 violated by receive{worker 1, seq 2}: expected seq 1 (no gap, duplicate or
/// reordering)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The most specific guarantee the event breaks.
    pub guarantee: Guarantee,
    /// The rejected event.
    pub event: Event,
    /// What the model expected instead, for people.
    pub expected: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violated by {}: expected {}",
            self.guarantee, self.event, self.expected
        )
    }
}

impl std::error::Error for Violation {}

/// Something a state still owes before a run may be called complete (see
/// [`State::obligations`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obligation {
    /// The guarantee that demands it.
    pub guarantee: Guarantee,
    /// The worker concerned, if any.
    pub worker: Option<WorkerId>,
    /// What is owed, for people.
    pub owed: String,
}

impl fmt::Display for Obligation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.guarantee, self.owed)
    }
}

/// The cluster as the contract sees it. `Clone + Eq + Hash`: memoised and explored by the
/// million. Cloning costs one allocation per non-empty vector (workers; restart times);
/// `clone_from` reuses them. The fields are crate-visible for the explorer's packed state keys
/// (`explore.rs`), which write and read every one of them.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Worker `id` is `workers[id - 1]`; the length is the number of forks (G1, G5).
    pub(crate) workers: Vec<WorkerRecord>,
    pub(crate) phase: Phase,
    pub(crate) policy: Policy,
    /// `at_ms` of the restarts that may still count against the intensity (pruned as the
    /// clock advances past the window, so equal futures give equal states).
    pub(crate) restarts: Vec<u64>,
    /// The latest `at_ms` seen in a Restart or GaveUp (the clock is non-decreasing).
    pub(crate) last_at_ms: u64,
    pub(crate) gave_up: bool,
    pub(crate) pending: Option<Pending>,
}

impl Clone for State {
    fn clone(&self) -> State {
        State {
            workers: self.workers.clone(),
            phase: self.phase,
            policy: self.policy,
            restarts: self.restarts.clone(),
            last_at_ms: self.last_at_ms,
            gave_up: self.gave_up,
            pending: self.pending,
        }
    }

    fn clone_from(&mut self, source: &State) {
        self.workers.clone_from(&source.workers);
        self.phase = source.phase;
        self.policy = source.policy;
        self.restarts.clone_from(&source.restarts);
        self.last_at_ms = source.last_at_ms;
        self.gave_up = source.gave_up;
        self.pending = source.pending;
    }
}

impl Default for State {
    fn default() -> State {
        State::new()
    }
}

/// Builds a rejection of `$event`.
macro_rules! reject {
    ($g:expr, $event:expr, $($fmt:tt)+) => {
        return Err(Violation { guarantee: $g, event: $event.clone(), expected: format!($($fmt)+) })
    };
}

impl State {
    /// The state before anything happened: no workers, running, policy `Never`.
    pub fn new() -> State {
        State {
            workers: Vec::new(),
            phase: Phase::Running,
            policy: Policy::default(),
            restarts: Vec::new(),
            last_at_ms: 0,
            gave_up: false,
            pending: None,
        }
    }

    /// The id the next Fork must carry (G1).
    pub fn next_worker_id(&self) -> WorkerId {
        self.workers.len() as WorkerId + 1
    }

    /// The record of worker `id`, if it was forked.
    pub fn worker(&self, id: WorkerId) -> Option<&WorkerRecord> {
        (id as usize)
            .checked_sub(1)
            .and_then(|index| self.workers.get(index))
    }

    /// All forked workers with their ids, in id order.
    pub fn workers(&self) -> impl Iterator<Item = (WorkerId, &WorkerRecord)> + '_ {
        self.workers
            .iter()
            .enumerate()
            .map(|(index, record)| (index as WorkerId + 1, record))
    }

    /// The primary's phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The restart policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// What the primary owes next because of the restart policy, if anything.
    pub fn pending(&self) -> Option<Pending> {
        self.pending
    }

    /// Whether the primary gave up restarting (until the next Config).
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// The `at_ms` of restarts that may still count against the intensity.
    pub fn recent_restarts(&self) -> &[u64] {
        &self.restarts
    }

    /// The latest `at_ms` of a Restart or GaveUp (0 before any).
    pub fn clock_ms(&self) -> u64 {
        self.last_at_ms
    }

    /// Restarts that count against the intensity at time `now`: those with
    /// `at_ms > now − window_ms`.
    pub fn restarts_in_window(&self, now: u64) -> u32 {
        let window = self.policy.window_ms;
        self.restarts
            .iter()
            .filter(|&&t| t.saturating_add(window) > now)
            .count() as u32
    }

    /// The seed's tracker, derived (G5): Forks, Receives, Forks − Exits.
    pub fn tracker(&self) -> Tracker {
        let mut tracker = Tracker {
            worker_count: self.workers.len() as u32,
            ..Tracker::default()
        };
        for record in &self.workers {
            tracker.messages_received += record.received;
            if !record.is_dead() {
                tracker.workers_alive += 1;
            }
        }
        tracker
    }

    /// Workers not yet exited.
    pub fn workers_alive(&self) -> u32 {
        self.workers.iter().filter(|r| !r.is_dead()).count() as u32
    }

    /// Whether End was logged.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The state after `event`, or the violation it commits. Clones `self`; see
    /// [`State::apply`] to step in place.
    pub fn step(&self, event: &Event) -> Result<State, Violation> {
        let mut next = self.clone();
        next.apply(event)?;
        Ok(next)
    }

    /// Takes `event` in place. On error `self` is left unchanged (every check precedes every
    /// write). Cost: O(1), except Restart/GaveUp (O(restarts in the window)).
    pub fn apply(&mut self, event: &Event) -> Result<(), Violation> {
        let origin = event.origin();
        if self.phase == Phase::Ended {
            if let Origin::Worker(w) = origin {
                if self.worker(w).is_some_and(WorkerRecord::is_dead) {
                    reject!(
                        Guarantee::G2,
                        event,
                        "no event of worker {w} after its Exit"
                    );
                }
            }
            reject!(
                Guarantee::G9,
                event,
                "nothing after End (End comes after the last Exit)"
            );
        }
        if origin == Origin::Primary {
            self.check_pending(event)?;
        }
        match *event {
            Event::Config {
                restart,
                max_restarts,
                window_ms,
            } => {
                // A new policy starts a fresh intensity count (documented in the crate docs).
                self.policy = Policy {
                    restart,
                    max_restarts,
                    window_ms,
                };
                self.restarts.clear();
                self.gave_up = false;
            }
            Event::Fork { worker } => {
                if self.phase != Phase::Running {
                    reject!(
                        Guarantee::G9,
                        event,
                        "no Fork after Shutdown (shutdown forks and restarts nothing)"
                    );
                }
                let next = self.next_worker_id();
                if worker != next {
                    reject!(
                        Guarantee::G1,
                        event,
                        "worker id {next} (ids grow by one per fork, never reused)"
                    );
                }
                self.workers.push(WorkerRecord::default());
                if let Some(Pending::ReplacementFork { .. }) = self.pending {
                    self.pending = None;
                }
            }
            Event::Online { worker } => {
                let r = self.live(event, worker, Guarantee::G2, "Online")?;
                if r.came_online() {
                    reject!(Guarantee::G2, event, "at most one Online per worker");
                }
                if r.protocol_error() {
                    reject!(
                        Guarantee::G10,
                        event,
                        "no handshake after the protocol error closed worker {worker}'s channel"
                    );
                }
                if r.is_disconnected() {
                    reject!(
                        Guarantee::G2,
                        event,
                        "Online before Disconnect (the handshake is the first thing on the channel)"
                    );
                }
                self.record_mut(worker).flags |= flag::ONLINE;
            }
            Event::Run { worker } => {
                let r = self.live(event, worker, Guarantee::G2, "Run")?;
                if !r.came_online() {
                    reject!(
                        Guarantee::G2,
                        event,
                        "worker {worker} Online before it runs (its handshake precedes user code)"
                    );
                }
                if r.has_run() {
                    reject!(Guarantee::G2, event, "at most one Run per worker");
                }
                self.record_mut(worker).flags |= flag::RAN;
            }
            Event::Send { worker, seq } => {
                let r = self.live(event, worker, Guarantee::G2, "Send")?;
                if !r.came_online() {
                    reject!(
                        Guarantee::G2,
                        event,
                        "worker {worker} Online before its first message (Online is first on the channel)"
                    );
                }
                if seq != r.sent {
                    reject!(
                        Guarantee::G3,
                        event,
                        "seq {} (a worker numbers its messages 0, 1, 2, …)",
                        r.sent
                    );
                }
                if !r.may_send_more() {
                    reject!(
                        Guarantee::G3,
                        event,
                        "no second unreceived send after Disconnect: send #{} is already lost (only the one in flight when the worker was killed may be)",
                        r.received
                    );
                }
                self.record_mut(worker).sent += 1;
            }
            Event::Receive { worker, seq } => {
                let r = self.live(event, worker, Guarantee::G2, "Receive")?;
                if !r.came_online() {
                    reject!(
                        Guarantee::G2,
                        event,
                        "worker {worker} Online before any Receive (Online is first on the channel)"
                    );
                }
                if r.protocol_error() {
                    reject!(
                        Guarantee::G10,
                        event,
                        "nothing received from worker {worker} after its protocol error closed the channel"
                    );
                }
                if r.is_disconnected() {
                    reject!(
                        Guarantee::G2,
                        event,
                        "no Receive after worker {worker}'s Disconnect"
                    );
                }
                if seq != r.received {
                    reject!(
                        Guarantee::G3,
                        event,
                        "seq {} (no gap, duplicate or reordering)",
                        r.received
                    );
                }
                if seq >= r.sent {
                    reject!(
                        Guarantee::G3,
                        event,
                        "worker {worker} to have logged Send seq {seq} first (it logged {} sends; never a Receive without its Send)",
                        r.sent
                    );
                }
                self.record_mut(worker).received += 1;
            }
            Event::PrimarySend { worker, seq } => {
                let Some(r) = self.worker(worker) else {
                    reject!(
                        Guarantee::G4,
                        event,
                        "a send to a forked worker (worker {worker} was never forked)"
                    );
                };
                if r.is_dead() {
                    reject!(
                        Guarantee::G4,
                        event,
                        "no send to dead worker {worker} (it is an error, never logged as a send)"
                    );
                }
                if r.protocol_error() || r.is_disconnected() || r.disconnect_requested() {
                    reject!(
                        Guarantee::G4,
                        event,
                        "no send to worker {worker} once it is {} (it is an error, never logged as a send)",
                        if r.protocol_error() { "cut off by a protocol error" } else { "disconnecting or disconnected" }
                    );
                }
                // A send before Online is legal: the primary queues it and the worker reads it
                // after its handshake (as Node's `worker.send` before 'online').
                if seq != r.primary_sent {
                    reject!(
                        Guarantee::G4,
                        event,
                        "seq {} (the primary numbers its messages to a worker 0, 1, 2, …)",
                        r.primary_sent
                    );
                }
                self.record_mut(worker).primary_sent += 1;
            }
            Event::WorkerReceive { worker, seq } => {
                let r = self.live(event, worker, Guarantee::G2, "WorkerReceive")?;
                if seq != r.worker_received {
                    reject!(
                        Guarantee::G4,
                        event,
                        "seq {} (FIFO, exactly once)",
                        r.worker_received
                    );
                }
                if seq >= r.primary_sent {
                    reject!(
                        Guarantee::G4,
                        event,
                        "primary_send{{worker {worker}, seq {seq}}} first (the primary sent {} so far)",
                        r.primary_sent
                    );
                }
                self.record_mut(worker).worker_received += 1;
            }
            Event::Kill { worker, signal } => {
                let Some(r) = self.worker(worker) else {
                    reject!(
                        Guarantee::G6,
                        event,
                        "a kill of a forked worker (worker {worker} was never forked)"
                    );
                };
                if r.is_dead() {
                    reject!(
                        Guarantee::G6,
                        event,
                        "no kill of dead worker {worker} (killing a dead worker is an error)"
                    );
                }
                let Some(bit) = signal_bit(signal) else {
                    reject!(Guarantee::G6, event, "a signal number in 1..=64");
                };
                let protocol_kill = r.protocol_error() && signal == signal::SIGKILL;
                let r = self.record_mut(worker);
                r.kills |= bit;
                if protocol_kill {
                    r.flags |= flag::PROTOCOL_KILL;
                }
            }
            Event::DisconnectRequested { worker } => {
                let Some(r) = self.worker(worker) else {
                    reject!(
                        Guarantee::G7,
                        event,
                        "a disconnect of a forked worker (worker {worker} was never forked)"
                    );
                };
                if r.is_dead() {
                    reject!(
                        Guarantee::G7,
                        event,
                        "no disconnect request to dead worker {worker}"
                    );
                }
                if r.disconnect_requested() {
                    reject!(
                        Guarantee::G7,
                        event,
                        "at most one disconnect request per worker"
                    );
                }
                self.record_mut(worker).flags |= flag::DISCONNECT_REQUESTED;
            }
            Event::Disconnect { worker } => {
                let r = self.live(event, worker, Guarantee::G2, "Disconnect")?;
                if r.is_disconnected() {
                    reject!(Guarantee::G2, event, "at most one Disconnect per worker");
                }
                if !r.protocol_error() && r.unreceived() > 1 {
                    reject!(
                        Guarantee::G3,
                        event,
                        "receive{{worker {worker}, seq {}}} before Disconnect: every send that returned Ok is received first ({} unreceived; only the last, in flight when the worker was killed, may be missing)",
                        r.received,
                        r.unreceived()
                    );
                }
                self.record_mut(worker).flags |= flag::DISCONNECTED;
            }
            Event::Exit {
                worker,
                code,
                signal,
                after_disconnect,
            } => {
                let Some(r) = self.worker(worker) else {
                    reject!(
                        Guarantee::G1,
                        event,
                        "an Exit of a forked worker (worker {worker} was never forked)"
                    );
                };
                if r.is_dead() {
                    reject!(
                        Guarantee::G1,
                        event,
                        "exactly one Exit per worker (worker {worker} already exited)"
                    );
                }
                if code.is_some() == signal.is_some() {
                    reject!(
                        Guarantee::G1,
                        event,
                        "exactly one of code and signal in an exit status"
                    );
                }
                if r.protocol_error() && !(r.protocol_kill() && r.is_disconnected()) {
                    reject!(
                        Guarantee::G10,
                        event,
                        "kill{{worker {worker}, signal 9}} and disconnect{{worker {worker}}} after its protocol error, before its Exit"
                    );
                }
                if r.came_online() && !r.is_disconnected() {
                    reject!(
                        Guarantee::G2,
                        event,
                        "disconnect{{worker {worker}}} before its Exit (Disconnect, then Exit)"
                    );
                }
                if after_disconnect != r.disconnect_requested() {
                    reject!(
                        Guarantee::G7,
                        event,
                        "after_disconnect = {} (the primary {} asked worker {worker} to disconnect)",
                        r.disconnect_requested(),
                        if r.disconnect_requested() { "had" } else { "had not" }
                    );
                }
                if self.phase == Phase::ShuttingDown && !r.disconnect_requested() {
                    reject!(
                        Guarantee::G9,
                        event,
                        "disconnect_requested{{worker {worker}}} before its Exit (shutdown disconnects every worker)"
                    );
                }
                if let Some(s) = signal {
                    if r.kills != 0 && !r.kill_requested(s) {
                        let asked: Vec<String> = r.kills().map(signal_name).collect();
                        reject!(
                            Guarantee::G6,
                            event,
                            "an exit by {} (the signal requested) or by a code, not by {}",
                            asked.join(" or "),
                            signal_name(s)
                        );
                    }
                }
                if !r.protocol_error() && r.unreceived() > 0 && signal.is_none() {
                    reject!(
                        Guarantee::G3,
                        event,
                        "receive{{worker {worker}, seq {}}} before Disconnect: only a worker ended by a signal may lose its last send",
                        r.received
                    );
                }
                let unexpected = !after_disconnect && self.phase == Phase::Running;
                let failure = code != Some(0);
                let replace = match self.policy.restart {
                    RestartPolicy::Never => false,
                    RestartPolicy::OnFailure => failure,
                    RestartPolicy::Always => true,
                };
                self.record_mut(worker).flags |= flag::DEAD;
                if unexpected && replace && !self.gave_up {
                    self.pending = Some(Pending::Decision { worker });
                }
            }
            Event::ProtocolError { worker, .. } => {
                let Some(r) = self.worker(worker) else {
                    reject!(
                        Guarantee::G10,
                        event,
                        "a protocol error of a forked worker (worker {worker} was never forked)"
                    );
                };
                if r.is_dead() {
                    reject!(
                        Guarantee::G10,
                        event,
                        "no protocol error for dead worker {worker}"
                    );
                }
                if r.protocol_error() {
                    reject!(
                        Guarantee::G10,
                        event,
                        "at most one protocol error per worker (the first closes its channel)"
                    );
                }
                if r.is_disconnected() {
                    reject!(
                        Guarantee::G10,
                        event,
                        "a protocol error before worker {worker}'s Disconnect (nothing is read after it)"
                    );
                }
                self.record_mut(worker).flags |= flag::PROTOCOL_ERROR;
            }
            Event::Restart {
                replacement, at_ms, ..
            } => {
                self.check_decision(event, at_ms)?;
                let window_count = self.restarts_in_window(at_ms);
                if window_count >= self.policy.max_restarts {
                    reject!(
                        Guarantee::G11,
                        event,
                        "gave_up: {window_count} restarts within {} ms reach the intensity limit {}",
                        self.policy.window_ms,
                        self.policy.max_restarts
                    );
                }
                let next = self.next_worker_id();
                if replacement != next {
                    reject!(
                        Guarantee::G1,
                        event,
                        "replacement id {next} (a replacement gets the next id)"
                    );
                }
                self.advance_clock(at_ms);
                self.restarts.push(at_ms);
                self.pending = Some(Pending::ReplacementFork { replacement });
            }
            Event::RestartFailed { replacement, .. } => {
                // check_pending let it through only as the answer to its Restart.
                if self.pending != Some(Pending::ReplacementFork { replacement }) {
                    reject!(
                        Guarantee::G11,
                        event,
                        "a Restart announcing replacement {replacement} first"
                    );
                }
                self.pending = None;
            }
            Event::GaveUp { at_ms, .. } => {
                self.check_decision(event, at_ms)?;
                let window_count = self.restarts_in_window(at_ms);
                if window_count < self.policy.max_restarts {
                    reject!(
                        Guarantee::G11,
                        event,
                        "a restart: only {window_count} restarts within {} ms, below the limit {}",
                        self.policy.window_ms,
                        self.policy.max_restarts
                    );
                }
                self.advance_clock(at_ms);
                self.gave_up = true;
                self.pending = None;
            }
            Event::Shutdown => {
                if self.phase != Phase::Running {
                    reject!(Guarantee::G9, event, "at most one Shutdown");
                }
                self.phase = Phase::ShuttingDown;
            }
            Event::End => {
                let alive = self.workers_alive();
                if alive > 0 {
                    reject!(
                        Guarantee::G5,
                        event,
                        "End only when workersAlive = 0 ({alive} alive)"
                    );
                }
                self.phase = Phase::Ended;
            }
        }
        Ok(())
    }

    /// G11: while a decision or a replacement's Fork is owed, the primary logs nothing else.
    fn check_pending(&self, event: &Event) -> Result<(), Violation> {
        match self.pending {
            None => Ok(()),
            Some(Pending::Decision { worker }) => match *event {
                Event::Restart { worker: w, .. } | Event::GaveUp { worker: w, .. } if w == worker => {
                    Ok(())
                }
                _ => reject!(
                    Guarantee::G11,
                    event,
                    "restart{{worker {worker}, ..}} or gave_up{{worker {worker}, ..}} next: worker {worker} exited unexpectedly under restart policy {:?}",
                    self.policy.restart
                ),
            },
            Some(Pending::ReplacementFork { replacement }) => match *event {
                Event::Fork { .. } => Ok(()),
                Event::RestartFailed { replacement: r, .. } if r == replacement => Ok(()),
                _ => reject!(
                    Guarantee::G11,
                    event,
                    "fork{{worker {replacement}}} next: the restart announced it"
                ),
            },
        }
    }

    /// G11 (and G9): a Restart or GaveUp answers a pending decision, with a non-decreasing clock.
    fn check_decision(&self, event: &Event, at_ms: u64) -> Result<(), Violation> {
        if self.pending.is_none() {
            if self.phase == Phase::ShuttingDown {
                reject!(
                    Guarantee::G9,
                    event,
                    "no restart decision during shutdown (exits during shutdown are expected)"
                );
            }
            reject!(
                Guarantee::G11,
                event,
                "no restart decision: no unexpected exit is awaiting one (policy {:?}{})",
                self.policy.restart,
                if self.gave_up { ", gave up" } else { "" }
            );
        }
        if at_ms < self.last_at_ms {
            reject!(
                Guarantee::G11,
                event,
                "at_ms ≥ {} (the primary's clock is monotonic)",
                self.last_at_ms
            );
        }
        Ok(())
    }

    fn advance_clock(&mut self, now: u64) {
        let window = self.policy.window_ms;
        self.restarts.retain(|&t| t.saturating_add(window) > now);
        self.last_at_ms = now;
    }

    /// The record of a worker that exists and has not exited; else the violation for `what`.
    fn live(
        &self,
        event: &Event,
        worker: WorkerId,
        guarantee: Guarantee,
        what: &str,
    ) -> Result<WorkerRecord, Violation> {
        match self.worker(worker) {
            None => reject!(
                guarantee,
                event,
                "{what} of a forked worker (worker {worker} was never forked: Fork comes first)"
            ),
            Some(r) if r.is_dead() => reject!(
                Guarantee::G2,
                event,
                "no {what} of worker {worker} after its Exit (Exit is its last event)"
            ),
            Some(r) => Ok(*r),
        }
    }

    fn record_mut(&mut self, worker: WorkerId) -> &mut WorkerRecord {
        // Callers checked that the worker exists.
        &mut self.workers[worker as usize - 1]
    }

    /// What this state still owes before the run it ends may be called complete: an Exit for
    /// every live worker (G1) and, for those with a protocol error, its SIGKILL and Disconnect
    /// (G10); a pending restart decision or replacement Fork (G11); End (G9). Empty exactly when
    /// the state is a valid final state.
    pub fn obligations(&self) -> Vec<Obligation> {
        let mut owed = Vec::new();
        match self.pending {
            Some(Pending::Decision { worker }) => owed.push(Obligation {
                guarantee: Guarantee::G11,
                worker: Some(worker),
                owed: format!("a Restart or GaveUp for worker {worker}"),
            }),
            Some(Pending::ReplacementFork { replacement }) => owed.push(Obligation {
                guarantee: Guarantee::G11,
                worker: Some(replacement),
                owed: format!("the Fork of replacement worker {replacement}"),
            }),
            None => {}
        }
        for (id, r) in self.workers() {
            if r.is_dead() {
                continue;
            }
            if r.protocol_error() && !r.protocol_kill() {
                owed.push(Obligation {
                    guarantee: Guarantee::G10,
                    worker: Some(id),
                    owed: format!("a SIGKILL for worker {id} after its protocol error"),
                });
            }
            owed.push(Obligation {
                guarantee: Guarantee::G1,
                worker: Some(id),
                owed: format!("an Exit for worker {id}"),
            });
        }
        if self.phase != Phase::Ended {
            owed.push(Obligation {
                guarantee: Guarantee::G9,
                worker: None,
                owed: "End".into(),
            });
        }
        owed
    }

    /// Forgets the counters of dead workers (keeping only that they died). Nothing a dead
    /// worker did influences what can happen next, so the explorer merges states that differ
    /// only there; the tracker's `messages_received` then counts live workers' messages only.
    pub fn forget_dead_workers(&mut self) {
        for r in &mut self.workers {
            if r.is_dead() {
                *r = WorkerRecord {
                    flags: flag::DEAD,
                    ..WorkerRecord::default()
                };
            }
        }
    }

    /// Checks the invariants every reachable state keeps, independently of how it was reached:
    /// the lifecycle flags are consistent (G2), received ≤ sent both ways (G3, G4), at most one
    /// send is lost per worker (G3), the tracker is consistent (G5), protocol errors are handled
    /// (G10), the restart bookkeeping respects the policy (G11), Ended means nobody alive (G5).
    /// Returns the broken guarantee and a description.
    pub fn check_invariants(&self) -> Result<(), (Guarantee, String)> {
        let fail = |g: Guarantee, msg: String| Err((g, msg));
        for (id, r) in self.workers() {
            if r.received > r.sent {
                return fail(Guarantee::G3, format!("worker {id}: received > sent"));
            }
            if r.worker_received > r.primary_sent {
                return fail(
                    Guarantee::G4,
                    format!("worker {id}: worker_received > primary_sent"),
                );
            }
            if r.is_disconnected() && !r.protocol_error() && r.unreceived() > 1 {
                return fail(
                    Guarantee::G3,
                    format!("worker {id}: more than one send lost"),
                );
            }
            // (The primary may send before Online: its sends are queued, G4.)
            if !r.came_online() && (r.sent > 0 || r.has_run()) {
                return fail(
                    Guarantee::G2,
                    format!("worker {id}: activity before Online"),
                );
            }
            if r.is_dead() && r.came_online() && !r.is_disconnected() {
                return fail(
                    Guarantee::G2,
                    format!("worker {id}: online, dead, never disconnected"),
                );
            }
            if r.protocol_kill() && !r.protocol_error() {
                return fail(
                    Guarantee::G10,
                    format!("worker {id}: protocol kill without error"),
                );
            }
            if r.is_dead() && r.protocol_error() && !(r.protocol_kill() && r.is_disconnected()) {
                return fail(
                    Guarantee::G10,
                    format!("worker {id}: protocol error not handled"),
                );
            }
        }
        let tracker = self.tracker();
        if tracker.workers_alive > tracker.worker_count
            || tracker.worker_count as usize != self.workers.len()
        {
            return fail(Guarantee::G5, format!("tracker inconsistent: {tracker:?}"));
        }
        if self.phase == Phase::Ended && (tracker.workers_alive != 0 || self.pending.is_some()) {
            return fail(
                Guarantee::G5,
                "Ended with a live worker or a pending decision".into(),
            );
        }
        match self.pending {
            Some(Pending::Decision { worker })
                if !self.worker(worker).is_some_and(WorkerRecord::is_dead) || self.gave_up =>
            {
                return fail(
                    Guarantee::G11,
                    format!("decision pending for live worker {worker}"),
                );
            }
            Some(Pending::ReplacementFork { replacement })
                if replacement != self.next_worker_id() =>
            {
                return fail(
                    Guarantee::G11,
                    "announced replacement is not the next id".into(),
                );
            }
            _ => {}
        }
        if self.restarts_in_window(self.last_at_ms) > self.policy.max_restarts {
            return fail(
                Guarantee::G11,
                "more restarts in the window than the intensity".into(),
            );
        }
        if (self.gave_up || !self.restarts.is_empty())
            && self.policy.restart == RestartPolicy::Never
        {
            return fail(
                Guarantee::G11,
                "restart bookkeeping under policy never".into(),
            );
        }
        Ok(())
    }
}
