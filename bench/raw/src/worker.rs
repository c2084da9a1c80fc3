//! The worker side: `__worker <role> …`, with the socket on descriptor 3.

use std::io::{Read, Write};
use std::process::ExitCode;

use crate::channel::worker_socket;
use crate::frame::{self, FrameReader};
use crate::{GO, HELLO};

pub fn run(args: &[String]) -> ExitCode {
    match serve(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crew-bench-raw worker: {e}");
            ExitCode::FAILURE
        }
    }
}

fn arg(args: &[String], i: usize) -> std::io::Result<u64> {
    args.get(i).and_then(|a| a.parse().ok()).ok_or_else(|| {
        std::io::Error::other(format!("worker argument {i} missing or not a number"))
    })
}

fn serve(args: &[String]) -> std::io::Result<ExitCode> {
    let mut sock = worker_socket();
    sock.write_all(&[HELLO])?;
    match args.first().map(String::as_str) {
        // ipc <messages> <payload> <batch>: wait for GO, send, exit at once.
        Some("ipc") => {
            let (messages, payload, batch) = (arg(args, 1)?, arg(args, 2)?, arg(args, 3)?.max(1));
            let mut go = [0u8; 1];
            sock.read_exact(&mut go)?;
            if go[0] != GO {
                return Err(std::io::Error::other("expected GO"));
            }
            let payload = vec![b'x'; payload as usize];
            let mut frame = Vec::new();
            frame::encode(&payload, &mut frame);
            // B frames per write(); with B = 1, one write() per message.
            let full: Vec<u8> = frame.repeat(batch as usize);
            let mut left = messages;
            while left > 0 {
                let n = left.min(batch);
                sock.write_all(&full[..n as usize * frame.len()])?;
                left -= n;
            }
            // Exit straight after the last write: whatever write() accepted sits in the kernel's
            // socket buffer and reaches the primary regardless.
            std::process::exit(0);
        }
        // pingpong: echo every frame back in one write, until the primary closes the socket.
        Some("pingpong") => {
            let mut reader = FrameReader::new();
            while reader.fill(&mut sock)? > 0 {
                while let Some(f) = reader.next_frame() {
                    sock.write_all(&reader.bytes()[f])?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        // idle: stay online until killed or the primary closes the socket.
        Some("idle") => {
            let mut sink = [0u8; 64];
            while sock.read(&mut sink)? > 0 {}
            Ok(ExitCode::SUCCESS)
        }
        // crash: exit with code 1 right after coming online.
        Some("crash") => std::process::exit(1),
        other => Err(std::io::Error::other(format!(
            "unknown worker role {other:?}"
        ))),
    }
}
