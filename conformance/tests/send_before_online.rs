//! crew lets the primary send to a worker that is forked but not yet online (the message is
//! queued, as in Node). The model must accept the resulting trace (G4: FIFO, exactly once).

use crew_conformance::harness::Harness;
use crew_conformance::scenario::{Plan, Step};
use crew_conformance::script::Script;

#[test]
fn send_before_online_is_delivered_and_accepted() {
    let mut harness = Harness::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_crew-conformance")),
        false,
    )
    .expect("start");
    let steps = [
        Step::Fork,
        Step::Script {
            worker: 1,
            script: Script::Echo { payload: 42 },
        },
    ];
    let mut plan = Plan::new(false);
    for step in &steps {
        // No settling between the two: the send happens before the handshake arrives.
        harness
            .perform(step)
            .expect("the runtime accepts the command");
        plan = plan.after(step);
    }
    let settled = harness.settle(&plan, steps.last(), false);
    if let Err(failure) = settled {
        panic!("{failure}");
    }
    if let Err(failure) = harness.finish(&plan) {
        panic!("{failure}");
    }
}
