//! The trace checker: agreement with brute force, budget, parsing, the execution table.

mod common;

use std::collections::HashSet;

use common::{any_run, reinterleave};
use crew_model::enabled::bounded_universe;
use crew_model::{
    check, render_table, seed_rows, CheckOptions, Event, Guarantee, State, Trace, Verdict,
};
use proptest::prelude::*;

/// Brute force: depth-first over every cut, memoising (cut, state) pairs, no reduction.
/// Returns whether all events can be linearised (ignoring obligations), or None past `limit`.
fn brute_force(trace: &Trace, limit: usize) -> Option<bool> {
    let logs: Vec<&[Event]> = std::iter::once(trace.primary())
        .chain(trace.workers().map(|(_, log)| log))
        .collect();
    let total: usize = logs.iter().map(|l| l.len()).sum();
    let mut seen: HashSet<(Vec<usize>, State)> = HashSet::new();
    let mut stack = vec![(vec![0; logs.len()], State::new())];
    while let Some((cut, state)) = stack.pop() {
        if cut.iter().sum::<usize>() == total {
            return Some(true);
        }
        if !seen.insert((cut.clone(), state.clone())) {
            continue;
        }
        if seen.len() > limit {
            return None;
        }
        for (i, log) in logs.iter().enumerate() {
            if let Some(event) = log.get(cut[i]) {
                if let Ok(next) = state.step(event) {
                    let mut c = cut.clone();
                    c[i] += 1;
                    stack.push((c, next));
                }
            }
        }
    }
    Some(false)
}

/// Small random mutations: drop, duplicate or move one event.
fn mutate(events: &[Event], kind: u8, a: usize, b: usize) -> Vec<Event> {
    let mut events = events.to_vec();
    if events.is_empty() {
        return events;
    }
    let a = a % events.len();
    let b = b % events.len();
    match kind % 3 {
        0 => {
            events.remove(a);
        }
        1 => {
            let e = events[a].clone();
            events.insert(b, e);
        }
        _ => {
            let e = events.remove(a);
            events.insert(b.min(events.len()), e);
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The single-pass checker is complete: it accepts exactly the traces a search over all
    /// cuts accepts, on legal runs and on mutated ones.
    #[test]
    fn checker_agrees_with_exhaustive_search_on_small_traces(
        (_bounds, run) in any_run(),
        kind in any::<u8>(), a in any::<usize>(), b in any::<usize>(),
        picks in prop::collection::vec(any::<u16>(), 0..200),
    ) {
        prop_assume!(run.events.len() <= 40);
        let events = reinterleave(&mutate(&run.events, kind, a, b), &picks);
        let trace = Trace::from_events(events);
        let Some(expected) = brute_force(&trace, 200_000) else { return Ok(()) };
        let verdict = check(&trace, &CheckOptions { complete: false, ..CheckOptions::default() });
        prop_assert_eq!(verdict.is_accepted(), expected, "{}\n{}", verdict, trace.to_jsonl());
        if let Verdict::Rejected { accepted_prefix, violation, .. } = &verdict {
            // The prefix is a legal run and the rejected event does not extend it.
            let mut state = State::new();
            for e in accepted_prefix {
                state = state.step(e).unwrap();
            }
            prop_assert!(state.step(&violation.event).is_err());
        }
    }

    /// `enabled` lists exactly the legal events of the bounded universe.
    #[test]
    fn enabled_is_exactly_the_legal_events_within_bounds((bounds, run) in any_run(), cut in any::<prop::sample::Index>()) {
        let mut state = State::new();
        for e in &run.events[..cut.index(run.events.len() + 1)] {
            state = state.step(e).unwrap();
        }
        let enabled: HashSet<Event> = state.enabled(&bounds).into_iter().collect();
        for e in &enabled {
            prop_assert!(state.step(e).is_ok(), "enabled but illegal: {}", e);
        }
        for e in bounded_universe(&state, &bounds) {
            let within = match &e {
                Event::Config { .. } => state == State::new(),
                Event::Exit { worker, signal: Some(s), .. } => state.worker(*worker).is_some_and(|r|
                    r.kill_requested(*s) || (r.kills().next().is_none() && Some(*s) == bounds.crash_signal)),
                Event::Fork { worker } if state.pending().is_none() => *worker <= bounds.max_forks,
                Event::Shutdown => bounds.shutdown,
                Event::Send { worker, .. } => state.worker(*worker).is_some_and(|r| !r.is_disconnected()
                    || r.protocol_error() || !bounds.kill_signals.is_empty() || bounds.crash_signal.is_some()),
                Event::Disconnect { worker } => state.worker(*worker).is_some_and(|r| r.protocol_error()
                    || r.unreceived() == 0 || !bounds.kill_signals.is_empty() || bounds.crash_signal.is_some()),
                _ => true,
            };
            if within && state.step(&e).is_ok() {
                prop_assert!(enabled.contains(&e), "legal but not enabled: {}", e);
            }
        }
    }
}

/// 8 workers, each exchanging `messages` messages each way, interleaved round-robin.
fn heavy_trace(workers: u32, messages: u64) -> Trace {
    let mut events = Vec::new();
    for w in 1..=workers {
        events.push(Event::Fork { worker: w });
        events.push(Event::Online { worker: w });
    }
    for seq in 0..messages {
        for w in 1..=workers {
            events.push(Event::Send { worker: w, seq });
            events.push(Event::PrimarySend { worker: w, seq });
            events.push(Event::Receive { worker: w, seq });
            events.push(Event::WorkerReceive { worker: w, seq });
        }
    }
    for w in 1..=workers {
        events.push(Event::Disconnect { worker: w });
        events.push(Event::Exit {
            worker: w,
            code: Some(0),
            signal: None,
            after_disconnect: false,
        });
    }
    events.push(Event::End);
    Trace::from_events(events)
}

#[test]
fn checker_returns_unknown_when_the_budget_is_spent() {
    let trace = heavy_trace(8, 100);
    let verdict = check(
        &trace,
        &CheckOptions {
            max_nodes: 50,
            complete: true,
        },
    );
    assert_eq!(verdict, Verdict::Unknown { explored: 50 });
    assert!(check(&trace, &CheckOptions::default()).is_accepted());
}

#[test]
fn seed_run_prints_the_seed_lessons_eleven_step_table() {
    let trace = Trace::from_jsonl(include_str!("seed_trace.jsonl")).unwrap();
    let Verdict::Accepted { linearisation, .. } = check(&trace, &CheckOptions::default()) else {
        panic!("seed trace rejected")
    };
    let rows = seed_rows(&linearisation).unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "fork worker 1",
            "fork worker 2",
            "run",
            "run",
            "send message #0",
            "receive message #0 from worker 1",
            "send message #0",
            "receive message #0 from worker 2",
            "worker 1 exits with code 0",
            "worker 2 exits with code 0",
            "end",
        ]
    );
    let last = rows.last().unwrap().tracker;
    assert_eq!(
        (
            last.worker_count,
            last.messages_received,
            last.workers_alive
        ),
        (2, 2, 0)
    );
    let table = render_table(&rows);
    println!("{table}");
    assert!(table.starts_with("Step | Process "));
    assert_eq!(table.lines().count(), 13);
}

