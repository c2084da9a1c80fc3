//! The primary: [`Cluster`] forks workers and runs the event loop that drives
//! [`PrimaryCore`] with real descriptors (the OS driver).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crew_model::{Event as TraceEvent, WorkerId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::commands::{Command, Commands};
use crate::error::{CommandError, ForkError, LoopError};
use crate::event::{ClusterEvent, WorkerInfo};
use crate::os::{self, EventWake, SpawnSpec};
use crate::protocol::primary::{Action, Phase, PrimaryConfig, PrimaryCore};
use crate::restart::Restart;
use crate::sync::Arc;
use crate::worker::env;

/// Bytes read from one channel per loop turn before the loop moves on (fairness).
const READ_BUDGET: usize = 1 << 20;
const READ_CHUNK: usize = 64 << 10;

type Observer = Box<dyn FnMut(&TraceEvent) + Send>;

/// Configures a [`Cluster`] (Node: `cluster.setupPrimary`).
pub struct ClusterBuilder {
    program: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    inherit_stdio: bool,
    config: PrimaryConfig,
    trace_dir: Option<PathBuf>,
    observer: Option<Observer>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            program: None,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            inherit_stdio: true,
            config: PrimaryConfig::default(),
            trace_dir: None,
            observer: None,
        }
    }
}

impl Cluster<(), ()> {
    /// A builder with the defaults: workers run this program, no restarts, 4 MiB frames. The
    /// message types are chosen by [`ClusterBuilder::build`].
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }
}

impl ClusterBuilder {
    /// A builder with the defaults (same as [`Cluster::builder`]).
    pub fn new() -> Self {
        ClusterBuilder::default()
    }

    /// The executable workers run (Node: `exec`). Default: this program
    /// (`std::env::current_exe`), whose `main` then finds it is a worker ([`crate::role`]).
    pub fn exec(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Arguments for the workers (Node: `args`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// An environment variable for every worker (Node: `cluster.fork(env)`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The workers' working directory (Node: `cwd`).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Send the workers' stdout and stderr to /dev/null (Node: `silent`). Default: inherited.
    pub fn silent(mut self, silent: bool) -> Self {
        self.inherit_stdio = !silent;
        self
    }

    /// The restart policy (G11). Default: [`Restart::NEVER`].
    pub fn restart(mut self, restart: Restart) -> Self {
        self.config.restart = restart;
        self
    }

    /// The largest frame payload, both directions (G10). Default
    /// [`crate::wire::DEFAULT_MAX_FRAME`]; the primary's memory per worker is bounded by it.
    pub fn max_frame(mut self, bytes: u32) -> Self {
        self.config.max_frame = bytes;
        self
    }

    /// The deepest nesting accepted in a message (G10). Default [`crate::wire::DEFAULT_MAX_DEPTH`].
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.config.max_depth = depth;
        self
    }

    /// Bytes queued for one worker that is not reading before `send` fails with
    /// [`CommandError::QueueFull`]. Default 64 MiB.
    pub fn max_queued(mut self, bytes: usize) -> Self {
        self.config.max_queued = bytes;
        self
    }

    /// Records the model's events as JSON lines in `dir`: `primary.jsonl` and one
    /// `worker-<id>.jsonl` per worker, each written by that process (crew-model's trace format).
    pub fn trace_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.trace_dir = Some(dir.into());
        self.config.tracing = true;
        self
    }

    /// Calls `observer` with each of the primary's model events, in order. Costs nothing when
    /// no observer and no trace directory are set.
    pub fn observer(mut self, observer: impl FnMut(&TraceEvent) + Send + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self.config.tracing = true;
        self
    }

    /// Injects a deliberate fault, to prove that the conformance harness rejects a broken
    /// runtime. Only with the `fault-injection` feature; never use it otherwise.
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(mut self, fault: crate::protocol::primary::Fault) -> Self {
        self.config.fault = Some(fault);
        self
    }

