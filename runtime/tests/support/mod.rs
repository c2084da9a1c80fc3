//! Shared by the guarantee tests (`g*.rs`, `bad_input.rs`): the *puppet* (the test binary
//! re-executed as a crew worker, procspawn-style), the message types, a recorder of cluster
//! events with bounded waits, and `/proc` helpers.
//!
//! # How workers are started
//!
//! Every test file has `#[test] fn puppet_entry() { support::puppet_main() }`. A test builds its
//! cluster with [`puppets`], which re-executes this same test binary with the arguments
//! `puppet_entry --exact --nocapture --test-threads=1` (so libtest runs only that test, on the
//! main thread) and `CREW_TEST_PUPPET=<spec>` naming the behaviour. In the primary (the normal
//! test run) `puppet_entry` returns at once; in a worker it runs the behaviour and exits.
//!
//! A spec is `;`-separated entries `[<id>=]<behaviour>[:<arg>[:<arg>]]`; an entry without `<id>=`
//! (or with `*=`) applies to every worker not named, e.g. `2=garbage:magic;*=serve`.
//!
//! `CREW_TEST_PRIMARY=<name>` makes the re-executed binary a *primary* of its own (G8: a
//! primary that the test can SIGKILL).
//!
//! Raw bytes go onto the channel with `send(2)` on the descriptor number crew put in
//! `CREW_CHANNEL_FD` (nix takes a `RawFd`, so no `unsafe`); the one `unsafe` is the installation
//! of a SIGTERM handler that counts (G6).
//!
//! libtest runs `puppet_entry` on a thread of its own, not the main thread: process-wide state
//! (signal dispositions, `exit`) is fine, per-thread state (signal masks) is not.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crew::{
    Cluster, ClusterBuilder, ClusterEvent, ExitStatus, Role, Worker, WorkerError, WorkerId,
};
use serde::{Deserialize, Serialize};

/// Names the worker behaviour (see the module docs).
pub const PUPPET_ENV: &str = "CREW_TEST_PUPPET";
/// Names a nested-primary behaviour.
pub const PRIMARY_ENV: &str = "CREW_TEST_PRIMARY";
/// Where the `stream` puppet logs each sequence number whose send returned Ok.
pub const OK_LOG_ENV: &str = "CREW_TEST_OK_LOG";
/// Set to see the workers' stdout/stderr (they are silent by default).
pub const VERBOSE_ENV: &str = "CREW_TEST_VERBOSE";

/// The arguments that make the re-executed test binary run only `puppet_entry`.
pub const PUPPET_ARGS: [&str; 5] = [
    "puppet_entry",
    "--exact",
    "--nocapture",
    "--test-threads=1",
    "--quiet",
];

/// The generous bound on every wait (a loaded 2-core machine).
pub const WAIT: Duration = Duration::from_secs(30);

/// Worker → primary.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Up {
    /// Connected and about to do its job.
    Ready { pid: u32 },
    /// A numbered message (G3).
    Seq(u64),
    /// A numbered message from one of several threads (G3).
    ThreadSeq { thread: u32, seq: u64 },
    /// The answer to [`Down::CheckSeq`]: how many `Down::Seq` arrived, and whether in order (G4).
    Checked { count: u64, in_order: bool },
    /// The answer to [`Down::Ping`].
    Pong { sigterm_received: bool },
    /// The worker's own descriptors (before it connected) and its child's (G12).
    Fds {
        channel: i32,
        own: Vec<(i32, String)>,
        grandchild: Vec<(i32, String)>,
    },
    /// A line of text (an error's `Debug` and `Display`, say).
    Report(String),
    /// A payload of some size.
    Blob(Vec<u8>),
    /// Sent after the channel was closed by the primary (G7).
    Last,
}

/// Primary → worker: commands for the `serve` puppet.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// A numbered message; the worker checks the numbering (G4).
    Seq(u64),
    /// Reply [`Up::Checked`].
    CheckSeq,
    /// Reply [`Up::Pong`].
    Ping,
    /// Reply [`Up::Pong`] once a SIGTERM has been handled (or after [`WAIT`]). A
    /// process-directed signal may be handled by another thread than the puppet's, some time
    /// after the puppet reads the next message: a plain Ping could overtake it.
    AwaitSigterm,
    /// Exit with this code (after flushing).
    Exit(i32),
    /// `abort()`: dies by SIGABRT.
    Abort,
    /// Dies by SIGSEGV.
    Segv,
    /// `kill(getpid(), SIGKILL)`.
    KillSelf,
    /// Send `Up::Seq(0..n)`.
    SendSeq(u64),
    /// Try to send an `Up::Blob` of this many bytes; report the result as [`Up::Report`].
    SendBlob(u32),
    /// A payload (ignored).
    Blob(Vec<u8>),
    /// `Worker::disconnect`, then wait forever.
    CloseChannel,
}

