//! The crew demo: the seed lesson on Node's master/worker processes, from a real run.
//!
//! The primary forks one worker per CPU, gives each a share of a real task (counting the primes
//! below a limit), receives the results, aggregates them, checks the total against a
//! single-process count, handles each exit (replacing a crashed worker, whose share is then
//! redone), and ends when all are done. It then prints the run's execution table, the seed's
//! variable tracker, the result, and crew-model's verdict on the recorded trace.
//!
//! ```text
//! crew [--workers N] [--limit L] [--task-ms MS] [--crash ID] [--trace FILE] [--json]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crew::model::{self, Event};
use crew::{Cluster, ClusterEvent, Restart, Role, Worker, WorkerId};
use serde::{Deserialize, Serialize};

/// Primary → worker: a share of the task.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Task {
    /// Count primes in `lo..hi`.
    lo: u64,
    hi: u64,
    /// Busy-work at least this long (the lesson's "task takes a while").
    min_ms: u64,
    /// Crash (abort) half-way through.
    crash: bool,
}

/// Worker → primary: the share's result.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Outcome {
    lo: u64,
    hi: u64,
    primes: u64,
    /// How long the share took in the worker, in µs.
    micros: u64,
}

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

fn count_primes(lo: u64, hi: u64) -> u64 {
    (lo..hi).filter(|&n| is_prime(n)).count() as u64
}

fn worker_main() -> Result<(), Box<dyn std::error::Error>> {
    let mut worker = Worker::<Outcome, Task>::connect()?;
    let task = match worker.recv() {
        Ok(task) => task,
        // Disconnected before a task arrived: nothing to do.
        Err(crew::WorkerError::Disconnected) => worker.exit(0),
        Err(e) => return Err(e.into()),
    };
    worker.run();
    let start = Instant::now();
    let primes = if task.crash {
        let mid = task.lo + (task.hi - task.lo) / 2;
        std::hint::black_box(count_primes(task.lo, mid));
        // The lesson's crash: the worker dies mid-task; the primary restarts it.
        std::process::abort();
    } else {
        count_primes(task.lo, task.hi)
    };
    while start.elapsed() < Duration::from_millis(task.min_ms) {
        std::hint::black_box(count_primes(0, 1000));
    }
    worker.send(&Outcome {
        lo: task.lo,
        hi: task.hi,
        primes,
        micros: start.elapsed().as_micros() as u64,
    })?;
    worker.exit(0)
}

