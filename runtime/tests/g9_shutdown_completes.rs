//! G9 — Shutdown completes: shutdown(timeout) disconnects every worker, kills those that
//! overrun, and returns only after every worker is reaped. End comes after the last Exit.

mod support;

use std::time::Duration;

use crew::{ClusterEvent, ForkError};
use support::{assert_reaped, is_terminated, puppets, Recorder};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

#[test]
fn g9_shutdown_returns_after_every_worker_is_reaped_and_end_is_last() {
    // Odd workers exit when disconnected; 2 and 4 never read (parked), 6 spins.
    let mut rec = Recorder::build(puppets("2=park;4=park;6=busy;*=serve"));
    let ids = rec.cluster.fork_n(6).expect("fork");
    rec.wait_ready(&ids);
    let pids: Vec<u32> = rec.cluster.workers().iter().map(|w| w.pid).collect();

    rec.cluster
        .shutdown(Some(Duration::from_millis(300)))
        .expect("shutdown");
    // Returned: nothing is alive, every process is gone and reaped.
    assert_eq!(
        rec.cluster.alive(),
        0,
        "G9: shutdown returned with workers alive"
    );
    assert!(rec.cluster.has_ended());
    for &pid in &pids {
        assert!(is_terminated(pid), "G9: worker process {pid} still runs");
        assert_reaped(pid);
    }

    rec.drain_to_end();
    let end = rec.events.len() - 1;
    for &id in &ids {
        rec.assert_lifecycle(id, true);
        let exit = rec
            .position(|e| matches!(e, ClusterEvent::Exit { worker, .. } if *worker == id))
            .expect("Exit");
        assert!(exit < end, "G9: End before the Exit of worker {id}");
        let (status, after) = rec.exit_of(id).expect("exit");
        assert!(after, "G9: worker {id}'s exit is after the disconnect");
        if matches!(id, 2 | 4 | 6) {
            assert_eq!(status.signal, Some(9), "worker {id} overran and was killed");
        } else {
            assert_eq!(status.code, Some(0), "worker {id} exited by itself");
        }
    }
    assert_eq!(
        rec.events
            .iter()
            .filter(|e| matches!(e, ClusterEvent::End))
            .count(),
        1
    );
}

#[test]
fn g9_fork_after_shutdown_is_refused() {
    let mut rec = Recorder::build(puppets("serve"));
    rec.cluster.fork().expect("fork");
    rec.cluster.shutdown(Some(support::WAIT)).expect("shutdown");
    assert!(matches!(rec.cluster.fork(), Err(ForkError::ShuttingDown)));
    rec.drain_to_end();
    assert!(matches!(rec.cluster.fork(), Err(ForkError::ShuttingDown)));
    assert_eq!(rec.cluster.workers().len(), 1, "no id was used");
}

#[test]
fn g9_shutdown_without_workers_ends_at_once() {
    let mut rec = Recorder::build(puppets("serve"));
    rec.cluster.shutdown(None).expect("shutdown");
    rec.drain_to_end();
    assert_eq!(rec.events.len(), 1, "only End: {:?}", rec.dump());
}

#[test]
fn g9_shutdown_waits_for_workers_still_coming_online() {
    // Shutdown right after fork, before any handshake: every worker is still reaped.
    let mut rec = Recorder::build(puppets("serve"));
    let ids = rec.cluster.fork_n(8).expect("fork");
    rec.cluster.shutdown(Some(support::WAIT)).expect("shutdown");
    assert_eq!(rec.cluster.alive(), 0);
    rec.drain_to_end();
    for &id in &ids {
        // A handshake arriving after the disconnect request is still a first handshake: the
        // worker comes online, sees the disconnect and exits by itself.
        let (status, after) = rec.exit_of(id).expect("Exit");
        assert_eq!((status.code, after), (Some(0), true), "{}", rec.dump());
        rec.assert_lifecycle(id, true);
        assert_reaped(rec.cluster.worker(id).expect("row").pid);
    }
    assert!(
        rec.position(|e| matches!(e, ClusterEvent::ProtocolError { .. }))
            .is_none(),
        "{}",
        rec.dump()
    );
}

#[test]
fn g9_shutdown_from_a_handle_ends_the_event_stream() {
    let mut rec = Recorder::build(puppets("1=park;*=serve"));
    let ids = rec.cluster.fork_n(3).expect("fork");
    rec.wait_ready(&ids);
    let handle = rec.cluster.handle();
    std::thread::spawn(move || handle.shutdown(Some(Duration::from_millis(200))))
        .join()
        .expect("thread");
    rec.drain_to_end();
    assert_eq!(rec.cluster.alive(), 0);
    for &id in &ids {
        assert!(rec.exit_of(id).is_some(), "G9: Exit of {id} before End");
    }
}
