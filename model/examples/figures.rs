//! Prints crew-model's figures as JSON lines: exploration size and speed at the seed, small,
//! faults, and large (the issue's) bounds, and checker throughput on a long 2-worker trace and on
//! a heavily interleaved 8-worker trace.
//!
//! `cargo run --release -p crew-model --example figures`
//!
//! Each exploration line gives wall-clock `secs` and `states_per_s`, and, on Linux, `cpu_secs`
//! and `states_per_cpu_s` from the thread's own CPU time (`/proc/thread-self/schedstat`): on a
//! shared machine the wall clock also counts the time other processes held the core, while the
//! CPU time is what one core spent on the search (memory stalls included).

use std::time::Instant;

use crew_model::{check, explore, Bounds, CheckOptions, Event, Trace};

/// Nanoseconds this thread has spent on a CPU, if the kernel says (Linux).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() {
    for (name, bounds) in [
        ("seed", Bounds::seed()),
        ("small", Bounds::small()),
        ("faults", Bounds::faults()),
        ("large", Bounds::large()),
    ] {
        let cpu_before = thread_cpu_ns();
        let outcome = explore(&bounds);
        // (Too short a run to time by the scheduler's accounting: left out.)
        let cpu_secs = thread_cpu_ns()
            .zip(cpu_before)
            .map(|(after, before)| (after - before) as f64 / 1e9)
            .filter(|&c| c >= 0.05);
        match outcome {
            Ok(e) => {
                let cpu = cpu_secs.map_or(String::new(), |c| {
                    format!(
                        ",\"cpu_secs\":{c:.3},\"states_per_cpu_s\":{:.0}",
                        e.states as f64 / c
                    )
                });
                println!(
                    "{{\"figure\":\"exploration\",\"bound\":\"{name}\",\"states\":{},\"transitions\":{},\"max_depth\":{},\"secs\":{:.3},\"states_per_s\":{:.0}{cpu}}}",
                    e.states,
                    e.transitions,
                    e.max_depth,
                    e.secs,
                    e.states as f64 / e.secs
                )
            }
            Err(failure) => println!(
                "{{\"figure\":\"exploration\",\"bound\":\"{name}\",\"failure\":{:?}}}",
                failure.to_string()
            ),
        }
    }
    for (name, trace) in [
        ("2 workers, long", long_trace(2, 50_000)),
        ("8 workers, interleaved", long_trace(8, 12_500)),
    ] {
        let events = trace.len();
        // Best of three, to keep one cold run from skewing the figure.
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let verdict = check(&trace, &CheckOptions::default());
            best = best.min(started.elapsed().as_secs_f64());
            assert!(verdict.is_accepted(), "{verdict}");
        }
        println!(
            "{{\"figure\":\"check\",\"trace\":\"{name}\",\"events\":{events},\"secs\":{best:.4},\"events_per_s\":{:.0}}}",
            events as f64 / best
        );
    }
}

/// `workers` workers, each exchanging `messages` messages each way, with the primary's log
/// round-robin over the workers (so every worker's events interleave with all the others').
fn long_trace(workers: u32, messages: u64) -> Trace {
    let mut events = Vec::new();
    for w in 1..=workers {
        events.push(Event::Fork { worker: w });
    }
    for w in 1..=workers {
        events.push(Event::Online { worker: w });
        events.push(Event::Run { worker: w });
    }
    for seq in 0..messages {
        for w in 1..=workers {
            events.push(Event::Send { worker: w, seq });
            events.push(Event::PrimarySend { worker: w, seq });
        }
        for w in 1..=workers {
            events.push(Event::Receive { worker: w, seq });
            events.push(Event::WorkerReceive { worker: w, seq });
        }
    }
    for w in 1..=workers {
        events.push(Event::DisconnectRequested { worker: w });
        events.push(Event::Disconnect { worker: w });
        events.push(Event::Exit {
            worker: w,
            code: Some(0),
            signal: None,
            after_disconnect: true,
        });
    }
    events.push(Event::End);
    Trace::from_events(events)
}