#[test]
fn every_event_variant_round_trips_through_json() {
    let all = [
        Event::Config {
            restart: crew_model::RestartPolicy::OnFailure,
            max_restarts: 3,
            window_ms: 5000,
        },
        Event::Fork { worker: 1 },
        Event::Online { worker: 1 },
        Event::Run { worker: 1 },
        Event::Send { worker: 1, seq: 0 },
        Event::Receive { worker: 1, seq: 0 },
        Event::PrimarySend { worker: 1, seq: 0 },
        Event::WorkerReceive { worker: 1, seq: 0 },
        Event::Kill {
            worker: 1,
            signal: 15,
        },
        Event::DisconnectRequested { worker: 1 },
        Event::Disconnect { worker: 1 },
        Event::Exit {
            worker: 1,
            code: None,
            signal: Some(9),
            after_disconnect: true,
        },
        Event::ProtocolError {
            worker: 1,
            reason: "bad magic".into(),
        },
        Event::Restart {
            worker: 1,
            replacement: 2,
            at_ms: 120,
        },
        Event::GaveUp {
            worker: 2,
            at_ms: 300,
        },
        Event::RestartFailed {
            worker: 1,
            replacement: 2,
        },
        Event::Shutdown,
        Event::End,
    ];
    for e in &all {
        assert_eq!(&Event::from_json_line(&e.to_json_line()).unwrap(), e);
    }
    let trace = Trace::from_events(all.clone());
    assert_eq!(Trace::from_jsonl(&trace.to_jsonl()).unwrap(), trace);
}

#[test]
fn from_jsonl_reports_the_line_number_of_a_bad_line() {
    let text = "{\"ev\":\"fork\",\"worker\":1}\n\n{\"ev\":\"online\",\"worker\":1}\n{\"ev\":\"teleport\"}\n";
    let err = Trace::from_jsonl(text).unwrap_err();
    assert_eq!(err.line, 4);
    assert!(err.to_string().starts_with("trace line 4:"), "{err}");
}

