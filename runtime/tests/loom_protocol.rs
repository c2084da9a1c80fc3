//! The protocol core under loom: a primary and its workers as loom threads over in-memory
//! channels, every interleaving of their sends, exits, kills, disconnects and a shutdown
//! explored, and the trace of each explored execution checked by crew-model.
//!
//! The pieces under test are the real ones: [`PrimaryCore`] for the primary, [`FrameSender`]
//! and [`Inbox`] for each worker, [`Commands`] for the handle another thread uses. What is
//! simulated is only what the kernel does, in [`Kernel`]: a stream socket per worker (bytes in
//! order, a shut writing half, a closed end), signals (a SIGKILL lands at the worker's next
//! step, so every point at which it can land is explored), exit statuses and reaping. The
//! primary thread is a driver written the way `Cluster`'s event loop is: drain commands, wait
//! for a wake-up, readable bytes or an exited child, read a dead worker's channel to the end
//! before reporting its Exit (G2, G3).
//!
//! Each execution must end with every worker reaped, each event reported once, and a trace
//! (the primary's log plus each worker's) that [`crew::model::check`] accepts as a whole run.

#![cfg(loom)]

use std::collections::VecDeque;
use std::io;
// std's Arc, not loom's: loom's cannot be dropped while loom reports a failure, which would
// abort the expected-failure test instead of failing it. Nothing here relies on Arc's ordering.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crew::commands::{Command, Commands, Wake};
use crew::model::{check, CheckOptions, Event as TraceEvent, Trace, Verdict};
use crew::protocol::primary::{Action, Phase, PrimaryConfig, PrimaryCore};
use crew::protocol::worker::{encode_hello, Inbox};
use crew::sender::{FrameSender, FrameSink, TraceSink};
use crew::wire::{encode, FrameKind, DEFAULT_MAX_DEPTH};
use crew::{ClusterEvent, ExitStatus, WorkerError, WorkerId};
use loom::sync::{Condvar, Mutex, MutexGuard};

const MAX_FRAME: u32 = 1 << 10;
const SIGKILL: i32 = 9;

/// What the kernel holds for one worker process.
#[derive(Default)]
struct Process {
    /// Worker → primary bytes not yet read by the primary.
    up: VecDeque<u8>,
    /// Primary → worker bytes not yet read by the worker.
    down: VecDeque<u8>,
    /// The primary shut its writing half: the worker reads EOF after `down`.
    down_shut: bool,
    /// The primary closed its end: the worker's writes fail (EPIPE), its reads end at EOF.
    primary_closed: bool,
    /// A signal was delivered and the process has not exited yet: it dies at its next step.
    signal: Option<i32>,
    /// The process ended (its end of the channel closed with it); not yet reaped.
    exited: Option<ExitStatus>,
    reaped: bool,
}

struct World {
    processes: Vec<Process>,
    /// The primary's eventfd.
    woken: bool,
}

/// The kernel: every process's socket, signals and status under one lock, and one condition
/// for "something changed" (poll's and a blocking read's wake-up).
struct Kernel {
    world: Mutex<World>,
    changed: Condvar,
}