struct Options {
    workers: usize,
    limit: u64,
    task_ms: u64,
    crash: Option<WorkerId>,
    trace: Option<PathBuf>,
    json: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        limit: 2_000_000,
        task_ms: 0,
        crash: None,
        trace: None,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--workers" => {
                o.workers = value("--workers")?
                    .parse()
                    .map_err(|_| "--workers takes a number".to_string())?
            }
            "--limit" => {
                o.limit = value("--limit")?
                    .parse()
                    .map_err(|_| "--limit takes a number".to_string())?
            }
            "--task-ms" => {
                o.task_ms = value("--task-ms")?
                    .parse()
                    .map_err(|_| "--task-ms takes a number of milliseconds".to_string())?
            }
            "--crash" => {
                o.crash = Some(
                    value("--crash")?
                        .parse()
                        .map_err(|_| "--crash takes a worker id".to_string())?,
                )
            }
            "--trace" => o.trace = Some(PathBuf::from(value("--trace")?)),
            "--json" => o.json = true,
            "-h" | "--help" => {
                return Err(
                    "usage: crew [--workers N] [--limit L] [--task-ms MS] [--crash ID] [--trace FILE] [--json]"
                        .to_string(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if o.workers == 0 || o.workers > 256 {
        return Err(format!("--workers must be 1..=256, not {}", o.workers));
    }
    if let Some(id) = o.crash {
        if id == 0 || id as usize > o.workers {
            return Err(format!(
                "--crash names worker {id}, but the first workers are 1..={}",
                o.workers
            ));
        }
    }
    Ok(o)
}

/// What the primary saw, for the report.
struct RunReport {
    total: u64,
    shares_done: usize,
    restarts: u32,
    per_worker: BTreeMap<WorkerId, Outcome>,
    /// The share each worker was given.
    tasks: BTreeMap<WorkerId, (u64, u64)>,
    wall: Duration,
}

fn primary_main(o: &Options, trace_dir: &std::path::Path) -> Result<RunReport, String> {
    let started = Instant::now();
    let mut cluster: Cluster<Outcome, Task> = Cluster::builder()
        .restart(Restart::on_failure(3, Duration::from_secs(10)))
        .trace_dir(trace_dir)
        .build()
        .map_err(|e| e.to_string())?;
    // Shares: `workers` equal slices of 0..limit.
    let n = o.workers as u64;
    let shares: Vec<(u64, u64)> = (0..n)
        .map(|i| (o.limit * i / n, o.limit * (i + 1) / n))
        .collect();
    let mut assigned: BTreeMap<WorkerId, usize> = BTreeMap::new();
    let mut done = vec![false; shares.len()];
    let mut report = RunReport {
        total: 0,
        shares_done: 0,
        restarts: 0,
        per_worker: BTreeMap::new(),
        tasks: BTreeMap::new(),
        wall: Duration::ZERO,
    };
    let task = |share: (u64, u64), crash: bool| Task {
        lo: share.0,
        hi: share.1,
        min_ms: o.task_ms,
        crash,
    };
    for (i, &share) in shares.iter().enumerate() {
        let id = cluster.fork().map_err(|e| e.to_string())?;
        assigned.insert(id, i);
        report.tasks.insert(id, share);
        cluster
            .send(id, &task(share, o.crash == Some(id)))
            .map_err(|e| e.to_string())?;
    }
    let limit = Duration::from_secs(120);
    while cluster.alive() > 0 {
        let event = cluster
            .next_event(Some(limit))
            .map_err(|e| e.to_string())?
            .ok_or("no event for 120 s: giving up")?;
        match event {
            ClusterEvent::Message { worker, message } => {
                let share = assigned[&worker];
                if !done[share] {
                    done[share] = true;
                    report.total += message.primes;
                    report.shares_done += 1;
                }
                report.per_worker.insert(worker, message);
            }
            ClusterEvent::Restart {
                worker,
                replacement,
            } => {
                // The replacement redoes the crashed worker's share, without crashing.
                report.restarts += 1;
                let share = assigned[&worker];
                assigned.insert(replacement, share);
                report.tasks.insert(replacement, shares[share]);
                if !done[share] {
                    cluster
                        .send(replacement, &task(shares[share], false))
                        .map_err(|e| e.to_string())?;
                }
            }
            ClusterEvent::GaveUp { worker, .. } => {
                return Err(format!(
                    "worker {worker} kept crashing: the primary gave up"
                ))
            }
            ClusterEvent::ProtocolError { worker, reason } => {
                return Err(format!("worker {worker}: {reason}"))
            }
            _ => {}
        }
    }
    cluster
        .shutdown(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    while cluster
        .next_event(Some(Duration::ZERO))
        .map_err(|e| e.to_string())?
        .is_some()
    {}
    report.wall = started.elapsed();
    drop(cluster);
    if report.shares_done != shares.len() {
        return Err(format!(
            "only {} of {} shares came back",
            report.shares_done,
            shares.len()
        ));
    }
    Ok(report)
}

/// Reads every process's trace file in `dir`.
fn read_trace(dir: &std::path::Path) -> Result<(String, Vec<Event>), String> {
    let mut text = String::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    names.sort();
    for p in names {
        text.push_str(&std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        events.push(Event::from_json_line(line).map_err(|e| format!("trace line {}: {e}", i + 1))?);
    }
    Ok((text, events))
}

fn main() -> ExitCode {
    if let Role::Worker(id) = crew::role() {
        return match worker_main() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("crew worker {id}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("crew: {e}");
            return ExitCode::from(2);
        }
    };
    let trace_dir = std::env::temp_dir().join(format!("crew-demo-{}", std::process::id()));
    let run = primary_main(&o, &trace_dir);
    let trace = read_trace(&trace_dir);
    let _ = std::fs::remove_dir_all(&trace_dir);
    let report = match run {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crew: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (text, events) = match trace {
        Ok(t) => t,
        Err(e) => {
            eprintln!("crew: reading the trace: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &o.trace {
        if let Err(e) = std::fs::write(path, &text) {
            eprintln!("crew: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let expected = count_primes(0, o.limit);
    print_report(&o, &report, &events, expected)
}

/// A plain-text table: columns padded to their widest cell.
fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                l.push_str(" | ");
            }
            l.push_str(&format!("{cell:<w$}"));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    let rules: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    line(rules.iter().map(String::as_str).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// What a row's message was, for the Message column.
fn message_of(event: &Event, report: &RunReport, tasks: &BTreeMap<WorkerId, (u64, u64)>) -> String {
    match event {
        Event::Receive { worker, .. } | Event::Send { worker, .. } => report
            .per_worker
            .get(worker)
            .map(|o| format!("{} primes in [{}, {})", o.primes, o.lo, o.hi))
            .unwrap_or_default(),
        Event::PrimarySend { worker, .. } | Event::WorkerReceive { worker, .. } => tasks
            .get(worker)
            .map(|(lo, hi)| format!("task: count primes in [{lo}, {hi})"))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn print_report(o: &Options, report: &RunReport, events: &[Event], expected: u64) -> ExitCode {
    let trace = model::Trace::from_events(events.iter().cloned());
    let verdict = model::check(&trace, &model::CheckOptions::default());
    let rows = match &verdict {
        model::Verdict::Accepted { linearisation, .. } => model::rows(linearisation).ok(),
        _ => None,
    };
    let counters = match &verdict {
        model::Verdict::Accepted { final_state, .. } => Some(final_state.tracker()),
        _ => None,
    };
    if !o.json || rows.is_some() {
        if let (Some(rows), model::Verdict::Accepted { linearisation, .. }) = (&rows, &verdict) {
            let table: Vec<Vec<String>> = rows
                .iter()
                .zip(linearisation)
                .map(|(r, e)| {
                    vec![
                        r.step.to_string(),
                        r.process.clone(),
                        r.action.clone(),
                        r.state_change.clone(),
                        message_of(e, report, &report.tasks),
                    ]
                })
                .collect();
            println!("Execution table (a real run, linearised by crew-model's checker):\n");
            println!(
                "{}",
                render(
                    &["Step", "Process", "Action", "State change", "Message"],
                    &table
                )
            );
            let tracker: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.step.to_string(),
                        r.action.clone(),
                        r.tracker.worker_count.to_string(),
                        r.tracker.messages_received.to_string(),
                        r.tracker.workers_alive.to_string(),
                    ]
                })
                .collect();
            println!("Variable tracker:\n");
            println!(
                "{}",
                render(
                    &[
                        "Step",
                        "After",
                        "workerCount",
                        "messagesReceived",
                        "workersAlive"
                    ],
                    &tracker
                )
            );
        }
    }
    let result_ok = report.total == expected;
    println!(
        "Result: {} primes below {} from {} workers ({} restart{}) in {:.1} ms; single-process count {} — {}",
        report.total,
        o.limit,
        o.workers,
        report.restarts,
        if report.restarts == 1 { "" } else { "s" },
        report.wall.as_secs_f64() * 1e3,
        expected,
        if result_ok { "match" } else { "MISMATCH" }
    );
    let verdict_word = match &verdict {
        model::Verdict::Accepted { .. } => "accepted",
        model::Verdict::Rejected { .. } => "rejected",
        model::Verdict::Unfinished { .. } => "unfinished",
        model::Verdict::Unknown { .. } => "unknown",
    };
    println!("Model verdict: {verdict}");
    if o.json {
        let c = counters.unwrap_or_default();
        let line = serde_json::json!({
            "verdict": verdict_word,
            "workers": o.workers,
            "events": events.len(),
            "result": report.total,
            "expected": expected,
            "result_matches": result_ok,
            "restarts": report.restarts,
            "wall_ms": report.wall.as_secs_f64() * 1e3,
            "counters": {
                "workerCount": c.worker_count,
                "messagesReceived": c.messages_received,
                "workersAlive": c.workers_alive,
            },
        });
        println!("{line}");
    }
    if verdict.is_accepted() && result_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
