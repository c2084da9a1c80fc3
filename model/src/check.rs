//! The trace checker: does a set of per-process logs admit a linearisation the model accepts?
//!
//! # Input
//!
//! A [`Trace`] is one log per process: the primary's, and each worker's (partitioned by
//! [`Event::origin`], keeping each process's order). The only order between processes is
//! causality as the model enforces it — a Receive after its Send, a WorkerReceive after its
//! PrimarySend, a worker's events after its Online and before its Exit — never clocks.
//!
//! # The search, and why it is a single pass
//!
//! The search space is the lattice of *cuts* `(p, w₁, …, wₙ)`: a position in each log. Each
//! cut carries the set of model states reachable by a linearisation of the events below it.
//! Two facts collapse that search:
//!
//! 1. **The state is a function of the cut.** Every field of [`State`] is a count of events
//!    (messages each way, forks) or is written only by one process's events, in that process's
//!    order (lifecycle flags, kills, policy and decisions by the primary; `Run` by the worker).
//!    So the memo holds at most one state per cut, and reaching a cut twice is never useful.
//!
//! 2. **Only how far each worker has advanced before each primary event matters, and one
//!    choice dominates.** A worker event reads and writes only its own worker's record, so
//!    events of different workers commute (their order is fixed arbitrarily, by id). For one
//!    worker `i` and the primary:
//!    - worker `i`'s events are constrained by the primary only from below (Online before
//!      Run/Send, PrimarySend `k` before WorkerReceive `k`) and by its Exit from above;
//!    - the primary's events about worker `i` are constrained by `i`'s progress only through
//!      `sent`: Receive `k` needs `sent > k` (from below), while Disconnect and Exit need
//!      `sent − received ≤ 1` resp. `= 0` for an exit by code (from above). But `received` is
//!      frozen from Disconnect on (no Receive after it, G2) and every Send must precede Exit,
//!      and a Send taken after Disconnect is held to the very same bound (`sent − received ≤ 1`).
//!      So whether a Send goes before or after Disconnect never changes the verdict — only
//!      which event is blamed.
//!
//!    Hence the canonical schedule below is accepted whenever any linearisation is, and the
//!    search never branches. The checker walks the primary's log in order; before each primary
//!    event it advances only the worker that event concerns, and only as far as needed:
//!    - to a Receive `k`: until the worker's Send `k` is taken;
//!    - to an Exit: to the end of that worker's log (nothing of a worker follows its Exit);
//!    - after any primary event about worker `i`, worker `i` takes its Run and WorkerReceive
//!      events as soon as they are legal, stopping at its next Send (Sends are taken as late
//!      as possible, right before the Receive that needs them).
//!
//!    After the primary's log, every worker takes its remaining events, by id.
//!
//! This schedule is deterministic, so the accepted linearisation is canonical (it is what the
//! execution table prints: a Send right before its Receive, a WorkerReceive right after its
//! PrimarySend). The test `checker_agrees_with_exhaustive_search_on_small_traces` compares it
//! with a brute-force search over all cuts on random and mutated traces.
//!
//! # Cost and budget
//!
//! O(events + workers·log₂ workers) time, O(events) memory for the linearisation: ≥ 1 M events/s
//! (see the `figures` example). [`CheckOptions::max_nodes`] bounds the number of steps tried;
//! when it is exhausted the verdict is [`Verdict::Unknown`] — kept so that a future model rule
//! that breaks fact 2 (and so needs real branching) keeps the same API.
//!
//! # Verdicts
//!
//! A rejection reports the longest accepted prefix: after the first primary event that cannot be
//! taken, every worker is advanced as far as the model allows, so no linearisation passes the
//! rejected primary event and none takes more worker events before it. A trace that is
//! *complete* ([`CheckOptions::complete`]) must also end in a state without
//! [obligations](State::obligations); if it does not, the verdict is [`Verdict::Unfinished`].
//!
//! An incomplete trace (a snapshot taken mid-run) must still be a run prefix as a whole: each
//! log is a prefix of that process's log, and the snapshot must be consistent (a worker's
//! WorkerReceive needs the primary's PrimarySend in the snapshot; the primary's Receive needs the
//! worker's Send). Reading the primary's log and then the workers' gives such a snapshot except
//! for events racing the read; the harness should check snapshots only at quiescent points.

use std::collections::BTreeMap;
use std::fmt;

use crate::event::{Event, Origin, WorkerId};
use crate::state::{Obligation, State, Violation};

