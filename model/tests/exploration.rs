//! Bounded exhaustive exploration: every reachable state keeps the invariants.
//!
//! Together these explore the bound issue 2 names — 3 workers (counting replacements), 2
//! messages each way, crash, kill, disconnect, restart and shutdown choices ([`Bounds::large`],
//! ≈ 4 M states) — plus protocol errors and a second kill signal on 2 workers
//! ([`Bounds::faults`]). About 10 s in the test profile (opt-level 1) on a loaded 2-core
//! machine, thanks to the explorer's packed keys (see `crew_model::explore`).
//!
//! The lower bounds on the state counts catch an `enabled()` that lost behaviour (a collapse);
//! the counts themselves were found once (figures in each test) and grow if the model legalises
//! more (as when PrimarySend and WorkerReceive before Online became legal).

use crew_model::{explore, Bounds};

#[test]
fn exploration_of_small_bound_keeps_every_invariant() {
    let e = explore(&Bounds::small()).unwrap_or_else(|f| panic!("{f}\n{:?}", f.state));
    println!(
        "small bound: {} states, {} transitions, depth {}, {} ended, {:.2}s",
        e.states, e.transitions, e.max_depth, e.ended_states, e.secs
    );
    // Found: 1,011,521 states (929,633 before WorkerReceive before Online became enabled).
    assert!(e.states > 900_000, "only {} states", e.states);
    assert!(e.ended_states > 0);
}

#[test]
fn exploration_with_kills_and_protocol_errors_keeps_every_invariant() {
    // The bound: 3 workers (2 forked, 1 replacement), 2 messages each way, SIGKILL
    // kills, SIGSEGV crashes, exit codes 0 and 1, disconnect, restarts on failure, shutdown.
    let e = explore(&Bounds::large()).unwrap_or_else(|f| panic!("{f}\n{:?}", f.state));
    println!(
        "large bound: {} states, {} transitions, depth {}, {} ended, {} stuck at bound, {:.2}s",
        e.states, e.transitions, e.max_depth, e.ended_states, e.stuck_at_bound, e.secs
    );
    // Found: 4,013,633 states (3,687,425 before WorkerReceive before Online became enabled).
    assert!(e.states > 3_500_000, "only {} states", e.states);
    assert!(e.ended_states > 0);

    // Protocol errors and a second kill signal, on 2 workers (1 forked, 1 replacement): with 3
    // workers they make ~110 M states, beyond a test.
    let e = explore(&Bounds::faults()).unwrap_or_else(|f| panic!("{f}\n{:?}", f.state));
    println!(
        "faults bound: {} states, {} transitions, depth {}, {} ended, {} stuck at bound, {:.2}s",
        e.states, e.transitions, e.max_depth, e.ended_states, e.stuck_at_bound, e.secs
    );
    // Found: 24,221 states.
    assert!(e.states > 20_000, "only {} states", e.states);
    assert!(e.ended_states > 0);
}

#[test]
fn exploration_of_seed_bound_reaches_end() {
    let e = explore(&Bounds::seed()).unwrap_or_else(|f| panic!("{f}\n{:?}", f.state));
    println!("seed bound: {} states", e.states);
    assert!(e.ended_states >= 1);
    // 2 workers × (fork, online, run, send, receive, disconnect request?, disconnect, exit) + end.
    assert!(e.max_depth >= 15);
}
