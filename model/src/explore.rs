//! Bounded exhaustive exploration: every state reachable from [`State::new`] through
//! [`State::enabled`] within [`Bounds`], with the invariants checked at each one.
//!
//! A breadth-first search, one level at a time. At every transition it checks that the enabled
//! event steps Ok (enabled agrees with step), that the derived tracker equals the previous one
//! advanced by the seed's counting rules ([`crate::Tracker::after`], G5), and
//! [`State::check_invariants`] on the state reached; at every state, that a state with nothing
//! enabled is either ended or stuck only because the worker bound forbids the owed replacement.
//!
//! # Design (why it is fast)
//!
//! Every distinct state is stored as a `Key`: the state packed losslessly into 128 bits, with
//! each field given just the bits the bound needs (a message counter up to `max_messages`, a
//! worker id up to `max_workers`, a requested kill as one bit per signal of the bound, the clock
//! up to `max_workers × window_ms`, …; see `Layout`). The visited set is a hash set of keys
//! (16 bytes each, inline, no pointers) under an Fx-style hash with a final avalanche
//! (the private `hash` module), and the frontier is a vector of keys. Each state is unpacked once into a
//! scratch [`State`] whose vectors keep their capacity, its enabled events are listed into one
//! reused buffer ([`State::enabled_into`]), and each successor is built in a second scratch
//! state with `clone_from` + [`State::apply`] in place, then packed. So the search allocates
//! nothing per state or transition beyond the two growing containers, and a lookup touches one
//! table slot instead of chasing heap pointers. Unpacking a key and packing it again gives the
//! same key, and two states have equal keys exactly when they are equal: the search visits
//! exactly the states a `HashSet<State>` search would.
//!
//! Bounds whose fields do not fit 256 bits (e.g. more than about 10 workers at 2 messages) are
//! refused with a panic naming the limit; a state outside its bound's layout (which would mean
//! [`State::enabled`] left the bound) panics too.
//!
//! Why not `stateright`: its checker stores a fingerprint map plus per-state bookkeeping for
//! paths and properties behind trait objects and threads, and pulls in a web UI's dependencies;
//! our states pack into 32 bytes and a BFS over a set of such keys is a few hundred lines with
//! two dependencies. No symmetry reduction is needed at these bounds.

use std::time::Instant;

use crate::enabled::Bounds;
use crate::event::{Event, Signal};
use crate::guarantee::Guarantee;
use crate::hash::KeySet;
use crate::state::{flag, Pending, Phase, Policy, State, WorkerRecord};

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

/// Explores every state reachable within `bounds`. Memory: one 32-byte key per distinct state
/// (plus the hash table's slack), ≈ 0.2 GB at [`Bounds::large`]. Returns the first invariant
/// failure instead, if any.
///
/// # Panics
///
/// If `bounds` is too large for the packed 256-bit state key (see the module docs).
pub fn explore(bounds: &Bounds) -> Result<Exploration, Box<InvariantFailure>> {
    let started = Instant::now();
    let layout = Layout::new(bounds);
    let mut seen = KeySet::new();
    let initial = State::new();
    let initial_key = layout.pack(&initial);
    seen.insert(initial_key);
    let mut frontier = vec![initial_key];
    let mut next_frontier = Vec::new();
    let mut enabled = Vec::new();
    // Successor keys of the state being expanded, and of the one before (see `warm` below).
    let mut successors: Vec<Key> = Vec::new();
    let mut waiting: Vec<Key> = Vec::new();
    // `state` is the state being expanded, `next` the successor being built: both reused.
    let mut state = State::new();
    let mut next = State::new();
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
        for &key in &frontier {
            layout.unpack(key, &mut state);
            check_state(&state)?;
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
                next.clone_from(&state);
                if let Err(violation) = next.apply(event) {
                    return Err(Box::new(InvariantFailure {
                        guarantee: violation.guarantee,
                        invariant: format!("enabled events step Ok, but: {violation}"),
                        state,
                        event: Some(event.clone()),
                    }));
                }
                if tracker.after(event) != Some(next.tracker()) {
                    return Err(Box::new(InvariantFailure {
                        guarantee: Guarantee::G5,
                        invariant: "the tracker counts Forks, Receives and Forks − Exits".into(),
                        state,
                        event: Some(event.clone()),
                    }));
                }
                // Invariants are a function of the state, so each stored state is checked once,
                // when it is expanded (above). The one difference between a successor and the
                // state stored for it is the counters of a worker that just died, which
                // `forget_dead_workers` erases: so after an Exit the successor itself is checked.
                if matches!(event, Event::Exit { .. }) {
                    check_state(&next)?;
                }
                next.forget_dead_workers();
                let next_key = layout.pack(&next);
                if next_key != key {
                    successors.push(next_key);
                }
            }
            // The successors are looked up one state later, software-pipelined: their slots
            // are loaded now (`warm`, independent loads whose cache misses overlap) and the
            // lookups happen after the next state's CPU-bound work, by which time the slots
            // are in the cache. The table is far larger than the caches, and waiting for it was
            // most of a search's time. Insertion order, hence the frontier, is unchanged.
            std::hint::black_box(seen.warm(&successors));
            for next_key in waiting.drain(..) {
                if seen.insert(next_key) {
                    next_frontier.push(next_key);
                }
            }
            std::mem::swap(&mut successors, &mut waiting);
        }
        for next_key in waiting.drain(..) {
            if seen.insert(next_key) {
                next_frontier.push(next_key);
            }
        }
        frontier.clear();
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