/// The cluster type of these tests.
pub type TestCluster = Cluster<Up, Down>;

/// A builder whose workers are puppets running `spec` (silent unless `CREW_TEST_VERBOSE`).
pub fn puppets(spec: &str) -> ClusterBuilder {
    Cluster::builder()
        .exec(std::env::current_exe().expect("current_exe"))
        .args(PUPPET_ARGS)
        .env(PUPPET_ENV, spec)
        .silent(std::env::var_os(VERBOSE_ENV).is_none())
}

// ---------------------------------------------------------------------------------------------
// The puppet: the worker side (and the nested primary of G8)
// ---------------------------------------------------------------------------------------------

/// The body of every test file's `puppet_entry`: returns at once in the test run proper; in a
/// re-executed copy, runs the behaviour named by the environment and exits.
pub fn puppet_main() {
    if crew::role() == Role::Primary {
        if let Ok(name) = std::env::var(PRIMARY_ENV) {
            nested_primary(&name);
            std::process::exit(0);
        }
        return;
    }
    let Role::Worker(id) = crew::role() else {
        unreachable!()
    };
    let Ok(spec) = std::env::var(PUPPET_ENV) else {
        eprintln!("puppet: worker {id} has no {PUPPET_ENV}");
        std::process::exit(97);
    };
    let behaviour = behaviour_for(&spec, id)
        .unwrap_or_else(|| panic!("puppet: spec {spec:?} names no behaviour for worker {id}"));
    run_behaviour(id, &behaviour);
    std::process::exit(0);
}

/// The behaviour `spec` gives worker `id`, split at `:`.
fn behaviour_for(spec: &str, id: WorkerId) -> Option<Vec<String>> {
    let mut default = None;
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (who, what) = match entry.split_once('=') {
            Some((who, what)) => (Some(who.trim()), what.trim()),
            None => (None, entry),
        };
        let parts: Vec<String> = what.split(':').map(str::to_owned).collect();
        match who {
            Some(n) if n != "*" => {
                if n.parse::<WorkerId>().ok() == Some(id) {
                    return Some(parts);
                }
            }
            _ => default = default.or(Some(parts)),
        }
    }
    default
}

fn arg<T: std::str::FromStr>(b: &[String], i: usize) -> T {
    b.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("puppet: behaviour {b:?} needs argument {i}"))
}

fn connect() -> Worker<Up, Down> {
    match Worker::connect() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("puppet: connect: {e}");
            std::process::exit(90);
        }
    }
}

fn send_or_exit(w: &Worker<Up, Down>, m: &Up) {
    if let Err(e) = w.send(m) {
        eprintln!("puppet: send: {e}");
        std::process::exit(71);
    }
}

fn ready(w: &Worker<Up, Down>) {
    send_or_exit(
        w,
        &Up::Ready {
            pid: std::process::id(),
        },
    );
}

/// The channel's descriptor number, read before `Worker::connect` removes the variable.
fn channel_fd() -> i32 {
    std::env::var("CREW_CHANNEL_FD")
        .expect("CREW_CHANNEL_FD")
        .parse()
        .expect("CREW_CHANNEL_FD is a number")
}

/// Writes `bytes` onto the channel behind crew's back.
fn raw_write(fd: i32, bytes: &[u8]) {
    use nix::sys::socket::{send, MsgFlags};
    let mut rest = bytes;
    while !rest.is_empty() {
        match send(fd, rest, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                eprintln!("puppet: raw write: {e}");
                std::process::exit(72);
            }
        }
    }
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

fn busy_forever() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// No core files from the crash puppets, whatever the machine's `ulimit -c`.
fn no_core_dump() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Core);
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: limit.maximum,
        },
    );
}

static SIGTERM_RECEIVED: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
    std::sync::OnceLock::new();

