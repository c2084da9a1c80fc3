//! The puppet: a crew worker whose behaviour the harness scripts over its channel.
//!
//! A puppet connects (the handshake: Online), then performs each [`Script`] it receives, in
//! order, logging what crew's worker side logs (WorkerReceive, Run, Send) to its own trace file.
//! When the primary closes its channel (disconnect, shutdown) it exits with code 0.
//!
//! # Raw bytes without `unsafe`
//!
//! crew does not expose a worker's channel descriptor, and this crate forbids `unsafe`, so a
//! puppet cannot write arbitrary bytes on its channel itself. When the harness sets
//! [`RAW_CHANNEL_ENV`], the puppet starts a helper *before* [`Worker::connect`] (while the
//! inherited channel is not yet close-on-exec): `bash -c 'exec cat >&N'` (bash, because dash
//! refuses descriptor numbers above 9), whose stdin is a pipe
//! held by the puppet and whose stdout is the channel. Bytes written into the pipe reach the
//! channel unchanged. The helper exits when the puppet does (EOF on the pipe). Scenarios that do
//! not inject raw bytes do not start it, so G12 is checked on puppets without it.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crew::{Worker, WorkerError};
use nix::sys::signal::{raise, SigSet, Signal};

use crate::script::{RawFault, Report, Script};

/// Environment variable: when set to `1`, each puppet starts the raw-channel helper.
pub const RAW_CHANNEL_ENV: &str = "CREW_CONFORMANCE_RAW";

/// The argument that makes the puppet program list its inherited descriptors and exit (the
/// grandchild of [`Script::SpawnGrandchild`]).
pub const LIST_FDS_ARG: &str = "--crew-conformance-list-fds";

/// Exit code of a puppet that could not connect or whose channel broke unexpectedly.
pub const PUPPET_FAILURE: i32 = 101;

/// The helper that forwards bytes onto the channel.
struct RawChannel {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl RawChannel {
    fn start_if_requested() -> Option<RawChannel> {
        if std::env::var(RAW_CHANNEL_ENV).ok().as_deref() != Some("1") {
            return None;
        }
        let fd: i32 = std::env::var("CREW_CHANNEL_FD").ok()?.parse().ok()?;
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(format!("exec cat >&{fd}"))
            .stdin(Stdio::piped())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        Some(RawChannel { child, stdin })
    }

    /// Writes `bytes` for the helper to forward. False if the helper is gone (then the bytes
    /// cannot reach the channel and the scenario would wait in vain).
    fn write(&mut self, bytes: &[u8]) -> bool {
        let written = self
            .stdin
            .as_mut()
            .is_some_and(|stdin| stdin.write_all(bytes).and_then(|()| stdin.flush()).is_ok());
        written && matches!(self.child.try_wait(), Ok(None))
    }

