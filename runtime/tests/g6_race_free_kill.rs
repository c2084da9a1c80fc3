//! G6 — Kill is race-free: kill(worker, signal) signals that process and no other, and its Exit
//! then carries that signal unless the worker had already exited or handled it. Killing a worker
//! that is already dead is an error.

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use crew::{signal, ClusterEvent, CommandError, WorkerId};
use support::{proc_stat, puppets, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

#[test]
fn g6_sigterm_gives_an_exit_with_signal_15() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    rec.cluster.kill(id, signal::SIGTERM).expect("kill");
    let (status, after) = rec.wait_exit(id);
    assert_eq!((status.code, status.signal, after), (None, Some(15), false));
}

#[test]
fn g6_kill_of_a_reaped_worker_is_dead() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.cluster.send(id, &Down::Exit(0)).expect("send");
    rec.wait_exit(id);
    match rec.cluster.kill(id, signal::SIGTERM) {
        Err(CommandError::Dead { worker }) => assert_eq!(worker, id),
        other => panic!("G6: kill of a dead worker gave {other:?}"),
    }
    match rec.cluster.kill(id, signal::SIGKILL) {
        Err(CommandError::Dead { .. }) => {}
        other => panic!("G6: kill of a dead worker gave {other:?}"),
    }
}

#[test]
fn g6_kill_of_an_exited_but_unreaped_worker_is_dead_and_its_exit_keeps_its_code() {
    // The worker exits; the test stops taking events, so the primary has not reaped it: it is
    // a zombie. A kill now must not "succeed" on the zombie: the worker is dead, and its Exit
    // carries its own exit code, not the signal.
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    let pid = rec.cluster.worker(id).expect("row").pid;
    rec.cluster.send(id, &Down::Exit(5)).expect("send");
    let deadline = Instant::now() + support::WAIT;
    while proc_stat(pid).map(|(state, _)| state) != Some('Z') {
        assert!(Instant::now() < deadline, "worker {pid} did not exit");
        std::thread::yield_now();
    }
    match rec.cluster.kill(id, signal::SIGTERM) {
        Err(CommandError::Dead { worker }) => assert_eq!(worker, id),
        other => panic!("G6: kill of an exited worker gave {other:?}"),
    }
    let (status, _) = rec.wait_exit(id);
    assert_eq!((status.code, status.signal), (Some(5), None));
}

#[test]
fn g6_worker_that_handles_sigterm_receives_it_and_exits_by_code() {
    let mut rec = Recorder::build(puppets("serve_handle_term"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    rec.cluster.send(id, &Down::Ping).expect("send");
    assert_eq!(
        rec.wait_message(id),
        Up::Pong {
            sigterm_received: false
        }
    );
    rec.cluster.kill(id, signal::SIGTERM).expect("kill");
    // *That* process gets the signal and handles it.
    rec.cluster.send(id, &Down::AwaitSigterm).expect("send");
    assert_eq!(
        rec.wait_message(id),
        Up::Pong {
            sigterm_received: true
        }
    );
    rec.cluster.send(id, &Down::Exit(0)).expect("send");
    let (status, _) = rec.wait_exit(id);
    assert_eq!(
        (status.code, status.signal),
        (Some(0), None),
        "G6: a handled signal is not in the Exit"
    );
}

#[test]
fn g6_invalid_signal_numbers_are_refused() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    for bad in [0, -1, 65, 999] {
        match rec.cluster.kill(id, bad) {
            Err(CommandError::InvalidSignal { worker, signal }) => {
                assert_eq!((worker, signal), (id, bad));
            }
            other => panic!("kill with signal {bad} gave {other:?}"),
        }
        match rec.cluster.handle().kill(id, bad) {
            Err(CommandError::InvalidSignal { .. }) => {}
            other => panic!("handle kill with signal {bad} gave {other:?}"),
        }
    }
    // Nothing was sent: the worker still answers.
    rec.cluster.send(id, &Down::Ping).expect("send");
    assert_eq!(
        rec.wait_message(id),
        Up::Pong {
            sigterm_received: false
        }
    );
    assert_eq!(rec.cluster.alive(), 1);
}

#[test]
fn g6_kill_reaches_only_the_named_workers_amid_churn() {
    // Workers handle SIGTERM by counting it, so each can say whether one landed on it. Workers come and go meanwhile (pids are freed and taken).
    let mut rec = Recorder::build(puppets("serve_handle_term"));
    let mut live: Vec<WorkerId> = rec.cluster.fork_n(8).expect("fork");
    rec.wait_ready(&live);
    let mut killed = BTreeSet::new();
    for round in 0..4 {
        // Two workers exit, two new ones come.
        for _ in 0..2 {
            let gone = live.remove(0);
            rec.cluster.send(gone, &Down::Exit(0)).expect("send");
            rec.wait_exit(gone);
        }
        let fresh = rec.cluster.fork_n(2).expect("fork");
        rec.wait_ready(&fresh);
        live.extend(&fresh);
        // SIGTERM one of the live ones not yet killed.
        let target = *live
            .iter()
            .rev()
            .find(|w| !killed.contains(*w))
            .expect("a target");
        rec.cluster.kill(target, signal::SIGTERM).expect("kill");
        killed.insert(target);
        // Every live worker reports whether it has handled a SIGTERM: the killed ones wait for
        // theirs; the others answer at once (a stray SIGTERM sent to one of them in an earlier
        // round has had that long to land).
        for &id in &live {
            let ask = if killed.contains(&id) {
                Down::AwaitSigterm
            } else {
                Down::Ping
            };
            rec.cluster.send(id, &ask).expect("send");
            let pong = rec.wait_message(id);
            assert_eq!(
                pong,
                Up::Pong {
                    sigterm_received: killed.contains(&id)
                },
                "G6: round {round}: worker {id} (killed: {killed:?})"
            );
        }
    }
    // Each table pid is the pid the worker reported itself.
    for e in &rec.events {
        if let ClusterEvent::Message {
            worker,
            message: Up::Ready { pid },
        } = e
        {
            assert_eq!(rec.cluster.worker(*worker).expect("row").pid, *pid);
        }
    }
}
