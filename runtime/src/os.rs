//! The OS driver's system calls (Linux). The only module with `unsafe`; each block says why it
//! is sound.
//!
//! - Channels are `AF_UNIX` stream socketpairs, close-on-exec on both ends (G12); the worker's
//!   end is made inheritable only inside the child, between fork and exec.
//! - Children are tracked by pidfd (pidfd_open right after spawn, while the child cannot have
//!   been reaped, so the pidfd names it and no other process): exits are seen by polling the
//!   pidfd, reaped with `waitid(P_PIDFD)`, and signals go through `pidfd_send_signal`, so a
//!   reused pid is never signalled (G6).
//! - Each child gets `PR_SET_PDEATHSIG(SIGKILL)` and checks that its parent is still the
//!   primary, so no worker outlives the primary (G8).

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::event::ExitStatus;
use crate::sender::FrameSink;

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// A fresh channel: (the primary's end, non-blocking; the worker's end). Both close-on-exec.
pub fn channel() -> io::Result<(OwnedFd, OwnedFd)> {
    let (primary, worker) = socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(errno)?;
    set_nonblocking(primary.as_fd(), true)?;
    Ok((primary, worker))
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(errno)?;
    let mut flags = OFlag::from_bits_truncate(flags);
    flags.set(OFlag::O_NONBLOCK, on);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(errno)?;
    Ok(())
}

/// What a worker process is started with.
pub struct SpawnSpec<'a> {
    /// The executable.
    pub program: &'a PathBuf,
    /// Its arguments.
    pub args: &'a [OsString],
    /// Extra environment variables.
    pub env: &'a [(OsString, OsString)],
    /// Working directory, if not the primary's.
    pub cwd: Option<&'a PathBuf>,
    /// Whether the worker inherits the primary's stdout/stderr (else they go to /dev/null).
    pub inherit_stdio: bool,
}

/// A started worker process.
pub struct Child {
    /// Its pid (informational; never signalled by it, G6).
    pub pid: u32,
    /// Its pidfd: readable once it has exited.
    pub pidfd: OwnedFd,
}

/// Starts a worker process with `channel` (the worker's end) inherited at the same descriptor
/// number, which `crew_env` names.
pub fn spawn(
    spec: &SpawnSpec<'_>,
    channel: &OwnedFd,
    crew_env: &[(&str, String)],
) -> io::Result<Child> {
    let mut cmd = Command::new(spec.program);
    cmd.args(spec.args);
    for (k, v) in spec.env {
        cmd.env(k, v);
    }
    for (k, v) in crew_env {
        cmd.env(k, v);
    }
    if let Some(cwd) = spec.cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(Stdio::null());
    if !spec.inherit_stdio {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let fd = channel.as_raw_fd();
    let parent = nix::unistd::getpid();
    // Runs in the child between fork and exec, where only async-signal-safe operations are
    // allowed: four plain system calls (prctl, getppid, close_range, fcntl) that neither
    // allocate nor take locks; errors are raw OS errors (no allocation), which std reports to
    // the parent as the spawn's error.
    let in_child = move || -> io::Result<()> {
        // G8: the kernel kills this worker when the primary's thread that forked it dies.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        // The primary may have died before prctl took effect: then the parent is no longer
        // the primary, and the worker must not run (G8).
        if nix::unistd::getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // G12, and beyond it: descriptors the primary itself inherited without close-on-exec
        // are not the worker's business either. Mark every descriptor above stdio
        // close-on-exec (best effort: kernels before 5.11 lack close_range, and crew's own
        // descriptors are close-on-exec anyway).
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing and touches no memory;
        // it only sets a flag on this (child) process's descriptors.
        let _ = unsafe {
            libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            )
        };
        // The worker's end, and only it, stays open across exec.
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        Ok(())
    };
    // SAFETY: `in_child` is async-signal-safe (see above), as pre_exec requires, and touches
    // only values it owns (`fd`, `parent`: plain integers).
    unsafe {
        cmd.pre_exec(in_child);
    }
    let child = cmd.spawn()?;
    let pid = child.id();
    // std's `Child` does not reap on drop; the pidfd reaps it (below). Until it is reaped the
    // pid cannot be reused, so this pidfd is the child's (G6).
    drop(child);
    let rpid = rustix::process::Pid::from_raw(pid as i32)
        .ok_or_else(|| io::Error::other("spawn returned pid 0"))?;
    let pidfd = rustix::process::pidfd_open(rpid, rustix::process::PidfdFlags::empty())?;
    Ok(Child { pid, pidfd })
}

/// Signals the process behind `pidfd` (G6: never by pid).
pub fn signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    let sig = rustix::process::Signal::from_named_raw(signal).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{signal} is not a signal"),
        )
    })?;
    rustix::process::pidfd_send_signal(pidfd, sig)?;
    Ok(())
}

