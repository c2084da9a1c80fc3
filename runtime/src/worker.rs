//! The worker side: [`Worker`] connects to the primary over the inherited channel.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crew_model::{Event as TraceEvent, WorkerId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::WorkerError;
use crate::os::{self, SocketSink};
use crate::protocol::worker::{encode_hello, Inbox};
use crate::sender::{FrameSender, TraceSink};
use crate::sync::Arc;
use crate::wire;
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment a primary gives each worker.
pub(crate) mod env {
    /// The worker's id; its presence marks a crew worker.
    pub const WORKER_ID: &str = "CREW_WORKER_ID";
    /// The inherited channel descriptor's number.
    pub const CHANNEL_FD: &str = "CREW_CHANNEL_FD";
    /// The frame limit (G10).
    pub const MAX_FRAME: &str = "CREW_MAX_FRAME";
    /// Where to write this worker's trace, if tracing.
    pub const TRACE_DIR: &str = "CREW_TRACE_DIR";
}

/// Which side of a cluster this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not started by a crew primary: this process may build a [`Cluster`](crate::Cluster).
    Primary,
    /// Started by a crew primary as this worker: call [`Worker::connect`].
    Worker(WorkerId),
}

/// Which role this process has (Node: `cluster.isPrimary` / `cluster.isWorker`). Reads the
/// environment; cheap. After [`Worker::connect`] the marker is removed from the environment,
/// so programs the worker starts are primaries of their own.
pub fn role() -> Role {
    match std::env::var(env::WORKER_ID)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(id) => Role::Worker(id),
        None => Role::Primary,
    }
}

static CONNECTED: AtomicBool = AtomicBool::new(false);

/// A worker's trace file: one `write` per record, appended, so records survive a SIGKILL and
/// records from several threads never interleave.
struct FileTrace(File);

impl TraceSink for FileTrace {
    fn record(&self, event: &TraceEvent) {
        let mut line = event.to_json_line();
        line.push('\n');
        let _ = (&self.0).write_all(line.as_bytes());
    }
}

/// This process's connection to its primary. `Up` is what it sends, `Down` what it receives.
pub struct Worker<Up, Down> {
    id: WorkerId,
    sender: WorkerSender<Up>,
    reader: OwnedFd,
    inbox: Inbox<Down>,
    buf: Vec<u8>,
    trace: Option<Arc<FileTrace>>,
}

/// The sending half of a [`Worker`], for other threads (Clone, Send, Sync). Frames from
/// several threads are never interleaved.
pub struct WorkerSender<Up> {
    inner: Arc<FrameSender<SocketSink>>,
    _up: PhantomData<fn(&Up)>,
}

impl<Up> Clone for WorkerSender<Up> {
    fn clone(&self) -> Self {
        WorkerSender {
            inner: Arc::clone(&self.inner),
            _up: PhantomData,
        }
    }
}

impl<Up: Serialize> WorkerSender<Up> {
    /// Sends `message` now (after any buffered ones). Ok means the bytes are in the kernel and
    /// will be delivered even if this process is killed next (G3).
    pub fn send(&self, message: &Up) -> Result<(), WorkerError> {
        self.inner.send(message)
    }

    /// Queues `message`; [`flush`](Self::flush) (or 64 KiB of queued frames, or the next
    /// `send`, or dropping the last sender) writes it. Ok does not mean delivered: until the
    /// flush returns Ok, `std::process::exit` or a crash loses it ([`Worker::exit`] flushes).
    pub fn send_buffered(&self, message: &Up) -> Result<(), WorkerError> {
        self.inner.send_buffered(message)
    }

    /// Writes every queued message; Ok means all are in the kernel (G3).
    pub fn flush(&self) -> Result<(), WorkerError> {
        self.inner.flush()
    }
}