    /// Starts the primary (no workers yet: call [`Cluster::fork`]).
    pub fn build<Up, Down>(self) -> Result<Cluster<Up, Down>, LoopError>
    where
        Up: DeserializeOwned,
        Down: Serialize,
    {
        let program = match self.program {
            Some(p) => p,
            None => std::env::current_exe().map_err(|source| LoopError {
                what: "finding this program's executable",
                source,
            })?,
        };
        let trace_file = match &self.trace_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| LoopError {
                    what: "creating the trace directory",
                    source,
                })?;
                let f = File::create(dir.join("primary.jsonl")).map_err(|source| LoopError {
                    what: "creating primary.jsonl",
                    source,
                })?;
                Some(BufWriter::new(f))
            }
            None => None,
        };
        let wake = EventWake::new().map_err(|source| LoopError {
            what: "creating the wake-up eventfd",
            source,
        })?;
        let max_frame = self.config.max_frame;
        let mut cluster = Cluster {
            core: PrimaryCore::new(self.config),
            conns: Vec::new(),
            commands: Arc::new(Commands::new(wake)),
            start: Instant::now(),
            program,
            args: self.args,
            env: self.env,
            cwd: self.cwd,
            inherit_stdio: self.inherit_stdio,
            trace_dir: self.trace_dir,
            trace_file,
            observer: self.observer,
            read_buf: vec![0; READ_CHUNK],
            max_frame,
            poll_ready: Vec::new(),
            wake_pending: true,
            _down: PhantomData,
        };
        cluster.flush_trace();
        Ok(cluster)
    }
}

/// One worker's descriptors.
struct Conn {
    /// The primary's end of the channel; None once closed.
    channel: Option<OwnedFd>,
    /// Shut the writing half once the outgoing queue is written (a requested disconnect must
    /// not lose queued messages, G4).
    shutdown_pending: bool,
    /// The pidfd; None once reaped.
    pidfd: Option<OwnedFd>,
}

/// The primary of a cluster: forks workers, exchanges messages, supervises.
///
/// `Up` is the type workers send, `Down` the type the primary sends. All methods are called
/// from one thread (the one that built it); other threads use a [`ClusterHandle`].
///
/// Events are produced by [`next_event`](Self::next_event), which runs the event loop. Dropping
/// a cluster that has not ended kills and reaps every worker: nothing is left running.
pub struct Cluster<Up, Down> {
    core: PrimaryCore<Up>,
    conns: Vec<Conn>,
    commands: Arc<Commands<EventWake>>,
    start: Instant,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    inherit_stdio: bool,
    trace_dir: Option<PathBuf>,
    trace_file: Option<BufWriter<File>>,
    observer: Option<Observer>,
    read_buf: Vec<u8>,
    max_frame: u32,
    poll_ready: Vec<(bool, bool, bool)>,
    /// The wake-up eventfd was readable at the last poll (or no poll yet): handles may have
    /// queued commands. Clearing and draining only then saves an eventfd read per turn; a
    /// command pushed after that poll sets the eventfd again, so the next poll returns at once
    /// and nothing is missed.
    wake_pending: bool,
    _down: PhantomData<fn(&Down)>,
}