impl Kernel {
    fn new(workers: usize) -> Self {
        Kernel {
            world: Mutex::new(World {
                processes: (0..workers).map(|_| Process::default()).collect(),
                woken: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// Runs `f` on worker `worker`'s process and wakes everyone waiting.
    fn change<R>(&self, worker: WorkerId, f: impl FnOnce(&mut Process) -> R) -> R {
        let r = f(&mut self.lock().processes[worker as usize - 1]);
        self.changed.notify_all();
        r
    }
}

/// The primary's eventfd, for [`Commands`].
struct KernelWake(Arc<Kernel>);

impl Wake for KernelWake {
    fn wake(&self) {
        self.0.lock().woken = true;
        self.0.changed.notify_all();
    }

    fn clear(&self) {
        self.0.lock().woken = false;
    }
}

/// A worker's end of its channel, as [`FrameSender`] writes it.
struct SocketEnd {
    kernel: Arc<Kernel>,
    worker: WorkerId,
}

impl FrameSink for SocketEnd {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.kernel.change(self.worker, |p| {
            if p.signal.is_some() {
                // Killed before these bytes reached the kernel: they are lost, and G3 allows
                // it (the send did not return Ok).
                Err(io::Error::other("killed"))
            } else if p.primary_closed {
                Err(io::ErrorKind::BrokenPipe.into())
            } else {
                p.up.extend(bytes);
                Ok(())
            }
        })
    }
}

/// A process's trace file. One `write` per record to an append-only file is atomic, so a std
/// mutex (invisible to loom: it adds no interleavings) models it exactly.
#[derive(Clone, Default)]
struct TraceFile(Arc<std::sync::Mutex<Vec<TraceEvent>>>);

impl TraceSink for TraceFile {
    fn record(&self, event: &TraceEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl TraceFile {
    fn events(&self) -> Vec<TraceEvent> {
        self.0.lock().unwrap().clone()
    }
}

/// What a worker's `main` does after its handshake and Run.
#[derive(Clone, Copy, Debug)]
enum Program {
    /// Sends its id `sends` times, then receives until the primary disconnects it, then exits 0.
    Serve { sends: u64 },
    /// Sends its id `sends` times, then exits with `code` without waiting (a crash if non-zero).
    Quit { sends: u64, code: i32 },
}

/// One worker process: the runtime's worker side over the simulated socket.
struct WorkerProcess {
    id: WorkerId,
    kernel: Arc<Kernel>,
    sender: FrameSender<SocketEnd>,
    inbox: Inbox<u64>,
    trace: TraceFile,
}

impl WorkerProcess {
    fn main(id: WorkerId, kernel: Arc<Kernel>, program: Program, trace: TraceFile) {
        let sink = SocketEnd {
            kernel: Arc::clone(&kernel),
            worker: id,
        };
        let mut worker = WorkerProcess {
            id,
            sender: FrameSender::new(id, sink, MAX_FRAME, Some(Box::new(trace.clone()))),
            kernel,
            inbox: Inbox::new(MAX_FRAME, DEFAULT_MAX_DEPTH),
            trace,
        };
        let code = worker.run(program);
        worker.exit(code);
    }

    /// Returns the exit code; an error means the process stops here (killed, or the channel
    /// is gone), as a worker's `main` would after `?`.
    fn run(&mut self, program: Program) -> i32 {
        let mut hello = Vec::new();
        encode_hello(&mut hello, self.id, self.id);
        if self.sender.write_raw(&hello).is_err() {
            return 1;
        }
        self.trace.record(&TraceEvent::Run { worker: self.id });
        let (sends, code) = match program {
            Program::Serve { sends } => (sends, 0),
            Program::Quit { sends, code } => (sends, code),
        };
        for _ in 0..sends {
            if self.sender.send(&u64::from(self.id)).is_err() {
                return 1;
            }
        }
        if let Program::Serve { .. } = program {
            while self.recv().is_ok() {}
        }
        code
    }

    /// `Worker::recv`: the next message, logging WorkerReceive; an error at EOF or when killed.
    fn recv(&mut self) -> Result<u64, WorkerError> {
        loop {
            match self.inbox.next() {
                Some(Ok((seq, message))) => {
                    self.trace.record(&TraceEvent::WorkerReceive {
                        worker: self.id,
                        seq,
                    });
                    return Ok(message);
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
            let mut world = self.kernel.lock();
            loop {
                let p = &mut world.processes[self.id as usize - 1];
                if p.signal.is_some() {
                    return Err(WorkerError::Disconnected);
                }
                if !p.down.is_empty() {
                    let bytes: Vec<u8> = p.down.drain(..).collect();
                    drop(world);
                    self.inbox.on_bytes(&bytes);
                    break;
                }
                if p.down_shut || p.primary_closed {
                    drop(world);
                    self.inbox.on_eof();
                    break;
                }
                world = self.kernel.changed.wait(world).unwrap();
            }
        }
    }

    /// The process ends: by the signal if one was delivered first, else with `code`.
    fn exit(self, code: i32) {
        self.kernel.change(self.id, |p| {
            p.exited = Some(match p.signal {
                Some(signal) => ExitStatus {
                    code: None,
                    signal: Some(signal),
                },
                None => ExitStatus {
                    code: Some(code),
                    signal: None,
                },
            });
        });
    }
}

/// How the primary reacts to what it sees (the user's program).
#[derive(Clone, Copy, Debug, Default)]
struct Reactions {
    /// On Online of this worker, send it one message.
    send_on_online: Option<WorkerId>,
    /// On the first message from this worker, disconnect it.
    disconnect_on_message: Option<WorkerId>,
}

/// A driver bug to inject, to prove the test can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    /// As `Cluster` does it.
    Correct,
    /// Reports a dead worker's Exit without first reading what is left in its channel.
    ExitBeforeDrain,
}

struct Scenario {
    programs: Vec<Program>,
    reactions: Reactions,
    /// Commands another thread sends through a `ClusterHandle`, in order.
    handle: Vec<Command>,
    /// The primary itself starts shutdown before it first waits (no handle thread needed).
    shutdown_first: bool,
    driver: Driver,
}

/// The primary's event loop over the simulated kernel.
struct Primary {
    core: PrimaryCore<u64>,
    kernel: Arc<Kernel>,
    commands: Arc<Commands<KernelWake>>,
    shutdown_pending: Vec<bool>,
    shutdown_first: bool,
    reactions: Reactions,
    driver: Driver,
    trace: Vec<TraceEvent>,
    events: Vec<ClusterEvent<u64>>,
}

impl Primary {
    fn run(&mut self) {
        if self.shutdown_first {
            self.core.shutdown(None, 0);
            self.run_actions();
        }
        loop {
            self.run_commands();
            self.react();
            for worker in 1..=self.shutdown_pending.len() as WorkerId {
                self.write_outgoing(worker);
            }
            self.react();
            if self.core.phase() == Phase::Ended {
                return;
            }
            self.turn();
        }
    }

    /// `Cluster::run_commands`.
    fn run_commands(&mut self) {
        for command in self.commands.drain() {
            let (worker, result) = match command {
                Command::Send { worker, frame } => (worker, self.core.send_encoded(worker, &frame)),
                Command::Kill { worker, signal } => {
                    self.reap_if_exited(worker);
                    (worker, self.core.kill(worker, signal))
                }
                Command::Disconnect { worker, timeout_ms } => {
                    (worker, self.core.disconnect(worker, timeout_ms, 0))
                }
                Command::Shutdown { timeout_ms } => {
                    self.core.shutdown(timeout_ms, 0);
                    self.run_actions();
                    continue;
                }
            };
            if let Err(e) = result {
                self.core.report_command_failed(worker, e.to_string());
            }
            self.run_actions();
        }
    }

    /// One wait (poll) and what it found: bytes on channels, then exited children.
    fn turn(&mut self) {
        let mut world = self.kernel.lock();
        let (bytes, exited) = loop {
            let mut bytes = Vec::new();
            let mut exited = Vec::new();
            for (i, p) in world.processes.iter_mut().enumerate() {
                let worker = i as WorkerId + 1;
                if !p.up.is_empty() && !p.primary_closed {
                    bytes.push((worker, p.up.drain(..).collect::<Vec<u8>>()));
                }
                if p.exited.is_some() && !p.reaped {
                    exited.push(worker);
                }
            }
            if world.woken || !bytes.is_empty() || !exited.is_empty() {
                break (bytes, exited);
            }
            world = self.kernel.changed.wait(world).unwrap();
        };
        drop(world);
        for (worker, bytes) in bytes {
            self.core.on_bytes(worker, &bytes);
            self.run_actions();
        }
        for worker in exited {
            self.reap_if_exited(worker);
        }
    }

    /// `Cluster::reap_if_exited`: a dead worker's channel is read to its end (bytes, then EOF)
    /// before its Exit is reported.
    fn reap_if_exited(&mut self, worker: WorkerId) {
        let (status, rest) = {
            let mut world = self.kernel.lock();
            let p = &mut world.processes[worker as usize - 1];
            let Some(status) = p.exited.filter(|_| !p.reaped) else {
                return;
            };
            p.reaped = true;
            let rest: Vec<u8> = if p.primary_closed {
                Vec::new()
            } else {
                p.up.drain(..).collect()
            };
            (status, rest)
        };
        if self.driver == Driver::Correct {
            self.core.on_bytes(worker, &rest);
            self.run_actions();
            self.core.on_channel_eof(worker);
            self.run_actions();
        }
        self.core.on_exit(worker, status, 0);
        self.run_actions();
    }

    /// `Cluster::write_outgoing`: queued bytes into the socket, then a pending shutdown of the
    /// writing half.
    fn write_outgoing(&mut self, worker: WorkerId) {
        let pending = self.core.outgoing(worker).to_vec();
        let written = self.kernel.change(worker, |p| {
            if p.primary_closed {
                return None;
            }
            // Writing to a dead worker's socket fails (EPIPE): the bytes are dropped, and its
            // Exit is reported by the read side.
            if p.exited.is_none() {
                p.down.extend(&pending);
            }
            Some(())
        });
        if written.is_none() {
            return;
        }
        self.core.advance_outgoing(worker, pending.len());
        let i = worker as usize - 1;
        if self.shutdown_pending[i] {
            self.shutdown_pending[i] = false;
            self.kernel.change(worker, |p| p.down_shut = true);
        }
    }

    /// `Cluster::run_actions`.
    fn run_actions(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Signal { worker, signal } => self.kernel.change(worker, |p| {
                    // A signal to a process that has exited (a zombie) does nothing.
                    if p.exited.is_none() {
                        p.signal.get_or_insert(signal);
                    }
                }),
                Action::ShutdownWrite { worker } => {
                    self.shutdown_pending[worker as usize - 1] = true;
                    self.write_outgoing(worker);
                }
                Action::CloseChannel { worker } => self.kernel.change(worker, |p| {
                    p.primary_closed = true;
                    p.up.clear();
                }),
                Action::Spawn { worker } => panic!("no restart policy, yet spawn {worker}"),
            }
        }
        self.trace.extend(self.core.drain_trace());
    }

    /// The user's program: takes the events and reacts to some.
    fn react(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match &event {
                ClusterEvent::Online { worker }
                    if self.reactions.send_on_online == Some(*worker) =>
                {
                    // May fail (shutdown began): an error, never a silent drop (G4).
                    let _ = self.core.send(*worker, &100u64);
                }
                ClusterEvent::Message { worker, .. }
                    if self.reactions.disconnect_on_message == Some(*worker)
                        && !self.events.iter().any(
                            |e| matches!(e, ClusterEvent::Message { worker: w, .. } if w == worker),
                        ) =>
                {
                    let _ = self.core.disconnect(*worker, None, 0);
                }
                _ => {}
            }
            self.run_actions();
            self.events.push(event);
        }
        self.trace.extend(self.core.drain_trace());
    }
}

/// Runs `scenario` in one loom execution and checks what it must guarantee.
fn execute(scenario: &Scenario) {
    let workers = scenario.programs.len();
    let kernel = Arc::new(Kernel::new(workers));
    let commands = Arc::new(Commands::new(KernelWake(Arc::clone(&kernel))));
    let mut core = PrimaryCore::new(PrimaryConfig {
        max_frame: MAX_FRAME,
        tracing: true,
        ..PrimaryConfig::default()
    });
    // Fork: the core learns of each worker before its process runs.
    for id in 1..=workers as WorkerId {
        core.on_spawned(id, id);
    }
    let traces: Vec<TraceFile> = (0..workers).map(|_| TraceFile::default()).collect();
    let threads: Vec<_> = scenario
        .programs
        .iter()
        .zip(&traces)
        .enumerate()
        .map(|(i, (&program, trace))| {
            let kernel = Arc::clone(&kernel);
            let trace = trace.clone();
            loom::thread::spawn(move || {
                WorkerProcess::main(i as WorkerId + 1, kernel, program, trace)
            })
        })
        .collect();
    let handle = (!scenario.handle.is_empty()).then(|| {
        let commands = Arc::clone(&commands);
        let batch: Vec<Command> = scenario.handle.iter().map(clone_command).collect();
        loom::thread::spawn(move || {
            for command in batch {
                commands.push(command);
            }
        })
    });
    let mut primary = Primary {
        core,
        kernel: Arc::clone(&kernel),
        commands,
        shutdown_pending: vec![false; workers],
        shutdown_first: scenario.shutdown_first,
        reactions: scenario.reactions,
        driver: scenario.driver,
        trace: Vec::new(),
        events: Vec::new(),
    };
    primary.trace.extend(primary.core.drain_trace());
    primary.run();
    for t in threads {
        t.join().unwrap();
    }
    if let Some(h) = handle {
        h.join().unwrap();
    }

    // Every worker reaped, each once.
    let world = kernel.lock();
    for (i, p) in world.processes.iter().enumerate() {
        assert!(
            p.exited.is_some() && p.reaped,
            "worker {} not reaped",
            i + 1
        );
    }
    drop(world);
    assert_events_once(&primary.events, workers);

    // The model accepts the whole run.
    let mut trace = Trace::from_events(primary.trace.iter().cloned());
    for t in &traces {
        for event in t.events() {
            trace.push(event);
        }
    }
    let verdict = check(&trace, &CheckOptions::default());
    assert!(
        matches!(verdict, Verdict::Accepted { .. }),
        "model rejected the run: {verdict}\n{}",
        trace.to_jsonl()
    );
}

/// No event reported twice: per worker one Fork, at most one Online and one Disconnect,
/// exactly one Exit; its messages are its id, once per send; End once, last.
fn assert_events_once(events: &[ClusterEvent<u64>], workers: usize) {
    let count = |f: &dyn Fn(&ClusterEvent<u64>) -> bool| events.iter().filter(|e| f(e)).count();
    for w in 1..=workers as WorkerId {
        assert_eq!(
            count(&|e| matches!(e, ClusterEvent::Fork { worker } if *worker == w)),
            1
        );
        assert!(count(&|e| matches!(e, ClusterEvent::Online { worker } if *worker == w)) <= 1);
        assert!(count(&|e| matches!(e, ClusterEvent::Disconnect { worker } if *worker == w)) <= 1);
        assert_eq!(
            count(&|e| matches!(e, ClusterEvent::Exit { worker, .. } if *worker == w)),
            1,
            "worker {w}: one Exit in {events:?}"
        );
        assert!(events.iter().all(|e| match e {
            ClusterEvent::Message { worker, message } => u64::from(*worker) == *message,
            _ => true,
        }));
    }
    assert_eq!(count(&|e| matches!(e, ClusterEvent::End)), 1);
    assert!(
        matches!(events.last(), Some(ClusterEvent::End)),
        "End is last: {events:?}"
    );
}

fn clone_command(command: &Command) -> Command {
    match command {
        Command::Send { worker, frame } => Command::Send {
            worker: *worker,
            frame: frame.clone(),
        },
        Command::Kill { worker, signal } => Command::Kill {
            worker: *worker,
            signal: *signal,
        },
        Command::Disconnect { worker, timeout_ms } => Command::Disconnect {
            worker: *worker,
            timeout_ms: *timeout_ms,
        },
        Command::Shutdown { timeout_ms } => Command::Shutdown {
            timeout_ms: *timeout_ms,
        },
    }
}

/// Explores every execution of `scenario` with at most `LOOM_MAX_PREEMPTIONS` preemptions
/// (`default_bound` when unset) and prints how many there were and how long they took.
fn explore(name: &str, default_bound: usize, scenario: Scenario) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(default_bound);
    }
    let bound = builder.preemption_bound;
    let executions = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&executions);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        execute(&scenario);
    });
    eprintln!(
        "loom {name}: {} executions in {:.2?} (preemption bound {:?})",
        executions.load(Ordering::Relaxed),
        start.elapsed(),
        bound,
    );
}

