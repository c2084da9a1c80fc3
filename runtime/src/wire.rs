//! The wire codec: how the primary and a worker frame their messages on the channel.
//!
//! A channel is one `AF_UNIX` `SOCK_STREAM` socketpair per worker. Each direction carries a
//! sequence of *frames*; this module turns values into frames ([`encode`]), cuts a byte stream
//! back into frames ([`Decoder`]) and turns a frame's payload back into a value
//! ([`decode_payload`]). It does no I/O: the driver reads and writes the socket, and hands the
//! bytes it read to a [`Decoder`], one per direction per channel.
//!
//! # Frame format
//!
//! Every frame is an 8-byte header followed by the payload:
//!
//! | bytes  | field   | value                                                               |
//! |--------|---------|---------------------------------------------------------------------|
//! | 0..2   | magic   | `b"cw"` ([`MAGIC`])                                                 |
//! | 2      | version | `1` ([`VERSION`])                                                   |
//! | 3      | kind    | `1` = [`FrameKind::Hello`], `2` = [`FrameKind::Message`]; any other value is an error |
//! | 4..8   | length  | payload length in bytes, `u32` little-endian, at most the frame limit |
//! | 8..    | payload | `length` bytes of [postcard]                                        |
//!
//! The payload of a Hello frame is postcard of [`Hello`]; the payload of a Message frame is
//! postcard of the user's message type. There is no sequence number on the wire: a stream socket
//! is FIFO and the model numbers the messages itself. Disconnect is not a frame either: it is the
//! socket's end of file, after which [`Decoder::finish`] tells whether the peer stopped in the
//! middle of a frame.
//!
//! # Handshake
//!
//! The first frame a worker writes is a Hello carrying its worker id and its pid. The primary
//! checks that the id is the one it forked on that channel, and only then reports the worker
//! Online (G2: Online is the first thing on the channel, so no message precedes it). A Message
//! before the Hello, a second Hello, or a Hello with the wrong id is a protocol error handled
//! like a bad frame below. From the primary to the worker only Message frames flow.
//!
//! # Limits
//!
//! * **Frame size.** A payload may be at most `max_frame` bytes, [`DEFAULT_MAX_FRAME`] (4 MiB)
//!   unless configured. [`encode`] refuses a larger value before anything reaches the socket;
//!   [`Decoder`] rejects a header that announces one as soon as the header's length field has
//!   arrived, without buffering its payload. A decoder never allocates more than
//!   [`HEADER_LEN`] + `max_frame` bytes, so memory per channel is bounded by the limit (G10).
//! * **Nesting depth.** postcard has no depth limit of its own, so a recursive message type fed
//!   a payload of deep nesting would overflow the stack. [`decode_payload`] counts how many
//!   compound values (sequence, map, struct, tuple, enum, option, newtype) are being
//!   deserialized inside one another and fails with [`PayloadError::TooDeep`] past `max_depth`,
//!   [`DEFAULT_MAX_DEPTH`] (64) unless configured. Each level costs a few stack frames, well
//!   under a kilobyte in release builds, so the default fits any thread's stack.
//!
//! # Bad frames (G10)
//!
//! | what arrives                                     | error                               |
//! |--------------------------------------------------|-------------------------------------|
//! | first two bytes are not `cw`                     | [`FrameError::BadMagic`]            |
//! | version byte is not `1`                          | [`FrameError::BadVersion`]          |
//! | kind byte is neither `1` nor `2`                 | [`FrameError::UnknownKind`]         |
//! | length over the frame limit                      | [`FrameError::TooLarge`]            |
//! | end of file inside a header or a payload         | [`FrameError::Truncated`] (from [`Decoder::finish`]) |
//! | payload that is not postcard of the expected type| [`PayloadError::Postcard`]          |
//! | payload nesting deeper than the depth limit      | [`PayloadError::TooDeep`]           |
//! | payload with bytes left after the value          | [`PayloadError::TrailingBytes`]     |
//!
//! Each header field is checked as soon as its bytes have arrived, so garbage is rejected on the
//! read that brings it, not when eight bytes have accumulated. After the first bad header the
//! decoder is *poisoned*: it delivers no more frames and every later [`Decoder::feed`] returns
//! the same error, because once framing is lost no later byte can be trusted.
//!
//! On the primary, any of these errors from a worker's channel is a protocol error for that
//! worker: the primary reports it, closes that worker's channel and kills the worker. No panic,
//! and the other workers are unaffected (G10). The worker side treats a bad frame from the
//! primary the same way: it reports the error and exits.
//!
//! # Cost
//!
//! [`encode`] appends to a caller-owned buffer and back-patches the length: no intermediate
//! allocation. [`Decoder::feed`] hands out every frame that lies wholly inside the bytes it was
//! given as a borrowed slice of those bytes (zero copy, no per-frame allocation); only the
//! unfinished frame at the end of a read is copied into the decoder's buffer.
//!
//! # Example
//!
//! ```
//! use crew::wire::{self, Decoder, FrameKind, DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME};
//! use std::ops::ControlFlow;
//!
//! let mut out = Vec::new();
//! wire::encode(&mut out, FrameKind::Message, &("ping", 7u32), DEFAULT_MAX_FRAME).unwrap();
//!
//! let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
//! let mut got = Vec::new();
//! for chunk in out.chunks(3) {
//!     decoder
//!         .feed(chunk, |frame| {
//!             let msg: (String, u32) = wire::decode_payload(frame.payload, DEFAULT_MAX_DEPTH).unwrap();
//!             got.push(msg);
//!             ControlFlow::Continue(())
//!         })
//!         .unwrap();
//! }
//! decoder.finish().unwrap();
//! assert_eq!(got, [("ping".to_string(), 7)]);
//! ```