impl<Up, Down> Cluster<Up, Down>
where
    Up: DeserializeOwned,
    Down: Serialize,
{
    /// Starts one worker and returns its id (Node: `cluster.fork()`). The Fork event is
    /// queued; Online follows when its handshake arrives.
    ///
    /// Errors: the executable cannot be started ([`ForkError::Spawn`] names the path), a
    /// descriptor cannot be made, or the cluster is shutting down. A failed fork uses no id.
    pub fn fork(&mut self) -> Result<WorkerId, ForkError> {
        if !self.core.may_fork() {
            return Err(ForkError::ShuttingDown);
        }
        let worker = self.core.next_worker_id();
        let (channel, pid, pidfd) = self.spawn(worker)?;
        self.conns.push(Conn {
            channel: Some(channel),
            shutdown_pending: false,
            pidfd: Some(pidfd),
        });
        self.core.on_spawned(worker, pid);
        self.flush_trace();
        Ok(worker)
    }

    fn spawn(&mut self, worker: WorkerId) -> Result<(OwnedFd, u32, OwnedFd), ForkError> {
        let (primary_end, worker_end) = os::channel().map_err(|source| ForkError::Os {
            what: "creating the channel socketpair",
            source,
        })?;
        let mut crew_env = vec![
            (env::WORKER_ID, worker.to_string()),
            (
                env::CHANNEL_FD,
                std::os::fd::AsRawFd::as_raw_fd(&worker_end).to_string(),
            ),
            (env::MAX_FRAME, self.max_frame.to_string()),
        ];
        if let Some(dir) = &self.trace_dir {
            crew_env.push((env::TRACE_DIR, dir.to_string_lossy().into_owned()));
        }
        let spec = SpawnSpec {
            program: &self.program,
            args: &self.args,
            env: &self.env,
            cwd: self.cwd.as_ref(),
            inherit_stdio: self.inherit_stdio,
        };
        let child = os::spawn(&spec, &worker_end, &crew_env).map_err(|source| {
            if source.raw_os_error() == Some(libc::ESRCH) {
                ForkError::Os {
                    what: "the primary's parent check failed in the child",
                    source,
                }
            } else {
                ForkError::Spawn {
                    path: self.program.clone(),
                    source,
                }
            }
        })?;
        // The worker's end now lives in the child; the primary's copy must go, or the primary
        // would never read EOF on this channel.
        drop(worker_end);
        Ok((primary_end, child.pid, child.pidfd))
    }

    /// Starts `n` workers; returns their ids.
    pub fn fork_n(&mut self, n: usize) -> Result<Vec<WorkerId>, ForkError> {
        (0..n).map(|_| self.fork()).collect()
    }

    /// Starts one worker per CPU this process may use (`std::thread::available_parallelism`,
    /// 1 if unknown): Node's `for (let i = 0; i < numCPUs; i++) cluster.fork()`.
    pub fn fork_per_cpu(&mut self) -> Result<Vec<WorkerId>, ForkError> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.fork_n(n)
    }

    /// Sends `message` to `worker` (Node: `worker.send`). Messages to one worker arrive in order,
    /// each once (G4). Errors: the worker is disconnected, disconnecting or dead (never a silent
    /// drop), the message is over the frame limit, or the worker's queue is full.
    pub fn send(&mut self, worker: WorkerId, message: &Down) -> Result<(), CommandError> {
        self.core.send(worker, message)?;
        self.write_outgoing(worker);
        self.flush_trace();
        Ok(())
    }

    /// Sends `signal` to `worker` through its pidfd (Node: `worker.kill(signal)`; G6). Its Exit
    /// follows. Errors: the worker is dead ([`CommandError::Dead`]) or the signal is unknown.
    pub fn kill(&mut self, worker: WorkerId, signal: i32) -> Result<(), CommandError> {
        if !os::is_signal(signal) {
            return Err(CommandError::InvalidSignal { worker, signal });
        }
        // A worker that has already exited is dead: report that rather than signal a zombie
        // whose Exit would not carry the signal (G6).
        self.reap_if_exited(worker);
        self.core.kill(worker, signal)?;
        self.run_actions();
        self.flush_trace();
        Ok(())
    }

    /// Asks `worker` to disconnect (Node: `worker.disconnect()`; G7): its channel closes after the
    /// messages queued for it, it reads EOF, what it still sends is delivered, and it should
    /// exit. If it has not exited after `timeout`, it is killed with SIGKILL.
    pub fn disconnect(
        &mut self,
        worker: WorkerId,
        timeout: Option<Duration>,
    ) -> Result<(), CommandError> {
        let now = self.now_ms();
        self.core
            .disconnect(worker, timeout.map(duration_ms), now)?;
        self.run_actions();
        self.flush_trace();
        Ok(())
    }

    /// Shuts the cluster down (Node: `cluster.disconnect()`; G9): every worker is asked to
    /// disconnect, those still running after `timeout` are killed, and this returns only after
    /// every worker is reaped. The events it produced (Disconnect, Exit, End) stay queued for
    /// [`next_event`](Self::next_event).
    pub fn shutdown(&mut self, timeout: Option<Duration>) -> Result<(), LoopError> {
        let now = self.now_ms();
        self.core.shutdown(timeout.map(duration_ms), now);
        self.run_actions();
        while self.core.phase() != Phase::Ended {
            self.turn(None, false)?;
        }
        self.flush_trace();
        Ok(())
    }

    /// Changes the restart policy from now on (G11); the intensity count starts afresh.
    /// Errors with [`CommandError::Ended`] once the cluster has ended.
    pub fn set_restart(&mut self, restart: Restart) -> Result<(), CommandError> {
        self.core.set_restart(restart)?;
        self.flush_trace();
        Ok(())
    }

    /// Waits up to `timeout` (None: without limit) for the next event. `Ok(None)` means the time
    /// ran out, or the cluster has ended and every event has been taken.
    pub fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<ClusterEvent<Up>>, LoopError> {
        // The clock is read only when the loop has to wait: an event already queued (the
        // common case under load) costs no clock_gettime.
        if let Some(event) = self.core.poll_event() {
            self.flush_trace();
            return Ok(Some(event));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(event) = self.core.poll_event() {
                self.flush_trace();
                return Ok(Some(event));
            }
            if self.core.phase() == Phase::Ended {
                return Ok(None);
            }
            let wait = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        self.flush_trace();
                        return Ok(None);
                    }
                    Some(duration_ms_ceil(d - now))
                }
                None => None,
            };
            self.turn(wait, true)?;
        }
    }

    /// The worker table (Node: `cluster.workers`), including dead workers.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.core.workers().collect()
    }

    /// One worker's row.
    pub fn worker(&self, worker: WorkerId) -> Option<WorkerInfo> {
        self.core.worker(worker)
    }

    /// Workers not yet reaped.
    pub fn alive(&self) -> usize {
        self.core.alive()
    }

    /// Whether shutdown completed (End was produced).
    pub fn has_ended(&self) -> bool {
        self.core.phase() == Phase::Ended
    }

    /// A handle other threads can use to send, kill, disconnect or shut down.
    pub fn handle(&self) -> ClusterHandle<Down> {
        ClusterHandle {
            commands: Arc::clone(&self.commands),
            max_frame: self.max_frame,
            _down: PhantomData,
        }
    }

    fn now_ms(&self) -> u64 {
        duration_ms(self.start.elapsed())
    }

    /// One turn of the event loop: commands from handles, timers, poll, read, write, reap.
    /// With `stop_on_event`, a turn whose commands or timers already produced an event returns
    /// before polling, so `next_event` never sleeps on an event it could return.
    fn turn(&mut self, wait_ms: Option<u64>, stop_on_event: bool) -> Result<(), LoopError> {
        if self.wake_pending {
            self.wake_pending = false;
            self.run_commands();
        }
        let now = self.now_ms();
        self.core.on_tick(now);
        self.run_actions();
        if stop_on_event && self.core.has_event() {
            self.flush_trace();
            return Ok(());
        }
        let mut timeout = wait_ms;
        if let Some(deadline) = self.core.next_deadline() {
            let until = deadline.saturating_sub(now);
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }
        // The poll set: the wake-up, then per worker its channel and its pidfd.
        let mut slots: Vec<(usize, bool)> = Vec::with_capacity(self.conns.len() * 2);
        let mut fds = Vec::with_capacity(self.conns.len() * 2 + 1);
        fds.push((self.commands.waker().fd(), true, false));
        for (i, conn) in self.conns.iter().enumerate() {
            let worker = i as WorkerId + 1;
            if let Some(ch) = &conn.channel {
                fds.push((ch.as_fd(), true, self.core.wants_write(worker)));
                slots.push((i, true));
            }
            if let Some(p) = &conn.pidfd {
                fds.push((p.as_fd(), true, false));
                slots.push((i, false));
            }
        }
        let mut ready = std::mem::take(&mut self.poll_ready);
        let polled = os::poll(&fds, timeout, &mut ready);
        drop(fds);
        if let Err(source) = polled {
            self.poll_ready = ready;
            self.wake_pending = true;
            return Err(LoopError {
                what: "poll",
                source,
            });
        }
        self.wake_pending = ready[0].0;
        // Channels first, so that a worker's last messages are read before its exit is
        // handled (G2, G3); reaping drains the channel again in any case.
        for (k, &(i, is_channel)) in slots.iter().enumerate() {
            let (readable, writable, _) = ready[k + 1];
            let worker = i as WorkerId + 1;
            if is_channel {
                if writable {
                    self.write_outgoing(worker);
                }
                if readable {
                    self.read_channel(worker, READ_BUDGET);
                }
            }
        }
        for (k, &(i, is_channel)) in slots.iter().enumerate() {
            if !is_channel && ready[k + 1].0 {
                self.reap_if_exited(i as WorkerId + 1);
            }
        }
        self.poll_ready = ready;
        self.run_actions();
        self.flush_trace();
        Ok(())
    }

    fn run_commands(&mut self) {
        for command in self.commands.drain() {
            let now = self.now_ms();
            let (worker, result) = match command {
                Command::Send { worker, frame } => {
                    let r = self.core.send_encoded(worker, &frame);
                    if r.is_ok() {
                        self.write_outgoing(worker);
                    }
                    (worker, r)
                }
                Command::Kill { worker, signal } => {
                    self.reap_if_exited(worker);
                    (worker, self.core.kill(worker, signal))
                }
                Command::Disconnect { worker, timeout_ms } => {
                    (worker, self.core.disconnect(worker, timeout_ms, now))
                }
                Command::Shutdown { timeout_ms } => {
                    self.core.shutdown(timeout_ms, now);
                    continue;
                }
            };
            if let Err(e) = result {
                self.core.report_command_failed(worker, e.to_string());
            }
            self.run_actions();
        }
    }

    /// Reads what `worker`'s channel has, up to `budget` bytes (None: until it would block).
    fn read_channel(&mut self, worker: WorkerId, budget: usize) {
        let index = worker as usize - 1;
        let mut total = 0;
        loop {
            let Some(channel) = &self.conns[index].channel else {
                return;
            };
            match os::read(channel.as_fd(), &mut self.read_buf) {
                Ok(0) => {
                    self.core.on_channel_eof(worker);
                    self.run_actions();
                    return;
                }
                Ok(n) => {
                    self.core.on_bytes(worker, &self.read_buf[..n]);
                    self.run_actions();
                    total += n;
                    // A short read drained the socket: the next poll says whether more came,
                    // which saves the read that would only return EAGAIN. Draining before a
                    // reap (budget usize::MAX) reads on to EOF.
                    if total >= budget || (budget != usize::MAX && n < self.read_buf.len()) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // ECONNRESET and the like: nothing more will come.
                    self.core.on_channel_eof(worker);
                    self.run_actions();
                    return;
                }
            }
        }
    }

    /// If `worker` has exited: drains its channel (G2, G3), then reaps it and reports Exit.
    fn reap_if_exited(&mut self, worker: WorkerId) {
        let Some(index) = (worker as usize).checked_sub(1) else {
            return;
        };
        let Some(pidfd) = self.conns.get(index).and_then(|c| c.pidfd.as_ref()) else {
            return;
        };
        let status = match os::try_reap(pidfd.as_fd()) {
            Ok(Some(status)) => status,
            Ok(None) => return,
            Err(_) => return,
        };
        self.conns[index].pidfd = None;
        // The process is gone, so everything it wrote is in the socket: read it all before
        // reporting Disconnect and Exit (G2, G3).
        #[cfg(feature = "fault-injection")]
        let drain = !self
            .core
            .has_fault(crate::protocol::primary::Fault::ExitBeforeDrain);
        #[cfg(not(feature = "fault-injection"))]
        let drain = true;
        if drain {
            self.read_channel(worker, usize::MAX);
        }
        let now = self.now_ms();
        self.core.on_exit(worker, status, now);
        self.run_actions();
    }

    fn write_outgoing(&mut self, worker: WorkerId) {
        let index = worker as usize - 1;
        loop {
            let pending = self.core.outgoing(worker);
            let conn = &mut self.conns[index];
            let Some(channel) = &conn.channel else {
                return;
            };
            if pending.is_empty() {
                if conn.shutdown_pending {
                    conn.shutdown_pending = false;
                    let _ = os::shutdown_write(channel.as_fd());
                }
                return;
            }
            match os::write_nonblocking(channel.as_fd(), pending) {
                Ok(n) => self.core.advance_outgoing(worker, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // The worker closed its end: what is queued cannot be delivered; its EOF
                    // (and Exit) will be reported by the read side.
                    let all = pending.len();
                    self.core.advance_outgoing(worker, all);
                    return;
                }
            }
        }
    }

    fn run_actions(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Spawn { worker } => match self.spawn(worker) {
                    Ok((channel, pid, pidfd)) => {
                        self.conns.push(Conn {
                            channel: Some(channel),
                            shutdown_pending: false,
                            pidfd: Some(pidfd),
                        });
                        self.core.on_spawned(worker, pid);
                    }
                    Err(e) => {
                        let dead = self.core.restart_origin(worker);
                        self.core.on_respawn_failed(dead, worker, e.to_string());
                    }
                },
                Action::Signal { worker, signal } => {
                    if let Some(pidfd) = self.conns[worker as usize - 1].pidfd.as_ref() {
                        // ESRCH cannot happen before the reap, which has not happened.
                        let _ = os::signal(pidfd.as_fd(), signal);
                    }
                }
                Action::ShutdownWrite { worker } => {
                    self.conns[worker as usize - 1].shutdown_pending = true;
                    self.write_outgoing(worker);
                }
                Action::CloseChannel { worker } => {
                    self.conns[worker as usize - 1].channel = None;
                }
            }
        }
    }

    fn flush_trace(&mut self) {
        if self.observer.is_none() && self.trace_file.is_none() {
            return;
        }
        for event in self.core.drain_trace() {
            if let Some(observer) = &mut self.observer {
                observer(&event);
            }
            if let Some(file) = &mut self.trace_file {
                let _ = writeln!(file, "{}", event.to_json_line());
            }
        }
        if let Some(file) = &mut self.trace_file {
            let _ = file.flush();
        }
    }

    /// The directory the trace is written to, if any.
    pub fn trace_dir(&self) -> Option<&Path> {
        self.trace_dir.as_deref()
    }
}

