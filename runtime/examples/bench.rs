//! crew's side of the peer benchmarks (issue 7): the same kinds, options and JSON fields as
//! `bench/node/cluster_bench.js` and `bench/raw` (see bench/README.md for what each measures).
//!
//! ```text
//! cargo run --release -p crew --example bench -- ipc      --workers W --messages M --payload P [--batch B]
//! cargo run --release -p crew --example bench -- pingpong --round-trips N --payload P
//! cargo run --release -p crew --example bench -- spawn    --workers W --runs R
//! cargo run --release -p crew --example bench -- restart  --runs R
//! cargo run --release -p crew --example bench -- memory   --workers W
//! ```
//!
//! Prints exactly one JSON line on stdout (`"impl":"crew"`). The workers are this same program
//! (crew re-executes it with the primary's arguments and `crew::role()` tells them apart); they
//! run silent, so nothing of theirs reaches stdout.
//!
//! The message in both directions is [`Bytes`], a byte string that postcard encodes as its
//! length and the bytes (one copy), the closest typed counterpart of the peers' payloads.

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crew::{Cluster, ClusterEvent, Restart, Role, Worker, WorkerId};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// How long the primary waits for any one event before it calls the run failed.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A payload of bytes, serialized with `serialize_bytes` (postcard: a varint length and the
/// bytes in one copy) rather than as a sequence of `u8`s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(BytesVisitor)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ipc,
    Pingpong,
    Spawn,
    Restart,
    Memory,
}

