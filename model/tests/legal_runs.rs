//! Properties of random legal runs drawn from `State::enabled`, and the checker on them.

mod common;

use common::{any_run, reinterleave, unfinished_run};
use crew_model::{check, CheckOptions, Event, Guarantee, Lifecycle, State, Trace, Verdict};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_global_rejects: 100_000, max_local_rejects: 100_000, ..ProptestConfig::default() })]

    /// G1, G2, G3, G5 hold at every step of every legal run.
    #[test]
    fn legal_runs_keep_counters_ids_order_and_fifo((_bounds, run) in any_run()) {
        let mut state = State::new();
        let (mut forks, mut receives, mut exits) = (0u32, 0u64, 0u32);
        for event in &run.events {
            let before = state.clone();
            state = state.step(event).unwrap();
            match event {
                Event::Fork { worker } => {
                    forks += 1;
                    prop_assert_eq!(*worker, forks, "G1: ids 1, 2, 3, …");
                }
                Event::Receive { worker, seq } => {
                    receives += 1;
                    let r = before.worker(*worker).unwrap();
                    prop_assert_eq!(*seq, r.received(), "G3: FIFO");
                    prop_assert!(*seq < r.sent(), "G3: Receive after its Send");
                    prop_assert!(r.lifecycle() < Lifecycle::Disconnected, "G2: no Receive after Disconnect");
                }
                Event::Exit { worker, .. } => {
                    exits += 1;
                    let r = before.worker(*worker).unwrap();
                    prop_assert!(!r.came_online() || r.is_disconnected(), "G2: Disconnect then Exit");
                }
                Event::End => prop_assert_eq!(forks, exits, "G5: End only when none alive"),
                _ => {}
            }
            let t = state.tracker();
            prop_assert_eq!(t.worker_count, forks, "G5 workerCount");
            prop_assert_eq!(t.messages_received, receives, "G5 messagesReceived");
            prop_assert_eq!(t.workers_alive, forks - exits, "G5 workersAlive");
            prop_assert!(state.check_invariants().is_ok());
        }
    }

    /// Every legal run is accepted whatever the interleaving of its processes' logs, and the
    /// canonical linearisation keeps every process's order.
    #[test]
    fn checker_accepts_every_legal_run_in_any_interleaving(
        (_bounds, run) in any_run(),
        picks in prop::collection::vec(any::<u16>(), 0..400),
    ) {
        let shuffled = reinterleave(&run.events, &picks);
        let trace = Trace::from_events(shuffled);
        prop_assert_eq!(&trace, &Trace::from_events(run.events.clone()));
        let options = CheckOptions { complete: run.finished, ..CheckOptions::default() };
        match check(&trace, &options) {
            Verdict::Accepted { linearisation, final_state } => {
                prop_assert_eq!(Trace::from_events(linearisation.clone()), trace);
                let mut state = State::new();
                for e in &linearisation {
                    state = state.step(e).unwrap();
                }
                prop_assert_eq!(state, final_state);
            }
            other => prop_assert!(false, "{}", other),
        }
    }

    /// A run that stopped before End is unfinished as a complete trace, and owes what the
    /// state says.
    #[test]
    fn unfinished_runs_are_reported_with_their_obligations(run in unfinished_run()) {
        let trace = Trace::from_events(run.events.clone());
        match check(&trace, &CheckOptions::default()) {
            Verdict::Unfinished { obligations, final_state, .. } => {
                prop_assert_eq!(obligations, final_state.obligations());
                prop_assert!(final_state.obligations().iter().any(|o| o.guarantee == Guarantee::G9));
            }
            other => prop_assert!(false, "{}", other),
        }
    }
}