use std::fmt;
use std::ops::ControlFlow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"cw";
/// The wire format version this module speaks (byte 2 of the header).
pub const VERSION: u8 = 1;
/// Length of a frame header in bytes.
pub const HEADER_LEN: usize = 8;
/// Default limit on a frame's payload length: 4 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 4 << 20;
/// Default limit on the nesting depth of a payload (see [`decode_payload`]).
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// What a frame carries (byte 3 of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// The worker's handshake, the first frame from a worker; payload is postcard of [`Hello`].
    Hello = 1,
    /// A user message; payload is postcard of the user's message type.
    Message = 2,
}

impl FrameKind {
    /// The kind for a header byte, or `None` if the byte names no kind.
    pub const fn from_byte(byte: u8) -> Option<FrameKind> {
        match byte {
            1 => Some(FrameKind::Hello),
            2 => Some(FrameKind::Message),
            _ => None,
        }
    }
}

/// The payload of the worker's handshake frame.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The worker id the primary gave this worker at fork.
    pub worker: u32,
    /// The worker's process id.
    pub pid: u32,
}

/// One complete frame, as handed out by [`Decoder::feed`]. The payload borrows either the bytes
/// being fed or the decoder's buffer, so it lives only for the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the frame carries.
    pub kind: FrameKind,
    /// The payload bytes, exactly as many as the header announced.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Decodes the payload as a `T`; shorthand for [`decode_payload`]`(self.payload, max_depth)`.
    pub fn decode<T: Deserialize<'a>>(&self, max_depth: usize) -> Result<T, PayloadError> {
        decode_payload(self.payload, max_depth)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The byte stream does not frame: a bad header, or a stream that ended inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The first two bytes of a header were not [`MAGIC`].
    BadMagic {
        /// The two bytes found instead.
        found: [u8; 2],
    },
    /// The version byte was not [`VERSION`].
    BadVersion {
        /// The version byte found.
        found: u8,
    },
    /// The kind byte names no [`FrameKind`].
    UnknownKind {
        /// The kind byte found.
        found: u8,
    },
    /// The header announced a payload longer than the frame limit.
    TooLarge {
        /// The announced payload length.
        len: u32,
        /// The decoder's frame limit.
        limit: u32,
    },
    /// The stream ended inside a frame (from [`Decoder::finish`]).
    Truncated {
        /// Bytes of the unfinished frame (header included) that had arrived.
        buffered: usize,
        /// Bytes that frame needed: [`HEADER_LEN`] + payload length, or just [`HEADER_LEN`]
        /// if the header itself was incomplete.
        expected: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::BadMagic { found } => write!(
                f,
                "bad frame magic {found:02x?}, expected {:02x?} (\"cw\")",
                MAGIC
            ),
            FrameError::BadVersion { found } => {
                write!(f, "unsupported frame version {found}, expected {VERSION}")
            }
            FrameError::UnknownKind { found } => {
                write!(
                    f,
                    "unknown frame kind {found} (known: 1 = Hello, 2 = Message)"
                )
            }
            FrameError::TooLarge { len, limit } => write!(
                f,
                "frame payload of {len} bytes exceeds the frame limit of {limit} bytes"
            ),
            FrameError::Truncated { buffered, expected } => write!(
                f,
                "stream ended inside a frame: {buffered} of its {expected} bytes arrived"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// A frame's payload does not decode as the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// postcard rejected the payload (wrong type, bad varint, invalid UTF-8, ended early, …).
    Postcard(postcard::Error),
    /// The payload nests compound values deeper than the depth limit.
    TooDeep {
        /// The depth limit that was exceeded.
        limit: usize,
    },
    /// The value decoded but bytes were left over after it.
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Postcard(e) => write!(f, "payload does not decode: {e}"),
            PayloadError::TooDeep { limit } => {
                write!(f, "payload nests deeper than the limit of {limit} levels")
            }
            PayloadError::TrailingBytes { count } => {
                write!(f, "payload has {count} trailing bytes after the value")
            }
        }
    }
}

impl std::error::Error for PayloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PayloadError::Postcard(e) => Some(e),
            _ => None,
        }
    }
}

/// A value could not be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The serialized value is longer than the frame limit.
    TooLarge {
        /// The serialized length in bytes.
        len: usize,
        /// The frame limit.
        limit: u32,
    },
    /// postcard could not serialize the value (e.g. a sequence of unknown length).
    Serialize(postcard::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { len, limit } => write!(
                f,
                "message of {len} bytes exceeds the frame limit of {limit} bytes"
            ),
            EncodeError::Serialize(e) => write!(f, "message does not serialize: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EncodeError::Serialize(e) => Some(e),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// A postcard output flavor that appends to a caller's `Vec`, stores at most `limit` bytes and
/// counts the rest, so an oversized value costs CPU but never more than `limit` bytes of memory.
struct Append<'a> {
    out: &'a mut Vec<u8>,
    limit: usize,
    len: usize,
}

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = usize;

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.len += 1;
        if self.len <= self.limit {
            self.out.push(byte);
        }
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.len += data.len();
        if self.len <= self.limit {
            self.out.extend_from_slice(data);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.len)
    }
}

