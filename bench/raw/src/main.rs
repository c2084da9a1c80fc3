//! The physical-limit peer for crew's benchmarks (issue 7).
//!
//! Same kinds and JSON fields as crew's `bench` example and `bench/node/cluster_bench.js`, done
//! with nothing but fork+exec, one `AF_UNIX` socketpair per worker and length-prefixed frames
//! (no serialization, no protocol, no supervision). Whatever crew costs above these figures is
//! the price of its protocol and guarantees.
//!
//! ```text
//! crew-bench-raw ipc      --workers W --messages M --payload P [--batch B]
//! crew-bench-raw pingpong --round-trips N --payload P
//! crew-bench-raw spawn    --workers W --runs R
//! crew-bench-raw restart  --runs R
//! crew-bench-raw memory   --workers W
//! ```
//!
//! Prints one JSON line on stdout. A worker is this same executable run as `__worker <role> …`.

mod channel;
mod frame;
mod stats;
mod worker;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use channel::{spawn_worker, Worker};
use frame::FrameReader;
use stats::{json_f64, median, p99};

/// The byte a worker writes on its socket right after exec: "I am online".
pub const HELLO: u8 = b'H';
/// The byte the primary writes to start an ipc run once every worker is online.
pub const GO: u8 = b'G';

struct Options {
    kind: String,
    workers: usize,
    messages: u64,
    payload: usize,
    batch: usize,
    round_trips: usize,
    runs: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let kind = args
        .first()
        .ok_or("missing kind (ipc|pingpong|spawn|restart|memory)")?;
    if !["ipc", "pingpong", "spawn", "restart", "memory"].contains(&kind.as_str()) {
        return Err(format!(
            "unknown kind {kind:?} (ipc|pingpong|spawn|restart|memory)"
        ));
    }
    let mut o = Options {
        kind: kind.clone(),
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
            "--batch" => o.batch = (n as usize).max(1),
            "--round-trips" => o.round_trips = n as usize,
            "--runs" => o.runs = n as usize,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__worker") {
        return worker::run(&args[1..]);
    }
    let result = parse(&args).and_then(|o| {
        let line = match o.kind.as_str() {
            "ipc" => ipc(&o),
            "pingpong" => pingpong(&o),
            "spawn" => spawn(&o),
            "restart" => restart(&o),
            "memory" => memory(&o),
            _ => unreachable!(),
        };
        line.map_err(|e| format!("{}: {e}", o.kind))
    });
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crew-bench-raw: {e}");
            ExitCode::FAILURE
        }
    }
}

type IoResult<T> = std::io::Result<T>;

fn read_hello(w: &mut Worker) -> IoResult<()> {
    let mut b = [0u8; 1];
    w.sock.read_exact(&mut b)?;
    if b[0] != HELLO {
        return Err(std::io::Error::other(
            "worker's first byte is not the hello",
        ));
    }
    Ok(())
}

fn kill_and_reap(workers: Vec<Worker>) -> IoResult<()> {
    for mut w in workers {
        // An already-exited child makes kill fail; wait() reaps it either way.
        let _ = w.process.kill();
        w.process.wait()?;
    }
    Ok(())
}

