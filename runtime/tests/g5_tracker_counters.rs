//! G5 — The seed's variable tracker is exact at every step: workerCount = Forks so far,
//! messagesReceived = Receives so far, workersAlive = Forks − Exits (never negative); End only
//! when workersAlive = 0. Also: a real run's trace is accepted by crew-model's checker.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crew::model::{self, Event};
use crew::{ClusterEvent, Restart};
use support::{puppets, read_trace, scratch_dir, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

/// The tracker, counted from the primary's model events as the observer sees them.
#[derive(Default, Debug)]
struct Counts {
    forks: u64,
    receives: u64,
    exits: u64,
    ended: bool,
}

fn counting_observer(counts: Arc<Mutex<Counts>>) -> impl FnMut(&Event) + Send + 'static {
    move |event| {
        let mut c = counts.lock().unwrap();
        match event {
            Event::Fork { .. } => c.forks += 1,
            Event::Receive { .. } => c.receives += 1,
            Event::Exit { .. } => {
                assert!(c.exits < c.forks, "G5: workersAlive would go negative");
                c.exits += 1;
            }
            Event::End => {
                assert_eq!(c.forks, c.exits, "G5: End with workers alive");
                c.ended = true;
            }
            _ => {}
        }
    }
}

/// The tracker from the events the user has taken so far.
#[derive(Default, Debug, PartialEq)]
struct Seen {
    forks: u64,
    messages: u64,
    exits: u64,
}

impl Seen {
    fn count(&mut self, e: &ClusterEvent<Up>) {
        match e {
            ClusterEvent::Fork { .. } => self.forks += 1,
            ClusterEvent::Message { .. } => self.messages += 1,
            ClusterEvent::Exit { .. } => self.exits += 1,
            _ => {}
        }
    }
}

/// After any call into the cluster: the observer's tracker equals the worker table's, and the
/// user's view (events taken) lags it, never leads.
fn assert_exact(rec: &Recorder, counts: &Mutex<Counts>, seen: &Seen, step: &str) {
    let c = counts.lock().unwrap();
    let table = rec.cluster.workers();
    let received: u64 = table.iter().map(|w| w.received).sum();
    let dead = table.iter().filter(|w| w.is_dead()).count() as u64;
    let ctx = || format!("after {step}: tracker {c:?}, seen {seen:?}\n{}", rec.dump());
    assert_eq!(c.forks, table.len() as u64, "G5 workerCount, {}", ctx());
    assert_eq!(c.receives, received, "G5 messagesReceived, {}", ctx());
    assert_eq!(
        c.forks - c.exits,
        rec.cluster.alive() as u64,
        "G5 workersAlive, {}",
        ctx()
    );
    assert_eq!(c.exits, dead, "G5 Exits, {}", ctx());
    assert!(
        seen.forks <= c.forks && seen.messages <= c.receives && seen.exits <= c.exits,
        "events taken lead the tracker, {}",
        ctx()
    );
    if c.ended {
        assert_eq!(
            rec.cluster.alive(),
            0,
            "G5: End with workers alive, {}",
            ctx()
        );
    }
}

/// Takes events, checking after each, until `pred` holds for one.
fn step_until(
    rec: &mut Recorder,
    counts: &Mutex<Counts>,
    seen: &mut Seen,
    what: &str,
    mut pred: impl FnMut(&ClusterEvent<Up>) -> bool,
) {
    let deadline = std::time::Instant::now() + support::WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}\n{}",
            rec.dump()
        );
        let event = rec.cluster.next_event(Some(left)).expect("event loop");
        if let Some(e) = event {
            seen.count(&e);
            let hit = pred(&e);
            rec.events.push(e);
            assert_exact(rec, counts, seen, what);
            if hit {
                return;
            }
        } else {
            assert!(
                !rec.cluster.has_ended(),
                "ended before {what}\n{}",
                rec.dump()
            );
            assert_exact(rec, counts, seen, what);
        }
    }
}

