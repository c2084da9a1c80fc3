//! Property: any sequence of messages, encoded and re-chunked at any boundaries, decodes to the
//! same sequence, in order, with nothing left over.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use crew::wire::{encode, Decoder, Feed, FrameKind, Hello, DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Msg {
    Unit,
    Text(String),
    Bytes(Vec<u8>),
    Numbers(u8, i64, u128, bool, char),
    Nested(Option<Box<Msg>>),
    List(Vec<Msg>),
    Map(BTreeMap<String, Option<u32>>),
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Hello(Hello),
    Message(Msg),
}

fn msg() -> impl Strategy<Value = Msg> {
    let leaf = prop_oneof![
        Just(Msg::Unit),
        ".{0,40}".prop_map(Msg::Text),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Msg::Bytes),
        (
            any::<u8>(),
            any::<i64>(),
            any::<u128>(),
            any::<bool>(),
            any::<char>()
        )
            .prop_map(|(a, b, c, d, e)| Msg::Numbers(a, b, c, d, e)),
        prop::collection::btree_map(".{0,8}", any::<Option<u32>>(), 0..4).prop_map(Msg::Map),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::option::of(inner.clone().prop_map(Box::new)).prop_map(Msg::Nested),
            prop::collection::vec(inner, 0..4).prop_map(Msg::List),
        ]
    })
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        1 => (any::<u32>(), any::<u32>()).prop_map(|(worker, pid)| Item::Hello(Hello { worker, pid })),
        5 => msg().prop_map(Item::Message),
    ]
}

/// Splits `stream` at the given cut points (taken modulo its length, sorted).
fn split<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for p in points.into_iter().chain([stream.len()]) {
        out.push(&stream[prev..p]);
        prev = p;
    }
    out
}

proptest! {
    #[test]
    fn messages_rechunked_at_random_boundaries_decode_to_the_same_sequence(
        items in prop::collection::vec(item(), 0..40),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut stream = Vec::new();
        for it in &items {
            match it {
                Item::Hello(h) => encode(&mut stream, FrameKind::Hello, h, DEFAULT_MAX_FRAME),
                Item::Message(m) => encode(&mut stream, FrameKind::Message, m, DEFAULT_MAX_FRAME),
            }
            .unwrap();
        }
        let mut decoder = Decoder::new(DEFAULT_MAX_FRAME);
        let mut got = Vec::new();
        for chunk in split(&stream, &cuts) {
            let fed = decoder.feed(chunk, |f| {
                got.push(match f.kind {
                    FrameKind::Hello => Item::Hello(f.decode(DEFAULT_MAX_DEPTH).unwrap()),
                    FrameKind::Message => Item::Message(f.decode(DEFAULT_MAX_DEPTH).unwrap()),
                });
                ControlFlow::Continue(())
            });
            prop_assert_eq!(fed, Ok(Feed::Consumed));
        }
        prop_assert_eq!(decoder.finish(), Ok(()));
        prop_assert_eq!(decoder.buffered(), 0);
        prop_assert_eq!(got, items);
    }
}