/// Worker 1 serves (sends, then reads the primary's message until disconnected), worker 2
/// sends and crashes, while another thread kills worker 2 and shuts the cluster down: the
/// kill races the crash and the sends (it may land before, between or after them, or find the
/// worker dead: an error), shutdown races everything.
fn kill_crash_shutdown(driver: Driver) -> Scenario {
    Scenario {
        programs: vec![
            Program::Serve { sends: 1 },
            Program::Quit { sends: 1, code: 1 },
        ],
        reactions: Reactions {
            send_on_online: Some(1),
            ..Reactions::default()
        },
        handle: vec![
            Command::Kill {
                worker: 2,
                signal: SIGKILL,
            },
            Command::Shutdown { timeout_ms: None },
        ],
        shutdown_first: false,
        driver,
    }
}

#[test]
fn loom_protocol_core_kill_crash_shutdown_accepted_by_the_model() {
    explore(
        "protocol core: kill, crash, shutdown",
        2,
        kill_crash_shutdown(Driver::Correct),
    );
}

/// Worker 1 sends twice; the primary disconnects it on its first message, so the disconnect
/// races its second send (G7: what it still sends is delivered) and the primary's messages:
/// one sent on Online, one from another thread (which may be queued before Online, or refused
/// once the disconnect began: G4); worker 2 exits by itself while that thread shuts down.
#[test]
fn loom_protocol_core_disconnect_racing_sends_accepted_by_the_model() {
    explore(
        "protocol core: disconnect racing sends",
        2,
        Scenario {
            programs: vec![
                Program::Serve { sends: 2 },
                Program::Quit { sends: 1, code: 0 },
            ],
            reactions: Reactions {
                send_on_online: Some(1),
                disconnect_on_message: Some(1),
            },
            handle: vec![
                Command::Send {
                    worker: 1,
                    frame: frame(7),
                },
                Command::Shutdown { timeout_ms: None },
            ],
            shutdown_first: false,
            driver: Driver::Correct,
        },
    );
}