/// Appends one frame, header then postcard of `value`, to `out`.
///
/// The header is written first and its length field back-patched once the payload is known, so
/// there is no intermediate buffer. Fails with [`EncodeError::TooLarge`] if the payload would
/// exceed `max_frame` bytes (the serializer stops storing at the limit, so an oversized value
/// never costs more than `max_frame` bytes of memory), or [`EncodeError::Serialize`] if postcard
/// cannot serialize the value. On error `out` is left exactly as it was.
pub fn encode<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    kind: FrameKind,
    value: &T,
    max_frame: u32,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[MAGIC[0], MAGIC[1], VERSION, kind as u8, 0, 0, 0, 0]);
    let flavor = Append {
        out: &mut *out,
        limit: max_frame as usize,
        len: 0,
    };
    match postcard::serialize_with_flavor(value, flavor) {
        Ok(len) if len <= max_frame as usize => {
            // `len <= max_frame`, a u32, so the cast is lossless.
            out[start + 4..start + HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
            Ok(())
        }
        Ok(len) => {
            out.truncate(start);
            Err(EncodeError::TooLarge {
                len,
                limit: max_frame,
            })
        }
        Err(e) => {
            out.truncate(start);
            Err(EncodeError::Serialize(e))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payload decoding
// ---------------------------------------------------------------------------------------------

/// Decodes a frame's payload as a `T`, refusing nesting deeper than `max_depth` and trailing
/// bytes.
///
/// Depth counts the compound values (sequence, map, struct, tuple, enum, option, newtype struct)
/// being deserialized inside one another: `u32` has depth 0, `Vec<u32>` depth 1,
/// `Option<Vec<u32>>` depth 2. Errors: [`PayloadError::TooDeep`] past `max_depth` (the stack
/// used is bounded by `max_depth`, whatever the payload), [`PayloadError::TrailingBytes`] if the
/// value ends before the payload does, [`PayloadError::Postcard`] for anything postcard rejects.
/// Costs one pass over the payload plus whatever `T`'s own allocations cost. `T` may borrow from
/// the payload (`&str`, `&[u8]`); use a `T: DeserializeOwned` to keep the value past the frame.
pub fn decode_payload<'de, T: Deserialize<'de>>(
    payload: &'de [u8],
    max_depth: usize,
) -> Result<T, PayloadError> {
    let depth = depth::Budget::new(max_depth);
    let mut de = postcard::Deserializer::from_bytes(payload);
    let result = T::deserialize(depth::Limited::new(&mut de, &depth));
    match result {
        Ok(value) => {
            let rest = de.finalize().map_err(PayloadError::Postcard)?;
            if rest.is_empty() {
                Ok(value)
            } else {
                Err(PayloadError::TrailingBytes { count: rest.len() })
            }
        }
        Err(_) if depth.exceeded() => Err(PayloadError::TooDeep { limit: max_depth }),
        Err(e) => Err(PayloadError::Postcard(e)),
    }
}

/// [`decode_payload`] for owned types, with the default depth limit.
pub fn decode_owned<T: DeserializeOwned>(payload: &[u8]) -> Result<T, PayloadError> {
    decode_payload(payload, DEFAULT_MAX_DEPTH)
}

/// A `serde::Deserializer` wrapper that bounds nesting depth.
///
/// postcard recurses once per nested compound value with no limit. Every nested value reaches
/// the user's `Deserialize` impl through a `Deserializer` that some access object (seq, map,
/// enum, variant, option, newtype) hands to a seed or visitor, so wrapping the deserializer and
/// everything it hands out, and counting on entry to each compound `deserialize_*`, sees every
/// level. On overflow the wrapper returns the inner format's own error type (built with
/// `Error::custom`) and records the cause in the shared [`depth::Budget`], which
/// [`decode_payload`] reads to report [`PayloadError::TooDeep`].
mod depth {
    use std::cell::Cell;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

    /// Shared depth state for one decode.
    pub(super) struct Budget {
        max: usize,
        current: Cell<usize>,
        exceeded: Cell<bool>,
    }

    impl Budget {
        pub(super) fn new(max: usize) -> Budget {
            Budget {
                max,
                current: Cell::new(0),
                exceeded: Cell::new(false),
            }
        }

        pub(super) fn exceeded(&self) -> bool {
            self.exceeded.get()
        }

        fn enter<E: de::Error>(&self) -> Result<(), E> {
            let next = self.current.get() + 1;
            if next > self.max {
                self.exceeded.set(true);
                return Err(E::custom(format_args!(
                    "nesting deeper than {} levels",
                    self.max
                )));
            }
            self.current.set(next);
            Ok(())
        }

        fn leave(&self) {
            self.current.set(self.current.get() - 1);
        }

        /// Runs `f` one level deeper.
        fn nested<T, E: de::Error>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
            self.enter()?;
            let result = f();
            self.leave();
            result
        }
    }

    /// A deserializer counted against a [`Budget`].
    pub(super) struct Limited<'b, D> {
        inner: D,
        budget: &'b Budget,
    }

    impl<'b, D> Limited<'b, D> {
        pub(super) fn new(inner: D, budget: &'b Budget) -> Self {
            Limited { inner, budget }
        }
    }

    /// Wraps whatever the inner deserializer hands out so that nested values stay counted.
    struct Wrap<'b, X> {
        inner: X,
        budget: &'b Budget,
    }

    impl<'b, X> Wrap<'b, X> {
        fn new(inner: X, budget: &'b Budget) -> Self {
            Wrap { inner, budget }
        }
    }

    macro_rules! forward_flat {
        ($($method:ident)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method(Wrap::new(visitor, self.budget))
            }
        )*};
    }

    macro_rules! forward_nested {
        ($($method:ident)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                let budget = self.budget;
                budget.nested(|| self.inner.$method(Wrap::new(visitor, budget)))
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'_, D> {
        type Error = D::Error;

        forward_flat! {
            deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
            deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
            deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
            deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
            deserialize_identifier deserialize_ignored_any
        }

        forward_nested! {
            deserialize_any deserialize_option deserialize_seq deserialize_map
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.inner
                .deserialize_unit_struct(name, Wrap::new(visitor, self.budget))
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let budget = self.budget;
            budget.nested(|| {
                self.inner
                    .deserialize_newtype_struct(name, Wrap::new(visitor, budget))
            })
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let budget = self.budget;
            budget.nested(|| {
                self.inner
                    .deserialize_tuple(len, Wrap::new(visitor, budget))
            })
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let budget = self.budget;
            budget.nested(|| {
                self.inner
                    .deserialize_tuple_struct(name, len, Wrap::new(visitor, budget))
            })
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let budget = self.budget;
            budget.nested(|| {
                self.inner
                    .deserialize_struct(name, fields, Wrap::new(visitor, budget))
            })
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            let budget = self.budget;
            budget.nested(|| {
                self.inner
                    .deserialize_enum(name, variants, Wrap::new(visitor, budget))
            })
        }

        fn is_human_readable(&self) -> bool {
            self.inner.is_human_readable()
        }
    }

    macro_rules! forward_visit {
        ($($method:ident($ty:ty))*) => {$(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.expecting(f)
        }

        forward_visit! {
            visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
            visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
            visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char)
            visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
            visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
        }

        fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            self.inner.visit_some(Limited::new(d, self.budget))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            self.inner
                .visit_newtype_struct(Limited::new(d, self.budget))
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
            self.inner.visit_seq(Wrap::new(seq, self.budget))
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            self.inner.visit_map(Wrap::new(map, self.budget))
        }

        fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
            self.inner.visit_enum(Wrap::new(data, self.budget))
        }
    }

    /// A seed whose deserializer is counted.
    struct Seed<'b, S> {
        inner: S,
        budget: &'b Budget,
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
            self.inner.deserialize(Limited::new(d, self.budget))
        }
    }

    impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Wrap<'_, A> {
        type Error = A::Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, A::Error> {
            let budget = self.budget;
            self.inner.next_element_seed(Seed {
                inner: seed,
                budget,
            })
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Wrap<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            let budget = self.budget;
            self.inner.next_key_seed(Seed {
                inner: seed,
                budget,
            })
        }

        fn next_value_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            let budget = self.budget;
            self.inner.next_value_seed(Seed {
                inner: seed,
                budget,
            })
        }

        fn size_hint(&self) -> Option<usize> {
            self.inner.size_hint()
        }
    }

    impl<'de, 'b, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Wrap<'b, A> {
        type Error = A::Error;
        type Variant = Wrap<'b, A::Variant>;

        fn variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<(T::Value, Self::Variant), A::Error> {
            let budget = self.budget;
            let (value, variant) = self.inner.variant_seed(Seed {
                inner: seed,
                budget,
            })?;
            Ok((value, Wrap::new(variant, budget)))
        }
    }

    impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Wrap<'_, A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.inner.unit_variant()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(
            self,
            seed: T,
        ) -> Result<T::Value, A::Error> {
            self.inner.newtype_variant_seed(Seed {
                inner: seed,
                budget: self.budget,
            })
        }

        fn tuple_variant<V: Visitor<'de>>(
            self,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            self.inner
                .tuple_variant(len, Wrap::new(visitor, self.budget))
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            self.inner
                .struct_variant(fields, Wrap::new(visitor, self.budget))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming decoder
