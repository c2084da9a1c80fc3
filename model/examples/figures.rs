//! Prints crew-model's figures as JSON lines: exploration size and speed at the small and the
//! large bound, and checker throughput on a long 2-worker trace and on a heavily interleaved
//! 8-worker trace.
//!
//! `cargo run --release -p crew-model --example figures`

use std::time::Instant;

use crew_model::{check, explore, Bounds, CheckOptions, Event, Trace};

fn main() {
    for (name, bounds) in [
        ("small", Bounds::small()),
        ("faults", Bounds::faults()),
        ("large", Bounds::large()),
    ] {
        match explore(&bounds) {
            Ok(e) => println!(
                "{{\"figure\":\"exploration\",\"bound\":\"{name}\",\"states\":{},\"transitions\":{},\"max_depth\":{},\"secs\":{:.3},\"states_per_s\":{:.0}}}",
                e.states,
                e.transitions,
                e.max_depth,
                e.secs,
                e.states as f64 / e.secs
            ),
            Err(failure) => println!("{{\"figure\":\"exploration\",\"bound\":\"{name}\",\"failure\":{:?}}}", failure.to_string()),
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
