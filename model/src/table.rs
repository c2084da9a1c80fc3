//! The seed lesson's execution table, for an accepted linearisation: one row per event with the
//! process, the action, the state change and the tracker's three counters (G5).

use std::fmt::Write as _;

use crate::event::{Event, Origin, RestartPolicy};
use crate::state::{signal_name, State, Tracker, Violation};

/// One row of the execution table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// 1-based step number.
    pub step: usize,
    /// `"Primary"` or `"Worker 1"`.
    pub process: String,
    /// What happened, for people: `"fork worker 1"`, `"send message #0"`.
    pub action: String,
    /// What changed in the model: `"worker 1: forked → online"`.
    pub state_change: String,
    /// The seed's counters after this step.
    pub tracker: Tracker,
}

/// The rows for `linearisation`, replayed from [`State::new`]. Fails with the first violation if
/// the linearisation is not accepted (pass the one from [`crate::Verdict::Accepted`]).
pub fn rows(linearisation: &[Event]) -> Result<Vec<Row>, Violation> {
    let mut state = State::new();
    let mut rows = Vec::with_capacity(linearisation.len());
    for (index, event) in linearisation.iter().enumerate() {
        let next = state.step(event)?;
        rows.push(Row {
            step: index + 1,
            process: match event.origin() {
                Origin::Primary => "Primary".to_string(),
                Origin::Worker(w) => format!("Worker {w}"),
            },
            action: action(event),
            state_change: state_change(&state, &next, event),
            tracker: next.tracker(),
        });
        state = next;
    }
    Ok(rows)
}

/// The rows of the seed's vocabulary only (Fork, Run, Send, Receive, Exit, End), renumbered:
/// for the seed's 2-worker run this is its 11-step table. The counters stay exact because the
/// hidden events (Online, Disconnect, …) do not change them.
pub fn seed_rows(linearisation: &[Event]) -> Result<Vec<Row>, Violation> {
    let mut kept: Vec<Row> = rows(linearisation)?
        .into_iter()
        .zip(linearisation)
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Fork { .. }
                    | Event::Run { .. }
                    | Event::Send { .. }
                    | Event::Receive { .. }
                    | Event::Exit { .. }
                    | Event::End
            )
        })
        .map(|(row, _)| row)
        .collect();
    for (index, row) in kept.iter_mut().enumerate() {
        row.step = index + 1;
    }
    Ok(kept)
}

