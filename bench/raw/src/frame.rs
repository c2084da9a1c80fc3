//! Length-prefixed frames: a 4-byte little-endian payload length, then the payload bytes.
//! No serialization, no magic, no version: the least any framed channel can do.

use std::io::{self, Read};
use std::ops::Range;

/// How much one `read()` asks for.
pub const READ_SIZE: usize = 64 * 1024;

/// Appends one frame carrying `payload` to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads a byte stream in large reads and cuts it into frames.
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl FrameReader {
    pub fn new() -> Self {
        FrameReader {
            buf: vec![0; 2 * READ_SIZE],
            start: 0,
            end: 0,
        }
    }

    /// One `read()` of up to [`READ_SIZE`] bytes. Returns the byte count; 0 means end of stream.
    pub fn fill(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.buf.len() - self.end < READ_SIZE {
            // Move the incomplete tail to the front; grow only for a frame larger than the buffer.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < READ_SIZE {
                self.buf.resize(self.end + READ_SIZE, 0);
            }
        }
        let n = r.read(&mut self.buf[self.end..self.end + READ_SIZE])?;
        self.end += n;
        Ok(n)
    }

    /// The next complete frame (header included) as a range into [`FrameReader::bytes`].
    pub fn next_frame(&mut self) -> Option<Range<usize>> {
        let avail = self.end - self.start;
        if avail < 4 {
            return None;
        }
        let header: [u8; 4] = self.buf[self.start..self.start + 4].try_into().unwrap();
        let total = 4 + u32::from_le_bytes(header) as usize;
        if avail < total {
            return None;
        }
        let frame = self.start..self.start + total;
        self.start += total;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Some(frame)
    }

    /// The buffer that [`FrameReader::next_frame`]'s ranges index. A range stays valid until the
    /// next call to [`FrameReader::fill`].
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether bytes of an incomplete frame are left over.
    pub fn has_partial(&self) -> bool {
        self.end > self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut stream = Vec::new();
        for len in [0usize, 1, 16, 70_000, 3] {
            encode(&vec![len as u8; len], &mut stream);
        }
        // A reader that hands out 5 bytes at a time.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(5).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut src = Trickle(&stream);
        let mut reader = FrameReader::new();
        let mut lens = Vec::new();
        while reader.fill(&mut src).unwrap() > 0 {
            while let Some(f) = reader.next_frame() {
                lens.push(f.len() - 4);
            }
        }
        assert_eq!(lens, [0, 1, 16, 70_000, 3]);
        assert!(!reader.has_partial());
    }
}
