//! Mutated legal runs are rejected, and for the right guarantee.

mod common;

use common::{build_run, finished_run, Run};
use crew_model::{
    check, event::signal, Bounds, CheckOptions, Event, Guarantee, Policy, RestartPolicy, Trace,
    Verdict,
};
use proptest::prelude::*;

/// Checks the mutated run as a complete trace and returns the guarantee it was rejected for.
fn rejected_for(events: Vec<Event>) -> Option<Guarantee> {
    match check(&Trace::from_events(events), &CheckOptions::default()) {
        Verdict::Rejected { violation, .. } => Some(violation.guarantee),
        _ => None,
    }
}

fn position(events: &[Event], f: impl Fn(&Event) -> bool) -> Option<usize> {
    events.iter().position(f)
}

fn end_index(run: &Run) -> usize {
    run.events.iter().position(|e| *e == Event::End).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_global_rejects: 100_000, max_local_rejects: 100_000, ..ProptestConfig::default() })]

    #[test]
    fn dropped_receive_is_rejected_for_g3(run in finished_run(), pick in any::<prop::sample::Index>()) {
        // A dropped Receive is detectable unless it was the last and the worker was killed.
        let candidates: Vec<usize> = run.events.iter().enumerate().filter_map(|(i, e)| match e {
            Event::Receive { worker, .. } => run.events[i + 1..].iter().any(|l| matches!(l,
                Event::Receive { worker: w, .. } if w == worker)
                || matches!(l, Event::Exit { worker: w, code: Some(_), .. } if w == worker)).then_some(i),
            _ => None,
        }).collect();
        prop_assume!(!candidates.is_empty());
        let mut events = run.events.clone();
        events.remove(candidates[pick.index(candidates.len())]);
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G3));
    }

    #[test]
    fn duplicated_receive_is_rejected_for_g3(run in finished_run(), pick in any::<prop::sample::Index>()) {
        let candidates: Vec<usize> = run.events.iter().enumerate()
            .filter(|(_, e)| matches!(e, Event::Receive { .. })).map(|(i, _)| i).collect();
        prop_assume!(!candidates.is_empty());
        let i = candidates[pick.index(candidates.len())];
        let mut events = run.events.clone();
        events.insert(i + 1, events[i].clone());
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G3));
    }

    #[test]
    fn swapped_messages_of_one_worker_are_rejected_for_g3(run in finished_run()) {
        // Swap the seqs of a worker's first two Receives (the primary saw 1 before 0).
        let mut receives = run.events.iter().enumerate().filter_map(|(i, e)| match e {
            Event::Receive { worker, seq } => Some((i, *worker, *seq)),
            _ => None,
        });
        let Some((i, w, _)) = receives.next() else { return Ok(()) };
        let Some(j) = run.events[i + 1..].iter().position(|e| matches!(e, Event::Receive { worker, .. } if *worker == w)) else { return Ok(()) };
        let j = i + 1 + j;
        let mut events = run.events.clone();
        events.swap(i, j);
        // Same events, positions swapped: the primary now logs seq 1 before seq 0.
        if let (Event::Receive { seq: a, .. }, Event::Receive { seq: b, .. }) = (&events[i], &events[j]) {
            prop_assume!(a != b);
        }
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G3));
    }

    #[test]
    fn exit_before_disconnect_of_online_worker_is_rejected_for_g2(run in finished_run()) {
        let Some(d) = position(&run.events, |e| matches!(e, Event::Disconnect { worker }
            if run.events.contains(&Event::Online { worker: *worker })
            && !run.events.iter().any(|p| matches!(p, Event::ProtocolError { worker: w, .. } if w == worker)))) else { return Ok(()) };
        let Event::Disconnect { worker } = run.events[d] else { unreachable!() };
        let mut events = run.events.clone();
        let moved = events.remove(d);
        let x = position(&events, |e| matches!(e, Event::Exit { worker: w, .. } if *w == worker)).unwrap();
        events.insert(x + 1, moved);
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G2));
    }

    #[test]
    fn message_after_exit_is_rejected_for_g2(run in finished_run()) {
        let Some(x) = position(&run.events, |e| matches!(e, Event::Exit { .. })) else { return Ok(()) };
        let Event::Exit { worker, .. } = run.events[x] else { unreachable!() };
        let received = run.events[..x].iter().filter(|e| matches!(e, Event::Receive { worker: w, .. } if *w == worker)).count() as u64;
        let mut events = run.events.clone();
        // Just before End, so no restart decision is owed in between.
        events.insert(end_index(&run), Event::Receive { worker, seq: received });
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G2));
    }

    #[test]
    fn send_after_exit_is_rejected_for_g2_by_the_model(run in finished_run()) {
        let Some(x) = position(&run.events, |e| matches!(e, Event::Exit { .. })) else { return Ok(()) };
        let Event::Exit { worker, .. } = run.events[x] else { unreachable!() };
        let sent = run.events[..x].iter().filter(|e| matches!(e, Event::Send { worker: w, .. } if *w == worker)).count() as u64;
        let mut state = crew_model::State::new();
        for e in &run.events[..=x] {
            state = state.step(e).unwrap();
        }
        let v = state.step(&Event::Send { worker, seq: sent }).unwrap_err();
        prop_assert_eq!(v.guarantee, Guarantee::G2);
    }

    #[test]
    fn reused_id_is_rejected_for_g1(run in finished_run()) {
        let Some(last_fork) = run.events.iter().rposition(|e| matches!(e, Event::Fork { .. })) else { return Ok(()) };
        let mut events = run.events.clone();
        events.insert(last_fork + 1, Event::Fork { worker: 1 });
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G1));
    }

    #[test]
    fn exit_signal_other_than_the_requested_kill_is_rejected_for_g6(run in finished_run()) {
        let Some(x) = position(&run.events, |e| matches!(e, Event::Exit { .. })) else { return Ok(()) };
        let Event::Exit { worker, after_disconnect, .. } = run.events[x] else { unreachable!() };
        prop_assume!(!run.events[..x].contains(&Event::Kill { worker, signal: signal::SIGSEGV }));
        let mut events = run.events.clone();
        events[x] = Event::Exit { worker, code: None, signal: Some(signal::SIGSEGV), after_disconnect };
        events.insert(x, Event::Kill { worker, signal: signal::SIGTERM });
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G6));
    }

    #[test]
    fn extra_exit_is_rejected_for_g1(run in finished_run()) {
        let Some(x) = position(&run.events, |e| matches!(e, Event::Exit { .. })) else { return Ok(()) };
        let mut events = run.events.clone();
        events.insert(end_index(&run), run.events[x].clone());
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G1));
    }

    #[test]
    fn end_while_a_worker_is_alive_is_rejected_for_g5(run in finished_run()) {
        let Some(f) = position(&run.events, |e| matches!(e, Event::Fork { .. })) else { return Ok(()) };
        let mut events = run.events.clone();
        events.insert(f + 1, Event::End);
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G5));
    }

    #[test]
    fn fork_after_shutdown_is_rejected_for_g9(run in finished_run()) {
        let mut events = run.events.clone();
        match position(&events, |e| *e == Event::Shutdown) {
            Some(s) => events.insert(s + 1, Event::Fork { worker: 99 }),
            None => {
                let f = position(&events, |e| matches!(e, Event::Fork { .. })).unwrap_or(0);
                events.insert(f + 1, Event::Shutdown);
                events.insert(f + 2, Event::Fork { worker: 99 });
            }
        }
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G9));
    }

    #[test]
    fn restart_beyond_intensity_is_rejected_for_g11(choices in prop::collection::vec(any::<u16>(), 0..80)) {
        // Intensity 0: every unexpected failure must be answered with GaveUp.
        let bounds = Bounds {
            max_workers: 4,
            config: Some(Policy { restart: RestartPolicy::OnFailure, max_restarts: 0, window_ms: 500 }),
            ..Bounds::small()
        };
        let run = build_run(&bounds, &choices, true);
        let Some(g) = position(&run.events, |e| matches!(e, Event::GaveUp { .. })) else { return Ok(()) };
        let Event::GaveUp { worker, at_ms } = run.events[g] else { unreachable!() };
        let next = run.events[..g].iter().filter(|e| matches!(e, Event::Fork { .. })).count() as u32 + 1;
        let mut events = run.events.clone();
        events[g] = Event::Restart { worker, replacement: next, at_ms };
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G11));
    }

    #[test]
    fn wrong_after_disconnect_is_rejected_for_g7(run in finished_run(), pick in any::<prop::sample::Index>()) {
        let exits: Vec<usize> = run.events.iter().enumerate()
            .filter(|(_, e)| matches!(e, Event::Exit { .. })).map(|(i, _)| i).collect();
        prop_assume!(!exits.is_empty());
        let x = exits[pick.index(exits.len())];
        let mut events = run.events.clone();
        if let Event::Exit { after_disconnect, .. } = &mut events[x] {
            *after_disconnect = !*after_disconnect;
        }
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G7));
    }

    #[test]
    fn primary_send_to_dead_worker_is_rejected_for_g4(run in finished_run()) {
        let Some(x) = position(&run.events, |e| matches!(e, Event::Exit { .. })) else { return Ok(()) };
        let Event::Exit { worker, .. } = run.events[x] else { unreachable!() };
        let sent = run.events.iter().filter(|e| matches!(e, Event::PrimarySend { worker: w, .. } if *w == worker)).count() as u64;
        let mut events = run.events.clone();
        events.insert(end_index(&run), Event::PrimarySend { worker, seq: sent });
        prop_assert_eq!(rejected_for(events), Some(Guarantee::G4));
    }
}
