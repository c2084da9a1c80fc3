//! The system under test: a real crew [`Cluster`] of puppets, driven step by step, with every
//! process's observations collected and judged after each step.
//!
//! # How observations are collected
//!
//! The primary's events come from the cluster's observer, in the primary's order; they are
//! produced only while the harness calls into the cluster (on this thread), so the primary's log
//! is frozen while the harness reads the workers' logs. Each worker appends its own events to
//! `worker-<id>.jsonl` in the trace directory, one `write` per record (records survive a
//! SIGKILL). A snapshot reads the primary's log first, then each worker file (complete lines
//! only): every worker event that depends on a primary event (a WorkerReceive on its
//! PrimarySend) finds it in the snapshot, so the snapshot is a consistent cut. No clock is read:
//! the checker merges the logs over the partial order alone.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crew::model::{Event, State, Trace, Verdict, WorkerId};
use crew::{Cluster, ClusterBuilder, ClusterEvent, Restart};
use crew_model::RestartPolicy;

use crate::oracle;
use crate::puppet::RAW_CHANNEL_ENV;
use crate::scenario::{Mode, Plan, Step, RESTART_WINDOW_MS};
use crate::script::{Report, Script};

/// How long the harness waits for what a step must lead to (an Exit after a kill, Online after
/// a fork, …). Generous: a loaded 2-core machine must not make a correct runtime fail.
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(20);

/// Why a scenario failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The step after which it failed (None: while starting or finishing).
    pub step: Option<String>,
    /// What went wrong, with the checker's diagnosis when the trace was rejected.
    pub message: String,
    /// The guarantee named, when the checker rejected the trace.
    pub guarantee: Option<crew_model::Guarantee>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(step) = &self.step {
            writeln!(f, "after step `{step}`:")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A trace the checker accepted, and what it reached.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The collected trace.
    pub trace: Trace,
    /// The checker's verdict (accepted).
    pub verdict: Verdict,
}

impl Checked {
    /// The model state the accepted trace reaches.
    pub fn state(&self) -> Option<&State> {
        match &self.verdict {
            Verdict::Accepted { final_state, .. } | Verdict::Unfinished { final_state, .. } => {
                Some(final_state)
            }
            _ => None,
        }
    }
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A cluster of puppets under test.
pub struct Harness {
    cluster: Cluster<Report, Script>,
    primary: Arc<Mutex<Vec<Event>>>,
    dir: PathBuf,
    reports: BTreeMap<WorkerId, Vec<Report>>,
    /// Descriptors a child of this process inherits anyway (from whoever started it): not
    /// crew's, so not G12's business.
    baseline_fds: Vec<i32>,
    /// Checker runs (one per settle round).
    pub checks: u64,
}

impl Harness {
    /// Starts a primary whose workers run `program` (a puppet). `raw`: puppets start the
    /// raw-channel helper.
    pub fn start(program: &Path, raw: bool) -> Result<Harness, Failure> {
        Harness::start_with(program, raw, |builder| builder)
    }

