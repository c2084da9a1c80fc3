//! G11 — Restart: under a restart policy, an unexpected Exit (not after disconnect, not during
//! shutdown) is followed by the Fork of a replacement with a new id; when restarts exceed the
//! policy's intensity (R restarts within T), the primary stops restarting and reports that it
//! gave up.

mod support;

use std::time::Duration;

use crew::{ClusterEvent, Restart, WorkerId};
use support::{puppets, Down, Recorder};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

fn restarts(rec: &Recorder) -> Vec<(WorkerId, WorkerId)> {
    rec.events
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Restart {
                worker,
                replacement,
            } => Some((*worker, *replacement)),
            _ => None,
        })
        .collect()
}

fn forks(rec: &Recorder) -> Vec<WorkerId> {
    rec.events
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Fork { worker } => Some(*worker),
            _ => None,
        })
        .collect()
}

#[test]
fn g11_crashes_are_replaced_until_the_intensity_is_exceeded() {
    let window = Duration::from_secs(10);
    let mut rec = Recorder::build(puppets("serve").restart(Restart::on_failure(2, window)));
    rec.cluster.fork().expect("fork");
    rec.wait_ready(&[1]);

    // Crash 1 → Restart{1, 2}, then the Fork of 2 (which comes online).
    rec.cluster.send(1, &Down::Abort).expect("send");
    rec.wait_ready(&[2]);
    let exit1 = rec
        .position(|e| matches!(e, ClusterEvent::Exit { worker: 1, .. }))
        .expect("Exit 1");
    let restart1 = rec
        .position(|e| {
            matches!(
                e,
                ClusterEvent::Restart {
                    worker: 1,
                    replacement: 2
                }
            )
        })
        .expect("G11: Restart{1, 2}");
    let fork2 = rec
        .position(|e| matches!(e, ClusterEvent::Fork { worker: 2 }))
        .expect("Fork 2");
    assert!(
        exit1 < restart1 && restart1 < fork2,
        "G11: Exit, Restart, Fork\n{}",
        rec.dump()
    );

    // Crash 2 (by signal) → Restart{2, 3}.
    rec.cluster.kill(2, crew::signal::SIGKILL).expect("kill");
    rec.wait_ready(&[3]);

    // Crash 3 within the window: a third restart would exceed 2 in 10 s → GaveUp, no Fork.
    rec.cluster.send(3, &Down::Exit(1)).expect("send");
    let i = rec.wait("GaveUp", |e| matches!(e, ClusterEvent::GaveUp { .. }));
    match &rec.events[i] {
        ClusterEvent::GaveUp {
            worker,
            max_restarts,
            window: w,
        } => assert_eq!((*worker, *max_restarts, *w), (3, 2, window)),
        _ => unreachable!(),
    }
    assert_eq!(restarts(&rec), [(1, 2), (2, 3)]);
    assert_eq!(
        rec.cluster.workers().len(),
        3,
        "G11: no replacement after GaveUp"
    );
    assert_eq!(rec.cluster.alive(), 0);

    // Having given up, the primary still forks on request, with the next id.
    assert_eq!(rec.cluster.fork().expect("fork"), 4);
    rec.wait_ready(&[4]);
    rec.cluster.shutdown(Some(support::WAIT)).expect("shutdown");
    rec.drain_to_end();
    assert_eq!(forks(&rec), [1, 2, 3, 4]);
    assert_eq!(restarts(&rec).len(), 2);
}

#[test]
fn g11_clean_exit_is_not_restarted_under_on_failure() {
    let mut rec =
        Recorder::build(puppets("serve").restart(Restart::on_failure(5, Duration::from_secs(10))));
    let id = rec.cluster.fork().expect("fork");
    rec.cluster.send(id, &Down::Exit(0)).expect("send");
    rec.wait_exit(id);
    rec.cluster.shutdown(None).expect("shutdown");
    rec.drain_to_end();
    assert_eq!(
        restarts(&rec),
        [],
        "G11: exit code 0 is not a failure\n{}",
        rec.dump()
    );
    assert_eq!(forks(&rec), [1]);
}

