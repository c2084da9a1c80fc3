//! G12 — Descriptor hygiene: the worker's channel and the primary's private descriptors are
//! close-on-exec, so programs that a worker starts inherit none of them. Also: the primary
//! does not leak descriptors; once its workers are reaped it is back to where it started.

mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;

use crew::ClusterEvent;
use support::{fd_targets, inheritable_fds, is_crew_kind, puppets, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

/// These tests count this process's descriptors: they must not run at the same time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn g12_workers_and_their_children_inherit_no_crew_descriptor() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Descriptors this test process itself lets children inherit (from whoever started it):
    // they are not crew's, and may legitimately show up below.
    let inherited = inheritable_fds();
    // Four workers, forked one after another while the others' channels and pidfds are open
    // in the primary.
    let mut rec = Recorder::build(puppets("report_fds"));
    let ids = rec.cluster.fork_n(4).expect("fork");
    rec.wait_until("four fd reports", |events| {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ClusterEvent::Message {
                        message: Up::Fds { .. },
                        ..
                    }
                )
            })
            .count()
            == 4
    });
    for &id in &ids {
        let Some(Up::Fds {
            channel,
            own,
            grandchild,
        }) = rec
            .messages(id)
            .into_iter()
            .find(|m| matches!(m, Up::Fds { .. }))
        else {
            unreachable!()
        };
        let allowed = |fd: i32| fd <= 2 || inherited.contains_key(&fd);
        // The worker (before it connected): stdio, its own channel, and what we pass on.
        for (fd, target) in &own {
            assert!(
                *fd == channel || allowed(*fd),
                "G12: worker {id} inherited descriptor {fd} -> {target} (own: {own:?})"
            );
            assert!(
                *fd == channel || !is_crew_kind(target) || inherited.contains_key(fd),
                "G12: worker {id} inherited crew descriptor {fd} -> {target}"
            );
        }
        assert!(
            own.iter()
                .any(|(fd, t)| *fd == channel && t.starts_with("socket:")),
            "the worker has its channel at {channel}: {own:?}"
        );
        // The worker's child: stdio and what we pass on; not the channel, not crew's.
        for (fd, target) in &grandchild {
            assert!(
                allowed(*fd),
                "G12: worker {id}'s child inherited descriptor {fd} -> {target} \
                 (channel was {channel}; child has {grandchild:?})"
            );
        }
        let fds: BTreeSet<i32> = grandchild.iter().map(|(fd, _)| *fd).collect();
        assert!(fds.is_superset(&[0, 1, 2].into()), "{grandchild:?}");
    }
    rec.cluster.shutdown(Some(support::WAIT)).expect("shutdown");
}

/// This process's descriptors of the kinds crew makes (sockets, pidfds, eventfds).
fn crew_kind_fds() -> Vec<(i32, String)> {
    fd_targets("self")
        .into_iter()
        .filter(|(_, t)| is_crew_kind(t))
        .collect()
}

#[test]
fn g12_primary_descriptors_return_to_baseline_after_workers_are_reaped() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let baseline_all = fd_targets("self").len();
    let baseline_crew = crew_kind_fds();

    let mut rec = Recorder::build(puppets("1=serve;2=serve;3=park;*=exit:1"));
    // Churn: workers that die at once (with and without a handshake), then served ones.
    for _ in 0..3 {
        let ids = rec.cluster.fork_n(4).expect("fork");
        for &id in &ids {
            if id > 3 {
                rec.wait_exit(id);
            }
        }
    }
    rec.wait_ready(&[1, 2, 3]);
    rec.cluster.send(1, &Down::Exit(0)).expect("send");
    rec.wait_exit(1);
    rec.cluster.kill(2, crew::signal::SIGKILL).expect("kill");
    rec.wait_exit(2);
    // One worker (3) alive: its channel and pidfd, plus the cluster's eventfd.
    assert_eq!(
        crew_kind_fds().len(),
        baseline_crew.len() + 3,
        "G12: descriptors of reaped workers are closed; now {:?}",
        crew_kind_fds()
    );
    rec.cluster
        .shutdown(Some(std::time::Duration::from_millis(100)))
        .expect("shutdown");
    // All reaped: only the cluster's own eventfd remains.
    assert_eq!(
        crew_kind_fds().len(),
        baseline_crew.len() + 1,
        "G12: after shutdown {:?}",
        crew_kind_fds()
    );
    drop(rec);
    assert_eq!(
        fd_targets("self").len(),
        baseline_all,
        "G12: the primary leaked descriptors: {:?}",
        fd_targets("self")
    );
    assert_eq!(crew_kind_fds(), baseline_crew);
}