    /// Like [`Harness::start`], with `configure` applied to the cluster's builder last (the
    /// self-test switches a runtime fault on there).
    pub fn start_with(
        program: &Path,
        raw: bool,
        configure: impl FnOnce(ClusterBuilder) -> ClusterBuilder,
    ) -> Result<Harness, Failure> {
        let dir = std::env::temp_dir().join(format!(
            "crew-conformance-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let primary = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&primary);
        let mut builder = Cluster::builder()
            .exec(program)
            .silent(!verbose())
            .trace_dir(&dir)
            .observer(move |event| {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(event.clone())
            });
        if raw {
            builder = builder.env(RAW_CHANNEL_ENV, "1");
        }
        let cluster = configure(builder).build().map_err(|e| Failure {
            step: None,
            message: format!("building the cluster: {e}"),
            guarantee: None,
        })?;
        let baseline_fds = std::process::Command::new(program)
            .arg(crate::puppet::LIST_FDS_ARG)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
            .and_then(|out| serde_json::from_slice(&out.stdout).ok())
            .unwrap_or_default();
        Ok(Harness {
            cluster,
            primary,
            dir,
            reports: BTreeMap::new(),
            baseline_fds,
            checks: 0,
        })
    }

    /// Issues `step`'s command. A command the plan says is legal must succeed.
    pub fn perform(&mut self, step: &Step) -> Result<(), Failure> {
        let refused = |what: String| Failure {
            step: Some(step.to_string()),
            message: format!("the runtime refused a legal command: {what}"),
            guarantee: None,
        };
        match step {
            Step::Fork => {
                self.cluster.fork().map_err(|e| refused(e.to_string()))?;
            }
            Step::Script { worker, script } => {
                self.cluster
                    .send(*worker, script)
                    .map_err(|e| refused(e.to_string()))?;
            }
            Step::Kill { worker, signal } => {
                self.cluster
                    .kill(*worker, *signal)
                    .map_err(|e| refused(e.to_string()))?;
            }
            Step::Disconnect { worker, timeout_ms } => {
                self.cluster
                    .disconnect(*worker, timeout_ms.map(Duration::from_millis))
                    .map_err(|e| refused(e.to_string()))?;
            }
            Step::SetRestart {
                policy,
                max_restarts,
            } => {
                let window = Duration::from_millis(RESTART_WINDOW_MS);
                self.cluster
                    .set_restart(match policy {
                        RestartPolicy::Never => Restart::NEVER,
                        RestartPolicy::OnFailure => Restart::on_failure(*max_restarts, window),
                        RestartPolicy::Always => Restart::always(*max_restarts, window),
                    })
                    .map_err(|e| refused(e.to_string()))?;
            }
            Step::Observe => {
                self.pump(Duration::from_millis(5))?;
            }
            Step::Shutdown { timeout_ms } => {
                self.cluster
                    .shutdown(timeout_ms.map(Duration::from_millis))
                    .map_err(|e| refused(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Runs the event loop for about `wait`, keeping what the puppets report.
    fn pump(&mut self, wait: Duration) -> Result<(), Failure> {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let next = self
                .cluster
                .next_event(Some(left.max(Duration::from_millis(1))))
                .map_err(|e| Failure {
                    step: None,
                    message: format!("the event loop failed: {e}"),
                    guarantee: None,
                })?;
            match next {
                Some(ClusterEvent::Message { worker, message }) => {
                    self.reports.entry(worker).or_default().push(message)
                }
                Some(_) => {}
                None => return Ok(()),
            }
            if Instant::now() >= until {
                return Ok(());
            }
        }
    }

    /// What every process observed so far: the primary's log, then each worker's file.
    pub fn trace(&self) -> Trace {
        let primary = self
            .primary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut trace = Trace::from_events(primary);
        let mut files: Vec<(WorkerId, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let id = name
                    .strip_prefix("worker-")?
                    .strip_suffix(".jsonl")?
                    .parse()
                    .ok()?;
                Some((id, entry.path()))
            })
            .collect();
        files.sort();
        for (_, path) in files {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // A line being written right now has no newline yet: leave it for the next read.
            let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
            for line in complete.lines().filter(|l| !l.trim().is_empty()) {
                match Event::from_json_line(line) {
                    Ok(event) => trace.push(event),
                    Err(e) => {
                        // A torn record would be a runtime bug (one write per record).
                        trace.push(Event::ProtocolError {
                            worker: 0,
                            reason: format!("unparsable trace line in {}: {e}", path.display()),
                        })
                    }
                }
            }
        }
        trace
    }

    /// Pumps the cluster until the model state reached by the real trace matches `plan` (or the
    /// [`SETTLE_DEADLINE`] passes), checking the trace at each round. `complete`: the scenario
    /// is over; the trace must owe nothing.
    pub fn settle(
        &mut self,
        plan: &Plan,
        step: Option<&Step>,
        complete: bool,
    ) -> Result<Checked, Failure> {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let mut wait = Duration::from_millis(1);
        loop {
            self.pump(wait)?;
            wait = (wait * 2).min(Duration::from_millis(20));
            let trace = self.trace();
            let verdict = oracle::judge(&trace, false);
            self.checks += 1;
            let fail = |message: String, guarantee| Failure {
                step: step.map(ToString::to_string),
                message,
                guarantee,
            };
            let state = match &verdict {
                Verdict::Accepted { final_state, .. } => final_state.clone(),
                other => {
                    return Err(fail(
                        oracle::diagnosis(other, &trace),
                        other.violation().map(|v| v.guarantee),
                    ))
                }
            };
            if let Some(broken) = self.broken_report() {
                return Err(fail(broken, Some(crew_model::Guarantee::G12)));
            }
            match expectation_gap(plan, &state) {
                None if complete => {
                    let verdict = oracle::judge(&trace, true);
                    if !verdict.is_accepted() {
                        let g = verdict.violation().map(|v| v.guarantee);
                        return Err(fail(oracle::diagnosis(&verdict, &trace), g));
                    }
                    return Ok(Checked { trace, verdict });
                }
                None => return Ok(Checked { trace, verdict }),
                Some(gap) if Instant::now() >= deadline => {
                    return Err(fail(
                        format!(
                            "waited {SETTLE_DEADLINE:?} for the cluster to settle: {gap}\n{}",
                            oracle::diagnosis(&verdict, &trace)
                        ),
                        None,
                    ))
                }
                Some(_) => {}
            }
        }
    }

    /// What the puppets reported that breaks a guarantee by content: a grandchild that
    /// inherited a descriptor beyond those this process itself hands to every child (G12).
    fn broken_report(&self) -> Option<String> {
        for (worker, reports) in &self.reports {
            for report in reports {
                if let Report::Grandchild { inherited } = report {
                    let extra: Vec<i32> = inherited
                        .iter()
                        .copied()
                        .filter(|fd| !self.baseline_fds.contains(fd))
                        .collect();
                    if !extra.is_empty() {
                        return Some(format!(
                            "G12 violated: a grandchild of worker {worker} inherited descriptors {extra:?} (a child of the harness inherits only {:?})",
                            self.baseline_fds
                        ));
                    }
                }
            }
        }
        None
    }

    /// Shuts down (if the scenario did not), settles, checks the complete trace, and removes
    /// the trace directory.
    pub fn finish(mut self, plan: &Plan) -> Result<Checked, Failure> {
        let mut plan = plan.clone();
        if !plan.shut_down {
            let stubborn = !plan.allows(&Step::Shutdown { timeout_ms: None });
            let step = Step::Shutdown {
                timeout_ms: stubborn.then_some(60),
            };
            self.perform(&step)?;
            plan = plan.after(&step);
        }
        let checked = self.settle(&plan, None, true);
        let _ = std::fs::remove_dir_all(&self.dir);
        checked
    }

    /// The trace directory (kept on failure for inspection).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Where the model state reached by the real trace differs from the plan, if it does.
pub fn expectation_gap(plan: &Plan, state: &State) -> Option<String> {
    let forked = state.workers().count();
    if forked != plan.workers.len() {
        return Some(format!(
            "{} workers forked, the plan expects {}",
            forked,
            plan.workers.len()
        ));
    }
    for (id, record) in state.workers() {
        let Some(planned) = plan.worker(id) else {
            continue;
        };
        match planned.mode {
            None if !record.is_dead() => {
                return Some(format!(
                    "worker {id} should have exited ({})",
                    record.lifecycle()
                ))
            }
            Some(mode) if record.is_dead() => {
                return Some(format!("worker {id} should be alive ({mode:?}) but exited"))
            }
            Some(_) if !record.came_online() => return Some(format!("worker {id} not online yet")),
            Some(Mode::Lingering) if !record.is_disconnected() => {
                return Some(format!(
                    "worker {id} closed its channel: Disconnect expected"
                ))
            }
            _ => {}
        }
        if record.received() != planned.messages {
            return Some(format!(
                "worker {id}: {} messages received, {} sent by script",
                record.received(),
                planned.messages
            ));
        }
        if record.worker_received() != planned.scripts {
            return Some(format!(
                "worker {id}: {} scripts received by the puppet, {} sent",
                record.worker_received(),
                planned.scripts
            ));
        }
    }
    if let Some(pending) = state.pending() {
        return Some(format!("restart decision pending: {pending:?}"));
    }
    if plan.shut_down && !state.is_ended() {
        return Some("End after shutdown".into());
    }
    None
}

fn verbose() -> bool {
    std::env::var_os("CREW_CONFORMANCE_VERBOSE").is_some()
}
