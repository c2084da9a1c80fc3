//! G3 — Worker-to-primary delivery is FIFO and exactly-once: the primary receives 0, 1, 2, …
//! with no gap, duplicate or reordering, and every message whose send returned Ok is received
//! before that worker's Disconnect, even when the worker exits or is SIGKILLed right after.

mod support;

use std::collections::BTreeMap;

use crew::{signal, ClusterEvent};
use support::{puppets, scratch_dir, seqs, Recorder, Up, OK_LOG_ENV};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

const N: u64 = 10_000;

/// Runs one worker with `behaviour` to its Exit; checks it delivered Seq(0..N) in order, all
/// between Online and Disconnect. Returns its exit status.
fn deliver_all(behaviour: &str) -> crew::ExitStatus {
    let mut rec = Recorder::build(puppets(behaviour));
    let id = rec.cluster.fork().expect("fork");
    let (status, _) = rec.wait_exit(id);
    let count = rec.assert_lifecycle(id, true);
    let got = seqs(&rec.messages(id));
    assert_eq!(count, got.len(), "only Seq messages");
    assert!(
        got.iter().copied().eq(0..N),
        "G3: {behaviour}: received {} messages, first gap or disorder at index {:?}",
        got.len(),
        got.iter().zip(0..).position(|(&a, b)| a != b)
    );
    assert_eq!(rec.cluster.worker(id).expect("row").received, N);
    status
}

#[test]
fn g3_ten_thousand_messages_then_immediate_exit_lose_none() {
    let status = deliver_all(&format!("send_exit:{N}"));
    assert_eq!(status.code, Some(0));
}

#[test]
fn g3_sigkill_right_after_the_last_send_loses_none() {
    let status = deliver_all(&format!("send_sigkill:{N}"));
    assert_eq!(status.signal, Some(9));
}

#[test]
fn g3_buffered_sends_then_flush_then_exit_lose_none() {
    let status = deliver_all(&format!("buffered_exit:{N}"));
    assert_eq!(status.code, Some(0));
}

#[test]
fn g3_primary_sigkill_mid_stream_loses_no_acknowledged_send() {
    // The worker streams Seq(0), Seq(1), … and logs each number whose send returned Ok; the
    // primary kills it mid-stream. Every logged number must have been received, in order.
    let dir = scratch_dir("g3-stream");
    let log = dir.join("ok.log");
    std::fs::write(&log, "").expect("create log");
    let mut rec = Recorder::build(puppets("stream").env(OK_LOG_ENV, &log));
    let id = rec.cluster.fork().expect("fork");
    rec.wait("the 2000th message", |e| {
        matches!(
            e,
            ClusterEvent::Message {
                message: Up::Seq(1999),
                ..
            }
        )
    });
    rec.cluster.kill(id, signal::SIGKILL).expect("kill");
    let (status, _) = rec.wait_exit(id);
    assert_eq!(status.signal, Some(9));
    rec.assert_lifecycle(id, true);

    let got = seqs(&rec.messages(id));
    assert!(
        got.iter().copied().eq(0..got.len() as u64),
        "G3: gap or disorder at index {:?}",
        got.iter().zip(0..).position(|(&a, b)| a != b)
    );
    let text = std::fs::read_to_string(&log).expect("read log");
    let acknowledged: Vec<u64> = text.lines().map(|l| l.parse().expect("number")).collect();
    let last_ok = *acknowledged.last().expect("some sends returned Ok");
    assert!(
        (last_ok as usize) < got.len(),
        "G3: send of Seq({last_ok}) returned Ok but only Seq(0..{}) were received",
        got.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn g3_worker_sender_from_four_threads_delivers_each_once_in_thread_order() {
    const THREADS: u32 = 4;
    const PER_THREAD: u64 = 2500;
    let mut rec = Recorder::build(puppets(&format!("threads:{THREADS}:{PER_THREAD}")));
    let id = rec.cluster.fork().expect("fork");
    let (status, _) = rec.wait_exit(id);
    assert_eq!(status.code, Some(0));
    rec.assert_lifecycle(id, true);
    let mut per_thread: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for m in rec.messages(id) {
        match m {
            Up::ThreadSeq { thread, seq } => per_thread.entry(thread).or_default().push(seq),
            other => panic!("unexpected message {other:?}"),
        }
    }
    assert_eq!(per_thread.len(), THREADS as usize);
    for (thread, got) in per_thread {
        assert!(
            got.iter().copied().eq(0..PER_THREAD),
            "G3: thread {thread}: {} messages, first gap, duplicate or disorder at {:?}",
            got.len(),
            got.iter().zip(0..).position(|(&a, b)| a != b)
        );
    }
    assert_eq!(
        rec.cluster.worker(id).expect("row").received,
        u64::from(THREADS) * PER_THREAD
    );
}

#[test]
fn g3_many_workers_exiting_at_once_each_deliver_everything() {
    // Interleaved streams from several workers: each stream stays whole and in order.
    let mut rec = Recorder::build(puppets("send_exit:2000"));
    let ids = rec.cluster.fork_n(6).expect("fork");
    for &id in &ids {
        rec.wait_exit(id);
    }
    for &id in &ids {
        rec.assert_lifecycle(id, true);
        assert!(
            seqs(&rec.messages(id)).into_iter().eq(0..2000),
            "worker {id}"
        );
    }
}
