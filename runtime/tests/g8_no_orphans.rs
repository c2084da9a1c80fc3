//! G8 — No orphans: if the primary dies by any means, SIGKILL included, every worker terminates
//! within one second, busy-looping ones too.
//!
//! The primary here is a separate process: this test binary re-executed with
//! `CREW_TEST_PRIMARY` (see `support::nested_primary`), which forks 4 busy-looping workers and
//! prints their pids.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{is_terminated, PRIMARY_ENV, PUPPET_ARGS, VERBOSE_ENV, WAIT};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

/// The guarantee's bound, and the slack a loaded 2-core machine gets on top of it.
const BOUND: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_secs(2);

/// Starts a nested primary with `behaviour`; returns it and its 4 workers' pids once they are
/// all busy.
fn start_primary(behaviour: &str) -> (Child, Vec<u32>) {
    become_subreaper();
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .args(PUPPET_ARGS)
        .env(PRIMARY_ENV, behaviour)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os(VERBOSE_ENV).is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("start the nested primary");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut pids = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the nested primary did not report ready ({e}); pids so far {pids:?}");
            }
        };
        // libtest may print on the same line; look for the markers anywhere.
        if let Some(at) = line.find("CREW-PID ") {
            let pid = line[at + 9..]
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .expect("a pid");
            pids.push(pid);
        }
        if line.contains("CREW-READY") {
            break;
        }
    }
    assert_eq!(pids.len(), 4, "four workers");
    for &pid in &pids {
        assert!(
            !is_terminated(pid),
            "worker {pid} is running before the test"
        );
    }
    (child, pids)
}

/// Makes this test process the reaper of its orphaned descendants, so that the workers of a
/// dead nested primary become our children: we can then reap them (no zombies left behind
/// by the test) and see how they died.
fn become_subreaper() {
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
}

/// Reaps the orphaned workers and checks each died by SIGKILL (the kernel's PDEATHSIG).
fn reap_orphans(pids: &[u32]) {
    use nix::sys::wait::{waitpid, WaitStatus};
    for &pid in pids {
        match waitpid(nix::unistd::Pid::from_raw(pid as i32), None) {
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                assert_eq!(signal, nix::sys::signal::SIGKILL, "worker {pid}")
            }
            other => panic!("G8: orphaned worker {pid}: {other:?}"),
        }
    }
}

/// Polls until every pid has terminated; returns how long that took from `since`.
fn wait_all_terminated(pids: &[u32], since: Instant) -> Duration {
    let deadline = since + BOUND + SLACK;
    loop {
        let left: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&p| !is_terminated(p))
            .collect();
        if left.is_empty() {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "G8: workers {left:?} still running {:?} after the primary died",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1)); // a poll interval, not a synchronisation
    }
}

#[test]
fn g8_busy_workers_die_when_the_primary_is_sigkilled() {
    let (mut primary, pids) = start_primary("wait_for_kill");
    let killed = Instant::now();
    primary.kill().expect("SIGKILL the primary");
    let took = wait_all_terminated(&pids, killed);
    primary.wait().expect("reap the primary");
    reap_orphans(&pids);
    eprintln!("G8: primary SIGKILLed; all 4 busy workers gone after {took:?}");
    assert!(
        took <= BOUND + SLACK,
        "G8: {took:?} (bound {BOUND:?} + slack {SLACK:?})"
    );
}

#[test]
fn g8_busy_workers_die_when_the_primary_exits_without_shutdown() {
    let (mut primary, pids) = start_primary("exit_without_shutdown");
    primary
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"exit\n")
        .expect("tell the primary to exit");
    let status = primary.wait().expect("wait for the primary");
    let exited = Instant::now();
    assert!(status.success(), "the nested primary exited with {status}");
    let took = wait_all_terminated(&pids, exited);
    reap_orphans(&pids);
    eprintln!("G8: primary exited without shutdown; all 4 busy workers gone after {took:?}");
}