fn ipc(o: &Options) -> IoResult<String> {
    let args = [
        "ipc".to_string(),
        o.messages.to_string(),
        o.payload.to_string(),
        o.batch.to_string(),
    ];
    let mut workers = (0..o.workers)
        .map(|_| spawn_worker(&args))
        .collect::<IoResult<Vec<_>>>()?;
    for w in &mut workers {
        read_hello(w)?;
    }

    let start = Instant::now();
    for w in &mut workers {
        w.sock.write_all(&[GO])?;
    }
    let mut readers: Vec<FrameReader> = workers.iter().map(|_| FrameReader::new()).collect();
    let mut open: Vec<usize> = (0..workers.len()).collect();
    let mut received: u64 = 0;
    while !open.is_empty() {
        let fds: Vec<_> = open.iter().map(|&i| workers[i].sock.as_raw_fd()).collect();
        let ready = channel::poll_readable(&fds)?;
        let mut closed = Vec::new();
        for r in ready {
            let i = open[r];
            let reader = &mut readers[i];
            if reader.fill(&mut workers[i].sock)? == 0 {
                if reader.has_partial() {
                    return Err(std::io::Error::other("worker closed mid-frame"));
                }
                closed.push(i);
                continue;
            }
            while reader.next_frame().is_some() {
                received += 1;
            }
        }
        open.retain(|i| !closed.contains(i));
    }
    for w in &mut workers {
        w.process.wait()?;
    }
    let secs = start.elapsed().as_secs_f64();

    let expected = o.workers as u64 * o.messages;
    Ok(format!(
        concat!(
            r#"{{"impl":"raw","kind":"ipc","exit":"immediate","workers":{},"per_worker":{},"#,
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

fn pingpong(o: &Options) -> IoResult<String> {
    let mut w = spawn_worker(&["pingpong".to_string()])?;
    read_hello(&mut w)?;
    let mut frame = Vec::with_capacity(4 + o.payload);
    frame::encode(&vec![b'x'; o.payload], &mut frame);
    let mut reader = FrameReader::new();
    let mut rtts_us = Vec::with_capacity(o.round_trips);
    let start = Instant::now();
    for _ in 0..o.round_trips {
        let t = Instant::now();
        w.sock.write_all(&frame)?;
        loop {
            if let Some(echo) = reader.next_frame() {
                if echo.len() != frame.len() {
                    return Err(std::io::Error::other("echo has the wrong length"));
                }
                break;
            }
            if reader.fill(&mut w.sock)? == 0 {
                return Err(std::io::Error::other("worker closed during pingpong"));
            }
        }
        rtts_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let secs = start.elapsed().as_secs_f64();
    kill_and_reap(vec![w])?;
    Ok(format!(
        concat!(
            r#"{{"impl":"raw","kind":"pingpong","round_trips":{},"payload":{},"secs":{},"#,
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

fn spawn(o: &Options) -> IoResult<String> {
    let mut online_ms = Vec::new();
    let mut all_online_ms = Vec::new();
    for _ in 0..o.runs {
        let start = Instant::now();
        let mut forked = Vec::with_capacity(o.workers);
        for _ in 0..o.workers {
            let t = Instant::now();
            forked.push((t, spawn_worker(&["idle".to_string()])?));
        }
        // Collect the hellos in the order they arrive.
        let mut pending: Vec<usize> = (0..forked.len()).collect();
        while !pending.is_empty() {
            let fds: Vec<_> = pending
                .iter()
                .map(|&i| forked[i].1.sock.as_raw_fd())
                .collect();
            let ready = channel::poll_readable(&fds)?;
            let now = Instant::now();
            let mut done = Vec::new();
            for r in ready {
                let i = pending[r];
                read_hello(&mut forked[i].1)?;
                online_ms.push((now - forked[i].0).as_secs_f64() * 1e3);
                done.push(i);
            }
            pending.retain(|i| !done.contains(i));
        }
        all_online_ms.push(start.elapsed().as_secs_f64() * 1e3);
        kill_and_reap(forked.into_iter().map(|(_, w)| w).collect())?;
    }
    Ok(format!(
        concat!(
            r#"{{"impl":"raw","kind":"spawn","workers":{},"runs":{},"online_ms_median":{},"#,
            r#""online_ms_p99":{},"all_online_ms_median":{}}}"#
        ),
        o.workers,
        o.runs,
        json_f64(median(&online_ms), 3),
        json_f64(p99(&online_ms), 3),
        json_f64(median(&all_online_ms), 3),
    ))
}

fn restart(o: &Options) -> IoResult<String> {
    let crash = ["crash".to_string()];
    let mut samples = Vec::with_capacity(o.runs);
    let mut current = spawn_worker(&crash)?;
    read_hello(&mut current)?;
    for _ in 0..o.runs {
        // The floor of "observe the exit": a blocking waitpid on the one child there is.
        current.process.wait()?;
        let exit_seen = Instant::now();
        current = spawn_worker(&crash)?;
        read_hello(&mut current)?;
        samples.push(exit_seen.elapsed().as_secs_f64() * 1e3);
    }
    current.process.wait()?;
    Ok(format!(
        concat!(
            r#"{{"impl":"raw","kind":"restart","runs":{},"restarts":{},"#,
            r#""restart_ms_median":{},"restart_ms_p99":{}}}"#
        ),
        o.runs,
        samples.len(),
        json_f64(median(&samples), 3),
        json_f64(p99(&samples), 3),
    ))
}

fn memory(o: &Options) -> IoResult<String> {
    let before = channel::rss_kb()?;
    let mut workers = (0..o.workers)
        .map(|_| spawn_worker(&["idle".to_string()]))
        .collect::<IoResult<Vec<_>>>()?;
    for w in &mut workers {
        read_hello(w)?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = channel::rss_kb()?;
    kill_and_reap(workers)?;
    let per_worker = if o.workers > 0 {
        (after as f64 - before as f64) / o.workers as f64
    } else {
        0.0
    };
    Ok(format!(
        concat!(
            r#"{{"impl":"raw","kind":"memory","workers":{},"rss_kb_before":{},"#,
            r#""rss_kb_after":{},"rss_kb_per_worker":{}}}"#
        ),
        o.workers,
        before,
        after,
        per_worker.round(),
    ))
}
