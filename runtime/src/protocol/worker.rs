//! The worker's side of the protocol, sans-IO: the handshake, numbering and framing of outgoing
//! messages, decoding of incoming ones.

use std::collections::VecDeque;
use std::ops::ControlFlow;

use crew_model::WorkerId;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::WorkerError;
use crate::wire::{self, Decoder, FrameKind, Hello};

/// Encodes the handshake, the first frame a worker writes (G2).
pub fn encode_hello(out: &mut Vec<u8>, worker: WorkerId, pid: u32) {
    // A Hello is 10 bytes at most: it always fits the frame limit.
    let _ = wire::encode(out, FrameKind::Hello, &Hello { worker, pid }, u32::MAX);
}

/// Encodes one message frame for the primary.
pub fn encode_message<Up: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    message: &Up,
    max_frame: u32,
) -> Result<(), WorkerError> {
    wire::encode(out, FrameKind::Message, message, max_frame).map_err(|e| match e {
        wire::EncodeError::TooLarge { len, limit } => WorkerError::TooLarge { len, limit },
        other => WorkerError::Serialize(other.to_string()),
    })
}

/// The receiving half of a worker: decodes the primary's frames in order (G4) and treats a bad
/// frame as the primary does (G10): an error, after which nothing more is accepted.
pub struct Inbox<Down> {
    decoder: Decoder,
    max_depth: usize,
    queue: VecDeque<Down>,
    /// Messages received so far (the next one's sequence number).
    received: u64,
    error: Option<String>,
    eof: bool,
}

impl<Down: DeserializeOwned> Inbox<Down> {
    /// An empty inbox with these limits.
    pub fn new(max_frame: u32, max_depth: usize) -> Self {
        Inbox {
            decoder: Decoder::new(max_frame),
            max_depth,
            queue: VecDeque::new(),
            received: 0,
            error: None,
            eof: false,
        }
    }

    /// Bytes read from the channel.
    pub fn on_bytes(&mut self, bytes: &[u8]) {
        if self.error.is_some() || self.eof {
            return;
        }
        let max_depth = self.max_depth;
        let queue = &mut self.queue;
        let mut bad = None;
        let fed = self.decoder.feed(bytes, |frame| match frame.kind {
            FrameKind::Message => match wire::decode_payload::<Down>(frame.payload, max_depth) {
                Ok(m) => {
                    queue.push_back(m);
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    bad = Some(format!("message does not decode: {e}"));
                    ControlFlow::Break(())
                }
            },
            FrameKind::Hello => {
                bad = Some("unexpected handshake from the primary".to_string());
                ControlFlow::Break(())
            }
        });
        if let Err(e) = fed {
            bad.get_or_insert_with(|| e.to_string());
        }
        self.error = bad;
    }

    /// The channel reached EOF: the primary disconnected this worker or died.
    pub fn on_eof(&mut self) {
        self.eof = true;
    }

    /// The next message, with its sequence number, if one is decoded; else the reason no more
    /// will come (`Some(Err)`), or `None` when more bytes are needed.
    // Not an `Iterator`: `None` means "feed more bytes", not the end, and the final error
    // repeats.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<(u64, Down), WorkerError>> {
        if let Some(m) = self.queue.pop_front() {
            let seq = self.received;
            self.received += 1;
            return Some(Ok((seq, m)));
        }
        if let Some(reason) = &self.error {
            return Some(Err(WorkerError::Protocol(reason.clone())));
        }
        if self.eof {
            return Some(Err(WorkerError::Disconnected));
        }
        None
    }
}