impl<Up, Down> Drop for Cluster<Up, Down> {
    fn drop(&mut self) {
        // Nothing left running: kill and reap every worker that is still there.
        for conn in &mut self.conns {
            conn.channel = None;
            if let Some(pidfd) = conn.pidfd.take() {
                let _ = os::signal(pidfd.as_fd(), 9);
                let _ = os::reap_blocking(pidfd.as_fd());
            }
        }
    }
}

/// A handle to a [`Cluster`] for other threads (Clone, Send, Sync): send, kill, disconnect,
/// shut down. Commands are carried out by the cluster's event loop, in order; a command that
/// fails there is reported as [`ClusterEvent::CommandFailed`], so none is dropped silently.
pub struct ClusterHandle<Down> {
    commands: Arc<Commands<EventWake>>,
    max_frame: u32,
    _down: PhantomData<fn(&Down)>,
}

impl<Down> Clone for ClusterHandle<Down> {
    fn clone(&self) -> Self {
        ClusterHandle {
            commands: Arc::clone(&self.commands),
            max_frame: self.max_frame,
            _down: PhantomData,
        }
    }
}

impl<Down: Serialize> ClusterHandle<Down> {
    /// Queues `message` for `worker`. The encoding happens here, on the calling thread; an
    /// oversized message is refused at once.
    pub fn send(&self, worker: WorkerId, message: &Down) -> Result<(), CommandError> {
        let mut frame = Vec::new();
        crate::protocol::primary::encode_message(&mut frame, worker, message, self.max_frame)?;
        self.commands.push(Command::Send { worker, frame });
        Ok(())
    }

    /// Queues a kill of `worker` with `signal`.
    pub fn kill(&self, worker: WorkerId, signal: i32) -> Result<(), CommandError> {
        if !os::is_signal(signal) {
            return Err(CommandError::InvalidSignal { worker, signal });
        }
        self.commands.push(Command::Kill { worker, signal });
        Ok(())
    }

    /// Queues a disconnect of `worker`.
    pub fn disconnect(&self, worker: WorkerId, timeout: Option<Duration>) {
        self.commands.push(Command::Disconnect {
            worker,
            timeout_ms: timeout.map(duration_ms),
        });
    }

    /// Queues the start of shutdown; the cluster's `next_event` then yields the remaining
    /// events and End.
    pub fn shutdown(&self, timeout: Option<Duration>) {
        self.commands.push(Command::Shutdown {
            timeout_ms: timeout.map(duration_ms),
        });
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn duration_ms_ceil(d: Duration) -> u64 {
    let ms = duration_ms(d);
    if Duration::from_millis(ms) < d {
        ms + 1
    } else {
        ms
    }
}