#[test]
fn g11_clean_exit_is_restarted_under_always() {
    // Worker 1 exits 0 → replaced by 2 (which serves).
    let mut rec = Recorder::build(
        puppets("1=exit:0;*=serve").restart(Restart::always(5, Duration::from_secs(10))),
    );
    rec.cluster.fork().expect("fork");
    rec.wait_ready(&[2]);
    assert_eq!(restarts(&rec), [(1, 2)]);
    let (status, _) = rec.exit_of(1).expect("exit");
    assert_eq!(status.code, Some(0));
}

#[test]
fn g11_always_gives_up_after_r_restarts() {
    // Every worker exits 0 at once: 1 → 2 → GaveUp after R = 1.
    let mut rec =
        Recorder::build(puppets("exit:0").restart(Restart::always(1, Duration::from_secs(10))));
    rec.cluster.fork().expect("fork");
    rec.wait("GaveUp", |e| {
        matches!(e, ClusterEvent::GaveUp { worker: 2, .. })
    });
    assert_eq!(restarts(&rec), [(1, 2)]);
    assert_eq!(forks(&rec), [1, 2]);
}

#[test]
fn g11_exit_after_disconnect_is_never_restarted() {
    let mut rec = Recorder::build(
        puppets("1=serve;2=park").restart(Restart::always(5, Duration::from_secs(10))),
    );
    let ids = rec.cluster.fork_n(2).expect("fork");
    rec.wait_ready(&ids);
    // 1 exits 0 after the disconnect; 2 ignores it and is killed at the timeout.
    rec.cluster
        .disconnect(1, Some(support::WAIT))
        .expect("disconnect");
    rec.cluster
        .disconnect(2, Some(Duration::from_millis(100)))
        .expect("disconnect");
    assert!(rec.wait_exit(1).1);
    let (status, after) = rec.wait_exit(2);
    assert_eq!((status.signal, after), (Some(9), true));
    rec.cluster.shutdown(None).expect("shutdown");
    rec.drain_to_end();
    assert_eq!(
        restarts(&rec),
        [],
        "G11: exits after disconnect are expected\n{}",
        rec.dump()
    );
    assert_eq!(forks(&rec), [1, 2]);
}

#[test]
fn g11_exit_during_shutdown_is_never_restarted() {
    let mut rec = Recorder::build(
        puppets("1=serve;2=park;3=busy").restart(Restart::always(5, Duration::from_secs(10))),
    );
    let ids = rec.cluster.fork_n(3).expect("fork");
    rec.wait_ready(&ids);
    rec.cluster
        .shutdown(Some(Duration::from_millis(200)))
        .expect("shutdown");
    rec.drain_to_end();
    assert_eq!(
        restarts(&rec),
        [],
        "G11: exits during shutdown are expected\n{}",
        rec.dump()
    );
    assert_eq!(forks(&rec), [1, 2, 3]);
}

#[test]
fn g11_set_restart_starts_a_fresh_count() {
    let mut rec =
        Recorder::build(puppets("serve").restart(Restart::on_failure(1, Duration::from_secs(10))));
    rec.cluster.fork().expect("fork");
    rec.cluster.send(1, &Down::Abort).expect("send");
    rec.wait_ready(&[2]); // the one restart allowed
    rec.cluster
        .set_restart(Restart::on_failure(1, Duration::from_secs(10)))
        .expect("set_restart while running");
    rec.cluster.send(2, &Down::Abort).expect("send");
    rec.wait_ready(&[3]); // allowed again: the count started afresh
    rec.cluster.send(3, &Down::Abort).expect("send");
    rec.wait("GaveUp", |e| {
        matches!(e, ClusterEvent::GaveUp { worker: 3, .. })
    });
    assert_eq!(restarts(&rec), [(1, 2), (2, 3)]);
}