/// A state packed into 127 bits by a [`Layout`], with bit 127 set (so no key is zero, the
/// empty slot of [`KeySet`]); unused bits are zero, so equal states give equal keys.
type Key = u128;

/// Bits of a key available to the fields (bit 127 is the occupied marker).
const KEY_BITS: u32 = 127;

/// The bit widths of a packed state, derived from the bounds. Fields, from bit 0 up:
///
/// | field | bits |
/// |-------|------|
/// | phase (running, shutting down, ended) | 2 |
/// | policy is the bound's `config` (else the default) | 1 |
/// | gave up | 1 |
/// | pending: none, decision, replacement fork | 2 |
/// | pending worker id | `id_bits` (ids 0..=max_workers) |
/// | clock (`last_at_ms`) | `clock_bits` (0..=max_workers × window_ms) |
/// | number of recent restarts | `restart_count_bits` (0..=max_restarts) |
/// | each recent restart's `at_ms` | `clock_bits` each |
/// | number of workers | `id_bits` |
/// | per worker: sent, received, primary_sent, worker_received | `count_bits` each (0..=max_messages) |
/// | per worker: flags | 7 |
/// | per worker: kills, one bit per signal of `kill_signals` | `kill_signals.len()` |
///
/// [`Bounds::large`] takes 86 bits.
struct Layout {
    /// The policy a Config sets (the only one the bound offers).
    config: Option<Policy>,
    /// Requested-kill bit `i` of a packed worker is signal `kill_signals[i]`.
    kill_signals: Vec<Signal>,
    /// The requested-kill bits of a [`WorkerRecord`] the bound can produce.
    kill_mask: u64,
    id_bits: u32,
    clock_bits: u32,
    restart_count_bits: u32,
    count_bits: u32,
    /// `4 × count_bits + 7 + kill_signals.len()`, at most 64.
    worker_bits: u32,
}

/// Bits needed to hold every value in `0..=max`.
fn bits_for(max: u64) -> u32 {
    u64::BITS - max.leading_zeros()
}

