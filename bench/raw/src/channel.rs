//! The OS side: fork+exec a worker with one end of a socketpair, and poll for readable sockets.
//! This module holds all of the program's unsafe code.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// The descriptor number under which a worker finds its end of the socketpair.
pub const WORKER_FD: RawFd = 3;

/// A forked worker as the primary holds it.
pub struct Worker {
    pub process: Child,
    pub sock: UnixStream,
}

/// Forks and execs this same executable as `<exe> __worker <args…>`, with the worker's end of a
/// fresh `AF_UNIX`/`SOCK_STREAM` socketpair on descriptor 3.
///
/// Both ends are created close-on-exec, so a worker inherits only its own end (moved to fd 3,
/// where `dup2` clears the flag), never a sibling's. Returns once the child has exec'd (std
/// reports a failed exec as an error).
pub fn spawn_worker(args: &[String]) -> io::Result<Worker> {
    let (primary_end, worker_end) = UnixStream::pair()?;
    let worker_fd = worker_end.as_raw_fd();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("__worker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: the closure runs in the forked child between fork and exec. It calls only dup2 and
    // fcntl, which are async-signal-safe, allocates nothing and takes no lock. `worker_fd` is
    // open in the child (the parent keeps `worker_end` alive until `spawn` returns).
    unsafe {
        cmd.pre_exec(move || {
            let r = if worker_fd == WORKER_FD {
                // dup2 onto itself would leave close-on-exec set; clear it instead.
                libc::fcntl(WORKER_FD, libc::F_SETFD, 0)
            } else {
                libc::dup2(worker_fd, WORKER_FD)
            };
            if r == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let process = cmd.spawn()?;
    drop(worker_end);
    Ok(Worker {
        process,
        sock: primary_end,
    })
}

/// In a worker: takes ownership of the socket the primary placed on descriptor 3.
pub fn worker_socket() -> UnixStream {
    // SAFETY: fd 3 was set up by `spawn_worker`'s pre_exec as this process's end of the
    // socketpair; nothing else in this process opens, owns or closes it, and this function is
    // called once.
    unsafe { UnixStream::from_raw_fd(WORKER_FD) }
}

/// Blocks until at least one of `fds` is readable (or hung up), and returns their indices.
pub fn poll_readable(fds: &[RawFd]) -> io::Result<Vec<usize>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `pfds` is a live, exclusively borrowed array of exactly `pfds.len()` pollfd
        // structs for the duration of the call; poll writes only their `revents` fields.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if r >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(pfds
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents != 0)
        .map(|(i, _)| i)
        .collect())
}

/// This process's resident set size in KiB, from `VmRSS` in /proc/self/status.
pub fn rss_kb() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc/self/status"))
}
