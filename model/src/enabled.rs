//! Which events may happen next: [`State::enabled`] within [`Bounds`].
//!
//! Generators (proptest) and the explorer draw only from this list, so every run they build is
//! legal by construction. The guards here restate [`State::apply`]'s rules positively; the test
//! `enabled_is_exactly_the_legal_events_within_bounds` checks both directions (every enabled
//! event steps Ok, and every event of the bounded universe that steps Ok is enabled).

use crate::event::{signal, Event, Signal, WorkerId};
use crate::state::{Pending, Phase, Policy, State};

/// The finite slice of behaviour that [`State::enabled`] lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Forks in total, replacements included (ids 1..=max_workers).
    pub max_workers: u32,
    /// Forks the primary makes on its own, not as a restart's replacement (ids
    /// 1..=max_forks; replacements take the ids up to `max_workers`).
    pub max_forks: u32,
    /// Messages per worker in each direction.
    pub max_messages: u64,
    /// Signals the primary may send with Kill.
    pub kill_signals: Vec<Signal>,
    /// Exit codes a worker may exit with.
    pub exit_codes: Vec<i32>,
    /// The signal of a crash (an exit by signal without a requested kill), if crashes are in.
    pub crash_signal: Option<Signal>,
    /// A restart policy offered as the first event (Config), if any.
    pub config: Option<Policy>,
    /// Whether Shutdown is offered.
    pub shutdown: bool,
    /// Whether protocol errors are offered.
    pub protocol_errors: bool,
}

impl Bounds {
    /// The seed lesson: 2 workers, 1 message each, no kills, crashes, restarts or shutdown.
    pub fn seed() -> Bounds {
        Bounds {
            max_workers: 2,
            max_forks: 2,
            max_messages: 1,
            kill_signals: Vec::new(),
            exit_codes: vec![0],
            crash_signal: None,
            config: None,
            shutdown: false,
            protocol_errors: false,
        }
    }

    /// ≈ 1 M states: 3 workers (2 forked by the primary, 1 replacement), 2 messages each way,
    /// exit codes 0 and 1, SIGSEGV crashes, disconnect, shutdown, and restarts on failure with
    /// intensity 1 restart per 1000 ms. No kills ([`Bounds::large`] adds them) and no protocol
    /// errors ([`Bounds::faults`]): together those multiply each live worker's local states by
    /// ~8, ≈ 110 M states at 3 workers, beyond a test.
    pub fn small() -> Bounds {
        Bounds {
            max_workers: 3,
            max_forks: 2,
            max_messages: 2,
            kill_signals: Vec::new(),
            exit_codes: vec![0, 1],
            crash_signal: Some(signal::SIGSEGV),
            config: Some(Policy {
                restart: crate::RestartPolicy::OnFailure,
                max_restarts: 1,
                window_ms: 1000,
            }),
            shutdown: true,
            protocol_errors: false,
        }
    }

    /// Every fault at once, fewer workers: 2 workers (1 forked, 1 replacement), 2 messages
    /// each way, kills with SIGTERM and SIGKILL, SIGSEGV crashes, protocol errors, exit codes 0
    /// and 1, disconnect, shutdown, restarts on failure (1 per 1000 ms).
    pub fn faults() -> Bounds {
        Bounds {
            max_workers: 2,
            max_forks: 1,
            kill_signals: vec![signal::SIGTERM, signal::SIGKILL],
            protocol_errors: true,
            ..Bounds::small()
        }
    }

    /// The bound issue 2 names, explored by `cargo test` (≈ 4 M states): [`Bounds::small`]
    /// plus kills with SIGKILL.
    pub fn large() -> Bounds {
        Bounds {
            kill_signals: vec![signal::SIGKILL],
            ..Bounds::small()
        }
    }
}

impl State {
    /// Every event legal next within `bounds`, in a fixed order (primary events, then each
    /// worker's, by id). Allocates the returned vector; see [`State::enabled_into`].
    pub fn enabled(&self, bounds: &Bounds) -> Vec<Event> {
        let mut out = Vec::new();
        self.enabled_into(bounds, &mut out);
        out
    }

