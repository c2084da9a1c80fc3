//! The frame codec: framing, chunking, bad frames and the memory bound (G10).

use std::ops::ControlFlow;

use crew::wire::{
    self, decode_payload, encode, Decoder, EncodeError, Feed, FrameError, FrameKind, Hello,
    PayloadError, DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME, HEADER_LEN,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Msg {
    Ping(u32),
    Text(String),
    Blob(Vec<u8>),
    Point { x: i64, y: i64 },
}

fn sample_messages() -> Vec<Msg> {
    vec![
        Msg::Ping(0),
        Msg::Text("hello, worker".into()),
        Msg::Blob(vec![]),
        Msg::Point { x: -1, y: i64::MAX },
        Msg::Blob((0..=255).collect()),
        Msg::Text(String::new()),
    ]
}

/// A Hello then the sample messages, as one encoded stream.
fn sample_stream() -> Vec<u8> {
    let mut out = Vec::new();
    let hello = Hello {
        worker: 3,
        pid: 4242,
    };
    encode(&mut out, FrameKind::Hello, &hello, DEFAULT_MAX_FRAME).unwrap();
    for m in sample_messages() {
        encode(&mut out, FrameKind::Message, &m, DEFAULT_MAX_FRAME).unwrap();
    }
    out
}

/// The frames a feed delivered, as owned (kind, payload) pairs, and how the feed ended.
type Decoded = (Vec<(FrameKind, Vec<u8>)>, Result<(), FrameError>);

/// Feeds `chunks` in order and collects the frames as owned (kind, payload) pairs.
fn decode_chunks<'a>(decoder: &mut Decoder, chunks: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    let mut frames = Vec::new();
    for chunk in chunks {
        let fed = decoder.feed(chunk, |f| {
            frames.push((f.kind, f.payload.to_vec()));
            ControlFlow::Continue(())
        });
        match fed {
            Ok(Feed::Consumed) => {}
            Ok(stopped) => panic!("callback never stops, got {stopped:?}"),
            Err(e) => return (frames, Err(e)),
        }
    }
    (frames, Ok(()))
}

fn decode_all(bytes: &[u8], max_frame: u32) -> Decoded {
    decode_chunks(&mut Decoder::new(max_frame), [bytes])
}

fn check_sample(frames: &[(FrameKind, Vec<u8>)]) {
    assert_eq!(frames.len(), 1 + sample_messages().len());
    assert_eq!(frames[0].0, FrameKind::Hello);
    let hello: Hello = decode_payload(&frames[0].1, DEFAULT_MAX_DEPTH).unwrap();
    assert_eq!(
        hello,
        Hello {
            worker: 3,
            pid: 4242
        }
    );
    let msgs: Vec<Msg> = frames[1..]
        .iter()
        .map(|(kind, payload)| {
            assert_eq!(*kind, FrameKind::Message);
            decode_payload(payload, DEFAULT_MAX_DEPTH).unwrap()
        })
        .collect();
    assert_eq!(msgs, sample_messages());
}

#[test]
fn header_layout_is_magic_version_kind_length_le() {
    let mut out = vec![0xAA];
    encode(
        &mut out,
        FrameKind::Message,
        &Msg::Ping(5),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    // Existing bytes are kept; postcard of Ping(5) is [variant 0, varint 5].
    assert_eq!(out, [0xAA, b'c', b'w', 1, 2, 2, 0, 0, 0, 0, 5]);
    assert_eq!(wire::MAGIC, *b"cw");
    assert_eq!(wire::VERSION, 1);
    assert_eq!(HEADER_LEN, 8);
    assert_eq!(DEFAULT_MAX_FRAME, 4 * 1024 * 1024);
    assert_eq!(FrameKind::Hello as u8, 1);
    assert_eq!(FrameKind::from_byte(2), Some(FrameKind::Message));
    assert_eq!(FrameKind::from_byte(0), None);
}

#[test]
fn stream_split_at_every_byte_boundary_decodes_the_same() {
    let stream = sample_stream();
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
        let (frames, result) = decode_chunks(&mut decoder, [a, b]);
        assert_eq!(result, Ok(()), "cut at {cut}");
        check_sample(&frames);
        assert_eq!(decoder.finish(), Ok(()));
    }
}

#[test]
fn every_frame_split_at_every_boundary_in_three_pieces_decodes_the_same() {
    let stream = sample_stream();
    let whole = decode_all(&stream, DEFAULT_MAX_FRAME);
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
            let got = decode_chunks(&mut decoder, [&stream[..i], &stream[i..j], &stream[j..]]);
            assert_eq!(got, whole, "cuts at {i} and {j}");
            assert_eq!(decoder.finish(), Ok(()));
        }
    }
}