/// One log per process. Build with [`Trace::from_events`] or [`Trace::from_jsonl`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    primary: Vec<Event>,
    workers: BTreeMap<WorkerId, Vec<Event>>,
}

/// A line of a JSON-lines trace that does not parse.
#[derive(Debug)]
pub struct TraceParseError {
    /// 1-based line number.
    pub line: usize,
    /// The parser's error.
    pub source: serde_json::Error,
}

impl fmt::Display for TraceParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trace line {}: {}", self.line, self.source)
    }
}

impl std::error::Error for TraceParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Partitions `events` by [`Event::origin`], keeping their relative order within each
    /// process. Any interleaving of the same per-process logs gives the same trace.
    pub fn from_events(events: impl IntoIterator<Item = Event>) -> Trace {
        let mut trace = Trace::new();
        for event in events {
            trace.push(event);
        }
        trace
    }

    /// Parses JSON lines (the format of [`crate::event`]). Blank lines are skipped. On error,
    /// reports the 1-based line number and the parser's message.
    pub fn from_jsonl(text: &str) -> Result<Trace, TraceParseError> {
        let mut trace = Trace::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let event = Event::from_json_line(line).map_err(|source| TraceParseError {
                line: index + 1,
                source,
            })?;
            trace.push(event);
        }
        Ok(trace)
    }

    /// Appends `event` to the log of its process.
    pub fn push(&mut self, event: Event) {
        match event.origin() {
            Origin::Primary => self.primary.push(event),
            Origin::Worker(w) => self.workers.entry(w).or_default().push(event),
        }
    }

    /// The primary's log.
    pub fn primary(&self) -> &[Event] {
        &self.primary
    }

    /// Worker `id`'s log (empty if it logged nothing).
    pub fn worker(&self, id: WorkerId) -> &[Event] {
        self.workers.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The workers' logs, by id.
    pub fn workers(&self) -> impl Iterator<Item = (WorkerId, &[Event])> + '_ {
        self.workers.iter().map(|(&id, log)| (id, log.as_slice()))
    }

    /// Events in all logs.
    pub fn len(&self) -> usize {
        self.primary.len() + self.workers.values().map(Vec::len).sum::<usize>()
    }

    /// Whether no process logged anything.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The trace as JSON lines: the primary's log, then each worker's (a valid input to
    /// [`Trace::from_jsonl`]).
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for event in self.primary.iter().chain(self.workers.values().flatten()) {
            out.push_str(&event.to_json_line());
            out.push('\n');
        }
        out
    }
}

/// How to check a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// The search budget: model steps tried before giving up with [`Verdict::Unknown`].
    pub max_nodes: u64,
    /// Whether the trace is a whole run (must end without [obligations](State::obligations))
    /// or a snapshot taken mid-run (must only be a run prefix).
    pub complete: bool,
}

impl Default for CheckOptions {
    /// A complete trace, with a budget of 2³² steps (far beyond any log that fits in memory).
    fn default() -> CheckOptions {
        CheckOptions {
            max_nodes: 1 << 32,
            complete: true,
        }
    }
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A linearisation of all events that the model accepts (the canonical one).
    Accepted {
        /// Every event of the trace, in the canonical accepted order.
        linearisation: Vec<Event>,
        /// The state after it.
        final_state: State,
    },
    /// No linearisation is accepted.
    Rejected {
        /// The longest accepted prefix of a linearisation.
        accepted_prefix: Vec<Event>,
        /// The event that could not be taken after it.
        event: Event,
        /// Why: the guarantee it breaks.
        violation: Violation,
    },
    /// A complete trace whose events are all accepted but which ends owing something (an Exit,
    /// a restart decision, End, …).
    Unfinished {
        /// Every event of the trace, in the canonical accepted order.
        linearisation: Vec<Event>,
        /// The state after it.
        final_state: State,
        /// What it still owes.
        obligations: Vec<Obligation>,
    },
    /// The budget ran out first.
    Unknown {
        /// Steps tried.
        explored: u64,
    },
}

impl Verdict {
    /// Whether the verdict is [`Verdict::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Accepted { .. })
    }

    /// The violation, for a [`Verdict::Rejected`].
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Verdict::Rejected { violation, .. } => Some(violation),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accepted { linearisation, .. } => {
                write!(f, "accepted ({} events)", linearisation.len())
            }
            Verdict::Rejected {
                accepted_prefix,
                violation,
                ..
            } => write!(
                f,
                "rejected after {} events: {violation}",
                accepted_prefix.len()
            ),
            Verdict::Unfinished { obligations, .. } => {
                write!(f, "unfinished: owes ")?;
                for (i, o) in obligations.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{o}")?;
                }
                Ok(())
            }
            Verdict::Unknown { explored } => {
                write!(f, "unknown (budget spent after {explored} steps)")
            }
        }
    }
}

