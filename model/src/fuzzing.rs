//! Fuzz and regression entry point for the trace checker: `fuzz/fuzz_targets/checker.rs` runs
//! [`checker`] under libFuzzer and `tests/fuzz_corpus.rs` replays the committed corpus
//! (`fuzz/corpus/checker/`) through it on stable. It panics when the checker, the state machine
//! or the table breaks one of its promises; that is its purpose.
//!
//! The input bytes are decoded into a trace by a small generator biased toward legal runs: most
//! events are drawn from [`State::enabled`] of a shadow state (so an unperturbed input is a
//! legal linearisation, which the checker must accept), the rest are hand-made events with small
//! ids, small sequence numbers and the common signals, plus swaps, duplicates and deletions.

use crate::check::{check, CheckOptions, Trace, Verdict};
use crate::enabled::Bounds;
use crate::event::{signal, Event, RestartPolicy, Signal, WorkerId};
use crate::state::{Policy, State};
use crate::table::{render_table, rows, seed_rows};

/// The budget the checker gets: far above what a fuzz input can need (the checker takes each
/// event at most once), low enough that a regression to exponential search shows as `Unknown`.
pub const MAX_NODES: u64 = 20_000;

/// Events per generated trace at most.
const MAX_EVENTS: usize = 300;

/// A byte reader that never fails: past the end it yields zeros.
struct Source<'a>(&'a [u8]);

