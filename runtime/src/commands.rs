//! Commands from other threads to the primary's event loop: a queue and a wake-up.
//!
//! A [`ClusterHandle`](crate::ClusterHandle) pushes a command and wakes the loop; the loop, on
//! waking, first clears the wake-up and then drains the queue. That order is what makes a lost
//! command impossible: a push that lands after the drain has set the wake-up again, so the
//! loop's next wait returns at once. loom checks it (`loom_command_never_lost`).

use std::collections::VecDeque;

use crew_model::WorkerId;

use crate::sync::{lock, Mutex};

/// Wakes the event loop. An eventfd in the OS driver; a loom-visible flag under loom.
pub trait Wake: Send + Sync {
    /// Makes the loop's next (or current) wait return.
    fn wake(&self);
    /// Clears pending wake-ups; called by the loop before it drains the queue.
    fn clear(&self);
}

/// A command queued from another thread.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Deliver this encoded frame to the worker (G4).
    Send {
        /// The addressee.
        worker: WorkerId,
        /// One complete frame.
        frame: Vec<u8>,
    },
    /// Signal the worker (G6).
    Kill {
        /// The worker.
        worker: WorkerId,
        /// The signal number.
        signal: i32,
    },
    /// Disconnect the worker (G7).
    Disconnect {
        /// The worker.
        worker: WorkerId,
        /// Kill it if it has not exited after this many ms.
        timeout_ms: Option<u64>,
    },
    /// Begin shutdown (G9).
    Shutdown {
        /// Kill workers that have not exited after this many ms.
        timeout_ms: Option<u64>,
    },
}

/// The queue shared by handles and the loop.
pub struct Commands<W> {
    queue: Mutex<VecDeque<Command>>,
    wake: W,
}

impl<W: Wake> Commands<W> {
    /// An empty queue using `wake` to wake the loop.
    pub fn new(wake: W) -> Self {
        Commands {
            queue: Mutex::new(VecDeque::new()),
            wake,
        }
    }

    /// Queues a command and wakes the loop.
    pub fn push(&self, command: Command) {
        lock(&self.queue).push_back(command);
        self.wake.wake();
    }

    /// Takes every queued command, clearing the wake-up first (see the module docs).
    pub fn drain(&self) -> VecDeque<Command> {
        self.wake.clear();
        std::mem::take(&mut *lock(&self.queue))
    }

    /// The wake-up (the driver polls its descriptor).
    pub fn waker(&self) -> &W {
        &self.wake
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Every interleaving of handles pushing commands against the loop draining them.

    // std's Arc, not loom's: loom's panics when dropped while a deadlock is being reported,
    // which aborts the expected-failure test instead of failing it.
    use std::sync::Arc;

    use loom::sync::{Condvar, Mutex};

    use super::{Command, Commands, Wake};

    /// The eventfd's semantics as loom sees them: `wake` sets the flag, `clear` resets it, and
    /// the loop's wait returns once it is set (poll on a readable eventfd).
    struct FlagWake {
        set: Mutex<bool>,
        changed: Condvar,
    }

    impl FlagWake {
        fn new() -> Self {
            FlagWake {
                set: Mutex::new(false),
                changed: Condvar::new(),
            }
        }

        /// The loop's poll: returns once a wake-up is pending (it does not consume it).
        fn wait(&self) {
            let mut set = self.set.lock().unwrap();
            while !*set {
                set = self.changed.wait(set).unwrap();
            }
        }
    }

    impl Wake for FlagWake {
        fn wake(&self) {
            *self.set.lock().unwrap() = true;
            self.changed.notify_all();
        }

        fn clear(&self) {
            *self.set.lock().unwrap() = false;
        }
    }

    fn kill(worker: crew_model::WorkerId) -> Command {
        Command::Kill { worker, signal: 9 }
    }

    /// Two handles push (one of them twice) while the loop drains and waits, as the event
    /// loop does: drain, then wait for the wake-up. A command lost, or a wake-up lost while a
    /// command sits in the queue, leaves the loop waiting forever, which loom reports as a
    /// deadlock. `drain` is the loop's way to take the queue: the real one, or a broken one.
    fn every_command_arrives_and_wakes_the_loop(
        drain: fn(&Commands<FlagWake>) -> std::collections::VecDeque<Command>,
    ) {
        crate::sync::loom_support::model("commands", 3, move || {
            let commands = Arc::new(Commands::new(FlagWake::new()));
            let handles: Vec<_> = [
                vec![kill(1), kill(2)],
                vec![Command::Shutdown { timeout_ms: None }],
            ]
            .into_iter()
            .map(|batch| {
                let commands = Arc::clone(&commands);
                loom::thread::spawn(move || {
                    for command in batch {
                        commands.push(command);
                    }
                })
            })
            .collect();
            let mut seen = Vec::new();
            while seen.len() < 3 {
                seen.extend(drain(&commands));
                if seen.len() < 3 {
                    commands.waker().wait();
                }
            }
            for h in handles {
                h.join().unwrap();
            }
            assert!(drain(&commands).is_empty(), "a command arrived twice");
            // One handle's commands stay in its order.
            let first = seen.iter().position(|c| *c == kill(1)).unwrap();
            let second = seen.iter().position(|c| *c == kill(2)).unwrap();
            assert!(first < second, "commands of one handle reordered: {seen:?}");
        });
    }

    #[test]
    fn loom_command_never_lost() {
        every_command_arrives_and_wakes_the_loop(Commands::drain);
    }

    /// Proof the test can fail: clearing the wake-up *after* taking the queue loses a wake-up
    /// that lands in between, and the loop sleeps with a command queued.
    #[test]
    #[should_panic(expected = "deadlock")]
    fn loom_rejects_clearing_the_wake_up_after_the_drain() {
        every_command_arrives_and_wakes_the_loop(|commands| {
            let taken = commands.drain();
            commands.waker().clear();
            taken
        });
    }
}