    /// Like [`State::enabled`], but appends to `out` (cleared first) so a search can reuse one
    /// buffer. Cost: O(workers × (signals + codes)).
    pub fn enabled_into(&self, bounds: &Bounds, out: &mut Vec<Event>) {
        out.clear();
        if self.is_ended() {
            return;
        }
        // Worker-logged events are never blocked by the primary's obligations.
        let primary_free = match self.pending() {
            None => true,
            Some(Pending::Decision { worker }) => {
                self.decision_events(worker, bounds, out);
                false
            }
            Some(Pending::ReplacementFork { replacement }) => {
                out.push(Event::Fork {
                    worker: replacement,
                });
                false
            }
        };
        if primary_free {
            if let Some(policy) = bounds.config {
                if *self == State::new() {
                    out.push(policy.to_event());
                }
            }
            let next = self.next_worker_id();
            if self.phase() == Phase::Running
                && next <= bounds.max_workers
                && next <= bounds.max_forks
            {
                out.push(Event::Fork { worker: next });
            }
            if bounds.shutdown && self.phase() == Phase::Running {
                out.push(Event::Shutdown);
            }
            if self.workers_alive() == 0 {
                out.push(Event::End);
            }
        }
        let signals_in_bound = !bounds.kill_signals.is_empty() || bounds.crash_signal.is_some();
        for (id, r) in self.workers() {
            if r.is_dead() {
                continue;
            }
            if primary_free {
                self.primary_events_for(id, bounds, out);
            }
            if r.came_online() {
                if !r.has_run() {
                    out.push(Event::Run { worker: id });
                }
                // A send after Disconnect is lost: in bounds only if signals are.
                let may_send = !r.is_disconnected()
                    || r.protocol_error()
                    || (r.unreceived() == 0 && signals_in_bound);
                if r.sent() < bounds.max_messages && may_send {
                    out.push(Event::Send {
                        worker: id,
                        seq: r.sent(),
                    });
                }
            }
            // The primary may send before Online (queued); the worker reads it after its
            // handshake, whether or not the primary has read that yet.
            if r.worker_received() < r.primary_sent() {
                out.push(Event::WorkerReceive {
                    worker: id,
                    seq: r.worker_received(),
                });
            }
        }
    }

    fn decision_events(&self, worker: WorkerId, bounds: &Bounds, out: &mut Vec<Event>) {
        let now = self.clock_ms();
        let window = self.policy().window_ms;
        // Now, and (if there is a window) just as the oldest restart leaves it.
        let later = (window > 0).then(|| now.saturating_add(window));
        for at_ms in std::iter::once(now).chain(later) {
            let count = self.restarts_in_window(at_ms);
            if count < self.policy().max_restarts {
                let replacement = self.next_worker_id();
                if replacement <= bounds.max_workers {
                    out.push(Event::Restart {
                        worker,
                        replacement,
                        at_ms,
                    });
                }
            } else {
                out.push(Event::GaveUp { worker, at_ms });
            }
        }
    }