/// Whether `signal` is a signal number [`signal`] accepts.
pub fn is_signal(signal: i32) -> bool {
    rustix::process::Signal::from_named_raw(signal).is_some()
}

/// Reaps the process behind `pidfd` if it has exited (G1), without blocking.
pub fn try_reap(pidfd: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let status = waitid(
        WaitId::PidFd(pidfd),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    )?;
    Ok(status.and_then(|s| {
        if s.exited() {
            Some(ExitStatus {
                code: s.exit_status(),
                signal: None,
            })
        } else if s.killed() || s.dumped() {
            Some(ExitStatus {
                code: None,
                signal: s.terminating_signal(),
            })
        } else {
            None
        }
    }))
}

/// Waits for the process behind `pidfd` to exit and reaps it.
pub fn reap_blocking(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    loop {
        match waitid(WaitId::PidFd(pidfd), WaitIdOptions::EXITED) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => return Ok(()),
        }
    }
}

/// Reads what is available; `Ok(0)` is EOF, `WouldBlock` means nothing now.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
}

/// Writes what the socket takes now, never raising SIGPIPE.
pub fn write_nonblocking(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    loop {
        match socket::send(
            fd.as_raw_fd(),
            bytes,
            MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
}

/// Shuts down the writing half: the peer reads EOF, this side can still read.
pub fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    match socket::shutdown(fd.as_raw_fd(), socket::Shutdown::Write) {
        Ok(()) | Err(Errno::ENOTCONN) => Ok(()),
        Err(e) => Err(errno(e)),
    }
}

/// Shuts down both halves of the socket (whatever descriptors refer to it).
pub fn shutdown_both(fd: BorrowedFd<'_>) -> io::Result<()> {
    match socket::shutdown(fd.as_raw_fd(), socket::Shutdown::Both) {
        Ok(()) | Err(Errno::ENOTCONN) => Ok(()),
        Err(e) => Err(errno(e)),
    }
}

/// The worker's end of its channel, a blocking socket written with `send(MSG_NOSIGNAL)`.
pub struct SocketSink(pub OwnedFd);

impl FrameSink for SocketSink {
    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match socket::send(self.0.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(errno(e)),
            }
        }
        Ok(())
    }
}

/// Takes ownership of the inherited channel descriptor `fd` in a worker, checking that it is an
/// open socket, and makes it close-on-exec so programs the worker starts do not inherit it
/// (G12).
pub fn adopt_channel(fd: RawFd) -> io::Result<OwnedFd> {
    let stat = nix::sys::stat::fstat(fd).map_err(errno)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::other(format!("descriptor {fd} is not a socket")));
    }
    // SAFETY: `fd` is open (fstat succeeded) and is the channel the primary handed to this
    // process; `Worker::connect` adopts it at most once per process (an atomic flag), so no
    // other owner exists and it is closed exactly once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    fcntl(owned.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(errno)?;
    set_nonblocking(owned.as_fd(), false)?;
    Ok(owned)
}

/// Duplicates a descriptor, close-on-exec.
pub fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Waits until one of `fds` is ready or `timeout_ms` passes (None: forever). Returns the
/// readiness flags per descriptor.
pub fn poll(
    fds: &[(BorrowedFd<'_>, bool, bool)],
    timeout_ms: Option<u64>,
    ready: &mut Vec<(bool, bool, bool)>,
) -> io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|&(fd, r, w)| {
            let mut ev = PollFlags::empty();
            ev.set(PollFlags::POLLIN, r);
            ev.set(PollFlags::POLLOUT, w);
            PollFd::new(fd, ev)
        })
        .collect();
    let timeout = match timeout_ms {
        None => PollTimeout::NONE,
        Some(ms) => PollTimeout::try_from(ms.min(i32::MAX as u64)).unwrap_or(PollTimeout::MAX),
    };
    loop {
        match nix::poll::poll(&mut pfds, timeout) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(errno(e)),
        }
    }
    ready.clear();
    for p in &pfds {
        let r = p.revents().unwrap_or(PollFlags::empty());
        let hup = r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL);
        ready.push((
            r.contains(PollFlags::POLLIN) || hup,
            r.contains(PollFlags::POLLOUT),
            hup,
        ));
    }
    Ok(())
}

/// The event loop's wake-up: an eventfd (close-on-exec, non-blocking).
pub struct EventWake(nix::sys::eventfd::EventFd);

impl EventWake {
    /// A new wake-up.
    pub fn new() -> io::Result<EventWake> {
        use nix::sys::eventfd::{EfdFlags, EventFd};
        EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map(EventWake)
            .map_err(errno)
    }

    /// Its descriptor, for poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl crate::commands::Wake for EventWake {
    fn wake(&self) {
        // EAGAIN means the counter is saturated: the loop is woken anyway.
        let _ = self.0.write(1);
    }

    fn clear(&self) {
        // EAGAIN means there was nothing to clear.
        let _ = self.0.read();
    }
}
