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
