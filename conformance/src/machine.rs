//! The state-machine test: [`Plan`] is the reference, a real cluster of puppets
//! ([`ClusterUnderTest`]) the system under test. After every step the harness settles and
//! judges the whole trace so far; at the end it shuts the cluster down and judges the complete
//! trace. A failing scenario panics with the checker's diagnosis, and proptest shrinks it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use crate::harness::{Failure, Harness};
use crate::oracle::Coverage;
use crate::scenario::{Plan, Step};

static PUPPET: OnceLock<PathBuf> = OnceLock::new();

/// Selects the puppet program (tests: `env!("CARGO_BIN_EXE_crew-conformance")`). Without it the current
/// executable is used, which must then run [`crate::puppet::run`] in the worker role (the
/// campaign binary does).
pub fn use_puppet(program: impl Into<PathBuf>) {
    let _ = PUPPET.set(program.into());
}

fn puppet() -> PathBuf {
    PUPPET
        .get()
        .cloned()
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| PathBuf::from("puppet"))
}

/// Totals over every scenario run in this process.
#[derive(Debug, Default)]
pub struct Totals {
    /// Scenarios that completed and were accepted.
    pub scenarios: AtomicU64,
    /// Events in their complete traces.
    pub events: AtomicU64,
    /// Steps taken.
    pub steps: AtomicU64,
    /// Checker runs.
    pub checks: AtomicU64,
    /// Scenarios that failed (before shrinking: every failing run counts).
    pub failures: AtomicU64,
    /// Model coverage reached by accepted traces.
    pub coverage: Mutex<Coverage>,
}

/// The process-wide totals.
pub fn totals() -> &'static Totals {
    static TOTALS: OnceLock<Totals> = OnceLock::new();
    TOTALS.get_or_init(Totals::default)
}

/// Runs one scenario outside proptest (named scenarios, snapshots, the campaign's replays):
/// every step, settled and checked, then the complete trace.
pub fn run_scenario(plan: Plan, steps: &[Step]) -> Result<crate::harness::Checked, Failure> {
    run_scenario_with(plan, steps, |builder| builder)
}

/// Like [`run_scenario`], with `configure` applied to the cluster's builder.
pub fn run_scenario_with(
    plan: Plan,
    steps: &[Step],
    configure: impl FnOnce(crew::ClusterBuilder) -> crew::ClusterBuilder,
) -> Result<crate::harness::Checked, Failure> {
    let mut harness = Harness::start_with(&puppet(), plan.raw, configure)?;
    let mut plan = plan;
    for step in steps {
        if !plan.allows(step) {
            return Err(Failure {
                step: Some(step.to_string()),
                message: "the scenario takes a step its plan does not allow".into(),
                guarantee: None,
            });
        }
        plan = plan.after(step);
        harness.perform(step)?;
        harness.settle(&plan, Some(step), false)?;
    }
    let checks = harness.checks;
    let checked = harness.finish(&plan)?;
    record(&checked, steps.len() as u64, checks);
    Ok(checked)
}

fn record(checked: &crate::harness::Checked, steps: u64, checks: u64) {
    let t = totals();
    t.scenarios.fetch_add(1, Ordering::Relaxed);
    t.events
        .fetch_add(checked.trace.len() as u64, Ordering::Relaxed);
    t.steps.fetch_add(steps, Ordering::Relaxed);
    t.checks.fetch_add(checks, Ordering::Relaxed);
    if let crew_model::Verdict::Accepted { linearisation, .. } = &checked.verdict {
        t.coverage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(linearisation);
    }
}

/// The system under test: a cluster of puppets, and the steps taken so far (for reports).
pub struct ClusterUnderTest {
    harness: Option<Harness>,
    /// The reference after the last step (teardown finishes from it).
    plan: Plan,
    steps: u64,
}

fn fail(failure: Failure) -> ! {
    totals().failures.fetch_add(1, Ordering::Relaxed);
    panic!("crew does not conform:\n{failure}");
}

impl StateMachineTest for ClusterUnderTest {
    type SystemUnderTest = ClusterUnderTest;
    type Reference = Plan;

    fn init_test(plan: &Plan) -> ClusterUnderTest {
        match Harness::start(&puppet(), plan.raw) {
            Ok(harness) => ClusterUnderTest {
                harness: Some(harness),
                plan: plan.clone(),
                steps: 0,
            },
            Err(e) => fail(e),
        }
    }

    fn apply(mut sut: ClusterUnderTest, plan: &Plan, step: Step) -> ClusterUnderTest {
        // `plan` is the reference *after* `step`.
        let Some(harness) = sut.harness.as_mut() else {
            return sut;
        };
        if let Err(e) = harness
            .perform(&step)
            .and_then(|()| harness.settle(plan, Some(&step), false).map(drop))
        {
            fail(e);
        }
        sut.steps += 1;
        sut.plan = plan.clone();
        sut
    }

    fn teardown(mut sut: ClusterUnderTest) {
        if let Some(harness) = sut.harness.take() {
            let checks = harness.checks;
            match harness.finish(&sut.plan) {
                Ok(checked) => record(&checked, sut.steps, checks),
                Err(e) => fail(e),
            }
        }
    }
}

/// Runs the proptest-state-machine test for `cases` generated scenarios of up to `max_steps`
/// steps with `seed` (deterministic generation). Returns the proptest result.
pub fn run_generated(
    cases: u32,
    max_steps: usize,
    seed: u64,
) -> Result<(), proptest::test_runner::TestError<<Plan as ReferenceStateMachine>::State>> {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let config = Config {
        cases,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        config.clone(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let strategy = Plan::sequential_strategy(1..=max_steps);
    runner
        .run(&strategy, |(initial, steps, seen)| {
            ClusterUnderTest::test_sequential(config.clone(), initial, steps, seen);
            Ok(())
        })
        .map_err(|e| match e {
            proptest::test_runner::TestError::Abort(r) => {
                proptest::test_runner::TestError::Abort(r)
            }
            proptest::test_runner::TestError::Fail(r, (plan, steps, _)) => {
                eprintln!("minimal failing scenario ({} steps):", steps.len());
                eprintln!(
                    "  start: raw channel helper {}",
                    if plan.raw { "on" } else { "off" }
                );
                for (i, step) in steps.iter().enumerate() {
                    eprintln!("  {:>2}. {step}", i + 1);
                }
                proptest::test_runner::TestError::Fail(r, plan)
            }
        })
}
