//! The conformance campaign: runs generated scenarios against the real runtime and prints what
//! was checked; or soaks a cluster under random SIGKILLs.
//!
//! ```text
//! crew-conformance [--cases N] [--seed S] [--max-steps K] [--json]
//! crew-conformance --soak SECONDS [--seed S] [--json]
//! ```
//!
//! The same executable is the puppet: started by the primary as a crew worker, it runs
//! `crew_conformance::puppet::run`.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crew_conformance::{machine, oracle, soak};

struct Args {
    cases: u32,
    seed: u64,
    max_steps: usize,
    json: bool,
    soak: Option<f64>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        cases: 300,
        seed: 1,
        max_steps: 16,
        json: false,
        soak: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--cases" => args.cases = value("--cases")?.parse().map_err(|e| format!("--cases: {e}"))?,
            "--seed" => args.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--max-steps" => {
                args.max_steps = value("--max-steps")?
                    .parse()
                    .map_err(|e| format!("--max-steps: {e}"))?
            }
            "--soak" => {
                args.soak = Some(value("--soak")?.parse().map_err(|e| format!("--soak: {e}"))?)
            }
            "--json" => args.json = true,
            "-h" | "--help" => {
                return Err(
                    "usage: crew-conformance [--cases N] [--seed S] [--max-steps K] [--json] | --soak SECONDS [--seed S] [--json]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    crew_conformance::puppet::list_fds_if_asked();
    if let crew::Role::Worker(_) = crew::role() {
        crew_conformance::puppet::run();
    }
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match args.soak {
        Some(seconds) => run_soak(&args, seconds),
        None => run_campaign(&args),
    }
}

fn run_soak(args: &Args, seconds: f64) -> ExitCode {
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("finding this executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match soak::soak(&program, seconds, args.seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("soak failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "soak: {:.1} s, {} workers at start, {} forked in all, {} kills survived",
        report.seconds, report.initial_workers, report.workers_forked, report.kills_survived
    );
    println!(
        "messages checked: {} ({:.0}/s); lost {}, duplicated {}, reordered {}",
        report.messages_checked,
        report.messages_checked as f64 / report.seconds,
        report.lost,
        report.duplicated,
        report.reordered
    );
    println!(
        "trace: {} events, checker {}; zombies {}, leaked descriptors {}",
        report.events_checked, report.verdict, report.zombies, report.leaked_fds
    );
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    }
    let clean = report.lost == 0
        && report.duplicated == 0
        && report.reordered == 0
        && report.zombies == 0
        && report.leaked_fds == 0
        && report.verdict.starts_with("accepted");
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_campaign(args: &Args) -> ExitCode {
    let start = Instant::now();
    let result = machine::run_generated(args.cases, args.max_steps, args.seed);
    let seconds = start.elapsed().as_secs_f64();
    let t = machine::totals();
    let scenarios = t.scenarios.load(Ordering::Relaxed);
    let events = t.events.load(Ordering::Relaxed);
    let steps = t.steps.load(Ordering::Relaxed);
    let checks = t.checks.load(Ordering::Relaxed);
    let violations = u64::from(result.is_err());
    let coverage = t
        .coverage
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let missing: Vec<&str> = oracle::ALL_KINDS
        .iter()
        .copied()
        .filter(|k| !coverage.events.contains(*k))
        .collect();
    if let Err(e) = &result {
        eprintln!("{e}");
    }
    let per_s = scenarios as f64 / seconds;
    println!(
        "{scenarios} scenarios ({} requested, seed {}), {steps} steps, {events} events in complete traces ({:.1} per scenario), {checks} checker runs",
        args.cases,
        args.seed,
        events as f64 / scenarios.max(1) as f64
    );
    println!("violations: {violations}");
    println!("{per_s:.1} scenarios/s ({seconds:.2} s)");
    println!(
        "coverage: {}/{} event kinds{}; {} (state, event) transitions:",
        coverage.events.len(),
        oracle::ALL_KINDS.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (missing: {})", missing.join(", "))
        },
        coverage.transitions.len()
    );
    for transition in &coverage.transitions {
        println!("  {transition}");
    }
    if args.json {
        let json = serde_json::json!({
            "cases": args.cases,
            "seed": args.seed,
            "scenarios": scenarios,
            "steps": steps,
            "violations": violations,
            "events_checked": events,
            "events_per_scenario": events as f64 / scenarios.max(1) as f64,
            "checker_runs": checks,
            "seconds": seconds,
            "scenarios_per_s": per_s,
            "coverage": {
                "event_kinds": coverage.events,
                "event_kinds_missing": missing,
                "transitions": coverage.transitions,
            },
        });
        println!("{json}");
    }
    if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
