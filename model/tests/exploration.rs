//! Bounded exhaustive exploration: every reachable state keeps the invariants.

use crew_model::{explore, Bounds};

#[test]
fn exploration_of_small_bound_keeps_every_invariant() {
    let e = explore(&Bounds::small()).unwrap_or_else(|f| panic!("{f}\n{:?}", f.state));
    println!(
        "small bound: {} states, {} transitions, depth {}, {} ended, {:.2}s",
        e.states, e.transitions, e.max_depth, e.ended_states, e.secs
    );
    // Found once (876,961 states); a collapse would mean the model or enabled lost behaviour.
    assert!(e.states > 800_000, "only {} states", e.states);
    assert!(e.ended_states > 0);
}

#[test]
fn exploration_with_kills_and_protocol_errors_keeps_every_invariant() {
    let e = explore(&Bounds::faults()).unwrap_or_else(|f| panic!("{f}\n{:?}", f.state));
    println!(
        "faults bound: {} states, {} transitions, depth {}, {} ended, {} stuck at bound",
        e.states, e.transitions, e.max_depth, e.ended_states, e.stuck_at_bound
    );
    assert!(e.states > 20_000, "only {} states", e.states);
}

#[test]
fn exploration_of_seed_bound_reaches_end() {
    let e = explore(&Bounds::seed()).unwrap_or_else(|f| panic!("{f}\n{:?}", f.state));
    println!("seed bound: {} states", e.states);
    assert!(e.ended_states >= 1);
    // 2 workers × (fork, online, run, send, receive, disconnect request?, disconnect, exit) + end.
    assert!(e.max_depth >= 15);
}