    /// Closes the pipe and waits until the helper has forwarded everything and exited.
    fn finish(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The bytes of a [`RawFault`] (crew's wire header: `cw`, version 1, kind, u32 LE length).
fn raw_bytes(fault: RawFault) -> Vec<u8> {
    match fault {
        RawFault::Garbage => b"NOT A CREW FRAME, JUST GARBAGE".to_vec(),
        RawFault::Oversized => {
            let mut bytes = vec![b'c', b'w', 1, 2];
            bytes.extend_from_slice(&u32::MAX.to_le_bytes());
            bytes
        }
        RawFault::TruncatedThenExit => {
            let mut bytes = vec![b'c', b'w', 1, 2];
            bytes.extend_from_slice(&64u32.to_le_bytes());
            bytes.extend_from_slice(&[0; 16]);
            bytes
        }
    }
}

/// If this process was started as the grandchild of [`Script::SpawnGrandchild`], lists its
/// descriptors on stdout and exits. Call first thing in `main`.
pub fn list_fds_if_asked() {
    if std::env::args().nth(1).as_deref() != Some(LIST_FDS_ARG) {
        return;
    }
    let fds = inherited_fds();
    println!("{}", serde_json::to_string(&fds).unwrap_or_default());
    std::process::exit(0);
}

/// Open descriptors above 2, except the one reading /proc/self/fd.
fn inherited_fds() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut fds: Vec<i32> = dir
        .filter_map(Result::ok)
        .filter(|entry| {
            // The directory stream's own descriptor points at /proc/<pid>/fd.
            std::fs::read_link(entry.path())
                .map(|target| !target.to_string_lossy().ends_with("/fd"))
                .unwrap_or(false)
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    fds.sort_unstable();
    fds
}

fn spawn_grandchild() -> Vec<i32> {
    let Ok(exe) = std::env::current_exe() else {
        return vec![-1];
    };
    match Command::new(exe)
        .arg(LIST_FDS_ARG)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        Ok(out) => serde_json::from_slice(&out.stdout).unwrap_or_else(|_| vec![-1]),
        Err(_) => vec![-1],
    }
}

/// Busy work for [`Script::Task`]: a value the optimiser cannot drop.
fn task(spins: u32) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..spins {
        x = x.rotate_left(7) ^ u64::from(i);
        x = std::hint::black_box(x.wrapping_mul(0x2545_F491_4F6C_DD1D));
    }
    x
}

fn no_core_dumps() {
    // Crashes are scripted by the thousand: do not write a core file for each.
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
}

/// The puppet worker's main loop. Never returns: the puppet exits by script, by signal, or with
/// code 0 when the primary closes its channel.
pub fn run() -> ! {
    no_core_dumps();
    let mut raw = RawChannel::start_if_requested();
    let mut worker = match Worker::<Report, Script>::connect() {
        Ok(worker) => worker,
        Err(e) => {
            eprintln!("puppet: connect failed: {e}");
            std::process::exit(PUPPET_FAILURE);
        }
    };
    loop {
        let script = match worker.recv() {
            Ok(script) => script,
            Err(WorkerError::Disconnected) => worker.exit(0),
            Err(e) => {
                eprintln!("puppet {}: recv failed: {e}", worker.id());
                worker.exit(PUPPET_FAILURE)
            }
        };
        let sent = match script {
            Script::Send { count } => {
                (0..count).try_for_each(|n| worker.send(&Report::Message { n }))
            }
            Script::Burst { count } => {
                let half = count / 2;
                let other = worker.sender();
                let thread = std::thread::spawn(move || {
                    (0..half).try_for_each(|n| other.send(&Report::Message { n }))
                });
                let mine = (half..count).try_for_each(|n| worker.send(&Report::Message { n }));
                let theirs = thread.join().unwrap_or(Err(WorkerError::Disconnected));
                mine.and(theirs)
            }
            Script::Buffered { count } => (0..count)
                .try_for_each(|n| worker.send_buffered(&Report::Message { n }))
                .and_then(|()| worker.flush()),
            Script::Echo { payload } => worker.send(&Report::Echo { payload }),
            Script::Task { spins } => {
                worker.run();
                let result = task(spins);
                worker.send(&Report::Task { result })
            }
            Script::Exit { code } => worker.exit(code),
            Script::SendThenExit { count, code } => {
                for n in 0..count {
                    if worker.send(&Report::Message { n }).is_err() {
                        worker.exit(PUPPET_FAILURE);
                    }
                }
                // Straight out: no flush, no goodbye (G3 says nothing may be lost anyway).
                std::process::exit(code)
            }
            Script::Abort => std::process::abort(),
            Script::Segv => {
                let _ = raise(Signal::SIGSEGV);
                // Unreachable unless SIGSEGV is blocked; make the failure visible.
                std::process::exit(PUPPET_FAILURE)
            }
            Script::Hang => loop {
                std::hint::spin_loop();
            },
            Script::IgnoreTerm => {
                let mut set = SigSet::empty();
                set.add(Signal::SIGTERM);
                set.thread_block().map_err(|e| WorkerError::Io(e.into()))
            }
            Script::CloseChannel => {
                let _ = worker.disconnect();
                std::process::exit(0)
            }
            Script::CloseChannelAndLinger => {
                let _ = worker.disconnect();
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            Script::Stream { batch } => {
                let mut n = 0u32;
                loop {
                    for _ in 0..batch {
                        if worker.send(&Report::Message { n }).is_err() {
                            // The primary closed the channel (shutdown): done.
                            worker.exit(0);
                        }
                        n = n.wrapping_add(1);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Script::SpawnGrandchild => worker.send(&Report::Grandchild {
                inherited: spawn_grandchild(),
            }),
            Script::Raw { fault } => {
                let Some(helper) = raw.as_mut() else {
                    eprintln!("puppet: raw bytes scripted without {RAW_CHANNEL_ENV}=1");
                    worker.exit(PUPPET_FAILURE)
                };
                if !helper.write(&raw_bytes(fault)) {
                    eprintln!("puppet {}: the raw-channel helper is gone", worker.id());
                    worker.exit(PUPPET_FAILURE)
                }
                match fault {
                    RawFault::TruncatedThenExit => {
                        helper.finish();
                        std::process::exit(0)
                    }
                    // The primary kills a worker that sent a bad frame (G10): wait for it.
                    RawFault::Garbage | RawFault::Oversized => loop {
                        std::thread::sleep(Duration::from_secs(1));
                    },
                }
            }
        };
        if let Err(e) = sent {
            eprintln!("puppet {}: send failed: {e}", worker.id());
            worker.exit(PUPPET_FAILURE);
        }
    }
}