/// Renders rows as a plain-text table with the columns
/// `Step | Process | Action | State change | workerCount | messagesReceived | workersAlive`.
pub fn render_table(rows: &[Row]) -> String {
    let header = [
        "Step",
        "Process",
        "Action",
        "State change",
        "workerCount",
        "messagesReceived",
        "workersAlive",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.step.to_string(),
                r.process.clone(),
                r.action.clone(),
                r.state_change.clone(),
                r.tracker.worker_count.to_string(),
                r.tracker.messages_received.to_string(),
                r.tracker.workers_alive.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut first = true;
        for (cell, w) in cells.iter().zip(widths) {
            if !first {
                out.push_str(" | ");
            }
            first = false;
            let _ = write!(out, "{cell:<w$}");
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(&mut out, &header);
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
    line(&mut out, &rule);
    for row in &cells {
        let row: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &row);
    }
    out
}

fn action(event: &Event) -> String {
    match event {
        Event::Config {
            restart,
            max_restarts,
            window_ms,
        } => match restart {
            RestartPolicy::Never => "restart policy: never".into(),
            RestartPolicy::OnFailure => {
                format!("restart policy: on failure, {max_restarts} in {window_ms} ms")
            }
            RestartPolicy::Always => {
                format!("restart policy: always, {max_restarts} in {window_ms} ms")
            }
        },
        Event::Fork { worker } => format!("fork worker {worker}"),
        Event::Online { worker } => format!("worker {worker} online"),
        Event::Run { .. } => "run".into(),
        Event::Send { seq, .. } => format!("send message #{seq}"),
        Event::Receive { worker, seq } => format!("receive message #{seq} from worker {worker}"),
        Event::PrimarySend { worker, seq } => format!("send message #{seq} to worker {worker}"),
        Event::WorkerReceive { seq, .. } => format!("receive message #{seq} from primary"),
        Event::Kill { worker, signal } => {
            format!("kill worker {worker} with {}", signal_name(*signal))
        }
        Event::DisconnectRequested { worker } => format!("ask worker {worker} to disconnect"),
        Event::Disconnect { worker } => format!("worker {worker} disconnected"),
        Event::Exit {
            worker,
            code,
            signal,
            ..
        } => match (code, signal) {
            (Some(code), _) => format!("worker {worker} exits with code {code}"),
            (None, Some(signal)) => format!("worker {worker} ended by {}", signal_name(*signal)),
            (None, None) => format!("worker {worker} exits"),
        },
        Event::ProtocolError { worker, reason } => {
            format!("protocol error from worker {worker}: {reason}")
        }
        Event::Restart {
            worker,
            replacement,
            ..
        } => format!("restart worker {worker} as worker {replacement}"),
        Event::RestartFailed {
            worker,
            replacement,
        } => format!("replacement {replacement} for worker {worker} failed to start"),
        Event::GaveUp { worker, .. } => format!("give up restarting (worker {worker})"),
        Event::Shutdown => "shutdown".into(),
        Event::End => "end".into(),
    }
}

fn state_change(before: &State, after: &State, event: &Event) -> String {
    let mut changes: Vec<String> = Vec::new();
    if let Some(w) = event.worker() {
        let old = before.worker(w);
        if let Some(new) = after.worker(w) {
            match old {
                None => changes.push(format!("worker {w}: forked")),
                Some(old) => {
                    if old.lifecycle() != new.lifecycle() {
                        changes.push(format!(
                            "worker {w}: {} → {}",
                            old.lifecycle(),
                            new.lifecycle()
                        ));
                    }
                    if old.sent() != new.sent() {
                        changes.push(format!("worker {w}: sent {} → {}", old.sent(), new.sent()));
                    }
                    if old.received() != new.received() {
                        changes.push(format!(
                            "worker {w}: received {} → {}",
                            old.received(),
                            new.received()
                        ));
                    }
                    if old.primary_sent() != new.primary_sent() {
                        changes.push(format!(
                            "worker {w}: sent to it {} → {}",
                            old.primary_sent(),
                            new.primary_sent()
                        ));
                    }
                    if old.worker_received() != new.worker_received() {
                        changes.push(format!(
                            "worker {w}: received by it {} → {}",
                            old.worker_received(),
                            new.worker_received()
                        ));
                    }
                    if !old.has_run() && new.has_run() {
                        changes.push(format!("worker {w}: running"));
                    }
                    if !old.protocol_error() && new.protocol_error() {
                        changes.push(format!("worker {w}: channel closed (protocol error)"));
                    }
                    if let Event::Kill { signal, .. } = event {
                        changes.push(format!("worker {w}: {} requested", signal_name(*signal)));
                    }
                }
            }
        }
    }
    if before.phase() != after.phase() {
        changes.push(format!("primary: {} → {}", before.phase(), after.phase()));
    }
    if before.policy() != after.policy() {
        changes.push(format!("policy: {:?}", after.policy().restart));
    }
    if before.pending() != after.pending() {
        changes.push(match after.pending() {
            Some(crate::Pending::Decision { worker }) => {
                format!("restart decision owed for worker {worker}")
            }
            Some(crate::Pending::ReplacementFork { replacement }) => {
                format!("fork of worker {replacement} owed")
            }
            None => "nothing owed".into(),
        });
    }
    if !before.gave_up() && after.gave_up() {
        changes.push("restarts stopped".into());
    }
    if changes.is_empty() {
        "—".into()
    } else {
        changes.join("; ")
    }
}