    fn primary_events_for(&self, id: WorkerId, bounds: &Bounds, out: &mut Vec<Event>) {
        let Some(r) = self.worker(id) else { return };
        let open = !r.is_disconnected();
        if !r.came_online() && open && !r.protocol_error() {
            out.push(Event::Online { worker: id });
        }
        if r.came_online() && open && !r.protocol_error() && r.received() < r.sent() {
            out.push(Event::Receive {
                worker: id,
                seq: r.received(),
            });
        }
        if r.accepts_primary_send() && r.primary_sent() < bounds.max_messages {
            out.push(Event::PrimarySend {
                worker: id,
                seq: r.primary_sent(),
            });
        }
        for &s in &bounds.kill_signals {
            out.push(Event::Kill {
                worker: id,
                signal: s,
            });
        }
        if !r.disconnect_requested() {
            out.push(Event::DisconnectRequested { worker: id });
        }
        // A send may be lost only to a worker ended by a signal; without signals in the bound,
        // such a Disconnect would lead nowhere.
        let signals_in_bound = !bounds.kill_signals.is_empty() || bounds.crash_signal.is_some();
        if open
            && (r.protocol_error()
                || r.unreceived() == 0
                || (r.unreceived() == 1 && signals_in_bound))
        {
            out.push(Event::Disconnect { worker: id });
        }
        if bounds.protocol_errors && open && !r.protocol_error() {
            out.push(Event::ProtocolError {
                worker: id,
                reason: String::new(),
            });
        }
        // Exit: lifecycle (G2), protocol-error handling (G10), shutdown (G9).
        let exit_ok = (!r.came_online() || r.is_disconnected())
            && (!r.protocol_error() || (r.protocol_kill() && r.is_disconnected()))
            && (self.phase() != Phase::ShuttingDown || r.disconnect_requested());
        if !exit_ok {
            return;
        }
        let after_disconnect = r.disconnect_requested();
        if r.protocol_error() || r.unreceived() == 0 {
            for &code in &bounds.exit_codes {
                out.push(Event::Exit {
                    worker: id,
                    code: Some(code),
                    signal: None,
                    after_disconnect,
                });
            }
        }
        let mut any_kill = false;
        for s in r.kills() {
            any_kill = true;
            out.push(Event::Exit {
                worker: id,
                code: None,
                signal: Some(s),
                after_disconnect,
            });
        }
        if !any_kill {
            if let Some(s) = bounds.crash_signal {
                out.push(Event::Exit {
                    worker: id,
                    code: None,
                    signal: Some(s),
                    after_disconnect,
                });
            }
        }
    }
}

/// Every event "within bounds" that could conceivably be legal in `state`, legal or not: the
/// universe [`State::enabled`] is checked against in tests. Not for production use.
#[doc(hidden)]
pub fn bounded_universe(state: &State, bounds: &Bounds) -> Vec<Event> {
    let mut out = Vec::new();
    if let Some(policy) = bounds.config {
        out.push(policy.to_event());
    }
    out.push(Event::Shutdown);
    out.push(Event::End);
    let top = state.next_worker_id().min(bounds.max_workers);
    for id in 1..=top {
        out.push(Event::Fork { worker: id });
        out.push(Event::Online { worker: id });
        out.push(Event::Run { worker: id });
        out.push(Event::DisconnectRequested { worker: id });
        out.push(Event::Disconnect { worker: id });
        if bounds.protocol_errors {
            out.push(Event::ProtocolError {
                worker: id,
                reason: String::new(),
            });
        }
        for seq in 0..bounds.max_messages {
            out.push(Event::Send { worker: id, seq });
            out.push(Event::Receive { worker: id, seq });
            out.push(Event::PrimarySend { worker: id, seq });
            out.push(Event::WorkerReceive { worker: id, seq });
        }
        for &s in &bounds.kill_signals {
            out.push(Event::Kill {
                worker: id,
                signal: s,
            });
        }
        for after_disconnect in [false, true] {
            for &code in &bounds.exit_codes {
                out.push(Event::Exit {
                    worker: id,
                    code: Some(code),
                    signal: None,
                    after_disconnect,
                });
            }
            let mut signals: Vec<Signal> = bounds.kill_signals.clone();
            signals.extend(bounds.crash_signal);
            for s in signals {
                out.push(Event::Exit {
                    worker: id,
                    code: None,
                    signal: Some(s),
                    after_disconnect,
                });
            }
        }
        let now = state.clock_ms();
        let window = state.policy().window_ms;
        for at_ms in [now, now.saturating_add(window)] {
            out.push(Event::GaveUp { worker: id, at_ms });
            for replacement in 1..=bounds.max_workers {
                out.push(Event::Restart {
                    worker: id,
                    replacement,
                    at_ms,
                });
            }
        }
    }
    out
}