impl Layout {
    fn new(bounds: &Bounds) -> Layout {
        let max_restarts = bounds.config.map_or(0, |p| p.max_restarts);
        let window = bounds.config.map_or(0, |p| p.window_ms);
        // Each restart decision follows the unexpected exit of a distinct worker and moves the
        // clock by at most one window, so the clock never exceeds max_workers × window.
        let max_clock = u64::from(bounds.max_workers).saturating_mul(window);
        let mut kill_signals = bounds.kill_signals.clone();
        kill_signals.sort_unstable();
        kill_signals.dedup();
        let mut kill_mask = 0;
        for &s in &kill_signals {
            assert!(
                (1..=64).contains(&s),
                "explore: kill signal {s} is not in 1..=64"
            );
            kill_mask |= 1u64 << (s - 1);
        }
        let layout = Layout {
            config: bounds.config,
            kill_signals,
            kill_mask,
            id_bits: bits_for(u64::from(bounds.max_workers)),
            clock_bits: bits_for(max_clock),
            restart_count_bits: bits_for(u64::from(max_restarts)),
            count_bits: bits_for(bounds.max_messages),
            worker_bits: 0,
        };
        let worker_bits = 4 * u64::from(layout.count_bits) + 7 + layout.kill_signals.len() as u64;
        assert!(
            worker_bits <= 64,
            "explore: a worker needs {worker_bits} bits, more than 64 (fewer messages or kill signals)"
        );
        let layout = Layout {
            worker_bits: worker_bits as u32,
            ..layout
        };
        let total = 6
            + 2 * u64::from(layout.id_bits)
            + u64::from(layout.clock_bits) * (1 + u64::from(max_restarts))
            + u64::from(layout.restart_count_bits)
            + worker_bits * u64::from(bounds.max_workers);
        assert!(
            total <= u64::from(KEY_BITS),
            "explore: the bound needs {total} bits per state, more than the {KEY_BITS} a key \
             holds (fewer workers, messages, kill signals or restarts per window)"
        );
        layout
    }

    /// Packs `state`. Panics if a field exceeds its width (a state outside the bound).
    fn pack(&self, state: &State) -> Key {
        let mut w = BitWriter::default();
        let phase = match state.phase {
            Phase::Running => 0,
            Phase::ShuttingDown => 1,
            Phase::Ended => 2,
        };
        let configured = state.policy != Policy::default();
        assert!(
            !configured || Some(state.policy) == self.config,
            "explore: a policy the bound does not offer"
        );
        let (kind, id) = match state.pending {
            None => (0, 0),
            Some(Pending::Decision { worker }) => (1, worker),
            Some(Pending::ReplacementFork { replacement }) => (2, replacement),
        };
        w.put(
            phase | u64::from(configured) << 2 | u64::from(state.gave_up) << 3 | kind << 4,
            6,
        );
        w.put(u64::from(id), self.id_bits);
        w.put(state.last_at_ms, self.clock_bits);
        w.put(state.restarts.len() as u64, self.restart_count_bits);
        for &at_ms in &state.restarts {
            w.put(at_ms, self.clock_bits);
        }
        w.put(state.workers.len() as u64, self.id_bits);
        let cb = self.count_bits;
        for r in &state.workers {
            // One field per worker: its four counters, flags and requested kills.
            assert!(
                (r.sent | r.received | r.primary_sent | r.worker_received) >> cb == 0
                    && r.kills & !self.kill_mask == 0,
                "explore: worker record {r:?} outside the bound"
            );
            let mut code = r.sent
                | r.received << cb
                | r.primary_sent << (2 * cb)
                | r.worker_received << (3 * cb)
                | u64::from(r.flags) << (4 * cb);
            if r.kills != 0 {
                for (i, &s) in self.kill_signals.iter().enumerate() {
                    code |= ((r.kills >> (s - 1)) & 1) << (4 * cb + 7 + i as u32);
                }
            }
            w.put(code, self.worker_bits);
        }
        w.bits | 1 << KEY_BITS
    }

