//! Bounded exhaustive exploration: every state reachable from [`State::new`] through
//! [`State::enabled`] within [`Bounds`], with the invariants checked at each one.
//!
//! A plain breadth-first search over a hash set of states (an in-crate copy of rustc's Fx hash),
//! one level at a time. At every state it checks [`State::check_invariants`], and at every
//! transition that the derived tracker equals the previous one advanced by the seed's counting
//! rules ([`crate::Tracker::after`], G5), that each enabled event steps Ok (enabled agrees with
//! step), and that a state with nothing enabled is either ended or stuck only because the
//! worker bound forbids the owed replacement.
//!
//! Why not `stateright`: its checker stores a fingerprint map plus per-state bookkeeping for
//! paths and properties behind trait objects and threads, and pulls in a web UI's dependencies;
//! our states are small `Hash + Eq` values and a BFS over `HashSet<State>` is ~150 lines that
//! run several times faster per state with two dependencies. No symmetry reduction is needed at
//! these bounds.

use std::time::Instant;

use crate::enabled::Bounds;
use crate::event::Event;
use crate::guarantee::Guarantee;
use crate::hash::FxHashSet;
use crate::state::{Pending, State};

/// What a finished exploration found.
#[derive(Clone, Debug, PartialEq)]
pub struct Exploration {
    /// The bound explored.
    pub bounds: Bounds,
    /// Distinct reachable states.
    pub states: u64,
    /// Transitions taken (enabled events, counted from every distinct state).
    pub transitions: u64,
    /// BFS depth of the deepest state (the longest shortest run).
    pub max_depth: u32,
    /// Reachable states after End.
    pub ended_states: u64,
    /// States with nothing enabled only because the owed replacement would exceed
    /// `max_workers`.
    pub stuck_at_bound: u64,
    /// Wall-clock seconds.
    pub secs: f64,
}

/// A state or transition that breaks an invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantFailure {
    /// The guarantee the invariant belongs to.
    pub guarantee: Guarantee,
    /// What is wrong.
    pub invariant: String,
    /// The state before the offending event (or the offending state itself).
    pub state: State,
    /// The offending event, if a transition is at fault.
    pub event: Option<Event>,
}

impl std::fmt::Display for InvariantFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} invariant broken: {}", self.guarantee, self.invariant)?;
        if let Some(event) = &self.event {
            write!(f, " (by {event})")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvariantFailure {}

/// Explores every state reachable within `bounds`. Memory: every distinct state is kept.
/// Returns the first invariant failure instead, if any.
pub fn explore(bounds: &Bounds) -> Result<Exploration, Box<InvariantFailure>> {
    let started = Instant::now();
    let mut seen: FxHashSet<State> = FxHashSet::default();
    let initial = State::new();
    check_state(&initial)?;
    seen.insert(initial.clone());
    let mut frontier = vec![initial];
    let mut next_frontier = Vec::new();
    let mut enabled = Vec::new();
    let mut scratch = State::new();
    let mut result = Exploration {
        bounds: bounds.clone(),
        states: 1,
        transitions: 0,
        max_depth: 0,
        ended_states: 0,
        stuck_at_bound: 0,
        secs: 0.0,
    };
    let mut depth = 0;
    while !frontier.is_empty() {
        for state in frontier.drain(..) {
            state.enabled_into(bounds, &mut enabled);
            if state.is_ended() {
                result.ended_states += 1;
            } else if enabled.is_empty() {
                let at_bound = matches!(state.pending(), Some(Pending::Decision { .. }))
                    && state.next_worker_id() > bounds.max_workers;
                if !at_bound {
                    return Err(Box::new(InvariantFailure {
                        guarantee: Guarantee::G9,
                        invariant: "a state that has not ended has something enabled".into(),
                        state,
                        event: None,
                    }));
                }
                result.stuck_at_bound += 1;
            }
            let tracker = state.tracker();
            for event in &enabled {
                result.transitions += 1;
                scratch.clone_from(&state);
                match scratch.apply(event) {
                    Ok(()) => {}
                    Err(violation) => {
                        return Err(Box::new(InvariantFailure {
                            guarantee: violation.guarantee,
                            invariant: format!("enabled events step Ok, but: {violation}"),
                            state,
                            event: Some(event.clone()),
                        }))
                    }
                };
                if tracker.after(event) != Some(scratch.tracker()) {
                    return Err(Box::new(InvariantFailure {
                        guarantee: Guarantee::G5,
                        invariant: "the tracker counts Forks, Receives and Forks − Exits".into(),
                        state,
                        event: Some(event.clone()),
                    }));
                }
                check_state(&scratch)?;
                scratch.forget_dead_workers();
                if scratch == state || seen.contains(&scratch) {
                    continue;
                }
                seen.insert(scratch.clone());
                next_frontier.push(scratch.clone());
            }
        }
        if !next_frontier.is_empty() {
            depth += 1;
        }
        std::mem::swap(&mut frontier, &mut next_frontier);
    }
    result.states = seen.len() as u64;
    result.max_depth = depth;
    result.secs = started.elapsed().as_secs_f64();
    Ok(result)
}

fn check_state(state: &State) -> Result<(), Box<InvariantFailure>> {
    state.check_invariants().map_err(|(guarantee, invariant)| {
        Box::new(InvariantFailure {
            guarantee,
            invariant,
            state: state.clone(),
            event: None,
        })
    })
}
