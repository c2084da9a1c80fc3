//! Generated scenarios: crew-model's reference drives a real cluster of puppets; every step's
//! trace is checked against the model (all guarantees), failures shrink.
//! `CREW_CONFORMANCE_CASES` raises the count (default 64); `CREW_CONFORMANCE_SEED` changes it.

use crew_conformance::machine;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn generated_scenarios_conform_to_the_model() {
    machine::use_puppet(env!("CARGO_BIN_EXE_crew-conformance"));
    let cases = env_u64("CREW_CONFORMANCE_CASES", 64) as u32;
    let seed = env_u64("CREW_CONFORMANCE_SEED", 0x5eed);
    let start = std::time::Instant::now();
    if let Err(e) = machine::run_generated(cases, 16, seed) {
        panic!("{e}");
    }
    let t = machine::totals();
    let scenarios = t.scenarios.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "{scenarios} scenarios, {} events, {} checks in {:?}",
        t.events.load(std::sync::atomic::Ordering::Relaxed),
        t.checks.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed()
    );
    assert!(
        scenarios >= u64::from(cases),
        "every case ran to completion"
    );
}