#[test]
fn violation_names_guarantee_event_and_expectation() {
    let mut state = State::new();
    for e in [
        Event::Fork { worker: 1 },
        Event::Online { worker: 1 },
        Event::Send { worker: 1, seq: 0 },
        Event::Send { worker: 1, seq: 1 },
        Event::Send { worker: 1, seq: 2 },
    ] {
        state.apply(&e).unwrap();
    }
    let v = state
        .step(&Event::Receive { worker: 1, seq: 2 })
        .unwrap_err();
    assert_eq!(v.guarantee, Guarantee::G3);
    assert_eq!(
        v.to_string(),
        "G3 violated by receive{worker 1, seq 2}: expected seq 0 (no gap, duplicate or reordering)"
    );
    assert_eq!(Guarantee::G11.to_string(), "G11");
    assert!(Guarantee::ALL.iter().all(|g| !g.summary().is_empty()));
}

#[test]
fn killed_worker_may_lose_only_its_last_send() {
    let base = |exit: Event| {
        Trace::from_events([
            Event::Fork { worker: 1 },
            Event::Online { worker: 1 },
            Event::Send { worker: 1, seq: 0 },
            Event::Send { worker: 1, seq: 1 },
            Event::Receive { worker: 1, seq: 0 },
            Event::Kill {
                worker: 1,
                signal: 9,
            },
            Event::Disconnect { worker: 1 },
            exit,
            Event::End,
        ])
    };
    let killed = base(Event::Exit {
        worker: 1,
        code: None,
        signal: Some(9),
        after_disconnect: false,
    });
    assert!(check(&killed, &CheckOptions::default()).is_accepted());
    let exited = base(Event::Exit {
        worker: 1,
        code: Some(0),
        signal: None,
        after_disconnect: false,
    });
    let verdict = check(&exited, &CheckOptions::default());
    assert_eq!(
        verdict.violation().map(|v| v.guarantee),
        Some(Guarantee::G3),
        "{verdict}"
    );
}

#[test]
fn protocol_error_must_be_followed_by_sigkill_and_disconnect() {
    let events = |kill: bool| {
        let mut e = vec![
            Event::Fork { worker: 1 },
            Event::Online { worker: 1 },
            Event::ProtocolError {
                worker: 1,
                reason: "bad magic".into(),
            },
        ];
        if kill {
            e.push(Event::Kill {
                worker: 1,
                signal: 9,
            });
        }
        e.extend([
            Event::Disconnect { worker: 1 },
            Event::Exit {
                worker: 1,
                code: None,
                signal: Some(9),
                after_disconnect: false,
            },
            Event::End,
        ]);
        Trace::from_events(e)
    };
    assert!(check(&events(true), &CheckOptions::default()).is_accepted());
    let verdict = check(&events(false), &CheckOptions::default());
    assert_eq!(
        verdict.violation().map(|v| v.guarantee),
        Some(Guarantee::G10),
        "{verdict}"
    );
}

#[test]
fn failed_replacement_clears_the_owed_fork_and_leaves_its_id_unused() {
    use crew_model::{Guarantee, RestartPolicy, State};
    let run = [
        Event::Config {
            restart: RestartPolicy::Always,
            max_restarts: 1,
            window_ms: 1000,
        },
        Event::Fork { worker: 1 },
        Event::Disconnect { worker: 1 },
        Event::Exit {
            worker: 1,
            code: Some(1),
            signal: None,
            after_disconnect: false,
        },
        Event::Restart {
            worker: 1,
            replacement: 2,
            at_ms: 5,
        },
        Event::RestartFailed {
            worker: 1,
            replacement: 2,
        },
        Event::Shutdown,
        Event::End,
    ];
    let mut state = State::new();
    for e in &run {
        state.apply(e).unwrap_or_else(|v| panic!("{e}: {v}"));
    }
    assert_eq!(
        state.next_worker_id(),
        2,
        "the failed replacement's id is still free"
    );
    // Without the Restart, a RestartFailed answers nothing: G11.
    let mut state = State::new();
    state.apply(&Event::Fork { worker: 1 }).unwrap();
    let v = state
        .apply(&Event::RestartFailed {
            worker: 1,
            replacement: 2,
        })
        .unwrap_err();
    assert_eq!(v.guarantee, Guarantee::G11, "{v}");
}