// ---------------------------------------------------------------------------------------------

/// What [`Decoder::feed`] did with the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Every byte was consumed: complete frames were delivered, a trailing partial frame (if
    /// any) was buffered.
    Consumed,
    /// The callback returned [`ControlFlow::Break`]: the first `consumed` bytes were consumed
    /// (up to the end of the frame the callback stopped on) and the rest were not looked at.
    /// Feeding `&bytes[consumed..]` later resumes exactly where the decoder stopped.
    Stopped {
        /// How many of the fed bytes were consumed.
        consumed: usize,
    },
}

/// The header fields, validated.
#[derive(Debug, Clone, Copy)]
struct Header {
    kind: FrameKind,
    len: u32,
}

impl Header {
    /// Total frame length, header included.
    fn frame_len(self) -> usize {
        HEADER_LEN.saturating_add(self.len as usize)
    }
}

/// Checks the header fields whose bytes are present in `prefix` (which may be shorter or longer
/// than a header), each as soon as it is complete. `Ok(None)`: no error so far, header
/// incomplete.
#[inline]
fn check_header(prefix: &[u8], max_frame: u32) -> Result<Option<Header>, FrameError> {
    if prefix.len() >= 2 && prefix[..2] != MAGIC {
        return Err(FrameError::BadMagic {
            found: [prefix[0], prefix[1]],
        });
    }
    if prefix.len() >= 3 && prefix[2] != VERSION {
        return Err(FrameError::BadVersion { found: prefix[2] });
    }
    let kind = match prefix.get(3) {
        None => return Ok(None),
        Some(&byte) => FrameKind::from_byte(byte).ok_or(FrameError::UnknownKind { found: byte })?,
    };
    let Some(len_bytes) = prefix.get(4..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    if len > max_frame {
        return Err(FrameError::TooLarge {
            len,
            limit: max_frame,
        });
    }
    Ok(Some(Header { kind, len }))
}

/// Above this capacity the buffer is released once its frame has been delivered, so a channel
/// that saw one large frame does not keep its memory; below it the buffer is kept for reuse.
const RETAINED_CAPACITY: usize = 64 << 10;

/// Cuts a byte stream into frames. One per direction per channel.
///
/// Feed it the bytes of each read in order, whatever their chunking; it calls back once per
/// complete frame, in stream order. See the [module docs](self) for the format and the errors.
#[derive(Debug)]
pub struct Decoder {
    max_frame: u32,
    /// The unfinished frame: header bytes, then payload bytes. Never longer (nor allocated
    /// larger) than `HEADER_LEN + max_frame`.
    buf: Vec<u8>,
    /// Set at the first bad header; from then on every feed returns it.
    poisoned: Option<FrameError>,
}

impl Default for Decoder {
    /// A decoder with the [`DEFAULT_MAX_FRAME`] limit.
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder {
    /// A decoder that rejects payloads longer than `max_frame` bytes. Allocates nothing until a
    /// frame is split across feeds.
    pub fn new(max_frame: u32) -> Self {
        Decoder {
            max_frame,
            buf: Vec::new(),
            poisoned: None,
        }
    }

    /// The frame limit this decoder enforces.
    pub fn max_frame(&self) -> u32 {
        self.max_frame
    }

    /// Bytes of an unfinished frame held in the buffer (0 between frames).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes currently allocated for the buffer; never more than [`HEADER_LEN`] + `max_frame`.
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// The error that poisoned this decoder, if any.
    pub fn error(&self) -> Option<FrameError> {
        self.poisoned
    }

    /// Feeds the next bytes of the stream, in arbitrary chunks, calling `on_frame` for each
    /// complete frame in order.
    ///
    /// Frames that lie wholly inside `bytes` are passed as slices of `bytes` (no copy, no
    /// allocation); only a frame split across feeds is copied into the internal buffer, which
    /// grows with the bytes that arrive (not with the length the header announces) and never
    /// beyond [`HEADER_LEN`] + `max_frame`.
    ///
    /// `on_frame` returns [`ControlFlow::Continue`] to go on, or [`ControlFlow::Break`] to stop
    /// right after that frame, in which case feed returns [`Feed::Stopped`] with the number of
    /// bytes consumed (e.g. to stop at a payload that does not decode, or to apply
    /// backpressure). Otherwise it returns [`Feed::Consumed`].
    ///
    /// Errors: at the first bad header (bad magic, version, kind, or a length over the limit)
    /// returns that [`FrameError`], after delivering the frames before it; the decoder is then
    /// poisoned and every later call returns the same error and delivers nothing.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> Result<Feed, FrameError> {
        if let Some(e) = self.poisoned {
            return Err(e);
        }
        let mut rest = bytes;

        // Finish the frame left unfinished by earlier feeds.
        if !self.buf.is_empty() {
            let header = if self.buf.len() < HEADER_LEN {
                let take = (HEADER_LEN - self.buf.len()).min(rest.len());
                self.push(&rest[..take]);
                rest = &rest[take..];
                match check_header(&self.buf, self.max_frame) {
                    Err(e) => return Err(self.poison(e)),
                    Ok(None) => return Ok(Feed::Consumed),
                    Ok(Some(header)) => header,
                }
            } else {
                // The header was validated when it completed.
                self.buffered_header()
            };
            let take = (header.frame_len() - self.buf.len()).min(rest.len());
            self.push(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() < header.frame_len() {
                return Ok(Feed::Consumed);
            }
            let flow = on_frame(Frame {
                kind: header.kind,
                payload: &self.buf[HEADER_LEN..],
            });
            self.buf.clear();
            if self.buf.capacity() > RETAINED_CAPACITY {
                self.buf = Vec::new();
            }
            if flow.is_break() {
                return Ok(Feed::Stopped {
                    consumed: bytes.len() - rest.len(),
                });
            }
        }

        // Frames wholly inside `bytes`: borrowed, not copied.
        while !rest.is_empty() {
            let header = match check_header(rest, self.max_frame) {
                Err(e) => return Err(self.poison(e)),
                Ok(None) => break,
                Ok(Some(header)) => header,
            };
            let frame_len = header.frame_len();
            if rest.len() < frame_len {
                break;
            }
            let (frame, tail) = rest.split_at(frame_len);
            rest = tail;
            let flow = on_frame(Frame {
                kind: header.kind,
                payload: &frame[HEADER_LEN..],
            });
            if flow.is_break() {
                return Ok(Feed::Stopped {
                    consumed: bytes.len() - rest.len(),
                });
            }
        }
        // What is left is the start of a frame whose known header fields are valid.
        self.push(rest);
        Ok(Feed::Consumed)
    }

    /// Checks the end of the stream (call it at EOF): `Ok(())` if no frame is unfinished,
    /// [`FrameError::Truncated`] if the peer stopped inside one, or the poisoning error.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(e) = self.poisoned {
            return Err(e);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let expected = if self.buf.len() >= HEADER_LEN {
            self.buffered_header().frame_len()
        } else {
            HEADER_LEN
        };
        Err(FrameError::Truncated {
            buffered: self.buf.len(),
            expected,
        })
    }

    fn poison(&mut self, e: FrameError) -> FrameError {
        self.poisoned = Some(e);
        self.buf = Vec::new();
        e
    }

    /// The header of the buffered frame; only called once it is complete (and so validated).
    fn buffered_header(&self) -> Header {
        let len = u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
        let kind = FrameKind::from_byte(self.buf[3]).unwrap_or(FrameKind::Message);
        Header { kind, len }
    }

    /// Appends to the buffer, growing its allocation geometrically but never past the frame
    /// being assembled (`HEADER_LEN + max_frame` at most), so the allocation bound holds however
    /// the reads are split. Callers only push bytes of one frame whose checked fields are valid.
    fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            let frame_len = if self.buf.len() + bytes.len() >= HEADER_LEN {
                let mut header = [0u8; HEADER_LEN];
                let from_buf = self.buf.len().min(HEADER_LEN);
                header[..from_buf].copy_from_slice(&self.buf[..from_buf]);
                header[from_buf..].copy_from_slice(&bytes[..HEADER_LEN - from_buf]);
                HEADER_LEN.saturating_add(u32::from_le_bytes([
                    header[4], header[5], header[6], header[7],
                ]) as usize)
            } else {
                HEADER_LEN
            };
            let bound = frame_len.min(HEADER_LEN.saturating_add(self.max_frame as usize));
            let target = needed.max(self.buf.capacity() * 2).min(bound).max(needed);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }
}