    /// Overwrites `state` with the state `key` packs, reusing its vectors' capacity.
    fn unpack(&self, key: Key, state: &mut State) {
        let mut r = BitReader { bits: key };
        state.phase = match r.get(2) {
            0 => Phase::Running,
            1 => Phase::ShuttingDown,
            _ => Phase::Ended,
        };
        state.policy = match r.get(1) {
            0 => Policy::default(),
            _ => self.config.unwrap_or_default(),
        };
        state.gave_up = r.get(1) == 1;
        let kind = r.get(2);
        let id = r.get(self.id_bits) as u32;
        state.pending = match kind {
            0 => None,
            1 => Some(Pending::Decision { worker: id }),
            _ => Some(Pending::ReplacementFork { replacement: id }),
        };
        state.last_at_ms = r.get(self.clock_bits);
        state.restarts.clear();
        for _ in 0..r.get(self.restart_count_bits) {
            state.restarts.push(r.get(self.clock_bits));
        }
        state.workers.clear();
        for _ in 0..r.get(self.id_bits) {
            let mut record = WorkerRecord {
                sent: r.get(self.count_bits),
                received: r.get(self.count_bits),
                primary_sent: r.get(self.count_bits),
                worker_received: r.get(self.count_bits),
                flags: r.get(7) as u8,
                kills: 0,
            };
            for &s in &self.kill_signals {
                record.kills |= r.get(1) << (s - 1);
            }
            state.workers.push(record);
        }
    }
}

// The packed flags must fit their 7 bits.
const _: () = assert!(
    (flag::ONLINE
        | flag::RAN
        | flag::DISCONNECT_REQUESTED
        | flag::DISCONNECTED
        | flag::DEAD
        | flag::PROTOCOL_ERROR
        | flag::PROTOCOL_KILL)
        .leading_zeros()
        >= 1
);

/// Appends fields of given widths (≤ 64 bits) to a key, from bit 0 up.
#[derive(Default)]
struct BitWriter {
    bits: u128,
    pos: u32,
}

impl BitWriter {
    /// Appends the low `width` bits of `value`; panics if `value` does not fit (a state
    /// outside the bound the layout was made for).
    #[inline]
    fn put(&mut self, value: u64, width: u32) {
        assert!(
            (width >= 64 || value >> width == 0) && self.pos + width <= KEY_BITS,
            "explore: {value} does not fit {width} bits: a state outside the bound"
        );
        self.bits |= u128::from(value) << self.pos;
        self.pos += width;
    }
}

/// Reads back what a [`BitWriter`] wrote, field by field.
struct BitReader {
    bits: u128,
}

impl BitReader {
    #[inline]
    fn get(&mut self, width: u32) -> u64 {
        let value = (self.bits & ((1u128 << width) - 1)) as u64;
        self.bits >>= width;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packing is lossless and canonical on every state of a bound with every feature.
    #[test]
    fn keys_round_trip() {
        let bounds = Bounds {
            kill_signals: vec![crate::event::signal::SIGTERM, crate::event::signal::SIGKILL],
            protocol_errors: true,
            ..Bounds::faults()
        };
        let layout = Layout::new(&bounds);
        let mut seen = KeySet::new();
        let mut frontier = vec![State::new()];
        let mut back = State::new();
        let mut enabled = Vec::new();
        while let Some(state) = frontier.pop() {
            let key = layout.pack(&state);
            layout.unpack(key, &mut back);
            assert_eq!(back, state);
            if !seen.insert(key) {
                continue;
            }
            state.enabled_into(&bounds, &mut enabled);
            for event in &enabled {
                let mut next = state.step(event).unwrap();
                // Round-trip before forgetting too (dead workers keep their counters).
                layout.unpack(layout.pack(&next), &mut back);
                assert_eq!(back, next);
                next.forget_dead_workers();
                frontier.push(next);
            }
        }
        assert!(seen.len() > 10_000);
    }

    #[test]
    fn bit_fields_round_trip() {
        let mut w = BitWriter::default();
        let fields = [
            (5, 3),
            (u64::MAX, 64),
            (0x1234, 33),
            (1, 1),
            (0, 0),
            (77, 7),
        ];
        for (value, width) in fields {
            w.put(value, width);
        }
        let mut r = BitReader { bits: w.bits };
        for (value, width) in fields {
            assert_eq!(r.get(width), value);
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn values_outside_the_layout_panic() {
        let mut w = BitWriter::default();
        w.put(4, 2);
    }

    #[test]
    #[should_panic(expected = "bits per state")]
    fn bounds_beyond_the_key_are_refused() {
        Layout::new(&Bounds {
            max_workers: 8,
            ..Bounds::large()
        });
    }
}
