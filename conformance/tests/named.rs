//! Named scenarios on real processes: their canonical traces are snapshots (insta; `CI=true`
//! fails on a change), and the self-test proves the harness rejects faulty runs.

use crew_conformance::harness::Checked;
use crew_conformance::machine;
use crew_conformance::mutate::Fault;
use crew_conformance::oracle;
use crew_conformance::scenario::{self, Named};

fn run(named: &Named) -> Checked {
    machine::use_puppet(env!("CARGO_BIN_EXE_crew-conformance"));
    machine::run_scenario(named.plan.clone(), &named.steps)
        .unwrap_or_else(|e| panic!("scenario {} does not conform:\n{e}", named.name))
}

fn named(name: &str) -> Named {
    scenario::named()
        .into_iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

fn snapshot(name: &str) {
    let checked = run(&named(name));
    let text = oracle::canonical(&checked.verdict).expect("accepted");
    insta::assert_snapshot!(name, text);
}

#[test]
fn seed_scenario_canonical_trace() {
    snapshot("seed");
}

#[test]
fn crash_with_restart_canonical_trace() {
    snapshot("crash_with_restart");
}

#[test]
fn kill_canonical_trace() {
    snapshot("kill");
}

#[test]
fn graceful_disconnect_canonical_trace() {
    snapshot("graceful_disconnect");
}

#[test]
fn disconnect_timeout_canonical_trace() {
    snapshot("disconnect_timeout");
}

#[test]
fn garbage_frame_canonical_trace() {
    snapshot("garbage_frame");
}

#[test]
fn shutdown_canonical_trace() {
    snapshot("shutdown");
}

/// The self-test: every fault, applied to real recorded traces, is rejected with its guarantee.
#[test]
fn checker_rejects_faulty_runs_naming_the_guarantee() {
    let traces: Vec<(&str, crew_model::Trace)> = scenario::named()
        .iter()
        .map(|n| (n.name, run(n).trace))
        .collect();
    for fault in Fault::ALL {
        let mut tried = 0;
        for (name, trace) in &traces {
            let Some(faulty) = fault.apply(trace) else {
                continue;
            };
            tried += 1;
            let verdict = oracle::judge(&faulty, true);
            let named = verdict.violation().map(|v| v.guarantee);
            assert_eq!(
                named,
                Some(fault.guarantee()),
                "{fault:?} on scenario {name}: expected a rejection naming {}, got:\n{}",
                fault.guarantee(),
                oracle::diagnosis(&verdict, &faulty)
            );
        }
        assert!(tried > 0, "{fault:?} found no place in any recorded trace");
    }
}
