//! The self-test against a faulty *runtime* (not a mutated trace): crew built with a deliberate
//! fault must be rejected by the harness, naming the guarantee the fault breaks.
//!
//! The faults are crew's `fault-injection` feature ([`crew::Fault`]), which this crate's
//! dev-dependency turns on, so `cargo test` runs this self-test.

use crew::Fault;
use crew_conformance::machine;
use crew_conformance::scenario::{Plan, Step};
use crew_conformance::script::Script;
use crew_model::Guarantee;

fn rejected_with(fault: Fault, steps: &[Step]) -> Option<Guarantee> {
    machine::use_puppet(env!("CARGO_BIN_EXE_crew-conformance"));
    match machine::run_scenario_with(Plan::new(false), steps, |b| b.inject_fault(fault)) {
        Ok(_) => None,
        Err(failure) => {
            eprintln!("{failure}");
            failure.guarantee
        }
    }
}

/// A worker sends several messages and exits at once: some are still in the channel at Exit.
fn send_then_exit() -> Vec<Step> {
    vec![
        Step::Fork,
        Step::Script {
            worker: 1,
            script: Script::SendThenExit { count: 50, code: 0 },
        },
    ]
}

#[test]
fn dropping_the_last_message_before_exit_is_rejected_as_g3() {
    assert_eq!(
        rejected_with(Fault::DropLastMessageBeforeExit, &send_then_exit()),
        Some(Guarantee::G3)
    );
}

#[test]
fn exit_before_drain_is_rejected_as_g2() {
    assert_eq!(
        rejected_with(Fault::ExitBeforeDrain, &send_then_exit()),
        Some(Guarantee::G2)
    );
}

#[test]
fn reusing_an_id_is_rejected_as_g1() {
    assert_eq!(
        rejected_with(Fault::ReuseId, &[Step::Fork, Step::Fork]),
        Some(Guarantee::G1)
    );
}
