//! G1 — Identity and reaping: ids start at 1 and grow by one per fork, never reused (a
//! replacement gets a new id); every forked worker has exactly one Exit and is reaped, also when
//! it dies before it comes online.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use crew::{ClusterEvent, Restart, WorkerId};
use support::{assert_reaped, puppets, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

/// Exits per worker in the log.
fn exit_counts(rec: &Recorder) -> BTreeMap<WorkerId, usize> {
    let mut counts = BTreeMap::new();
    for e in &rec.events {
        if let ClusterEvent::Exit { worker, .. } = e {
            *counts.entry(*worker).or_default() += 1;
        }
    }
    counts
}

#[test]
fn g1_sixty_four_workers_get_ids_1_to_64_and_are_all_reaped() {
    let mut rec = Recorder::build(puppets("serve"));
    let ids = rec.cluster.fork_n(64).expect("fork 64");
    assert_eq!(
        ids,
        (1..=64).collect::<Vec<WorkerId>>(),
        "G1: ids 1..=64 in fork order"
    );
    rec.wait_ready(&ids);

    // Each worker's table row has the pid the worker itself reported.
    for &id in &ids {
        let reported = rec.messages(id).into_iter().find_map(|m| match m {
            Up::Ready { pid } => Some(pid),
            _ => None,
        });
        assert_eq!(reported, Some(rec.cluster.worker(id).expect("row").pid));
    }
    let forks: Vec<WorkerId> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Fork { worker } => Some(*worker),
            _ => None,
        })
        .collect();
    assert_eq!(forks, ids, "G1: Fork events in id order");

    rec.cluster
        .shutdown(Some(Duration::from_secs(30)))
        .expect("shutdown");
    assert_eq!(rec.cluster.alive(), 0);
    rec.drain_to_end();

    let exits = exit_counts(&rec);
    for &id in &ids {
        assert_eq!(
            exits.get(&id),
            Some(&1),
            "G1: exactly one Exit for worker {id}"
        );
        let (status, after) = rec.exit_of(id).expect("exit");
        assert_eq!((status.code, status.signal, after), (Some(0), None, true));
        assert_reaped(rec.cluster.worker(id).expect("row").pid);
    }
}

#[test]
fn g1_replacements_get_new_ids_and_ids_are_never_reused() {
    // Workers 1 and 2 exit with code 1; their replacements take the next ids.
    let mut rec = Recorder::build(
        puppets("1=exit:1;2=exit:1;*=serve")
            .restart(Restart::on_failure(5, Duration::from_secs(60))),
    );
    assert_eq!(rec.cluster.fork().expect("fork"), 1);
    rec.wait_ready(&[3]);
    let restarts: Vec<(WorkerId, WorkerId)> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Restart {
                worker,
                replacement,
            } => Some((*worker, *replacement)),
            _ => None,
        })
        .collect();
    assert_eq!(
        restarts,
        [(1, 2), (2, 3)],
        "G1: a replacement gets the next id"
    );
    // A user fork after restarts continues the sequence.
    assert_eq!(rec.cluster.fork().expect("fork"), 4);
    rec.wait_ready(&[4]);
    let pids: Vec<u32> = rec.cluster.workers().iter().map(|w| w.pid).collect();
    rec.cluster
        .shutdown(Some(Duration::from_secs(30)))
        .expect("shutdown");
    rec.drain_to_end();

    let forks: Vec<WorkerId> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Fork { worker } => Some(*worker),
            _ => None,
        })
        .collect();
    assert_eq!(forks, [1, 2, 3, 4], "G1: each id forked once, in order");
    let exits = exit_counts(&rec);
    assert_eq!(exits.values().copied().collect::<Vec<_>>(), [1, 1, 1, 1]);
    for pid in pids {
        assert_reaped(pid);
    }
}

#[test]
fn g1_worker_whose_program_exits_at_once_gets_fork_then_exit_and_is_reaped() {
    // /bin/true and /bin/false never speak crew: they die before any handshake.
    for (program, code) in [("/bin/true", 0), ("/bin/false", 1)] {
        let mut rec = Recorder::build(crew::Cluster::builder().exec(program).silent(true));
        let ids = rec.cluster.fork_n(3).expect("fork");
        for &id in &ids {
            let (status, after) = rec.wait_exit(id);
            assert_eq!(
                (status.code, status.signal, after),
                (Some(code), None, false)
            );
        }
        for &id in &ids {
            rec.assert_lifecycle(id, false);
            assert_reaped(rec.cluster.worker(id).expect("row").pid);
        }
        assert_eq!(rec.cluster.alive(), 0);
        assert_eq!(exit_counts(&rec).values().sum::<usize>(), 3, "{program}");
    }
}

#[test]
fn g1_puppet_exiting_before_connect_gets_fork_then_exit_and_is_reaped() {
    let mut rec = Recorder::build(puppets("exit_before_connect:3"));
    let id = rec.cluster.fork().expect("fork");
    let (status, after) = rec.wait_exit(id);
    assert_eq!((status.code, status.signal, after), (Some(3), None, false));
    rec.assert_lifecycle(id, false);
    assert_reaped(rec.cluster.worker(id).expect("row").pid);
    // No other Exit for it, ever: the next event is End after shutdown.
    rec.cluster.shutdown(None).expect("shutdown");
    rec.drain_to_end();
    assert_eq!(exit_counts(&rec).get(&id), Some(&1));
}

#[test]
fn g1_each_way_of_dying_gives_exactly_one_exit_and_a_reaped_process() {
    let mut rec = Recorder::build(puppets("*=serve"));
    let ids = rec.cluster.fork_n(5).expect("fork");
    rec.wait_ready(&ids);
    rec.cluster.send(1, &Down::Exit(0)).expect("send");
    rec.cluster.send(2, &Down::Exit(4)).expect("send");
    rec.cluster.send(3, &Down::Abort).expect("send");
    rec.cluster.send(4, &Down::KillSelf).expect("send");
    rec.cluster.kill(5, crew::signal::SIGKILL).expect("kill");
    for &id in &ids {
        rec.wait_exit(id);
    }
    assert_eq!(rec.cluster.alive(), 0);
    let exits = exit_counts(&rec);
    for &id in &ids {
        assert_eq!(exits.get(&id), Some(&1), "G1: one Exit for worker {id}");
        assert_reaped(rec.cluster.worker(id).expect("row").pid);
        assert!(rec.cluster.worker(id).expect("row").is_dead());
    }
}

#[test]
fn g1_fork_per_cpu_forks_one_worker_per_available_cpu_with_ids_from_1() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rec = Recorder::build(puppets("serve"));
    let ids = rec.cluster.fork_per_cpu().expect("fork");
    assert_eq!(ids, (1..=cpus as WorkerId).collect::<Vec<_>>());
    rec.wait_ready(&ids);
    rec.cluster
        .shutdown(Some(Duration::from_secs(10)))
        .expect("shutdown");
    assert_eq!(rec.cluster.alive(), 0);
}
