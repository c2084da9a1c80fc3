//! G7 — Graceful disconnect: disconnect(worker) closes the channel; the worker sees it, may
//! finish, and exits; its Exit says exited_after_disconnect = true. If it has not exited within
//! the timeout, it is killed, and the Exit says so.

mod support;

use std::time::{Duration, Instant};

use crew::ClusterEvent;
use support::{puppets, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

#[test]
fn g7_worker_sees_the_disconnect_sends_a_last_message_and_exits_after_disconnect() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    rec.cluster
        .disconnect(id, Some(support::WAIT))
        .expect("disconnect");
    let (status, after) = rec.wait_exit(id);
    assert_eq!(
        (status.code, status.signal, after),
        (Some(0), None, true),
        "G7: {}",
        rec.dump()
    );
    // The message sent after the worker saw the disconnect arrives, before Disconnect.
    let last = rec
        .position(|e| {
            matches!(
                e,
                ClusterEvent::Message {
                    message: Up::Last,
                    ..
                }
            )
        })
        .expect("G7: the last message was delivered");
    let disconnect = rec
        .position(|e| matches!(e, ClusterEvent::Disconnect { .. }))
        .expect("Disconnect");
    assert!(
        last < disconnect,
        "G7: Last after Disconnect\n{}",
        rec.dump()
    );
    rec.assert_lifecycle(id, true);
}

#[test]
fn g7_busy_worker_ignoring_the_disconnect_is_killed_after_the_timeout() {
    let timeout = Duration::from_millis(300);
    let mut rec = Recorder::build(puppets("busy"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    let asked = Instant::now();
    rec.cluster
        .disconnect(id, Some(timeout))
        .expect("disconnect");
    let (status, after) = rec.wait_exit(id);
    let took = asked.elapsed();
    assert_eq!(
        (status.code, status.signal, after),
        (None, Some(9), true),
        "G7: escalation to SIGKILL, reported as after disconnect"
    );
    assert!(
        took >= timeout,
        "G7: killed after {took:?}, before its timeout of {timeout:?}"
    );
    rec.assert_lifecycle(id, true);
}

#[test]
fn g7_parked_worker_ignoring_the_disconnect_is_killed_after_the_timeout() {
    let mut rec = Recorder::build(puppets("park"));
    let ids = rec.cluster.fork_n(3).expect("fork");
    rec.wait_ready(&ids);
    for &id in &ids {
        rec.cluster
            .disconnect(id, Some(Duration::from_millis(100)))
            .expect("disconnect");
    }
    for &id in &ids {
        let (status, after) = rec.wait_exit(id);
        assert_eq!((status.signal, after), (Some(9), true));
    }
}

#[test]
fn g7_disconnect_without_timeout_waits_for_the_worker() {
    // No timeout: the worker is never killed; it exits by itself when it sees the disconnect.
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    rec.cluster.disconnect(id, None).expect("disconnect");
    let (status, after) = rec.wait_exit(id);
    assert_eq!((status.code, status.signal, after), (Some(0), None, true));
}

#[test]
fn g7_disconnect_of_a_dead_worker_is_an_error_and_exit_after_disconnect_is_false_otherwise() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.cluster.send(id, &Down::Exit(0)).expect("send");
    let (_, after) = rec.wait_exit(id);
    assert!(!after, "G7: no disconnect was asked for");
    assert!(matches!(
        rec.cluster.disconnect(id, None),
        Err(crew::CommandError::Dead { .. })
    ));
}

#[test]
fn g7_disconnect_from_a_handle() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    let handle = rec.cluster.handle();
    std::thread::spawn(move || handle.disconnect(id, Some(support::WAIT)))
        .join()
        .expect("thread");
    let (status, after) = rec.wait_exit(id);
    assert_eq!((status.code, after), (Some(0), true));
}
