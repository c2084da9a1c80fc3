//! G10 — Isolation from bad input: a frame that does not decode, has the wrong magic or
//! version, or exceeds the size limit makes the primary report a protocol error for that
//! worker, close its channel and kill it; no panic, other workers unaffected. The worker side
//! treats the primary's frames the same way.

mod support;

use crew::protocol::worker::Inbox;
use crew::wire::{self, FrameKind};
use crew::{ClusterEvent, WorkerError};
use support::{garbage, puppets, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

/// The primary's frame limit in these tests.
const LIMIT: u32 = 1024;

/// Workers 1 and 3 serve; worker 2 runs `bad` (a garbage puppet). Checks that worker 2 gets a
/// ProtocolError whose reason contains `reason`, then Disconnect and Exit by SIGKILL, and that
/// 1 and 3 keep exchanging messages. `online`: whether 2's handshake came before the garbage.
fn bad_worker_is_isolated(bad: &str, online: bool, reason: &str) {
    let mut rec = Recorder::build(puppets(&format!("2={bad};*=serve")).max_frame(LIMIT));
    let ids = rec.cluster.fork_n(3).expect("fork");
    rec.wait_ready(&[1, 3]);
    for &id in &[1, 3] {
        for i in 0..100 {
            rec.cluster.send(id, &Down::Seq(i)).expect("send");
        }
    }
    let (status, after) = rec.wait_exit(2);
    assert_eq!(
        (status.code, status.signal, after),
        (None, Some(9), false),
        "G10: the bad worker is killed\n{}",
        rec.dump()
    );
    let i = rec
        .position(|e| matches!(e, ClusterEvent::ProtocolError { worker: 2, .. }))
        .unwrap_or_else(|| panic!("G10: no ProtocolError\n{}", rec.dump()));
    match &rec.events[i] {
        ClusterEvent::ProtocolError { reason: r, .. } => {
            assert!(
                r.contains(reason),
                "G10: reason {r:?} should mention {reason:?}"
            )
        }
        _ => unreachable!(),
    }
    rec.assert_lifecycle(2, online);
    let bad_messages = rec.messages(2);
    assert!(
        bad_messages.iter().all(|m| matches!(m, Up::Ready { .. })),
        "nothing after the garbage is delivered: {bad_messages:?}"
    );

    // The others are unaffected: they got everything, in order, and still answer.
    for &id in &[1, 3] {
        rec.cluster.send(id, &Down::CheckSeq).expect("send");
        assert_eq!(
            rec.wait_message(id),
            Up::Checked {
                count: 100,
                in_order: true
            }
        );
        rec.cluster.send(id, &Down::SendSeq(50)).expect("send");
    }
    rec.wait_until("50 Seq from 1 and 3", |events| {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ClusterEvent::Message {
                        message: Up::Seq(49),
                        ..
                    }
                )
            })
            .count()
            == 2
    });
    assert_eq!(rec.cluster.alive(), 2);
    rec.cluster.shutdown(Some(support::WAIT)).expect("shutdown");
    rec.drain_to_end();
    for &id in &[1, 3] {
        let (status, after) = rec.exit_of(id).expect("exit");
        assert_eq!((status.code, after), (Some(0), true));
    }
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn g10_wrong_magic_kills_only_that_worker() {
    bad_worker_is_isolated("garbage:magic", true, "magic");
}

#[test]
fn g10_wrong_version_kills_only_that_worker() {
    bad_worker_is_isolated("garbage:version", true, "version");
}

#[test]
fn g10_unknown_frame_kind_kills_only_that_worker() {
    bad_worker_is_isolated("garbage:kind", true, "kind");
}

#[test]
fn g10_frame_over_the_limit_kills_only_that_worker() {
    bad_worker_is_isolated("garbage:oversize", true, "1024");
}

#[test]
fn g10_undecodable_payload_kills_only_that_worker() {
    bad_worker_is_isolated("garbage:payload", true, "decode");
}

#[test]
fn g10_second_handshake_kills_only_that_worker() {
    bad_worker_is_isolated("garbage:hello", true, "handshake");
}

#[test]
fn g10_garbage_instead_of_a_handshake_kills_only_that_worker() {
    bad_worker_is_isolated("garbage_first:magic", false, "magic");
}

#[test]
fn g10_oversized_frame_instead_of_a_handshake_kills_only_that_worker() {
    bad_worker_is_isolated("garbage_first:oversize", false, "1024");
}

// The worker side: the primary cannot send a bad frame through the API, so the worker's
// decoding (`Inbox`) is checked directly with the same bytes.

fn frame(message: &Down) -> Vec<u8> {
    let mut out = Vec::new();
    wire::encode(&mut out, FrameKind::Message, message, LIMIT).expect("encode");
    out
}

/// Feeds good frames, then `bad`, then another good frame: the good ones before are delivered,
/// then a protocol error, and nothing after it.
fn inbox_rejects(bad: &[u8], reason: &str) {
    let mut inbox: Inbox<Down> = Inbox::new(LIMIT, wire::DEFAULT_MAX_DEPTH);
    let mut bytes = frame(&Down::Seq(0));
    bytes.extend(frame(&Down::Seq(1)));
    bytes.extend_from_slice(bad);
    bytes.extend(frame(&Down::Seq(2)));
    // Byte by byte, as a slow channel might deliver them.
    for b in &bytes {
        inbox.on_bytes(std::slice::from_ref(b));
    }
    assert!(matches!(inbox.next(), Some(Ok((0, Down::Seq(0))))));
    assert!(matches!(inbox.next(), Some(Ok((1, Down::Seq(1))))));
    match inbox.next() {
        Some(Err(WorkerError::Protocol(r))) => {
            assert!(
                r.contains(reason),
                "G10: reason {r:?} should mention {reason:?}"
            )
        }
        other => panic!("G10: after a bad frame the worker got {other:?}"),
    }
    // It stays failed; the frame after the bad one is never delivered, even after EOF.
    inbox.on_bytes(&frame(&Down::Seq(3)));
    inbox.on_eof();
    assert!(matches!(inbox.next(), Some(Err(WorkerError::Protocol(_)))));
}

#[test]
fn g10_worker_inbox_rejects_wrong_magic() {
    inbox_rejects(&garbage("magic", 1), "magic");
}

#[test]
fn g10_worker_inbox_rejects_wrong_version() {
    inbox_rejects(&garbage("version", 1), "version");
}

#[test]
fn g10_worker_inbox_rejects_unknown_kind() {
    inbox_rejects(&garbage("kind", 1), "kind");
}

#[test]
fn g10_worker_inbox_rejects_a_frame_over_its_limit() {
    inbox_rejects(&garbage("oversize", 1), "1024");
}

#[test]
fn g10_worker_inbox_rejects_an_undecodable_payload() {
    inbox_rejects(&garbage("payload", 1), "decode");
}

#[test]
fn g10_worker_inbox_rejects_a_handshake_from_the_primary() {
    inbox_rejects(&garbage("hello", 1), "handshake");
}

#[test]
fn g10_worker_inbox_refuses_a_4_gib_header_from_the_header_alone() {
    // A header announcing 4 GiB is refused from its header: nothing is buffered for it.
    let mut inbox: Inbox<Down> = Inbox::new(LIMIT, wire::DEFAULT_MAX_DEPTH);
    let mut bad = vec![b'c', b'w', 1, 2];
    bad.extend_from_slice(&u32::MAX.to_le_bytes());
    inbox.on_bytes(&bad);
    inbox.on_bytes(&vec![0; 1 << 20]);
    assert!(matches!(inbox.next(), Some(Err(WorkerError::Protocol(_)))));
}