/// Fuzz and regression entry points: `fuzz/` runs them under libFuzzer and
/// `tests/fuzz_corpus.rs` replays the committed corpus through them on stable. They panic
/// when the codec breaks one of its promises; that is their purpose.
#[doc(hidden)]
pub mod fuzzing {
    use std::collections::BTreeMap;
    use std::ops::ControlFlow;

    use serde::{Deserialize, Serialize};

    use super::*;

    /// A message type exercising most of the serde data model.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub enum FuzzMessage {
        Unit,
        Text(String),
        Bytes(#[serde(with = "serde_bytes_compat")] Vec<u8>),
        Numbers {
            a: u8,
            b: i16,
            c: u32,
            d: i64,
            e: u128,
            flag: bool,
            ch: char,
        },
        Float(f64, f32),
        Nested(Option<Box<FuzzMessage>>),
        List(Vec<FuzzMessage>),
        Map(BTreeMap<String, Option<u32>>),
        Pair(Box<(FuzzMessage, Hello)>),
        Wrapper(Wrapper),
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct Wrapper(pub Vec<Option<String>>);

    /// `Vec<u8>` through `serialize_bytes`, so the bytes path of the depth wrapper is exercised.
    mod serde_bytes_compat {
        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
                fn visit_borrowed_bytes<E: serde::de::Error>(
                    self,
                    v: &'de [u8],
                ) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
            }
            d.deserialize_bytes(V)
        }
    }

    /// A recursive type: postcard would recurse once per `Node` without the depth limit.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub enum Tree {
        Leaf,
        Node(Box<Tree>),
        Fork(Vec<Tree>),
    }

    /// A byte reader that never fails: past the end it yields zeros.
    struct Source<'a>(&'a [u8]);

    impl<'a> Source<'a> {
        fn byte(&mut self) -> u8 {
            match self.0.split_first() {
                Some((&b, rest)) => {
                    self.0 = rest;
                    b
                }
                None => 0,
            }
        }

        fn take(&mut self, n: usize) -> &'a [u8] {
            let (head, tail) = self.0.split_at(n.min(self.0.len()));
            self.0 = tail;
            head
        }

        fn array<const N: usize>(&mut self) -> [u8; N] {
            let mut out = [0u8; N];
            for b in &mut out {
                *b = self.byte();
            }
            out
        }

        fn string(&mut self) -> String {
            let n = self.byte() as usize;
            String::from_utf8_lossy(self.take(n)).into_owned()
        }
    }

    fn message(src: &mut Source<'_>, depth: u32) -> FuzzMessage {
        let deeper = depth < 6;
        match src.byte() % 10 {
            0 => FuzzMessage::Unit,
            1 => FuzzMessage::Text(src.string()),
            2 => {
                let n = src.byte() as usize;
                FuzzMessage::Bytes(src.take(n).to_vec())
            }
            3 => FuzzMessage::Numbers {
                a: src.byte(),
                b: i16::from_le_bytes(src.array()),
                c: u32::from_le_bytes(src.array()),
                d: i64::from_le_bytes(src.array()),
                e: u128::from_le_bytes(src.array()),
                flag: src.byte() & 1 == 1,
                ch: char::from_u32(u32::from_le_bytes(src.array())).unwrap_or('\u{fffd}'),
            },
            // Finite floats only, so that equality is reflexive.
            4 => FuzzMessage::Float(
                f64::from(i32::from_le_bytes(src.array())) / 8.0,
                f32::from(i16::from_le_bytes(src.array())) / 4.0,
            ),
            5 if deeper && src.byte() & 1 == 1 => {
                FuzzMessage::Nested(Some(Box::new(message(src, depth + 1))))
            }
            5 => FuzzMessage::Nested(None),
            6 if deeper => {
                let n = src.byte() % 4;
                FuzzMessage::List((0..n).map(|_| message(src, depth + 1)).collect())
            }
            6 => FuzzMessage::List(Vec::new()),
            7 => {
                let n = src.byte() % 4;
                FuzzMessage::Map(
                    (0..n)
                        .map(|_| {
                            let key = src.string();
                            let value = (src.byte() & 1 == 1)
                                .then(|| u32::from_le_bytes([src.byte(), src.byte(), 0, 0]));
                            (key, value)
                        })
                        .collect(),
                )
            }
            8 if deeper => {
                let inner = message(src, depth + 1);
                let hello = Hello {
                    worker: u32::from_le_bytes(src.array()),
                    pid: u32::from_le_bytes(src.array()),
                };
                FuzzMessage::Pair(Box::new((inner, hello)))
            }
            _ => {
                let n = src.byte() % 4;
                FuzzMessage::Wrapper(Wrapper(
                    (0..n)
                        .map(|_| (src.byte() & 1 == 1).then(|| src.string()))
                        .collect(),
                ))
            }
        }
    }

    /// Chunk lengths from a seed: a small xorshift so that one byte gives a varied split.
    fn chunks(stream: &[u8], seed: u8) -> Vec<&[u8]> {
        let max = match seed & 0xc0 {
            0x00 => 1,
            0x40 => 7,
            0x80 => 64,
            _ => stream.len().max(1),
        };
        let mut state = u32::from(seed) | 0x100;
        let mut out = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let n = (state as usize % max + 1).min(rest.len());
            let (head, tail) = rest.split_at(n);
            out.push(head);
            rest = tail;
        }
        out
    }

    /// What a stream decodes to according to [`reference`].
    #[derive(Debug, PartialEq)]
    struct Outcome {
        frames: Vec<(FrameKind, Vec<u8>)>,
        error: Option<FrameError>,
        buffered: usize,
    }

    /// A one-shot, obviously-correct reading of the format over the whole stream, written
    /// independently of [`Decoder`] to check it.
    fn reference(stream: &[u8], max_frame: u32) -> Outcome {
        let mut frames = Vec::new();
        let mut pos = 0;
        loop {
            let rest = &stream[pos..];
            let error = if rest.len() >= 2 && rest[0..2] != *b"cw" {
                Some(FrameError::BadMagic {
                    found: [rest[0], rest[1]],
                })
            } else if rest.len() >= 3 && rest[2] != 1 {
                Some(FrameError::BadVersion { found: rest[2] })
            } else if rest.len() >= 4 && !matches!(rest[3], 1 | 2) {
                Some(FrameError::UnknownKind { found: rest[3] })
            } else {
                None
            };
            if error.is_some() {
                return Outcome {
                    frames,
                    error,
                    buffered: 0,
                };
            }
            if rest.len() < 8 {
                return Outcome {
                    frames,
                    error: None,
                    buffered: rest.len(),
                };
            }
            let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            if len > max_frame {
                return Outcome {
                    frames,
                    error: Some(FrameError::TooLarge {
                        len,
                        limit: max_frame,
                    }),
                    buffered: 0,
                };
            }
            if rest.len() < 8 + len as usize {
                return Outcome {
                    frames,
                    error: None,
                    buffered: rest.len(),
                };
            }
            let kind = if rest[3] == 1 {
                FrameKind::Hello
            } else {
                FrameKind::Message
            };
            frames.push((kind, rest[8..8 + len as usize].to_vec()));
            pos += 8 + len as usize;
        }
    }

    /// Raw bytes into a [`Decoder`]: byte 0 picks the chunking, byte 1 the frame limit, byte 2
    /// how often the callback stops the feed; the rest is the stream. Checks that the decoder
    /// agrees with [`reference`] however the stream is split and stopped, never holds more than
    /// the limit, stays poisoned after an error, and that decoding the payloads as a few types
    /// (one recursive) never panics.
    pub fn decoder_raw(data: &[u8]) {
        let mut src = Source(data);
        let chunk_seed = src.byte();
        let limit_byte = src.byte();
        let stop_every = usize::from(src.byte() % 8);
        let stream = src.0;
        let max_frame = match limit_byte % 4 {
            0 => DEFAULT_MAX_FRAME,
            1 => u32::from(limit_byte),
            2 => 0,
            _ => 4096,
        };
        let bound = HEADER_LEN + max_frame as usize;

        let mut decoder = Decoder::new(max_frame);
        let mut frames = Vec::new();
        let mut error = None;
        'feeding: for chunk in chunks(stream, chunk_seed) {
            let mut chunk = chunk;
            loop {
                let result = decoder.feed(chunk, |frame| {
                    decode_as_everything(frame);
                    frames.push((frame.kind, frame.payload.to_vec()));
                    if stop_every != 0 && frames.len() % stop_every == 0 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                assert!(decoder.buffered() <= bound, "buffered past the limit");
                assert!(decoder.allocated() <= bound, "allocated past the limit");
                match result {
                    Ok(Feed::Consumed) => break,
                    Ok(Feed::Stopped { consumed }) => {
                        assert!(consumed <= chunk.len());
                        chunk = &chunk[consumed..];
                    }
                    Err(e) => {
                        error = Some(e);
                        break 'feeding;
                    }
                }
            }
        }

        let expected = reference(stream, max_frame);
        assert_eq!(frames, expected.frames, "frames differ from the reference");
        assert_eq!(error, expected.error, "error differs from the reference");
        match error {
            Some(e) => {
                let again = decoder.feed(b"cw\x01\x02\0\0\0\0", |_| {
                    panic!("poisoned decoder delivered a frame")
                });
                assert_eq!(again, Err(e), "decoder not poisoned");
                assert_eq!(decoder.finish(), Err(e));
                assert_eq!(decoder.error(), Some(e));
            }
            None => {
                assert_eq!(decoder.buffered(), expected.buffered);
                match decoder.finish() {
                    Ok(()) => assert_eq!(expected.buffered, 0),
                    Err(FrameError::Truncated {
                        buffered,
                        expected: need,
                    }) => {
                        assert_eq!(buffered, expected.buffered);
                        assert!(need > buffered && need <= bound);
                    }
                    Err(other) => panic!("finish returned {other:?}"),
                }
            }
        }
    }

    fn decode_as_everything(frame: Frame<'_>) {
        let depth = 16;
        let _ = frame.decode::<Hello>(depth);
        let _ = frame.decode::<FuzzMessage>(depth);
        let _ = frame.decode::<Vec<String>>(depth);
        let _ = frame.decode::<(&str, &[u8], Option<u64>)>(depth);
        match frame.decode::<Tree>(depth) {
            Ok(tree) => assert!(tree_depth(&tree) <= depth),
            Err(PayloadError::TooDeep { limit }) => assert_eq!(limit, depth),
            Err(_) => {}
        }
    }

    fn tree_depth(tree: &Tree) -> usize {
        match tree {
            Tree::Leaf => 1,
            Tree::Node(child) => 1 + tree_depth(child),
            // The enum and its Vec are two levels.
            Tree::Fork(children) => 2 + children.iter().map(tree_depth).max().unwrap_or(0),
        }
    }

    /// An arbitrary sequence of messages and hellos, encoded, re-chunked, decoded: the decoded
    /// sequence equals the original. Byte 0 picks the frame limit (small limits make some
    /// messages too large to encode, which must leave the output untouched), byte 1 the count;
    /// the messages are drawn from the following bytes and the chunking from what is left.
    pub fn codec_roundtrip(data: &[u8]) {
        #[derive(Debug, PartialEq)]
        enum Sent {
            Hello(Hello),
            Message(FuzzMessage),
        }

        let mut src = Source(data);
        let limit_byte = src.byte();
        let max_frame = if limit_byte & 0x80 == 0 {
            DEFAULT_MAX_FRAME
        } else {
            u32::from(limit_byte & 0x7f) * 4
        };
        let count = src.byte() % 32;
        let mut sent = Vec::new();
        let mut stream = Vec::new();
        for _ in 0..count {
            let before = stream.clone();
            let (item, result) = if src.byte() % 5 == 0 {
                let hello = Hello {
                    worker: u32::from_le_bytes(src.array()),
                    pid: u32::from_le_bytes(src.array()),
                };
                let r = encode(&mut stream, FrameKind::Hello, &hello, max_frame);
                (Sent::Hello(hello), r)
            } else {
                let msg = message(&mut src, 0);
                let r = encode(&mut stream, FrameKind::Message, &msg, max_frame);
                (Sent::Message(msg), r)
            };
            match result {
                Ok(()) => sent.push(item),
                Err(EncodeError::TooLarge { len, limit }) => {
                    assert_eq!(limit, max_frame);
                    assert!(len > limit as usize);
                    assert_eq!(stream, before, "failed encode changed the output");
                }
                Err(e) => panic!("encode failed: {e}"),
            }
        }

        let mut decoder = Decoder::new(max_frame);
        let mut received = Vec::new();
        for chunk in chunks(&stream, src.byte()) {
            let fed = decoder.feed(chunk, |frame| {
                let item = match frame.kind {
                    FrameKind::Hello => Sent::Hello(frame.decode(DEFAULT_MAX_DEPTH).unwrap()),
                    FrameKind::Message => Sent::Message(frame.decode(DEFAULT_MAX_DEPTH).unwrap()),
                };
                received.push(item);
                ControlFlow::Continue(())
            });
            assert_eq!(fed, Ok(Feed::Consumed));
        }
        assert_eq!(decoder.finish(), Ok(()));
        assert_eq!(received, sent);
    }
}
