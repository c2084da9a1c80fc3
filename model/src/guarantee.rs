//! The guarantees of crew's contract (shared `GUARANTEES.md`), as values the model names in
//! every [`Violation`](crate::Violation) it reports.

use std::fmt;

/// One guarantee of the contract, G1–G12. Display prints the id (`G3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Guarantee {
    /// Identity and reaping.
    G1,
    /// Lifecycle order.
    G2,
    /// Worker-to-primary delivery: FIFO, exactly once, nothing lost before Disconnect.
    G3,
    /// Primary-to-worker delivery: FIFO, exactly once; sending to a gone worker is an error.
    G4,
    /// The seed's tracker counters are exact; End only when no worker is alive.
    G5,
    /// Race-free kill.
    G6,
    /// Graceful disconnect.
    G7,
    /// No orphans (not observable in a trace; enforced by the runtime's tests).
    G8,
    /// Shutdown completes.
    G9,
    /// Isolation from bad input.
    G10,
    /// Restart under a policy, with an intensity limit.
    G11,
    /// Descriptor hygiene (not observable in a trace; enforced by the runtime's tests).
    G12,
}

impl Guarantee {
    /// All twelve, in order.
    pub const ALL: [Guarantee; 12] = [
        Guarantee::G1,
        Guarantee::G2,
        Guarantee::G3,
        Guarantee::G4,
        Guarantee::G5,
        Guarantee::G6,
        Guarantee::G7,
        Guarantee::G8,
        Guarantee::G9,
        Guarantee::G10,
        Guarantee::G11,
        Guarantee::G12,
    ];

    /// The id as text: `"G1"` … `"G12"`.
    pub fn id(self) -> &'static str {
        match self {
            Guarantee::G1 => "G1",
            Guarantee::G2 => "G2",
            Guarantee::G3 => "G3",
            Guarantee::G4 => "G4",
            Guarantee::G5 => "G5",
            Guarantee::G6 => "G6",
            Guarantee::G7 => "G7",
            Guarantee::G8 => "G8",
            Guarantee::G9 => "G9",
            Guarantee::G10 => "G10",
            Guarantee::G11 => "G11",
            Guarantee::G12 => "G12",
        }
    }

    /// A one-line summary of the guarantee, from `GUARANTEES.md`.
    pub fn summary(self) -> &'static str {
        match self {
            Guarantee::G1 => "ids start at 1 and grow by one per fork; every forked worker has exactly one Exit and is reaped",
            Guarantee::G2 => "per worker: Fork, then Online, then its messages, then Disconnect, then Exit (Fork then Exit if it dies before its handshake)",
            Guarantee::G3 => "worker-to-primary messages arrive FIFO and exactly once, and every send that returned Ok is received before Disconnect",
            Guarantee::G4 => "primary-to-worker messages arrive FIFO and exactly once; sending to a disconnected or dead worker is an error",
            Guarantee::G5 => "workerCount, messagesReceived and workersAlive are exact at every step, never negative; End only when workersAlive = 0",
            Guarantee::G6 => "kill signals that worker and no other, its Exit carries that signal unless it exited or handled it first; killing a dead worker is an error",
            Guarantee::G7 => "disconnect closes the channel, the worker exits, and its Exit says exited_after_disconnect",
            Guarantee::G8 => "if the primary dies by any means, every worker terminates within one second",
            Guarantee::G9 => "shutdown disconnects every worker, kills overrunners, returns after every worker is reaped; End comes after the last Exit",
            Guarantee::G10 => "a bad frame is a protocol error for that worker: its channel is closed and it is killed; nothing else is affected",
            Guarantee::G11 => "an unexpected Exit under a restart policy is followed by a replacement's Fork, until R restarts within T: then the primary gives up",
            Guarantee::G12 => "the channel and the primary's private descriptors are close-on-exec",
        }
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}
