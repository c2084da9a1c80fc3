//! Faults applied to real traces: the self-test's proof that the checker, as the harness calls
//! it, rejects a runtime that breaks a guarantee, and names the right one.
//!
//! Each mutation edits the primary's log of a recorded, accepted trace the way a faulty runtime
//! would have produced it, and returns `None` when the trace has nothing to mutate.

use crew_model::{Event, Guarantee, Trace, WorkerId};

/// A deliberate runtime fault, as it would show in a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The last message of a worker that exited by itself is dropped (Node's loss on exit).
    DropLastMessageBeforeExit,
    /// Exit is reported before the channel is drained and closed (Node's either-order).
    ExitBeforeDisconnect,
    /// A Fork reuses the previous worker's id.
    ReuseId,
    /// A message is delivered twice.
    DuplicateMessage,
    /// The Exit of a killed worker carries another signal than the one requested.
    WrongKillSignal,
    /// End comes while a worker is still alive.
    EndBeforeLastExit,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 6] = [
        Fault::DropLastMessageBeforeExit,
        Fault::ExitBeforeDisconnect,
        Fault::ReuseId,
        Fault::DuplicateMessage,
        Fault::WrongKillSignal,
        Fault::EndBeforeLastExit,
    ];

    /// The guarantee a trace with this fault breaks.
    pub fn guarantee(self) -> Guarantee {
        match self {
            Fault::DropLastMessageBeforeExit | Fault::DuplicateMessage => Guarantee::G3,
            Fault::ExitBeforeDisconnect => Guarantee::G2,
            Fault::ReuseId => Guarantee::G1,
            Fault::WrongKillSignal => Guarantee::G6,
            Fault::EndBeforeLastExit => Guarantee::G5,
        }
    }

    /// `trace` with this fault, or `None` if the trace offers no place for it.
    pub fn apply(self, trace: &Trace) -> Option<Trace> {
        let mut primary = trace.primary().to_vec();
        match self {
            Fault::DropLastMessageBeforeExit => {
                // A worker that exited with a code (a signal may legitimately lose its last
                // send) and received something: drop its last Receive.
                let worker = primary.iter().find_map(|e| match *e {
                    Event::Exit {
                        worker,
                        code: Some(_),
                        ..
                    } if received(&primary, worker) > 0 => Some(worker),
                    _ => None,
                })?;
                let last = primary
                    .iter()
                    .rposition(|e| matches!(*e, Event::Receive { worker: w, .. } if w == worker))?;
                primary.remove(last);
            }
            Fault::ExitBeforeDisconnect => {
                // A worker without a protocol error (for those, G10 is the guarantee named).
                let (d, x) = primary.iter().enumerate().find_map(|(i, e)| match *e {
                    Event::Disconnect { worker } if !protocol_error(&primary, worker) => {
                        let x = primary.iter().position(
                            |e| matches!(*e, Event::Exit { worker: w, .. } if w == worker),
                        )?;
                        Some((i, x))
                    }
                    _ => None,
                })?;
                let exit = primary.remove(x);
                primary.insert(d, exit);
            }
            Fault::ReuseId => {
                let i = primary
                    .iter()
                    .position(|e| matches!(*e, Event::Fork { worker } if worker >= 2))?;
                if let Event::Fork { worker } = &mut primary[i] {
                    *worker -= 1;
                }
            }
            Fault::DuplicateMessage => {
                let i = primary
                    .iter()
                    .position(|e| matches!(e, Event::Receive { .. }))?;
                let copy = primary[i].clone();
                primary.insert(i + 1, copy);
            }
            Fault::WrongKillSignal => {
                let (worker, signal) = primary.iter().find_map(|e| match *e {
                    Event::Kill { worker, signal } => Some((worker, signal)),
                    _ => None,
                })?;
                let exit = primary.iter_mut().find(|e| {
                    matches!(**e, Event::Exit { worker: w, signal: Some(s), .. } if w == worker && s == signal)
                })?;
                if let Event::Exit { signal: s, .. } = exit {
                    // SIGHUP: never requested by any scenario.
                    *s = Some(if signal == 1 { 3 } else { 1 });
                }
            }
            Fault::EndBeforeLastExit => {
                let end = primary.iter().position(|e| matches!(e, Event::End))?;
                let last_exit = primary
                    .iter()
                    .rposition(|e| matches!(e, Event::Exit { .. }))?;
                let end = primary.remove(end);
                primary.insert(last_exit, end);
            }
        }
        Some(rebuild(primary, trace))
    }
}

fn received(primary: &[Event], worker: WorkerId) -> usize {
    primary
        .iter()
        .filter(|e| matches!(**e, Event::Receive { worker: w, .. } if w == worker))
        .count()
}

fn protocol_error(primary: &[Event], worker: WorkerId) -> bool {
    primary
        .iter()
        .any(|e| matches!(*e, Event::ProtocolError { worker: w, .. } if w == worker))
}

fn rebuild(primary: Vec<Event>, trace: &Trace) -> Trace {
    let workers = trace
        .workers()
        .flat_map(|(_, log)| log.iter().cloned())
        .collect::<Vec<_>>();
    Trace::from_events(primary.into_iter().chain(workers))
}