/// Why a walk stopped early.
enum Stop {
    Budget,
    Rejected(Violation),
}

/// The walk's position: the state, the linearisation so far, one cursor per worker log.
struct Walk<'t> {
    state: State,
    linearisation: Vec<Event>,
    logs: Vec<(WorkerId, &'t [Event])>,
    cursors: Vec<usize>,
    nodes: u64,
    max_nodes: u64,
}

impl<'t> Walk<'t> {
    fn take(&mut self, event: &Event) -> Result<(), Stop> {
        if self.nodes >= self.max_nodes {
            return Err(Stop::Budget);
        }
        self.nodes += 1;
        self.state.apply(event).map_err(Stop::Rejected)?;
        self.linearisation.push(event.clone());
        Ok(())
    }

    fn slot(&self, worker: WorkerId) -> Option<usize> {
        self.logs.binary_search_by_key(&worker, |&(id, _)| id).ok()
    }

    /// Advances worker log `slot` while `go(next event, state)` holds and the event is legal.
    /// Returns the violation of the first illegal event it met, if it stopped on one.
    fn advance(
        &mut self,
        slot: usize,
        go: impl Fn(&Event, &State) -> bool,
    ) -> Result<Option<Violation>, Stop> {
        let log = self.logs[slot].1;
        while let Some(event) = log.get(self.cursors[slot]) {
            if !go(event, &self.state) {
                return Ok(None);
            }
            match self.take(event) {
                Ok(()) => self.cursors[slot] += 1,
                Err(Stop::Rejected(v)) => return Ok(Some(v)),
                Err(stop) => return Err(stop),
            }
        }
        Ok(None)
    }

    /// Run and WorkerReceive as early as possible; stop at a Send.
    fn advance_eager(&mut self, slot: usize) -> Result<(), Stop> {
        self.advance(slot, |e, _| !matches!(e, Event::Send { .. }))
            .map(drop)
    }
}

/// Checks `trace` against the model. See the module docs for the search and its cost.
pub fn check(trace: &Trace, options: &CheckOptions) -> Verdict {
    let logs: Vec<(WorkerId, &[Event])> = trace.workers().collect();
    let mut walk = Walk {
        state: State::new(),
        linearisation: Vec::with_capacity(trace.len()),
        cursors: vec![0; logs.len()],
        logs,
        nodes: 0,
        max_nodes: options.max_nodes,
    };
    match run(&mut walk, trace) {
        Ok(()) => {}
        Err(Stop::Budget) => {
            return Verdict::Unknown {
                explored: walk.nodes,
            }
        }
        Err(Stop::Rejected(violation)) => {
            // Longest prefix: let every worker take what it still can.
            walk.max_nodes = u64::MAX;
            for slot in 0..walk.logs.len() {
                let _ = walk.advance(slot, |_, _| true);
            }
            return Verdict::Rejected {
                accepted_prefix: walk.linearisation,
                event: violation.event.clone(),
                violation,
            };
        }
    }
    let obligations = walk.state.obligations();
    if options.complete && !obligations.is_empty() {
        return Verdict::Unfinished {
            linearisation: walk.linearisation,
            final_state: walk.state,
            obligations,
        };
    }
    Verdict::Accepted {
        linearisation: walk.linearisation,
        final_state: walk.state,
    }
}

fn run(walk: &mut Walk<'_>, trace: &Trace) -> Result<(), Stop> {
    for event in trace.primary() {
        let slot = event.worker().and_then(|w| walk.slot(w));
        if let Some(slot) = slot {
            match *event {
                Event::Receive { seq, .. } => {
                    // Up to and including Send `seq`; a stuck worker leaves the Receive to fail.
                    walk.advance(slot, |e, s| {
                        let sent = e.worker().and_then(|w| s.worker(w)).map_or(0, |r| r.sent());
                        sent <= seq
                    })?;
                }
                Event::Exit { .. } => {
                    if let Some(v) = walk.advance(slot, |_, _| true)? {
                        return Err(Stop::Rejected(v));
                    }
                }
                _ => {}
            }
        }
        walk.take(event)?;
        if let Some(slot) = slot {
            walk.advance_eager(slot)?;
        }
    }
    for slot in 0..walk.logs.len() {
        if let Some(v) = walk.advance(slot, |_, _| true)? {
            return Err(Stop::Rejected(v));
        }
    }
    Ok(())
}