/// What `ClusterHandle::send` queues for `message`.
fn frame(message: u64) -> Vec<u8> {
    let mut frame = Vec::new();
    encode(&mut frame, FrameKind::Message, &message, MAX_FRAME).unwrap();
    frame
}

/// Shutdown racing three workers' handshakes, sends and exits (the primary shuts down before it
/// reads anything): each worker is reaped once, End comes last, and a handshake that arrives
/// after its worker was asked to disconnect still brings it Online (G2).
#[test]
fn loom_shutdown_racing_sends_and_exits_reaps_every_worker_once() {
    explore(
        "shutdown racing sends and exits, 3 workers",
        2,
        Scenario {
            programs: vec![
                Program::Quit { sends: 1, code: 0 },
                Program::Serve { sends: 1 },
                Program::Quit { sends: 1, code: 3 },
            ],
            reactions: Reactions::default(),
            handle: Vec::new(),
            shutdown_first: true,
            driver: Driver::Correct,
        },
    );
}

/// Proof the test can fail: a driver that reports a dead worker's Exit before reading the
/// rest of its channel loses a message whose send returned Ok, and the model rejects the trace
/// (G3) in the executions where the worker sent and exited before the primary read.
#[test]
#[should_panic(expected = "model rejected the run")]
fn loom_protocol_core_rejects_exit_before_drain() {
    explore(
        "protocol core, broken driver",
        2,
        kill_crash_shutdown(Driver::ExitBeforeDrain),
    );
}