/// Handles SIGTERM by counting it (a worker that handles SIGTERM itself, G6). A handler, not a
/// blocked mask: libtest runs the puppet on a thread of its own, and a process-directed signal
/// goes to any thread that does not block it.
fn handle_sigterm() {
    // signal-hook's flag handler sets an atomic (async-signal-safe), with no unsafe here.
    let flag = SIGTERM_RECEIVED.get_or_init(Default::default);
    signal_hook::flag::register(signal_hook::consts::SIGTERM, std::sync::Arc::clone(flag))
        .expect("install the SIGTERM handler");
}

/// Whether this process has received a SIGTERM (see [`handle_sigterm`]).
fn sigterm_received() -> bool {
    SIGTERM_RECEIVED
        .get()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// The bytes a `garbage:<kind>` puppet writes (G10); the primary runs with `max_frame(1024)`.
pub fn garbage(kind: &str, id: WorkerId) -> Vec<u8> {
    match kind {
        // Not a frame at all.
        "magic" => b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        // Right magic, a version from the future.
        "version" => vec![b'c', b'w', 9, 2, 1, 0, 0, 0, 0],
        // Right magic and version, a kind that does not exist.
        "kind" => vec![b'c', b'w', 1, 7, 1, 0, 0, 0, 0],
        // A header announcing 1025 bytes, over the limit of 1024.
        "oversize" => {
            let mut v = vec![b'c', b'w', 1, 2];
            v.extend_from_slice(&1025u32.to_le_bytes());
            v
        }
        // A well-formed frame whose payload names no `Up` variant.
        "payload" => vec![b'c', b'w', 1, 2, 1, 0, 0, 0, 0x7f],
        // A second handshake.
        "hello" => {
            let mut v = Vec::new();
            crew::wire::encode(
                &mut v,
                crew::wire::FrameKind::Hello,
                &crew::wire::Hello {
                    worker: id,
                    pid: std::process::id(),
                },
                u32::MAX,
            )
            .expect("encode hello");
            v
        }
        other => panic!("puppet: no garbage kind {other:?}"),
    }
}

fn run_behaviour(id: WorkerId, b: &[String]) {
    match b[0].as_str() {
        // Connect, then obey `Down` commands; on disconnect report and exit 0.
        "serve" => serve(connect()),
        // Like serve, with SIGTERM handled (counted) instead of fatal (G6).
        "serve_handle_term" => {
            handle_sigterm();
            serve(connect())
        }
        // Connect, say Ready, exit with the code.
        "exit" => {
            let w = connect();
            ready(&w);
            w.exit(arg(b, 1))
        }
        // Exit with the code without ever connecting (dies before its handshake).
        "exit_before_connect" => std::process::exit(arg(b, 1)),
        // Connect, say Ready, never read again (ignores a disconnect).
        "park" => {
            let w = connect();
            ready(&w);
            let _keep = w;
            park_forever()
        }
        // Connect, say Ready, spin (ignores a disconnect; G8's busy worker).
        "busy" => {
            let w = connect();
            ready(&w);
            let _keep = w;
            busy_forever()
        }
        // Send Seq(0..n), then `exit` at once, without flush or Worker::exit (G3).
        "send_exit" => {
            let w = connect();
            for i in 0..arg::<u64>(b, 1) {
                send_or_exit(&w, &Up::Seq(i));
            }
            std::process::exit(0)
        }
        // Send Seq(0..n), then SIGKILL itself (G3).
        "send_sigkill" => {
            let w = connect();
            for i in 0..arg::<u64>(b, 1) {
                send_or_exit(&w, &Up::Seq(i));
            }
            let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::SIGKILL);
            park_forever()
        }
        // send_buffered Seq(0..n), flush, exit (G3).
        "buffered_exit" => {
            let w = connect();
            for i in 0..arg::<u64>(b, 1) {
                if let Err(e) = w.send_buffered(&Up::Seq(i)) {
                    eprintln!("puppet: send_buffered: {e}");
                    std::process::exit(71);
                }
            }
            if let Err(e) = w.flush() {
                eprintln!("puppet: flush: {e}");
                std::process::exit(71);
            }
            std::process::exit(0)
        }
        // `threads:T:N`: T threads each send ThreadSeq(t, 0..N) through a WorkerSender (G3).
        "threads" => {
            let w = connect();
            let (threads, n): (u32, u64) = (arg(b, 1), arg(b, 2));
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let sender = w.sender();
                    std::thread::spawn(move || {
                        for seq in 0..n {
                            if let Err(e) = sender.send(&Up::ThreadSeq { thread: t, seq }) {
                                eprintln!("puppet: thread send: {e}");
                                std::process::exit(71);
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("sender thread");
            }
            std::process::exit(0)
        }
        // Send Seq(0), Seq(1), … forever, appending each number whose send returned Ok to the
        // file named by CREW_TEST_OK_LOG (G3: the primary kills it mid-stream).
        "stream" => {
            let path = std::env::var(OK_LOG_ENV).expect("CREW_TEST_OK_LOG");
            let mut log = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .expect("open ok log");
            let w = connect();
            for i in 0u64.. {
                send_or_exit(&w, &Up::Seq(i));
                // One write(2) per line: a SIGKILL leaves whole lines only.
                log.write_all(format!("{i}\n").as_bytes())
                    .expect("write ok log");
            }
            unreachable!()
        }
        // `garbage:<kind>`: connect, say Ready, write bad bytes, wait (G10).
        "garbage" => {
            let fd = channel_fd();
            let w = connect();
            ready(&w);
            raw_write(fd, &garbage(&b[1], id));
            let _keep = w;
            park_forever()
        }
        // `garbage_first:<kind>`: write bad bytes instead of a handshake, wait (G10).
        "garbage_first" => {
            raw_write(channel_fd(), &garbage(&b[1], id));
            park_forever()
        }
        // Report its own descriptors and those of a child it starts, then serve (G12).
        "report_fds" => {
            let channel = channel_fd();
            let own = fd_targets("self");
            let w = connect();
            let mut child = std::process::Command::new("/bin/sh")
                .args(["-c", "read line"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn /bin/sh");
            let grandchild = fd_targets(&child.id().to_string());
            drop(child.stdin.take());
            let _ = child.wait();
            send_or_exit(
                &w,
                &Up::Fds {
                    channel,
                    own,
                    grandchild,
                },
            );
            serve(w)
        }
        other => panic!("puppet: no behaviour {other:?}"),
    }
}

fn serve(mut w: Worker<Up, Down>) -> ! {
    w.run();
    ready(&w);
    let mut expected = 0u64;
    let mut in_order = true;
    loop {
        match w.recv() {
            Ok(Down::Seq(i)) => {
                in_order &= i == expected;
                expected += 1;
            }
            Ok(Down::CheckSeq) => send_or_exit(
                &w,
                &Up::Checked {
                    count: expected,
                    in_order,
                },
            ),
            Ok(Down::Ping) => send_or_exit(
                &w,
                &Up::Pong {
                    sigterm_received: sigterm_received(),
                },
            ),
            Ok(Down::AwaitSigterm) => {
                let deadline = Instant::now() + WAIT;
                while !sigterm_received() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1)); // polling, with a deadline
                }
                send_or_exit(
                    &w,
                    &Up::Pong {
                        sigterm_received: sigterm_received(),
                    },
                )
            }
            Ok(Down::Exit(code)) => w.exit(code),
            Ok(Down::Abort) => {
                no_core_dump();
                std::process::abort()
            }
            Ok(Down::Segv) => {
                no_core_dump();
                // std's SIGSEGV handler (stack-overflow detection) restores the default action
                // and returns for a fault it does not own; the second raise then kills.
                loop {
                    let _ = nix::sys::signal::raise(nix::sys::signal::SIGSEGV);
                }
            }
            Ok(Down::KillSelf) => {
                let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::SIGKILL);
                park_forever()
            }
            Ok(Down::SendSeq(n)) => {
                for i in 0..n {
                    send_or_exit(&w, &Up::Seq(i));
                }
            }
            Ok(Down::SendBlob(len)) => {
                let result = w.send(&Up::Blob(vec![7; len as usize]));
                let report = match result {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("{e:?} | {e}"),
                };
                send_or_exit(&w, &Up::Report(report));
            }
            Ok(Down::Blob(_)) => {}
            Ok(Down::CloseChannel) => {
                let _ = w.disconnect();
                park_forever()
            }
            Err(WorkerError::Disconnected) => {
                // G4 + G7: everything sent before the disconnect arrived first; the worker may
                // still send.
                let _ = w.send(&Up::Checked {
                    count: expected,
                    in_order,
                });
                let _ = w.send(&Up::Last);
                w.exit(0)
            }
            Err(e) => {
                eprintln!("puppet: recv: {e}");
                std::process::exit(70)
            }
        }
    }
}

/// A primary of its own, started by a G8 test: forks 4 busy workers, prints
/// `CREW-PID <pid>` for each and `CREW-READY` once all are busy, then either waits to be killed
/// (`wait_for_kill`) or, once it reads a line on stdin, exits without shutting down
/// (`exit_without_shutdown`).
fn nested_primary(name: &str) {
    let mut rec = Recorder::new(
        puppets("busy")
            .build::<Up, Down>()
            .expect("nested primary: build"),
    );
    let ids = rec.cluster.fork_n(4).expect("nested primary: fork");
    rec.wait_ready(&ids);
    let mut out = std::io::stdout().lock();
    for info in rec.cluster.workers() {
        writeln!(out, "CREW-PID {}", info.pid).expect("stdout");
    }
    writeln!(out, "CREW-READY").expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    match name {
        "wait_for_kill" => loop {
            let _ = rec.cluster.next_event(None);
        },
        // Exits when told to (a line on stdin). exit(2) runs no destructors: the Cluster is
        // not dropped, nothing is shut down.
        "exit_without_shutdown" => {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            std::process::exit(0)
        }
        other => panic!("nested primary: no behaviour {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The recorder: every event, bounded waits
// ---------------------------------------------------------------------------------------------

/// A cluster and every event it produced so far.
pub struct Recorder {
    pub cluster: TestCluster,
    pub events: Vec<ClusterEvent<Up>>,
}

/// The worker an event is about (Restart, GaveUp and RestartFailed name the worker that
/// exited, and count as about it).
pub fn worker_of(e: &ClusterEvent<Up>) -> Option<WorkerId> {
    match e {
        ClusterEvent::Fork { worker }
        | ClusterEvent::Online { worker }
        | ClusterEvent::Message { worker, .. }
        | ClusterEvent::Disconnect { worker }
        | ClusterEvent::Exit { worker, .. }
        | ClusterEvent::ProtocolError { worker, .. }
        | ClusterEvent::Restart { worker, .. }
        | ClusterEvent::RestartFailed { worker, .. }
        | ClusterEvent::GaveUp { worker, .. }
        | ClusterEvent::CommandFailed { worker, .. } => Some(*worker),
        _ => None,
    }
}

/// The event's name.
pub fn kind(e: &ClusterEvent<Up>) -> &'static str {
    match e {
        ClusterEvent::Fork { .. } => "Fork",
        ClusterEvent::Online { .. } => "Online",
        ClusterEvent::Message { .. } => "Message",
        ClusterEvent::Disconnect { .. } => "Disconnect",
        ClusterEvent::Exit { .. } => "Exit",
        ClusterEvent::ProtocolError { .. } => "ProtocolError",
        ClusterEvent::Restart { .. } => "Restart",
        ClusterEvent::RestartFailed { .. } => "RestartFailed",
        ClusterEvent::GaveUp { .. } => "GaveUp",
        ClusterEvent::CommandFailed { .. } => "CommandFailed",
        ClusterEvent::End => "End",
        _ => "other",
    }
}

impl Recorder {
    pub fn new(cluster: TestCluster) -> Recorder {
        Recorder {
            cluster,
            events: Vec::new(),
        }
    }

    /// Builds `builder` into a recorder.
    pub fn build(builder: ClusterBuilder) -> Recorder {
        Recorder::new(builder.build().expect("build cluster"))
    }

    /// Pulls events until one satisfies `pred`; returns its index in `events`. Panics, with
    /// the log, after [`WAIT`] or if the cluster ends first.
    pub fn wait(&mut self, what: &str, mut pred: impl FnMut(&ClusterEvent<Up>) -> bool) -> usize {
        self.pull(what, |events| {
            let last = events.len() - 1;
            pred(&events[last]).then_some(last)
        })
    }

    /// Pulls events until `pred` holds for the whole log (checked first on the log so far).
    pub fn wait_until(&mut self, what: &str, mut pred: impl FnMut(&[ClusterEvent<Up>]) -> bool) {
        if pred(&self.events) {
            return;
        }
        self.pull(what, |events| pred(events).then_some(()))
    }

    /// Pulls events into the log until `done` answers for it; panics, with the log, after
    /// [`WAIT`] or if the cluster ends first.
    fn pull<T>(&mut self, what: &str, mut done: impl FnMut(&[ClusterEvent<Up>]) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out after {WAIT:?} waiting for {what}\n{}",
                self.dump()
            );
            match self
                .cluster
                .next_event(Some(deadline - now))
                .expect("event loop")
            {
                Some(e) => {
                    self.events.push(e);
                    if let Some(answer) = done(&self.events) {
                        return answer;
                    }
                }
                None if self.cluster.has_ended() => {
                    panic!("the cluster ended before {what}\n{}", self.dump())
                }
                None => {}
            }
        }
    }

    /// Waits for the next message from `worker` (one not in the log yet) and returns it.
    pub fn wait_message(&mut self, worker: WorkerId) -> Up {
        let i = self.wait(
            &format!("a message from worker {worker}"),
            |e| matches!(e, ClusterEvent::Message { worker: w, .. } if *w == worker),
        );
        match &self.events[i] {
            ClusterEvent::Message { message, .. } => message.clone(),
            _ => unreachable!(),
        }
    }

    /// Waits for `worker`'s Exit; returns its status and `exited_after_disconnect`.
    pub fn wait_exit(&mut self, worker: WorkerId) -> (ExitStatus, bool) {
        if let Some(exit) = self.exit_of(worker) {
            return exit;
        }
        self.wait(
            &format!("the Exit of worker {worker}"),
            |e| matches!(e, ClusterEvent::Exit { worker: w, .. } if *w == worker),
        );
        self.exit_of(worker).expect("just seen")
    }

    /// Waits until each of `workers` has sent a message (the puppets' Ready).
    pub fn wait_ready(&mut self, workers: &[WorkerId]) {
        let want: BTreeSet<WorkerId> = workers.iter().copied().collect();
        self.wait_until(&format!("Ready from workers {want:?}"), |events| {
            let seen: BTreeSet<WorkerId> = events
                .iter()
                .filter_map(|e| match e {
                    ClusterEvent::Message {
                        worker,
                        message: Up::Ready { .. },
                    } => Some(*worker),
                    _ => None,
                })
                .collect();
            want.is_subset(&seen)
        });
    }

    /// Pulls every remaining event after a shutdown, up to End; panics if End does not come.
    pub fn drain_to_end(&mut self) {
        self.wait("End", |e| matches!(e, ClusterEvent::End));
        match self.cluster.next_event(Some(Duration::from_millis(1))) {
            Ok(None) => {}
            other => panic!("an event after End: {other:?}\n{}", self.dump()),
        }
    }

    /// `worker`'s Exit in the log so far.
    pub fn exit_of(&self, worker: WorkerId) -> Option<(ExitStatus, bool)> {
        self.events.iter().find_map(|e| match e {
            ClusterEvent::Exit {
                worker: w,
                status,
                exited_after_disconnect,
            } if *w == worker => Some((*status, *exited_after_disconnect)),
            _ => None,
        })
    }

    /// `worker`'s messages in the log so far, in order.
    pub fn messages(&self, worker: WorkerId) -> Vec<Up> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ClusterEvent::Message { worker: w, message } if *w == worker => {
                    Some(message.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The names of `worker`'s events in the log so far.
    pub fn kinds(&self, worker: WorkerId) -> Vec<&'static str> {
        self.events
            .iter()
            .filter(|e| worker_of(e) == Some(worker))
            .map(kind)
            .collect()
    }

    /// Index of the first event satisfying `pred`.
    pub fn position(&self, pred: impl Fn(&ClusterEvent<Up>) -> bool) -> Option<usize> {
        self.events.iter().position(pred)
    }

    /// G2: `worker`'s events are Fork, Online (iff `online`), its messages, [a protocol
    /// error,] Disconnect, Exit — each once, in this order. Returns the number of messages.
    pub fn assert_lifecycle(&self, worker: WorkerId, online: bool) -> usize {
        let kinds: Vec<&str> = self
            .kinds(worker)
            .into_iter()
            .filter(|k| {
                matches!(
                    *k,
                    "Fork" | "Online" | "Message" | "ProtocolError" | "Disconnect" | "Exit"
                )
            })
            .collect();
        let fail = |why: &str| -> ! {
            panic!(
                "G2: worker {worker}: {why}; its events: {kinds:?}\n{}",
                self.dump()
            )
        };
        let mut rest = kinds.as_slice();
        let mut take = |k: &str| -> bool {
            if rest.first() == Some(&k) {
                rest = &rest[1..];
                true
            } else {
                false
            }
        };
        if !take("Fork") {
            fail("Fork is not first");
        }
        if take("Online") != online {
            fail(if online {
                "Online does not follow Fork"
            } else {
                "Online for a worker that never completed its handshake"
            });
        }
        let mut messages = 0;
        while take("Message") {
            messages += 1;
        }
        take("ProtocolError");
        if !take("Disconnect") {
            fail("Disconnect does not follow the messages");
        }
        if !take("Exit") {
            fail("Exit does not follow Disconnect");
        }
        if !rest.is_empty() {
            fail("events after Exit");
        }
        messages
    }

    /// The log and the worker table, for failure messages.
    pub fn dump(&self) -> String {
        let mut s = String::from("events:\n");
        let n = self.events.len();
        for (i, e) in self.events.iter().enumerate() {
            // Long runs of messages: the first and last few are enough.
            if n > 400 && (200..n - 200).contains(&i) {
                if i == 200 {
                    let _ = writeln!(s, "  … {} events …", n - 400);
                }
                continue;
            }
            let _ = writeln!(s, "  {i:5} {e:?}");
        }
        let _ = writeln!(s, "workers: {:#?}", self.cluster.workers());
        s
    }
}

/// The `Seq` numbers among `messages`, in order.
pub fn seqs(messages: &[Up]) -> Vec<u64> {
    messages
        .iter()
        .filter_map(|m| match m {
            Up::Seq(i) => Some(*i),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// /proc helpers
// ---------------------------------------------------------------------------------------------

/// `(state, ppid)` of process `pid`, or None if it does not exist.
pub fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The process has terminated: it does not exist, or is a zombie/dead awaiting its reaper.
pub fn is_terminated(pid: u32) -> bool {
    match proc_stat(pid) {
        None => true,
        Some((state, _)) => matches!(state, 'Z' | 'X' | 'x'),
    }
}

/// G1: after its Exit, worker process `pid` is not a child of this process any more (neither
/// a zombie nor still running).
pub fn assert_reaped(pid: u32) {
    if let Some((state, ppid)) = proc_stat(pid) {
        assert!(
            ppid != std::process::id(),
            "G1: worker process {pid} is still our child after its Exit (state {state})"
        );
    }
}

/// Descriptors of process `pid` (a number or `self`) and what they point to, without the
/// descriptor used to read the directory.
pub fn fd_targets(pid: &str) -> Vec<(i32, String)> {
    let dir = format!("/proc/{pid}/fd");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let Ok(entry) = entry else { continue };
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let target = match std::fs::read_link(entry.path()) {
            Ok(t) => t.to_string_lossy().into_owned(),
            Err(_) => continue, // closed meanwhile
        };
        if target.starts_with("/proc/") && target.ends_with("/fd") {
            continue; // the directory being read
        }
        out.push((fd, target));
    }
    out.sort();
    out
}

/// This process's descriptors that are not close-on-exec (a child inherits them, whoever
/// opened them: the harness, cargo, …).
pub fn inheritable_fds() -> BTreeMap<i32, String> {
    fd_targets("self")
        .into_iter()
        .filter(|(fd, _)| {
            let info =
                std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok());
            // O_CLOEXEC is 0o2000000 on Linux.
            flags.is_some_and(|f| f & 0o2000000 == 0)
        })
        .collect()
}

/// Descriptor kinds crew creates and must never leak (G12).
pub fn is_crew_kind(target: &str) -> bool {
    target.starts_with("socket:")
        || target == "anon_inode:[pidfd]"
        || target == "anon_inode:[eventfd]"
        || target.starts_with("pidfd:")
}

// ---------------------------------------------------------------------------------------------
// Scratch directories and traces
// ---------------------------------------------------------------------------------------------

/// A fresh empty directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "crew-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Reads a trace directory (`primary.jsonl`, `worker-<id>.jsonl`) into a model trace.
pub fn read_trace(dir: &Path) -> crew::model::Trace {
    let mut text = std::fs::read_to_string(dir.join("primary.jsonl")).expect("primary.jsonl");
    let mut workers: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("trace dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("worker-") && n.ends_with(".jsonl"))
        })
        .collect();
    workers.sort();
    for path in workers {
        text.push_str(&std::fs::read_to_string(&path).expect("worker trace"));
    }
    crew::model::Trace::from_jsonl(&text).expect("the trace parses")
}
