//! G2 — Lifecycle order, per worker, as the primary sees it: Fork, Online, its messages,
//! Disconnect, Exit. Online is the first thing on the channel; a worker that dies before its
//! handshake has Fork then Exit, with no Online.

mod support;

use crew::{signal, ClusterEvent};
use support::{puppets, seqs, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

/// Forks one `serve` worker, has it send Seq(0..5), then ends it with `end`; checks the order
/// and returns the recorder and the worker's exit status.
/// `after_end` is how many messages the worker sends after `end` (a graceful disconnect lets it).
fn run_and_end(
    after_end: usize,
    end: impl FnOnce(&mut Recorder, u32),
) -> (Recorder, crew::ExitStatus, bool) {
    let mut rec = Recorder::build(puppets("serve"));
    let id = rec.cluster.fork().expect("fork");
    rec.cluster.send(id, &Down::SendSeq(5)).expect("send");
    rec.wait_until("five messages", |events| {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ClusterEvent::Message {
                        message: Up::Seq(_),
                        ..
                    }
                )
            })
            .count()
            == 5
    });
    end(&mut rec, id);
    let (status, after) = rec.wait_exit(id);
    let messages = rec.assert_lifecycle(id, true);
    assert_eq!(
        messages,
        6 + after_end,
        "Ready, five Seq (and what it sent after `end`), all between Online and Disconnect"
    );
    let m = rec.messages(id);
    assert!(matches!(m[0], Up::Ready { .. }));
    assert_eq!(seqs(&m), [0, 1, 2, 3, 4]);
    (rec, status, after)
}

#[test]
fn g2_order_for_a_normal_exit() {
    let (_, status, after) =
        run_and_end(0, |rec, id| rec.cluster.send(id, &Down::Exit(0)).unwrap());
    assert_eq!((status.code, status.signal, after), (Some(0), None, false));
}

#[test]
fn g2_order_for_an_abort() {
    let (_, status, _) = run_and_end(0, |rec, id| rec.cluster.send(id, &Down::Abort).unwrap());
    assert_eq!((status.code, status.signal), (None, Some(6)));
}

#[test]
fn g2_order_for_a_segfault() {
    let (_, status, _) = run_and_end(0, |rec, id| rec.cluster.send(id, &Down::Segv).unwrap());
    assert_eq!((status.code, status.signal), (None, Some(11)));
}

#[test]
fn g2_order_when_killed_by_the_primary() {
    let (_, status, _) = run_and_end(0, |rec, id| rec.cluster.kill(id, signal::SIGKILL).unwrap());
    assert_eq!((status.code, status.signal), (None, Some(9)));
}

#[test]
fn g2_order_for_a_graceful_disconnect() {
    let (rec, status, after) = run_and_end(2, |rec, id| {
        rec.cluster
            .disconnect(id, Some(support::WAIT))
            .expect("disconnect")
    });
    assert_eq!((status.code, status.signal, after), (Some(0), None, true));
    // What the puppet sent after it saw the disconnect is still before Disconnect.
    let m = rec.messages(1);
    assert_eq!(
        m[6..],
        [
            Up::Checked {
                count: 0,
                in_order: true
            },
            Up::Last
        ]
    );
}

#[test]
fn g2_worker_dying_before_its_handshake_has_no_online() {
    let mut rec = Recorder::build(puppets("exit_before_connect:7"));
    let id = rec.cluster.fork().expect("fork");
    let (status, _) = rec.wait_exit(id);
    assert_eq!(status.code, Some(7));
    rec.assert_lifecycle(id, false);
    assert_eq!(rec.kinds(id), ["Fork", "Disconnect", "Exit"]);
}

#[test]
fn g2_online_precedes_messages_even_when_sent_immediately() {
    // Many workers that send at once and exit: Online is always before the first message.
    let mut rec = Recorder::build(puppets("send_exit:50"));
    let ids = rec.cluster.fork_n(8).expect("fork");
    for &id in &ids {
        rec.wait_exit(id);
    }
    for &id in &ids {
        assert_eq!(rec.assert_lifecycle(id, true), 50);
    }
}
