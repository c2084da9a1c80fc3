//! Throughput of the wire codec. Prints one JSON line per case.
//!
//! `cargo run --release -p crew --example wire_bench`
//!
//! * `decode`: a stream of frames with `payload`-byte payloads, fed to a [`Decoder`] in 64 KiB
//!   reads (so most frames are borrowed zero-copy and one per read is reassembled), the callback
//!   only touching the payload. `payload_decode` adds postcard decoding of each payload as a
//!   `Vec<u8>` (with the depth limit), i.e. what the primary does per message.
//! * `encode`: the same frames appended to a reused output buffer.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crew::wire::{
    decode_payload, encode, Decoder, FrameKind, DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME,
};

const READ: usize = 64 << 10;
const TARGET: Duration = Duration::from_millis(1500);

fn report(bench: &str, payload: usize, frames: u64, bytes: u64, secs: f64) {
    println!(
        "{{\"bench\":\"{bench}\",\"payload\":{payload},\"frames\":{frames},\"secs\":{secs:.3},\"frames_per_s\":{:.0},\"mb_per_s\":{:.1}}}",
        frames as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

/// Runs `round` (which processes `frames_per_round` frames, `bytes_per_round` bytes) until
/// TARGET has elapsed.
fn run(
    bench: &str,
    payload: usize,
    frames_per_round: u64,
    bytes_per_round: u64,
    mut round: impl FnMut(),
) {
    round(); // warm-up
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < TARGET {
        round();
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    report(
        bench,
        payload,
        rounds * frames_per_round,
        rounds * bytes_per_round,
        secs,
    );
}

fn main() {
    for payload_len in [64usize, 64 << 10] {
        // The payload is a Vec<u8> whose postcard form is exactly `payload_len` bytes.
        let prefix = if payload_len < 128 {
            1
        } else if payload_len < 16384 {
            2
        } else {
            3
        };
        let value = vec![0xA5u8; payload_len - prefix];
        let frames: u64 = if payload_len == 64 { 100_000 } else { 200 };
        let mut stream = Vec::new();
        for _ in 0..frames {
            encode(&mut stream, FrameKind::Message, &value, DEFAULT_MAX_FRAME).unwrap();
        }
        let frame_len = stream.len() / frames as usize;
        assert_eq!(frame_len, payload_len + 8);
        let bytes = stream.len() as u64;

        run("decode", payload_len, frames, bytes, || {
            let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
            let mut n = 0u64;
            for read in stream.chunks(READ) {
                decoder
                    .feed(read, |f| {
                        n += f.payload.len() as u64;
                        ControlFlow::Continue(())
                    })
                    .unwrap();
            }
            assert_eq!(n, frames * payload_len as u64);
            black_box(n);
        });

        run("payload_decode", payload_len, frames, bytes, || {
            let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
            let mut n = 0u64;
            for read in stream.chunks(READ) {
                decoder
                    .feed(read, |f| {
                        let v: Vec<u8> = decode_payload(f.payload, DEFAULT_MAX_DEPTH).unwrap();
                        n += v.len() as u64;
                        ControlFlow::Continue(())
                    })
                    .unwrap();
            }
            black_box(n);
        });

        let mut out = Vec::with_capacity(stream.len());
        run("encode", payload_len, frames, bytes, || {
            out.clear();
            for _ in 0..frames {
                encode(
                    &mut out,
                    FrameKind::Message,
                    black_box(&value),
                    DEFAULT_MAX_FRAME,
                )
                .unwrap();
            }
            black_box(&out);
        });
    }
}
