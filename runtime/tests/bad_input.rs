//! Misuse and bad arguments: each error names what went wrong (the path, the limit), and a
//! failed operation has no side effect (a failed fork uses no id).

mod support;

use crew::{Cluster, CommandError, ForkError, Worker, WorkerError};
use support::{puppets, scratch_dir, Down, Recorder, Up};

/// The worker side of these tests (see `support`).
#[test]
fn puppet_entry() {
    support::puppet_main();
}

#[test]
fn fork_of_a_missing_executable_is_a_spawn_error_naming_the_path_and_uses_no_id() {
    let mut cluster: Cluster<Up, Down> = Cluster::builder()
        .exec("/nonexistent/crew-worker")
        .build()
        .expect("build");
    for _ in 0..2 {
        match cluster.fork() {
            Err(e @ ForkError::Spawn { .. }) => {
                let text = e.to_string();
                assert!(text.contains("/nonexistent/crew-worker"), "{text}");
                assert!(
                    std::error::Error::source(&e).is_some(),
                    "the OS error is kept"
                );
            }
            other => panic!("fork of a missing executable gave {other:?}"),
        }
    }
    assert!(cluster.workers().is_empty());
    assert_eq!(cluster.alive(), 0);
    assert_eq!(
        cluster.next_event(Some(std::time::Duration::ZERO)).unwrap(),
        None
    );
}

#[test]
fn a_failed_fork_uses_no_id() {
    // The worker executable does not exist at first; once it does, the first worker is 1.
    let dir = scratch_dir("bad-input-exec");
    let program = dir.join("worker");
    let mut rec = Recorder::build(puppets("serve").exec(&program));
    match rec.cluster.fork() {
        Err(e @ ForkError::Spawn { .. }) => {
            assert!(e.to_string().contains(&*program.to_string_lossy()), "{e}")
        }
        other => panic!("{other:?}"),
    }
    std::os::unix::fs::symlink(std::env::current_exe().expect("current_exe"), &program)
        .expect("symlink");
    assert_eq!(
        rec.cluster.fork().expect("fork"),
        1,
        "the failed fork used no id"
    );
    rec.wait_ready(&[1]);
    assert_eq!(rec.cluster.workers().len(), 1);
    drop(rec);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fork_of_a_directory_is_a_spawn_error() {
    let mut cluster: Cluster<Up, Down> = Cluster::builder().exec("/").build().expect("build");
    match cluster.fork() {
        Err(e @ ForkError::Spawn { .. }) => assert!(e.to_string().contains("executable /"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_outside_a_crew_primary_is_not_a_worker() {
    // This test process was not started by crew.
    assert_eq!(crew::role(), crew::Role::Primary);
    match Worker::<Up, Down>::connect() {
        Err(e @ WorkerError::NotAWorker) => {
            let text = e.to_string();
            assert!(text.contains("not started by a crew primary"), "{text}");
            assert!(text.contains("CREW_WORKER_ID"), "{text}");
        }
        Err(other) => panic!("connect outside crew gave {other:?}"),
        Ok(_) => panic!("connect outside crew succeeded"),
    }
}

#[test]
fn primary_message_over_the_frame_limit_is_too_large_naming_the_limit() {
    let mut rec = Recorder::build(puppets("serve").max_frame(1024));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    let big = Down::Blob(vec![1; 2000]);
    match rec.cluster.send(id, &big) {
        Err(e @ CommandError::TooLarge { .. }) => {
            let CommandError::TooLarge { worker, len, limit } = &e else {
                unreachable!()
            };
            assert_eq!((*worker, *limit), (id, 1024));
            assert!(*len > 1024);
            assert!(e.to_string().contains("1024"), "{e}");
        }
        other => panic!("oversized send gave {other:?}"),
    }
    match rec.cluster.handle().send(id, &big) {
        Err(CommandError::TooLarge { limit: 1024, .. }) => {}
        other => panic!("oversized handle send gave {other:?}"),
    }
    // Nothing was queued: the worker still has seen no Seq, and still answers.
    rec.cluster
        .send(id, &Down::Blob(vec![1; 1000]))
        .expect("a frame at the limit");
    rec.cluster.send(id, &Down::CheckSeq).expect("send");
    assert_eq!(
        rec.wait_message(id),
        Up::Checked {
            count: 0,
            in_order: true
        }
    );
}

#[test]
fn worker_message_over_the_frame_limit_is_too_large_and_the_channel_stays_usable() {
    let mut rec = Recorder::build(puppets("serve").max_frame(1024));
    let id = rec.cluster.fork().expect("fork");
    rec.wait_ready(&[id]);
    rec.cluster.send(id, &Down::SendBlob(2000)).expect("send");
    match rec.wait_message(id) {
        Up::Report(r) => {
            assert!(r.starts_with("TooLarge"), "{r}");
            assert!(r.contains("1024"), "the limit is named: {r}");
        }
        other => panic!("{other:?}"),
    }
    rec.cluster.send(id, &Down::SendBlob(100)).expect("send");
    assert!(matches!(rec.wait_message(id), Up::Blob(b) if b.len() == 100));
    assert_eq!(rec.wait_message(id), Up::Report("ok".into()));
    assert_eq!(
        rec.cluster.alive(),
        1,
        "the worker was not punished for a refused send"
    );
}
