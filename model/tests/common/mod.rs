//! Shared generators: random legal runs drawn from `State::enabled`.
#![allow(dead_code)]

use crew_model::{Bounds, Event, Policy, RestartPolicy, State};
use proptest::prelude::*;

/// A legal run: its events in order, and whether it reached End.
#[derive(Clone, Debug)]
pub struct Run {
    pub events: Vec<Event>,
    pub finished: bool,
}

/// The bounds random runs are drawn from: the small bound, the seed, and a
/// restart-heavy bound (intensity 0, so every failure makes the primary give up).
pub fn bounds_choices() -> Vec<Bounds> {
    vec![
        Bounds::small(),
        Bounds::seed(),
        Bounds {
            max_workers: 4,
            config: Some(Policy {
                restart: RestartPolicy::OnFailure,
                max_restarts: 0,
                window_ms: 500,
            }),
            ..Bounds::small()
        },
        Bounds {
            max_workers: 5,
            config: Some(Policy {
                restart: RestartPolicy::Always,
                max_restarts: 2,
                window_ms: 100,
            }),
            ..Bounds::small()
        },
    ]
}

/// Walks `choices` through `enabled` (each choice picks one enabled event), then drives the run
/// to End with a fixed preference when `finish` is set.
pub fn build_run(bounds: &Bounds, choices: &[u16], finish: bool) -> Run {
    let mut state = State::new();
    let mut events = Vec::new();
    for &choice in choices {
        let enabled = state.enabled(bounds);
        if enabled.is_empty() || state.is_ended() {
            break;
        }
        let event = enabled[choice as usize % enabled.len()].clone();
        state = state.step(&event).expect("enabled events step Ok");
        events.push(event);
    }
    if finish {
        for _ in 0..10_000 {
            if state.is_ended() {
                break;
            }
            let enabled = state.enabled(bounds);
            let Some(event) = enabled
                .iter()
                .filter_map(|e| finishing_rank(&state, e).map(|rank| (rank, e)))
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, e)| e.clone())
            else {
                break;
            };
            state = state.step(&event).expect("enabled events step Ok");
            events.push(event);
        }
    }
    Run {
        finished: state.is_ended(),
        events,
    }
}

/// How eagerly the finisher takes an event (lower first); `None`: never.
fn finishing_rank(state: &State, event: &Event) -> Option<u8> {
    Some(match event {
        Event::End => 0,
        Event::Restart { .. } | Event::GaveUp { .. } => 1,
        Event::Fork { .. } if state.pending().is_some() => 1,
        Event::Exit { .. } => 2,
        Event::Receive { .. } => 3,
        Event::WorkerReceive { .. } => 3,
        Event::Disconnect { .. } => 4,
        Event::Kill { signal: 9, .. } => 5,
        Event::DisconnectRequested { .. } => 6,
        _ => return None,
    })
}

/// A random legal run, finished (reached End) or not.
pub fn any_run() -> impl Strategy<Value = (Bounds, Run)> {
    (
        0..bounds_choices().len(),
        prop::collection::vec(any::<u16>(), 0..80),
        any::<bool>(),
    )
        .prop_map(|(b, choices, finish)| {
            let bounds = bounds_choices()[b].clone();
            let run = build_run(&bounds, &choices, finish);
            (bounds, run)
        })
}

/// A random legal run that reached End.
pub fn finished_run() -> impl Strategy<Value = Run> {
    (
        0..bounds_choices().len(),
        prop::collection::vec(any::<u16>(), 0..80),
    )
        .prop_map(|(b, choices)| build_run(&bounds_choices()[b], &choices, true))
        .prop_filter("reached End", |run| run.finished)
}

/// Interleaves the per-process logs of `events` in the order `picks` dictates (each pick
/// chooses one of the processes with events left), preserving each process's order.
pub fn reinterleave(events: &[Event], picks: &[u16]) -> Vec<Event> {
    use std::collections::BTreeMap;
    let mut queues: BTreeMap<crew_model::Origin, std::collections::VecDeque<Event>> =
        BTreeMap::new();
    for e in events {
        queues.entry(e.origin()).or_default().push_back(e.clone());
    }
    let mut out = Vec::with_capacity(events.len());
    let mut i = 0;
    while out.len() < events.len() {
        let live: Vec<_> = queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(o, _)| *o)
            .collect();
        let pick = picks.get(i).copied().unwrap_or(0) as usize % live.len();
        i += 1;
        out.push(queues.get_mut(&live[pick]).unwrap().pop_front().unwrap());
    }
    out
}

/// A random legal run stopped before End.
pub fn unfinished_run() -> impl Strategy<Value = Run> {
    (
        0..bounds_choices().len(),
        prop::collection::vec(any::<u16>(), 0..80),
    )
        .prop_map(|(b, choices)| build_run(&bounds_choices()[b], &choices, false))
        .prop_filter("stopped before End", |run| !run.finished)
}
