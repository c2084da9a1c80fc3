//! The oracle: the one place where a trace is judged against crew-model, and what is derived
//! from an accepted trace (its canonical text for snapshots, the model coverage it reached).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crew_model::{check, CheckOptions, Event, Lifecycle, State, Trace, Verdict};

/// Checks `trace` with crew-model's checker over the partial order of the per-process logs.
/// `complete`: the run is over, so it must also owe nothing (every Exit, End, …).
pub fn judge(trace: &Trace, complete: bool) -> Verdict {
    check(
        trace,
        &CheckOptions {
            complete,
            ..CheckOptions::default()
        },
    )
}

/// A multi-line diagnosis of a verdict that is not an acceptance: the guarantee, the rejected
/// event, the accepted prefix (its last events), and the per-process logs.
pub fn diagnosis(verdict: &Verdict, trace: &Trace) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "checker: {verdict}");
    if let Verdict::Rejected {
        accepted_prefix, ..
    } = verdict
    {
        let skip = accepted_prefix.len().saturating_sub(12);
        let _ = writeln!(
            out,
            "accepted prefix ({} events{}):",
            accepted_prefix.len(),
            if skip > 0 { ", last 12 shown" } else { "" }
        );
        for event in &accepted_prefix[skip..] {
            let _ = writeln!(out, "  {event}");
        }
    }
    let _ = writeln!(out, "primary log:");
    for event in trace.primary() {
        let _ = writeln!(out, "  {event}");
    }
    for (id, log) in trace.workers() {
        let _ = writeln!(out, "worker {id} log:");
        for event in log {
            let _ = writeln!(out, "  {event}");
        }
    }
    out
}

/// The canonical text of an accepted trace: its canonical linearisation (the checker's, which
/// depends only on the per-process logs), one event per line, times redacted (`at_ms` → 0;
/// events carry no pids).
pub fn canonical(verdict: &Verdict) -> Option<String> {
    let Verdict::Accepted { linearisation, .. } = verdict else {
        return None;
    };
    let mut out = String::new();
    for event in linearisation {
        let _ = writeln!(out, "{}", redact(event));
    }
    Some(out)
}

/// `event` with its clock readings set to 0.
pub fn redact(event: &Event) -> Event {
    let mut event = event.clone();
    match &mut event {
        Event::Restart { at_ms, .. } | Event::GaveUp { at_ms, .. } => *at_ms = 0,
        _ => {}
    }
    event
}

/// The event's kind, as in the trace format (`receive`, `exit`, …).
pub fn kind(event: &Event) -> &'static str {
    match event {
        Event::Config { .. } => "config",
        Event::Fork { .. } => "fork",
        Event::Online { .. } => "online",
        Event::Run { .. } => "run",
        Event::Send { .. } => "send",
        Event::Receive { .. } => "receive",
        Event::PrimarySend { .. } => "primary_send",
        Event::WorkerReceive { .. } => "worker_receive",
        Event::Kill { .. } => "kill",
        Event::DisconnectRequested { .. } => "disconnect_requested",
        Event::Disconnect { .. } => "disconnect",
        Event::Exit { .. } => "exit",
        Event::ProtocolError { .. } => "protocol_error",
        Event::Restart { .. } => "restart",
        Event::RestartFailed { .. } => "restart_failed",
        Event::GaveUp { .. } => "gave_up",
        Event::Shutdown => "shutdown",
        Event::End => "end",
    }
}

/// Which parts of the model real traces reached: event kinds, and transitions named
/// `state-kind --event-kind-->`, where the state kind is the lifecycle of the worker the event
/// concerns (or the primary's phase, for events about no worker), refined for exits (by code,
/// by the requested signal, by a crash signal; after a disconnect or not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Event kinds seen.
    pub events: BTreeSet<String>,
    /// Transitions seen.
    pub transitions: BTreeSet<String>,
}

impl Coverage {
    /// Adds what an accepted linearisation covers (replaying it through the model).
    pub fn add(&mut self, linearisation: &[Event]) {
        let mut state = State::new();
        for event in linearisation {
            let from = match event.worker().and_then(|w| state.worker(w)) {
                Some(record) => lifecycle_name(record.lifecycle()).to_string(),
                None if event.worker().is_some() => "unforked".to_string(),
                None => format!("{}", state.phase()),
            };
            let label = match event {
                Event::Exit {
                    code,
                    signal,
                    after_disconnect,
                    worker,
                } => {
                    let requested = state
                        .worker(*worker)
                        .is_some_and(|r| signal.is_some_and(|s| r.kill_requested(s)));
                    let how = match (code, signal) {
                        (Some(0), _) => "code 0".to_string(),
                        (Some(_), _) => "code != 0".to_string(),
                        (None, Some(s)) if requested => {
                            format!("{} (killed)", crew_model::state::signal_name(*s))
                        }
                        (None, Some(s)) => {
                            format!("{} (crash)", crew_model::state::signal_name(*s))
                        }
                        (None, None) => "no status".to_string(),
                    };
                    format!(
                        "exit[{how}{}]",
                        if *after_disconnect {
                            ", after disconnect"
                        } else {
                            ""
                        }
                    )
                }
                Event::Kill { signal, .. } => {
                    format!("kill[{}]", crew_model::state::signal_name(*signal))
                }
                other => kind(other).to_string(),
            };
            self.events.insert(kind(event).to_string());
            self.transitions.insert(format!("{from} --{label}-->"));
            if state.apply(event).is_err() {
                // Only accepted linearisations are added; stop rather than guess.
                return;
            }
        }
    }

    /// Merges another coverage into this one.
    pub fn merge(&mut self, other: &Coverage) {
        self.events.extend(other.events.iter().cloned());
        self.transitions.extend(other.transitions.iter().cloned());
    }
}

fn lifecycle_name(lifecycle: Lifecycle) -> &'static str {
    match lifecycle {
        Lifecycle::Forked => "forked",
        Lifecycle::Online => "online",
        Lifecycle::Disconnecting => "disconnecting",
        Lifecycle::Disconnected => "disconnected",
        Lifecycle::Dead => "dead",
    }
}

/// Every event kind of the model (the denominator of event coverage).
pub const ALL_KINDS: [&str; 18] = [
    "config",
    "fork",
    "online",
    "run",
    "send",
    "receive",
    "primary_send",
    "worker_receive",
    "kill",
    "disconnect_requested",
    "disconnect",
    "exit",
    "protocol_error",
    "restart",
    "restart_failed",
    "gave_up",
    "shutdown",
    "end",
];
