//! G4 — Primary-to-worker delivery is FIFO and exactly-once into the worker's channel; sending
//! to a worker that is disconnected or dead returns an error, never a silent drop.

mod support;

use crew::{ClusterEvent, CommandError};
use support::{puppets, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

#[test]
fn g4_thousand_messages_arrive_in_order_exactly_once() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    // Half before the worker is online (queued), half after.
    for i in 0..500 {
        rec.cluster
            .send(id, &Down::Seq(i))
            .expect("send before Online");
    }
    rec.wait_ready(&[id]);
    for i in 500..1000 {
        rec.cluster.send(id, &Down::Seq(i)).expect("send");
    }
    rec.cluster.send(id, &Down::CheckSeq).expect("send");
    rec.wait("Checked", |e| {
        matches!(
            e,
            ClusterEvent::Message {
                message: Up::Checked { .. },
                ..
            }
        )
    });
    assert!(
        rec.messages(id).contains(&Up::Checked {
            count: 1000,
            in_order: true
        }),
        "G4: the worker saw {:?}",
        rec.messages(id)
    );
    assert_eq!(rec.cluster.worker(id).expect("row").sent, 1001);
}

#[test]
fn g4_messages_from_a_handle_on_another_thread_arrive_in_order() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    let handle = rec.cluster.handle();
    let sender = std::thread::spawn(move || {
        for i in 0..1000 {
            handle.send(id, &Down::Seq(i)).expect("handle send");
        }
        handle.send(id, &Down::CheckSeq).expect("handle send");
    });
    rec.wait("Checked", |e| {
        matches!(
            e,
            ClusterEvent::Message {
                message: Up::Checked { .. },
                ..
            }
        )
    });
    sender.join().expect("sender thread");
    assert!(rec.messages(id).contains(&Up::Checked {
        count: 1000,
        in_order: true
    }));
}

#[test]
fn g4_messages_queued_before_a_disconnect_are_delivered_first() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    for i in 0..300 {
        rec.cluster.send(id, &Down::Seq(i)).expect("send");
    }
    rec.cluster
        .disconnect(id, Some(support::WAIT))
        .expect("disconnect");
    let (status, after) = rec.wait_exit(id);
    assert_eq!((status.code, after), (Some(0), true));
    assert!(
        rec.messages(id).contains(&Up::Checked {
            count: 300,
            in_order: true
        }),
        "G4: {:?}",
        rec.messages(id)
    );
}

#[test]
fn g4_send_to_a_dead_worker_is_dead() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.cluster.send(id, &Down::Exit(0)).expect("send");
    rec.wait_exit(id);
    match rec.cluster.send(id, &Down::Ping) {
        Err(CommandError::Dead { worker }) => assert_eq!(worker, id),
        other => panic!("G4: send to a dead worker gave {other:?}"),
    }
}

#[test]
fn g4_send_to_a_disconnecting_worker_is_disconnected() {
    // `park` never reads, so it stays in Disconnecting until it is killed.
    let mut rec = Recorder::build(puppets("park"));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    rec.cluster
        .disconnect(id, Some(support::WAIT))
        .expect("disconnect");
    match rec.cluster.send(id, &Down::Ping) {
        Err(CommandError::Disconnected { worker }) => assert_eq!(worker, id),
        other => panic!("G4: send to a disconnecting worker gave {other:?}"),
    }
}

#[test]
fn g4_send_to_a_worker_that_closed_its_channel_is_disconnected() {
    // The worker closes its channel and lives on: Disconnect without Exit.
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.cluster.send(id, &Down::CloseChannel).expect("send");
    rec.wait("Disconnect", |e| {
        matches!(e, ClusterEvent::Disconnect { .. })
    });
    assert_eq!(rec.cluster.alive(), 1, "the process is still running");
    match rec.cluster.send(id, &Down::Ping) {
        Err(CommandError::Disconnected { worker }) => assert_eq!(worker, id),
        other => panic!("G4: send to a disconnected worker gave {other:?}"),
    }
}

#[test]
fn g4_send_to_an_unknown_id_is_no_such_worker() {
    let mut rec = Recorder::build(puppets("serve"));
    for unknown in [0, 1, 99] {
        match rec.cluster.send(unknown, &Down::Ping) {
            Err(CommandError::NoSuchWorker { worker }) => assert_eq!(worker, unknown),
            other => panic!("send to unknown worker {unknown} gave {other:?}"),
        }
    }
    let id = rec.cluster.fork().expect("fork");
    match rec.cluster.send(id + 1, &Down::Ping) {
        Err(CommandError::NoSuchWorker { worker }) => assert_eq!(worker, id + 1),
        other => panic!("send to the next, unforked id gave {other:?}"),
    }
}

#[test]
fn g4_handle_send_to_a_dead_worker_is_reported_as_command_failed() {
    // Worker 2 stays alive and answers, so other activity is interleaved with the failure.
    let mut rec = Recorder::build(puppets("serve"));
    let ids = rec.cluster.fork_n(2).expect("fork");
    rec.wait_ready(&ids);
    rec.cluster.send(1, &Down::Exit(0)).expect("send");
    rec.wait_exit(1);
    rec.cluster.handle().send(1, &Down::Ping).expect("queued");
    rec.cluster.send(2, &Down::Ping).expect("send");
    let i = rec.wait("CommandFailed", |e| {
        matches!(e, ClusterEvent::CommandFailed { .. })
    });
    match &rec.events[i] {
        ClusterEvent::CommandFailed { worker, error } => {
            assert_eq!(*worker, 1);
            assert!(error.contains("dead"), "{error}");
        }
        _ => unreachable!(),
    }
}

#[test]
fn g4_handle_send_to_a_dead_worker_is_reported_without_waiting_for_other_activity() {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.cluster.send(id, &Down::Exit(0)).expect("send");
    rec.wait_exit(id);
    rec.cluster.handle().send(id, &Down::Ping).expect("queued");
    // Nothing else will happen in this cluster: the event must come from the command alone.
    // The bound is a liveness bound, far above the microseconds this takes.
    let started = std::time::Instant::now();
    let event = rec
        .cluster
        .next_event(Some(support::WAIT))
        .expect("event loop");
    assert!(
        matches!(event, Some(ClusterEvent::CommandFailed { worker, .. }) if worker == id),
        "{event:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "G4: CommandFailed took {:?}: the loop slept in poll with the event queued",
        started.elapsed()
    );
}