impl<Up: Serialize, Down: DeserializeOwned> Worker<Up, Down> {
    /// Connects to the primary: adopts the inherited channel and sends the handshake, after
    /// which the primary reports Online (G2).
    ///
    /// Errors: [`WorkerError::NotAWorker`] when this process was not started by a crew primary,
    /// [`WorkerError::BadEnvironment`] when crew's variables are malformed or the channel is not
    /// open, [`WorkerError::AlreadyConnected`] on a second call.
    pub fn connect() -> Result<Self, WorkerError> {
        let id: WorkerId = match std::env::var(env::WORKER_ID) {
            Err(_) => return Err(WorkerError::NotAWorker),
            Ok(v) => v.parse().map_err(|_| WorkerError::BadEnvironment {
                variable: env::WORKER_ID,
                problem: format!("{v:?} is not a worker id"),
            })?,
        };
        let fd: i32 = parse_env(env::CHANNEL_FD)?.ok_or(WorkerError::BadEnvironment {
            variable: env::CHANNEL_FD,
            problem: "missing".into(),
        })?;
        let max_frame: u32 = parse_env(env::MAX_FRAME)?.unwrap_or(wire::DEFAULT_MAX_FRAME);
        let trace_dir = std::env::var_os(env::TRACE_DIR).map(PathBuf::from);
        if CONNECTED.swap(true, Ordering::SeqCst) {
            return Err(WorkerError::AlreadyConnected);
        }
        let channel = os::adopt_channel(fd).map_err(|e| WorkerError::BadEnvironment {
            variable: env::CHANNEL_FD,
            problem: format!("descriptor {fd}: {e}"),
        })?;
        // Programs this worker starts are not crew workers (their channel is close-on-exec,
        // G12), so they must not find the marker.
        for var in [
            env::WORKER_ID,
            env::CHANNEL_FD,
            env::MAX_FRAME,
            env::TRACE_DIR,
        ] {
            std::env::remove_var(var);
        }
        let trace = match trace_dir {
            Some(dir) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("worker-{id}.jsonl")))?;
                Some(Arc::new(FileTrace(file)))
            }
            None => None,
        };
        let reader = os::dup(channel.as_fd())?;
        let sender_trace: Option<Box<dyn TraceSink>> = trace
            .as_ref()
            .map(|t| Box::new(SharedTrace(Arc::clone(t))) as Box<dyn TraceSink>);
        let sender = FrameSender::new(id, SocketSink(channel), max_frame, sender_trace);
        let mut hello = Vec::new();
        encode_hello(&mut hello, id, std::process::id());
        sender.write_raw(&hello)?;
        Ok(Worker {
            id,
            sender: WorkerSender {
                inner: Arc::new(sender),
                _up: PhantomData,
            },
            reader,
            inbox: Inbox::new(max_frame, wire::DEFAULT_MAX_DEPTH),
            buf: vec![0; 64 << 10],
            trace,
        })
    }

    /// This worker's id (Node: `cluster.worker.id`).
    pub fn id(&self) -> WorkerId {
        self.id
    }

    /// Marks that this worker's task starts (the seed's Run step). Only recorded in the trace.
    pub fn run(&self) {
        if let Some(t) = &self.trace {
            t.record(&TraceEvent::Run { worker: self.id });
        }
    }

    /// Sends `message` now (Node: `process.send`). Ok means the bytes are in the kernel and
    /// will be delivered even if this process is killed next (G3).
    pub fn send(&self, message: &Up) -> Result<(), WorkerError> {
        self.sender.send(message)
    }

    /// Queues `message` for [`flush`](Self::flush) (throughput: one write for many frames).
    pub fn send_buffered(&self, message: &Up) -> Result<(), WorkerError> {
        self.sender.send_buffered(message)
    }

    /// Writes every queued message; Ok means all are in the kernel (G3).
    pub fn flush(&self) -> Result<(), WorkerError> {
        self.sender.flush()
    }

    /// A sender for other threads.
    pub fn sender(&self) -> WorkerSender<Up> {
        self.sender.clone()
    }

    /// Waits for the primary's next message (Node: `process.on('message')`).
    /// [`WorkerError::Disconnected`] when the primary closed the channel (disconnect or
    /// shutdown: the worker should finish and exit); [`WorkerError::Protocol`] when the primary
    /// sent a bad frame (G10).
    pub fn recv(&mut self) -> Result<Down, WorkerError> {
        loop {
            if let Some(m) = self.take() {
                return m;
            }
            self.fill(None)?;
        }
    }

    /// Like [`recv`](Self::recv), but `Ok(None)` after `timeout` without a message.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Down>, WorkerError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.take() {
                return m.map(Some);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.fill(Some(deadline - now))?;
        }
    }

    fn take(&mut self) -> Option<Result<Down, WorkerError>> {
        match self.inbox.next()? {
            Ok((seq, m)) => {
                if let Some(t) = &self.trace {
                    t.record(&TraceEvent::WorkerReceive {
                        worker: self.id,
                        seq,
                    });
                }
                Some(Ok(m))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Reads once (waiting up to `timeout`).
    fn fill(&mut self, timeout: Option<Duration>) -> Result<(), WorkerError> {
        if let Some(t) = timeout {
            let mut ready = Vec::new();
            let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
            os::poll(&[(self.reader.as_fd(), true, false)], Some(ms), &mut ready)?;
            if !ready.first().is_some_and(|r| r.0) {
                return Ok(());
            }
        }
        match os::read(self.reader.as_fd(), &mut self.buf) {
            Ok(0) => self.inbox.on_eof(),
            Ok(n) => self.inbox.on_bytes(&self.buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => self.inbox.on_eof(),
            Err(e) => return Err(WorkerError::Io(e)),
        }
        Ok(())
    }

    /// Flushes, then closes the channel (Node: `process.disconnect()`): the primary reports
    /// Disconnect once it has everything this worker sent. The process should exit next.
    pub fn disconnect(self) -> Result<(), WorkerError> {
        let flushed = self.flush();
        // Shut the socket itself down, not just this descriptor: a WorkerSender held by another
        // thread must not keep the channel open.
        os::shutdown_both(self.reader.as_fd())?;
        flushed
    }

    /// Flushes, then exits the process with `code` (Node: `process.exit`). Unlike Node, nothing
    /// sent or flushed before is lost (G3).
    pub fn exit(self, code: i32) -> ! {
        let _ = self.flush();
        std::process::exit(code)
    }
}

struct SharedTrace(Arc<FileTrace>);

impl TraceSink for SharedTrace {
    fn record(&self, event: &TraceEvent) {
        self.0.record(event);
    }
}

fn parse_env<T: std::str::FromStr>(variable: &'static str) -> Result<Option<T>, WorkerError> {
    match std::env::var(variable) {
        Err(_) => Ok(None),
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| WorkerError::BadEnvironment {
                variable,
                problem: format!("{v:?} does not parse"),
            }),
    }
}