impl Source<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Mostly 1..=4; now and then an id that was never forked, 0, or the largest.
    fn worker(&mut self) -> WorkerId {
        let b = self.byte();
        if b < 240 {
            WorkerId::from(b % 4) + 1
        } else {
            [0, 5, 6, WorkerId::MAX][usize::from(b % 4)]
        }
    }

    /// Mostly 0..=4; now and then far out.
    fn seq(&mut self) -> u64 {
        let b = self.byte();
        if b < 240 {
            u64::from(b % 5)
        } else {
            [5, 100, u64::MAX - 1, u64::MAX][usize::from(b % 4)]
        }
    }

    /// Mostly SIGKILL, SIGTERM, SIGSEGV, SIGABRT; now and then one outside 1..=64 or a rare one.
    fn signal(&mut self) -> Signal {
        let b = self.byte();
        if b < 224 {
            [
                signal::SIGKILL,
                signal::SIGTERM,
                signal::SIGSEGV,
                signal::SIGABRT,
            ][usize::from(b % 4)]
        } else {
            [0, -1, 64, 65, Signal::MIN, 1, 2, Signal::MAX][usize::from(b % 8)]
        }
    }

    fn code(&mut self) -> i32 {
        [0, 1, 2, -1, 255, i32::MIN, 0, 1][usize::from(self.byte() % 8)]
    }

    fn at_ms(&mut self) -> u64 {
        [0, 1, 50, 100, 999, 1000, 5000, u64::MAX][usize::from(self.byte() % 8)]
    }

    fn policy(&mut self) -> Policy {
        let restart = [
            RestartPolicy::Never,
            RestartPolicy::OnFailure,
            RestartPolicy::Always,
        ][usize::from(self.byte() % 3)];
        let b = self.byte();
        Policy {
            restart,
            max_restarts: [0, 1, 2, 3, 0, 1, u32::MAX, 1][usize::from(b % 8)],
            window_ms: [0, 100, 1000, u64::MAX][usize::from((b >> 3) % 4)],
        }
    }

    fn reason(&mut self) -> String {
        let n = usize::from(self.byte() % 8);
        let bytes: Vec<u8> = (0..n).map(|_| self.byte()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// An event of any kind, not necessarily legal anywhere.
    fn event(&mut self) -> Event {
        match self.byte() % 18 {
            0 => self.policy().to_event(),
            1 => Event::Fork {
                worker: self.worker(),
            },
            2 => Event::Online {
                worker: self.worker(),
            },
            3 => Event::Run {
                worker: self.worker(),
            },
            4 => Event::Send {
                worker: self.worker(),
                seq: self.seq(),
            },
            5 => Event::Receive {
                worker: self.worker(),
                seq: self.seq(),
            },
            6 => Event::PrimarySend {
                worker: self.worker(),
                seq: self.seq(),
            },
            7 => Event::WorkerReceive {
                worker: self.worker(),
                seq: self.seq(),
            },
            8 => Event::Kill {
                worker: self.worker(),
                signal: self.signal(),
            },
            9 => Event::DisconnectRequested {
                worker: self.worker(),
            },
            10 => Event::Disconnect {
                worker: self.worker(),
            },
            11 | 12 => {
                let worker = self.worker();
                let how = self.byte();
                let (code, signal) = match how % 8 {
                    0..=2 => (Some(self.code()), None),
                    3..=5 => (None, Some(self.signal())),
                    6 => (None, None),
                    _ => (Some(self.code()), Some(self.signal())),
                };
                Event::Exit {
                    worker,
                    code,
                    signal,
                    after_disconnect: how & 0x80 != 0,
                }
            }
            13 => Event::ProtocolError {
                worker: self.worker(),
                reason: self.reason(),
            },
            14 => Event::Restart {
                worker: self.worker(),
                replacement: self.worker(),
                at_ms: self.at_ms(),
            },
            15 => Event::GaveUp {
                worker: self.worker(),
                at_ms: self.at_ms(),
            },
            16 => Event::Shutdown,
            _ => Event::End,
        }
    }
}

/// The bounds the guided part of the generator draws from.
fn bounds(choice: u8) -> Bounds {
    match choice % 4 {
        0 => Bounds::small(),
        1 => Bounds::large(),
        2 => Bounds::seed(),
        _ => Bounds {
            max_workers: 4,
            max_forks: 3,
            config: Some(Policy {
                restart: RestartPolicy::OnFailure,
                max_restarts: 0,
                window_ms: 500,
            }),
            ..Bounds::small()
        },
    }
}

/// A generated trace: its events in generation order, and whether they are a legal
/// linearisation (only enabled events, no perturbation), with the state it reaches.
struct Generated {
    events: Vec<Event>,
    legal: Option<State>,
}

fn generate(src: &mut Source<'_>, bounds: &Bounds) -> Generated {
    let mut shadow = State::new();
    let mut events = Vec::new();
    let mut perturbed = false;
    let mut enabled = Vec::new();
    while !src.is_empty() && events.len() < MAX_EVENTS {
        let op = src.byte();
        match op % 16 {
            // Guided: one of the events the shadow state enables.
            0..=10 => {
                shadow.enabled_into(bounds, &mut enabled);
                if enabled.is_empty() {
                    continue;
                }
                let event = enabled[usize::from(src.byte()) % enabled.len()].clone();
                if let Err(v) = shadow.apply(&event) {
                    panic!("enabled event {event} does not step: {v}");
                }
                events.push(event);
            }
            // Anything.
            11..=13 => {
                events.push(src.event());
                perturbed = true;
            }
            // Swap two events (of different processes this changes nothing in the trace).
            14 if events.len() >= 2 => {
                let i = usize::from(src.byte()) % events.len();
                let j = usize::from(src.byte()) % events.len();
                events.swap(i, j);
                perturbed = true;
            }
            // Duplicate or delete one.
            _ if !events.is_empty() => {
                let i = usize::from(src.byte()) % events.len();
                if op & 0x80 != 0 {
                    let e = events[i].clone();
                    events.insert(i, e);
                } else {
                    events.remove(i);
                }
                perturbed = true;
            }
            _ => {}
        }
    }
    Generated {
        events,
        legal: (!perturbed).then_some(shadow),
    }
}

/// Steps [`State`] through `events` in order, skipping rejected events. Checks that a rejected
/// event leaves the state unchanged, that every reached state keeps the invariants, and that
/// the tracker follows the seed's counting rules (G5). Returns the state and how many events
/// were rejected.
fn step_raw(events: &[Event]) -> (State, usize) {
    let mut state = State::new();
    let mut rejected = 0;
    for event in events {
        match state.step(event) {
            Ok(next) => {
                if let Err((g, why)) = next.check_invariants() {
                    panic!("{event} leads to a state breaking {g}: {why}\n{next:?}");
                }
                assert_eq!(
                    state.tracker().after(event),
                    Some(next.tracker()),
                    "tracker disagrees with the counting rules after {event}"
                );
                state = next;
            }
            Err(violation) => {
                assert_eq!(&violation.event, event, "violation names another event");
                let _ = violation.to_string();
                let before = state.clone();
                assert!(
                    state.apply(event).is_err(),
                    "apply accepts what step rejects"
                );
                assert_eq!(state, before, "a rejected apply changed the state");
                rejected += 1;
            }
        }
    }
    (state, rejected)
}

/// Replays `linearisation` from the initial state; it must be accepted all through.
fn replay(linearisation: &[Event]) -> State {
    let mut state = State::new();
    for event in linearisation {
        if let Err(v) = state.apply(event) {
            panic!("the checker's linearisation is not accepted: {v}");
        }
    }
    state
}

/// Whether `linearisation` takes each process's events in that process's order and only them:
/// as a trace, it is `trace`.
fn assert_same_logs(linearisation: &[Event], trace: &Trace) {
    let relinearised = Trace::from_events(linearisation.iter().cloned());
    assert_eq!(
        &relinearised, trace,
        "the linearisation is not an interleaving of the per-process logs"
    );
}

/// Whether the logs of `prefix` are prefixes of the logs of `trace`.
fn assert_prefix_of(prefix: &[Event], trace: &Trace) {
    let p = Trace::from_events(prefix.iter().cloned());
    assert!(
        trace.primary().starts_with(p.primary()),
        "the accepted prefix is not a prefix of the primary's log"
    );
    for (id, log) in p.workers() {
        assert!(
            trace.worker(id).starts_with(log),
            "the accepted prefix is not a prefix of worker {id}'s log"
        );
    }
}

/// The execution table of an accepted linearisation renders, one row per event, with the
/// tracker of the final state in the last row.
fn assert_table(linearisation: &[Event], final_state: &State) {
    let table = match rows(linearisation) {
        Ok(table) => table,
        Err(v) => panic!("rows rejects an accepted linearisation: {v}"),
    };
    assert_eq!(table.len(), linearisation.len());
    for (i, row) in table.iter().enumerate() {
        assert_eq!(row.step, i + 1);
    }
    if let Some(last) = table.last() {
        assert_eq!(last.tracker, final_state.tracker(), "table's last tracker");
    }
    let text = render_table(&table);
    assert!(text.lines().count() > table.len(), "table lost rows");
    let seed = seed_rows(linearisation).expect("seed_rows of an accepted linearisation");
    assert!(seed.len() <= table.len());
}

/// Checks a verdict's internal consistency against its trace.
fn assert_verdict_consistent(trace: &Trace, options: &CheckOptions, verdict: &Verdict) {
    let _ = verdict.to_string();
    match verdict {
        Verdict::Accepted {
            linearisation,
            final_state,
        } => {
            assert_same_logs(linearisation, trace);
            assert_eq!(&replay(linearisation), final_state, "final state differs");
            if options.complete {
                assert!(
                    final_state.obligations().is_empty(),
                    "a complete trace accepted with obligations left"
                );
            }
            assert_table(linearisation, final_state);
        }
        Verdict::Unfinished {
            linearisation,
            final_state,
            obligations,
        } => {
            assert!(options.complete, "Unfinished for an incomplete trace");
            assert_same_logs(linearisation, trace);
            assert_eq!(&replay(linearisation), final_state, "final state differs");
            assert!(!obligations.is_empty(), "Unfinished owing nothing");
            assert_eq!(obligations, &final_state.obligations());
            assert_table(linearisation, final_state);
        }
        Verdict::Rejected {
            accepted_prefix,
            event,
            violation,
        } => {
            assert_eq!(
                event, &violation.event,
                "verdict and violation name different events"
            );
            assert_prefix_of(accepted_prefix, trace);
            let state = replay(accepted_prefix);
            // The rejected event is not in the prefix, and cannot be taken after it.
            assert!(
                state.step(event).is_err(),
                "the rejected event {event} is legal after the longest accepted prefix"
            );
            let _ = rows(accepted_prefix).expect("rows of the accepted prefix");
        }
        Verdict::Unknown { explored } => {
            assert!(
                *explored <= options.max_nodes,
                "explored {explored} steps on a budget of {}",
                options.max_nodes
            );
        }
    }
}

/// Fuzz entry point: byte 0 picks the bounds of the guided generator and whether the trace is
/// checked as complete, byte 1 a small budget; the rest drives the generator.
///
/// Checks: the checker never panics and stays within its budget (never `Unknown` with the
/// budget far above the trace's size; with a small budget either `Unknown` within it or the
/// same verdict); a verdict is consistent with its trace (the linearisation is an interleaving
/// of the logs the model accepts, with that final state; the prefix of a rejection is a prefix
/// of the logs and the rejected event is illegal after it); an unperturbed (legal) trace is
/// accepted, with the state the shadow reached; the JSON-lines form parses back to the same
/// trace with the same verdict, in any interleaving of the processes' lines; [`State::step`]
/// over the raw sequence keeps the invariants; the table renders every accepted linearisation;
/// and arbitrary text into [`Trace::from_jsonl`] never panics.
pub fn checker(data: &[u8]) {
    let mut src = Source(data);
    let header = src.byte();
    let budget_byte = src.byte();
    let bounds = bounds(header >> 1);
    let options = CheckOptions {
        max_nodes: MAX_NODES,
        complete: header & 1 == 1,
    };
    let generated = generate(&mut src, &bounds);
    let events = generated.events;

    // The raw sequence through the state machine.
    let (raw_state, raw_rejected) = step_raw(&events);

    let trace = Trace::from_events(events.iter().cloned());
    assert_eq!(trace.len(), events.len());
    let verdict = check(&trace, &options);
    assert!(
        !matches!(verdict, Verdict::Unknown { .. }),
        "budget of {MAX_NODES} spent on {} events",
        trace.len()
    );
    assert_verdict_consistent(&trace, &options, &verdict);

    if let Some(shadow) = &generated.legal {
        // A legal linearisation: every log is a run's, so the trace is accepted, and the state
        // is a function of the cut (whatever the interleaving, the same state).
        assert_eq!(raw_rejected, 0, "a legal run rejected by State::step");
        assert_eq!(&raw_state, shadow);
        let final_state = match &verdict {
            Verdict::Accepted { final_state, .. } => final_state,
            Verdict::Unfinished { final_state, .. } => final_state,
            other => panic!("a legal run's trace is not accepted: {other}"),
        };
        assert_eq!(
            final_state, shadow,
            "the checker's final state is not the run's"
        );
        if !options.complete || shadow.obligations().is_empty() {
            assert!(verdict.is_accepted(), "a legal run's trace: {verdict}");
        }
        let incomplete = CheckOptions {
            complete: false,
            ..options
        };
        assert!(
            check(&trace, &incomplete).is_accepted(),
            "a legal run's prefix is not accepted as a snapshot"
        );
    }

    // A smaller budget: Unknown within it, or the same answer.
    let small = CheckOptions {
        max_nodes: u64::from(budget_byte) % (trace.len() as u64 + 2),
        ..options
    };
    match check(&trace, &small) {
        Verdict::Unknown { explored } => assert!(explored <= small.max_nodes),
        other => assert_eq!(other, verdict, "verdict depends on the budget"),
    }

    // JSON round trip: the same trace, the same verdict.
    let text = trace.to_jsonl();
    let parsed = match Trace::from_jsonl(&text) {
        Ok(parsed) => parsed,
        Err(e) => panic!("to_jsonl output does not parse: {e}"),
    };
    assert_eq!(parsed, trace, "the JSON round trip changed the trace");
    assert_eq!(
        check(&parsed, &options),
        verdict,
        "the JSON round trip changed the verdict"
    );
    // Lines of different processes may be interleaved any way: generation order, with blank
    // lines, parses to the same trace.
    let mut interleaved = String::new();
    for event in &events {
        interleaved.push_str(&event.to_json_line());
        interleaved.push_str("\n\n");
    }
    let reparsed = Trace::from_jsonl(&interleaved).expect("interleaved lines parse");
    assert_eq!(reparsed, trace, "interleaving the lines changed the trace");

    // Arbitrary text never panics the parser.
    if let Err(e) = Trace::from_jsonl(&String::from_utf8_lossy(data)) {
        assert!(e.line >= 1);
        let _ = e.to_string();
    }
}