struct Options {
    kind: Kind,
    name: &'static str,
    workers: usize,
    messages: u64,
    payload: usize,
    batch: u64,
    round_trips: usize,
    runs: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let kind = args
        .first()
        .ok_or("missing kind (ipc|pingpong|spawn|restart|memory)")?;
    let (kind, name) = match kind.as_str() {
        "ipc" => (Kind::Ipc, "ipc"),
        "pingpong" => (Kind::Pingpong, "pingpong"),
        "spawn" => (Kind::Spawn, "spawn"),
        "restart" => (Kind::Restart, "restart"),
        "memory" => (Kind::Memory, "memory"),
        other => {
            return Err(format!(
                "unknown kind {other:?} (ipc|pingpong|spawn|restart|memory)"
            ))
        }
    };
    let mut o = Options {
        kind,
        name,
        workers: 1,
        messages: 10_000,
        payload: 16,
        batch: 1,
        round_trips: 10_000,
        runs: 10,
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag} needs a non-negative integer, not {value:?}"))?;
        match flag.as_str() {
            "--workers" => o.workers = n as usize,
            "--messages" => o.messages = n,
            "--payload" => o.payload = n as usize,
            "--batch" => o.batch = n.max(1),
            "--round-trips" => o.round_trips = n as usize,
            "--runs" => o.runs = n as usize,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match crew::role() {
        Role::Worker(_) => worker_main(&options).map(|()| None),
        Role::Primary => primary_main(&options, &args).map(Some),
    };
    match result {
        Ok(Some(line)) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {}: {e}", options.name);
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------------------------

fn worker_main(o: &Options) -> BenchResult<()> {
    let mut worker = Worker::<Bytes, Bytes>::connect()?;
    match o.kind {
        Kind::Ipc => {
            // Wait for "go", so that the primary's clock measures messaging, not start-up.
            worker.recv()?;
            let payload = Bytes(vec![b'x'; o.payload]);
            if o.batch <= 1 {
                for _ in 0..o.messages {
                    worker.send(&payload)?;
                }
            } else {
                for i in 1..=o.messages {
                    worker.send_buffered(&payload)?;
                    if i % o.batch == 0 {
                        worker.flush()?;
                    }
                }
            }
            // Straight out: exit flushes what is buffered, and what send/flush put in the
            // kernel is delivered regardless (G3).
            worker.exit(0);
        }
        Kind::Pingpong => loop {
            match worker.recv() {
                Ok(m) => worker.send(&m)?,
                Err(crew::WorkerError::Disconnected) => worker.exit(0),
                Err(e) => return Err(e.into()),
            }
        },
        Kind::Spawn | Kind::Memory => loop {
            // Idle and online until killed (or disconnected).
            match worker.recv() {
                Ok(_) => {}
                Err(crew::WorkerError::Disconnected) => worker.exit(0),
                Err(e) => return Err(e.into()),
            }
        },
        Kind::Restart => {
            // Crash right after coming online, telling the primary when, by the system-wide
            // monotonic clock, it was about to exit.
            worker.send(&Bytes(monotonic_ns().to_le_bytes().to_vec()))?;
            worker.exit(1);
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: comparable between processes on one machine (unlike
/// `Instant`, whose value cannot be exchanged).
fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// ---------------------------------------------------------------------------------------------
// Primary side
// ---------------------------------------------------------------------------------------------

fn primary_main(o: &Options, args: &[String]) -> BenchResult<String> {
    let mut builder = Cluster::builder().args(args).silent(true);
    if o.kind == Kind::Restart {
        builder = builder.restart(Restart::on_failure(
            u32::try_from(o.runs).unwrap_or(u32::MAX - 10) + 10,
            Duration::from_secs(60),
        ));
    }
    let mut cluster: Cluster<Bytes, Bytes> = builder.build()?;
    match o.kind {
        Kind::Ipc => ipc(o, &mut cluster),
        Kind::Pingpong => pingpong(o, &mut cluster),
        Kind::Spawn => spawn(o, &mut cluster),
        Kind::Restart => restart(o, &mut cluster),
        Kind::Memory => memory(o, &mut cluster),
    }
}

type Bench = Cluster<Bytes, Bytes>;

/// The next event, or an error if none comes within [`EVENT_TIMEOUT`].
fn next(cluster: &mut Bench) -> BenchResult<ClusterEvent<Bytes>> {
    match cluster.next_event(Some(EVENT_TIMEOUT))? {
        Some(e) => Ok(e),
        None => Err(format!("no event within {EVENT_TIMEOUT:?}").into()),
    }
}

/// Forks `n` workers and waits until every one is online.
fn fork_online(cluster: &mut Bench, n: usize) -> BenchResult<Vec<WorkerId>> {
    let ids = cluster.fork_n(n)?;
    let mut pending = ids.len();
    while pending > 0 {
        match next(cluster)? {
            ClusterEvent::Online { worker } if ids.contains(&worker) => pending -= 1,
            ClusterEvent::Exit { worker, status, .. } => {
                return Err(
                    format!("worker {worker} exited ({status}) before it was online").into(),
                )
            }
            _ => {}
        }
    }
    Ok(ids)
}

/// SIGKILLs `ids` and waits for each one's Exit (so each is reaped).
fn kill_and_reap(cluster: &mut Bench, ids: &[WorkerId]) -> BenchResult<()> {
    let mut pending = 0;
    for &id in ids {
        if cluster.kill(id, crew::signal::SIGKILL).is_ok() {
            pending += 1;
        }
    }
    while pending > 0 {
        if let ClusterEvent::Exit { worker, .. } = next(cluster)? {
            if ids.contains(&worker) {
                pending -= 1;
            }
        }
    }
    Ok(())
}

fn ipc(o: &Options, cluster: &mut Bench) -> BenchResult<String> {
    let ids = fork_online(cluster, o.workers)?;
    let go = Bytes(Vec::new());
    // A worker is done once its channel closed (Disconnect: nothing more will arrive) and it
    // exited; crew reports them in that order (G2), so Exit alone would do, but count both.
    let mut disconnected = 0;
    let mut exited = 0;
    let mut received: u64 = 0;
    let start = Instant::now();
    for &id in &ids {
        cluster.send(id, &go)?;
    }
    while disconnected < ids.len() || exited < ids.len() {
        match next(cluster)? {
            ClusterEvent::Message { .. } => received += 1,
            ClusterEvent::Disconnect { .. } => disconnected += 1,
            ClusterEvent::Exit { worker, status, .. } => {
                if !status.success() {
                    return Err(format!("worker {worker} failed ({status})").into());
                }
                exited += 1;
            }
            ClusterEvent::ProtocolError { worker, reason } => {
                return Err(format!("worker {worker}: protocol error: {reason}").into())
            }
            _ => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let expected = o.workers as u64 * o.messages;
    Ok(format!(
        concat!(
            r#"{{"impl":"crew","kind":"ipc","exit":"immediate","workers":{},"per_worker":{},"#,
            r#""payload":{},"batch":{},"received":{},"expected":{},"secs":{},"#,
            r#""msgs_per_s":{},"mb_per_s":{}}}"#
        ),
        o.workers,
        o.messages,
        o.payload,
        o.batch,
        received,
        expected,
        json_f64(secs, 6),
        (received as f64 / secs).round(),
        json_f64(received as f64 * o.payload as f64 / secs / 1e6, 3),
    ))
}

fn pingpong(o: &Options, cluster: &mut Bench) -> BenchResult<String> {
    let ids = fork_online(cluster, 1)?;
    let id = ids[0];
    let payload = Bytes(vec![b'x'; o.payload]);
    let mut rtts_us = Vec::with_capacity(o.round_trips);
    let start = Instant::now();
    for _ in 0..o.round_trips {
        let t = Instant::now();
        cluster.send(id, &payload)?;
        loop {
            match next(cluster)? {
                ClusterEvent::Message { message, .. } => {
                    if message.0.len() != o.payload {
                        return Err("echo has the wrong length".into());
                    }
                    break;
                }
                ClusterEvent::Exit { status, .. } => {
                    return Err(format!("worker exited during pingpong ({status})").into())
                }
                _ => {}
            }
        }
        rtts_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let secs = start.elapsed().as_secs_f64();
    kill_and_reap(cluster, &ids)?;
    Ok(format!(
        concat!(
            r#"{{"impl":"crew","kind":"pingpong","round_trips":{},"payload":{},"secs":{},"#,
            r#""round_trips_per_s":{},"rtt_us_median":{},"rtt_us_p99":{}}}"#
        ),
        o.round_trips,
        o.payload,
        json_f64(secs, 6),
        (o.round_trips as f64 / secs).round(),
        json_f64(median(&rtts_us), 3),
        json_f64(p99(&rtts_us), 3),
    ))
}

fn spawn(o: &Options, cluster: &mut Bench) -> BenchResult<String> {
    let mut online_ms = Vec::with_capacity(o.workers * o.runs);
    let mut all_online_ms = Vec::with_capacity(o.runs);
    for _ in 0..o.runs {
        let start = Instant::now();
        let mut forked: Vec<(WorkerId, Instant)> = Vec::with_capacity(o.workers);
        for _ in 0..o.workers {
            let t = Instant::now();
            forked.push((cluster.fork()?, t));
        }
        let mut pending = forked.len();
        while pending > 0 {
            match next(cluster)? {
                ClusterEvent::Online { worker } => {
                    let now = Instant::now();
                    if let Some(&(_, t)) = forked.iter().find(|(id, _)| *id == worker) {
                        online_ms.push((now - t).as_secs_f64() * 1e3);
                        pending -= 1;
                    }
                }
                ClusterEvent::Exit { worker, status, .. } => {
                    return Err(
                        format!("worker {worker} exited ({status}) before it was online").into(),
                    )
                }
                _ => {}
            }
        }
        all_online_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let ids: Vec<WorkerId> = forked.iter().map(|&(id, _)| id).collect();
        kill_and_reap(cluster, &ids)?;
    }
    Ok(format!(
        concat!(
            r#"{{"impl":"crew","kind":"spawn","workers":{},"runs":{},"online_ms_median":{},"#,
            r#""online_ms_p99":{},"all_online_ms_median":{}}}"#
        ),
        o.workers,
        o.runs,
        json_f64(median(&online_ms), 3),
        json_f64(p99(&online_ms), 3),
        json_f64(median(&all_online_ms), 3),
    ))
}

/// Each sample: the primary sees a worker's Exit → the replacement is Online (the peers'
/// definition). crew forks the replacement inside the loop turn that reaps the worker, before
/// the Exit event is handed out, so this interval does not contain the whole fork; the second
/// figure, from the worker's own clock reading just before it exits, contains all of it (and
/// the process teardown and the primary's wake-up besides).
fn restart(o: &Options, cluster: &mut Bench) -> BenchResult<String> {
    let mut samples = Vec::with_capacity(o.runs);
    let mut from_worker_exit = Vec::with_capacity(o.runs);
    // Per worker: its clock reading just before it exited, and when its Exit was seen.
    let mut last_stamp: Option<(WorkerId, u64)> = None;
    let mut exit_seen: Option<(WorkerId, Instant, u64)> = None;
    // Which worker replaces which.
    let mut replacing: Option<(WorkerId, WorkerId)> = None;
    cluster.fork()?;
    let mut final_exit = false;
    loop {
        match next(cluster)? {
            ClusterEvent::Message { worker, message } => {
                let raw: [u8; 8] = message.0.as_slice().try_into().map_err(|_| "bad stamp")?;
                last_stamp = Some((worker, u64::from_le_bytes(raw)));
            }
            ClusterEvent::Exit { worker, status, .. } => {
                if status.code != Some(1) {
                    return Err(format!("worker {worker} ended with {status}, not code 1").into());
                }
                let stamp = match last_stamp {
                    Some((w, s)) if w == worker => s,
                    _ => return Err(format!("no clock reading from worker {worker}").into()),
                };
                exit_seen = Some((worker, Instant::now(), stamp));
                if final_exit {
                    break;
                }
            }
            ClusterEvent::Restart {
                worker,
                replacement,
            } => replacing = Some((worker, replacement)),
            ClusterEvent::Online { worker } => {
                let now = Instant::now();
                let now_ns = monotonic_ns();
                if let (Some((dead, replacement)), Some((exited, seen, stamp))) =
                    (replacing, exit_seen)
                {
                    if replacement != worker || dead != exited {
                        return Err("restart events out of order".into());
                    }
                    samples.push((now - seen).as_secs_f64() * 1e3);
                    from_worker_exit.push(now_ns.saturating_sub(stamp) as f64 / 1e6);
                }
                if samples.len() == o.runs {
                    // Let this last worker exit without a replacement.
                    cluster
                        .set_restart(Restart::NEVER)
                        .map_err(|e| e.to_string())?;
                    final_exit = true;
                }
            }
            ClusterEvent::GaveUp { .. } | ClusterEvent::RestartFailed { .. } => {
                return Err("the primary stopped restarting".into())
            }
            _ => {}
        }
    }
    Ok(format!(
        concat!(
            r#"{{"impl":"crew","kind":"restart","runs":{},"restarts":{},"#,
            r#""restart_ms_median":{},"restart_ms_p99":{},"#,
            r#""from_worker_exit_ms_median":{},"from_worker_exit_ms_p99":{}}}"#
        ),
        o.runs,
        samples.len(),
        json_f64(median(&samples), 3),
        json_f64(p99(&samples), 3),
        json_f64(median(&from_worker_exit), 3),
        json_f64(p99(&from_worker_exit), 3),
    ))
}

fn memory(o: &Options, cluster: &mut Bench) -> BenchResult<String> {
    let before = rss_kb()?;
    let ids = fork_online(cluster, o.workers)?;
    // Let the primary settle, as the peers do; events that come meanwhile are taken.
    let settle = Instant::now() + Duration::from_millis(200);
    while let Some(left) = settle.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        cluster.next_event(Some(left))?;
    }
    let after = rss_kb()?;
    kill_and_reap(cluster, &ids)?;
    let per_worker = if o.workers > 0 {
        (after as f64 - before as f64) / o.workers as f64
    } else {
        0.0
    };
    Ok(format!(
        concat!(
            r#"{{"impl":"crew","kind":"memory","workers":{},"rss_kb_before":{},"#,
            r#""rss_kb_after":{},"rss_kb_per_worker":{}}}"#
        ),
        o.workers,
        before,
        after,
        per_worker.round(),
    ))
}

/// This process's resident set size in KiB, from `VmRSS` in /proc/self/status.
fn rss_kb() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

// ---------------------------------------------------------------------------------------------
// Statistics, computed as the peers do
// ---------------------------------------------------------------------------------------------

/// The middle sample; the mean of the middle two for an even count.
fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// Nearest-rank 99th percentile: the smallest sample with at least 99% of samples at or below it.
fn p99(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((0.99 * s.len() as f64).ceil() as usize).max(1);
    Some(s[rank - 1])
}

/// A JSON number with `digits` decimals, or `null` for a missing or non-finite value.
fn json_f64(x: impl Into<Option<f64>>, digits: usize) -> String {
    match x.into() {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "null".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_count_is_mean_of_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn p99_of_100_samples_is_the_99th() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p99(&xs), Some(99.0));
    }

    #[test]
    fn bytes_encode_as_length_and_bytes() {
        let b = Bytes(vec![7; 16]);
        let enc = postcard::to_allocvec(&b).unwrap();
        assert_eq!(enc.len(), 17);
        assert_eq!(postcard::from_bytes::<Bytes>(&enc).unwrap(), b);
    }
}