#[test]
fn stream_fed_one_byte_at_a_time_decodes_the_same() {
    let stream = sample_stream();
    let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
    let (frames, result) = decode_chunks(&mut decoder, stream.chunks(1));
    assert_eq!(result, Ok(()));
    check_sample(&frames);
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn many_frames_in_one_feed_are_delivered_in_order_without_copying() {
    let mut stream = Vec::new();
    for i in 0..1000u32 {
        encode(
            &mut stream,
            FrameKind::Message,
            &Msg::Ping(i),
            DEFAULT_MAX_FRAME,
        )
        .unwrap();
    }
    let range = stream.as_ptr_range();
    let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
    let mut next = 0u32;
    let fed = decoder.feed(&stream, |frame| {
        // Zero copy: the payload points into the fed bytes.
        assert!(range.contains(&frame.payload.as_ptr()));
        assert_eq!(frame.decode::<Msg>(DEFAULT_MAX_DEPTH), Ok(Msg::Ping(next)));
        next += 1;
        ControlFlow::Continue(())
    });
    assert_eq!(fed, Ok(Feed::Consumed));
    assert_eq!(next, 1000);
    assert_eq!(
        decoder.allocated(),
        0,
        "no frame was split, so nothing was buffered"
    );
}

#[test]
fn callback_break_stops_after_that_frame_and_feed_resumes() {
    let stream = sample_stream();
    let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
    let mut frames = Vec::new();
    let mut rest: &[u8] = &stream;
    let mut stops = 0;
    loop {
        let fed = decoder
            .feed(rest, |f| {
                frames.push((f.kind, f.payload.to_vec()));
                ControlFlow::Break(())
            })
            .unwrap();
        match fed {
            Feed::Consumed => break,
            Feed::Stopped { consumed } => {
                stops += 1;
                rest = &rest[consumed..];
            }
        }
    }
    assert_eq!(stops, 1 + sample_messages().len());
    check_sample(&frames);
}

#[test]
fn callback_break_on_a_buffered_frame_reports_bytes_consumed() {
    let mut stream = Vec::new();
    encode(
        &mut stream,
        FrameKind::Message,
        &Msg::Ping(1),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    let first_len = stream.len();
    encode(
        &mut stream,
        FrameKind::Message,
        &Msg::Ping(2),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
    // First feed: 3 bytes of frame 1 are buffered.
    assert_eq!(
        decoder.feed(&stream[..3], |_| panic!("incomplete")),
        Ok(Feed::Consumed)
    );
    let mut seen = Vec::new();
    let fed = decoder.feed(&stream[3..], |f| {
        seen.push(f.decode::<Msg>(8).unwrap());
        ControlFlow::Break(())
    });
    assert_eq!(
        fed,
        Ok(Feed::Stopped {
            consumed: first_len - 3
        })
    );
    assert_eq!(seen, [Msg::Ping(1)]);
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn wrong_magic_is_rejected_as_soon_as_two_bytes_arrive() {
    let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
    assert_eq!(decoder.feed(b"h", |_| panic!()), Ok(Feed::Consumed));
    assert_eq!(
        decoder.feed(b"ello", |_| panic!()),
        Err(FrameError::BadMagic { found: *b"he" })
    );
}

#[test]
fn wrong_version_is_rejected() {
    let mut frame = Vec::new();
    encode(
        &mut frame,
        FrameKind::Message,
        &Msg::Ping(1),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    frame[2] = 2;
    let (frames, result) = decode_all(&frame, DEFAULT_MAX_FRAME);
    assert!(frames.is_empty());
    assert_eq!(result, Err(FrameError::BadVersion { found: 2 }));
}

#[test]
fn unknown_kind_is_rejected() {
    for kind in [0u8, 3, 255] {
        let bytes = [b'c', b'w', 1, kind, 0, 0, 0, 0];
        let (frames, result) = decode_all(&bytes, DEFAULT_MAX_FRAME);
        assert!(frames.is_empty());
        assert_eq!(result, Err(FrameError::UnknownKind { found: kind }));
    }
}

#[test]
fn length_over_the_limit_is_rejected_without_buffering() {
    let limit = 1000u32;
    let mut decoder = Decoder::new(limit);
    let mut header = vec![b'c', b'w', 1, 2];
    header.extend_from_slice(&(limit + 1).to_le_bytes());
    assert_eq!(
        decoder.feed(&header, |_| panic!()),
        Err(FrameError::TooLarge {
            len: limit + 1,
            limit
        })
    );
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(decoder.allocated(), 0);

    // Same when the header arrives byte by byte.
    let mut decoder = Decoder::new(limit);
    for (i, b) in header.iter().enumerate() {
        let fed = decoder.feed(std::slice::from_ref(b), |_| panic!());
        if i < HEADER_LEN - 1 {
            assert_eq!(fed, Ok(Feed::Consumed));
        } else {
            assert_eq!(
                fed,
                Err(FrameError::TooLarge {
                    len: limit + 1,
                    limit
                })
            );
        }
    }
    assert!(decoder.allocated() <= HEADER_LEN + limit as usize);
}

#[test]
fn header_claiming_just_under_the_limit_buffers_only_what_arrived() {
    let limit = DEFAULT_MAX_FRAME;
    let mut decoder = Decoder::new(limit);
    let mut bytes = vec![b'c', b'w', 1, 2];
    bytes.extend_from_slice(&(limit - 1).to_le_bytes());
    bytes.extend_from_slice(b"abc");
    assert_eq!(decoder.feed(&bytes, |_| panic!()), Ok(Feed::Consumed));
    assert_eq!(decoder.buffered(), HEADER_LEN + 3);
    assert!(
        decoder.allocated() < 64,
        "allocated {}",
        decoder.allocated()
    );
    assert_eq!(
        decoder.finish(),
        Err(FrameError::Truncated {
            buffered: HEADER_LEN + 3,
            expected: HEADER_LEN + limit as usize - 1
        })
    );
}

#[test]
fn allocation_never_exceeds_header_plus_limit_whatever_the_chunking() {
    let limit = 1000u32;
    let payload = vec![7u8; limit as usize - 5]; // postcard adds a 2-byte length
    let mut stream = Vec::new();
    encode(&mut stream, FrameKind::Message, &payload, limit).unwrap();
    encode(&mut stream, FrameKind::Message, &payload, limit).unwrap();
    for chunk in [1, 3, 8, 9, 100, 513] {
        let mut decoder = Decoder::new(limit);
        let mut n = 0;
        for piece in stream.chunks(chunk) {
            decoder
                .feed(piece, |f| {
                    assert_eq!(f.decode::<Vec<u8>>(4).unwrap(), payload);
                    n += 1;
                    ControlFlow::Continue(())
                })
                .unwrap();
            assert!(decoder.allocated() <= HEADER_LEN + limit as usize);
        }
        assert_eq!(n, 2, "chunk {chunk}");
    }
}

#[test]
fn large_buffer_is_released_once_its_frame_is_delivered() {
    let payload = vec![1u8; 1 << 20];
    let mut stream = Vec::new();
    encode(&mut stream, FrameKind::Message, &payload, DEFAULT_MAX_FRAME).unwrap();
    let mut decoder = Decoder::default();
    let (first, second) = stream.split_at(100);
    decoder.feed(first, |_| panic!()).unwrap();
    let mut n = 0;
    decoder
        .feed(second, |_| {
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(decoder.allocated(), 0);
}

#[test]
fn length_past_the_end_then_finish_is_truncated() {
    let mut stream = Vec::new();
    encode(
        &mut stream,
        FrameKind::Message,
        &Msg::Text("abcdef".into()),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    let total = stream.len();
    for cut in 1..total {
        let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
        decoder.feed(&stream[..cut], |_| panic!()).unwrap();
        let expected = if cut < HEADER_LEN { HEADER_LEN } else { total };
        assert_eq!(
            decoder.finish(),
            Err(FrameError::Truncated {
                buffered: cut,
                expected
            }),
            "cut at {cut}"
        );
    }
    let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
    decoder
        .feed(&stream, |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn undecodable_payload_is_a_payload_error_not_a_frame_error() {
    // Variant 9 does not exist in Msg.
    let mut stream = Vec::new();
    encode(
        &mut stream,
        FrameKind::Message,
        &(9u8, 1u8),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    let (frames, result) = decode_all(&stream, DEFAULT_MAX_FRAME);
    assert_eq!(result, Ok(()));
    let err = decode_payload::<Msg>(&frames[0].1, DEFAULT_MAX_DEPTH).unwrap_err();
    assert!(matches!(err, PayloadError::Postcard(_)), "{err:?}");

    // Invalid UTF-8 in a string.
    let err = decode_payload::<Msg>(&[1, 2, 0xff, 0xfe], DEFAULT_MAX_DEPTH).unwrap_err();
    assert!(matches!(err, PayloadError::Postcard(_)), "{err:?}");

    // Payload ends early.
    let err = decode_payload::<Msg>(&[3, 1], DEFAULT_MAX_DEPTH).unwrap_err();
    assert!(matches!(err, PayloadError::Postcard(_)), "{err:?}");

    // A Hello must be exactly a Hello.
    let err = decode_payload::<Hello>(&[], DEFAULT_MAX_DEPTH).unwrap_err();
    assert!(matches!(err, PayloadError::Postcard(_)), "{err:?}");
}

#[test]
fn payload_with_trailing_bytes_is_rejected() {
    assert_eq!(
        decode_payload::<Msg>(&[0, 5, 0xAA, 0xBB], DEFAULT_MAX_DEPTH),
        Err(PayloadError::TrailingBytes { count: 2 })
    );
}

#[test]
fn valid_frame_followed_by_garbage_delivers_the_frame_then_errors() {
    let mut stream = Vec::new();
    encode(
        &mut stream,
        FrameKind::Message,
        &Msg::Ping(7),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    stream.extend_from_slice(b"garbage!");
    let (frames, result) = decode_all(&stream, DEFAULT_MAX_FRAME);
    assert_eq!(frames.len(), 1);
    assert_eq!(decode_payload::<Msg>(&frames[0].1, 4), Ok(Msg::Ping(7)));
    assert_eq!(result, Err(FrameError::BadMagic { found: *b"ga" }));
}

#[test]
fn poisoned_decoder_repeats_its_error_and_delivers_nothing() {
    let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
    let err = decoder.feed(b"cw\x07", |_| panic!()).unwrap_err();
    assert_eq!(err, FrameError::BadVersion { found: 7 });
    assert_eq!(decoder.error(), Some(err));
    let mut good = Vec::new();
    encode(
        &mut good,
        FrameKind::Message,
        &Msg::Ping(1),
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            decoder.feed(&good, |_| panic!("poisoned decoder delivered")),
            Err(err)
        );
    }
    assert_eq!(decoder.feed(&[], |_| panic!()), Err(err));
    assert_eq!(decoder.finish(), Err(err));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn encode_too_large_leaves_out_untouched() {
    let mut out = Vec::new();
    encode(&mut out, FrameKind::Message, &Msg::Ping(1), 16).unwrap();
    let before = out.clone();
    let big = Msg::Blob(vec![0; 100]);
    assert_eq!(
        encode(&mut out, FrameKind::Message, &big, 16),
        Err(EncodeError::TooLarge {
            len: 102,
            limit: 16
        })
    );
    assert_eq!(out, before);
    // Exactly at the limit is fine.
    let fits = Msg::Blob(vec![0; 14]);
    encode(&mut out, FrameKind::Message, &fits, 16).unwrap();
    assert_eq!(out.len(), before.len() + HEADER_LEN + 16);
}

#[test]
fn encode_of_unserializable_value_is_an_error_and_leaves_out_untouched() {
    struct UnknownLength;
    impl Serialize for UnknownLength {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let seq = s.serialize_seq(None)?;
            seq.end()
        }
    }
    let mut out = vec![1, 2, 3];
    let err = encode(
        &mut out,
        FrameKind::Message,
        &UnknownLength,
        DEFAULT_MAX_FRAME,
    )
    .unwrap_err();
    assert!(matches!(err, EncodeError::Serialize(_)), "{err:?}");
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn errors_display_their_context() {
    let cases: Vec<(Box<dyn std::error::Error>, &str)> = vec![
        (Box::new(FrameError::BadMagic { found: *b"he" }), "68, 65"),
        (Box::new(FrameError::BadVersion { found: 9 }), "version 9"),
        (Box::new(FrameError::UnknownKind { found: 4 }), "kind 4"),
        (
            Box::new(FrameError::TooLarge { len: 10, limit: 5 }),
            "limit of 5",
        ),
        (
            Box::new(FrameError::Truncated {
                buffered: 3,
                expected: 8,
            }),
            "3 of its 8",
        ),
        (Box::new(PayloadError::TooDeep { limit: 64 }), "limit of 64"),
        (
            Box::new(PayloadError::TrailingBytes { count: 2 }),
            "2 trailing",
        ),
        (
            Box::new(EncodeError::TooLarge { len: 10, limit: 5 }),
            "10 bytes",
        ),
    ];
    for (err, needle) in cases {
        let text = err.to_string();
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    }
}