#[test]
fn g5_tracker_matches_the_worker_table_at_every_step() {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let mut rec = Recorder::build(
        puppets("serve")
            .restart(Restart::on_failure(1, Duration::from_secs(60)))
            .observer(counting_observer(Arc::clone(&counts))),
    );
    let mut seen = Seen::default();
    assert_exact(&rec, &counts, &seen, "build");
    for n in 1..=4 {
        rec.cluster.fork().expect("fork");
        assert_exact(&rec, &counts, &seen, &format!("fork {n}"));
    }
    for id in 1..=4 {
        rec.cluster.send(id, &Down::SendSeq(100)).expect("send");
        assert_exact(&rec, &counts, &seen, "send");
    }
    let mut got = 0;
    step_until(&mut rec, &counts, &mut seen, "400 Seq messages", |e| {
        if matches!(
            e,
            ClusterEvent::Message {
                message: Up::Seq(_),
                ..
            }
        ) {
            got += 1;
        }
        got == 400
    });

    // Ways to die: by code, by crash (restarted once, G11), by kill, after disconnect.
    rec.cluster.send(1, &Down::Exit(3)).expect("send");
    step_until(&mut rec, &counts, &mut seen, "Exit of 1", |e| {
        matches!(e, ClusterEvent::Exit { worker: 1, .. })
    });
    step_until(
        &mut rec,
        &counts,
        &mut seen,
        "Online of replacement 5",
        |e| matches!(e, ClusterEvent::Online { worker: 5 }),
    );
    rec.cluster.send(2, &Down::Abort).expect("send");
    step_until(&mut rec, &counts, &mut seen, "GaveUp after 2", |e| {
        matches!(e, ClusterEvent::GaveUp { worker: 2, .. })
    });
    rec.cluster.kill(3, crew::signal::SIGKILL).expect("kill");
    assert_exact(&rec, &counts, &seen, "kill");
    step_until(&mut rec, &counts, &mut seen, "Exit of 3", |e| {
        matches!(e, ClusterEvent::Exit { worker: 3, .. })
    });
    rec.cluster
        .disconnect(4, Some(support::WAIT))
        .expect("disconnect");
    assert_exact(&rec, &counts, &seen, "disconnect");
    step_until(&mut rec, &counts, &mut seen, "Exit of 4", |e| {
        matches!(e, ClusterEvent::Exit { worker: 4, .. })
    });

    rec.cluster.shutdown(Some(support::WAIT)).expect("shutdown");
    assert_exact(&rec, &counts, &seen, "shutdown");
    assert!(counts.lock().unwrap().ended, "End recorded by shutdown");
    step_until(&mut rec, &counts, &mut seen, "End", |e| {
        matches!(e, ClusterEvent::End)
    });
    assert_eq!(
        rec.cluster
            .next_event(Some(Duration::from_millis(1)))
            .unwrap(),
        None
    );

    // Everything has been taken: the user's view now equals the tracker.
    let c = counts.lock().unwrap();
    assert_eq!(
        (seen.forks, seen.messages, seen.exits),
        (c.forks, c.receives, c.exits)
    );
    assert_eq!((c.forks, c.exits), (5, 5));
}

#[test]
fn g5_real_run_trace_is_accepted_by_the_model_with_the_same_tracker() {
    let dir = scratch_dir("g5-trace");
    let mut rec = Recorder::build(
        puppets("serve")
            .trace_dir(&dir)
            .restart(Restart::on_failure(1, Duration::from_secs(60))),
    );
    let ids = rec.cluster.fork_n(3).expect("fork");
    rec.wait_ready(&ids);
    for &id in &ids {
        for i in 0..20 {
            rec.cluster.send(id, &Down::Seq(i)).expect("send");
        }
        rec.cluster.send(id, &Down::SendSeq(50)).expect("send");
    }
    rec.cluster.send(1, &Down::Abort).expect("send"); // restarted as 4
    rec.wait_ready(&[4]);
    rec.cluster.kill(2, crew::signal::SIGTERM).expect("kill");
    rec.wait_exit(2);
    rec.cluster
        .disconnect(3, Some(support::WAIT))
        .expect("disconnect");
    rec.wait_exit(3);
    rec.cluster.shutdown(Some(support::WAIT)).expect("shutdown");
    rec.drain_to_end();
    let forks = rec.cluster.workers().len() as u32;
    let received: u64 = rec.cluster.workers().iter().map(|w| w.received).sum();
    drop(rec);

    let trace = read_trace(&dir);
    let verdict = model::check(&trace, &model::CheckOptions::default());
    match &verdict {
        model::Verdict::Accepted { final_state, .. } => {
            let t = final_state.tracker();
            assert_eq!(
                (t.worker_count, t.messages_received, t.workers_alive),
                (forks, received, 0),
                "G5: the model's tracker and the runtime's table disagree"
            );
        }
        other => panic!(
            "the model does not accept this run's trace: {other}\ntrace:\n{}",
            trace.to_jsonl()
        ),
    }
    let _ = std::fs::remove_dir_all(dir);
}
