//! The payload depth limit: a recursive message type cannot overflow the stack (G10).

use crew::wire::{decode_payload, PayloadError, DEFAULT_MAX_DEPTH};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Tree {
    Leaf,
    Node(Box<Tree>),
}

/// postcard of a Tree with `depth` nested enum values: `depth - 1` Nodes then a Leaf. Built as
/// bytes because a Tree a million deep could not even be dropped without overflowing the stack.
fn tree_payload(depth: usize) -> Vec<u8> {
    let mut bytes = vec![1u8; depth - 1];
    bytes.push(0);
    bytes
}

fn tree_depth(tree: &Tree) -> usize {
    let mut depth = 1;
    let mut t = tree;
    while let Tree::Node(child) = t {
        depth += 1;
        t = child;
    }
    depth
}

#[test]
fn recursive_type_below_and_at_the_limit_decodes() {
    for limit in [1, 2, 10, DEFAULT_MAX_DEPTH] {
        for depth in [limit - 1, limit] {
            if depth == 0 {
                continue;
            }
            let tree: Tree = decode_payload(&tree_payload(depth), limit)
                .unwrap_or_else(|e| panic!("depth {depth} under limit {limit}: {e}"));
            assert_eq!(tree_depth(&tree), depth);
        }
    }
}

#[test]
fn recursive_type_past_the_limit_is_too_deep() {
    for limit in [1, 2, 10, DEFAULT_MAX_DEPTH] {
        assert_eq!(
            decode_payload::<Tree>(&tree_payload(limit + 1), limit),
            Err(PayloadError::TooDeep { limit })
        );
    }
}

#[test]
fn million_deep_payload_is_too_deep_without_overflowing_the_stack() {
    let payload = tree_payload(1_000_000);
    assert_eq!(
        decode_payload::<Tree>(&payload, DEFAULT_MAX_DEPTH),
        Err(PayloadError::TooDeep {
            limit: DEFAULT_MAX_DEPTH
        })
    );
}

#[test]
fn default_depth_limit_fits_a_small_thread_stack() {
    // Each level costs a bounded number of stack frames, so a payload at the default limit
    // decodes on a thread with a 256 KiB stack even in a debug build, and one past it fails
    // cleanly there too.
    let at_limit = tree_payload(DEFAULT_MAX_DEPTH);
    let past = tree_payload(1_000_000);
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            let tree: Tree = decode_payload(&at_limit, DEFAULT_MAX_DEPTH).unwrap();
            assert_eq!(tree_depth(&tree), DEFAULT_MAX_DEPTH);
            assert_eq!(
                decode_payload::<Tree>(&past, DEFAULT_MAX_DEPTH),
                Err(PayloadError::TooDeep {
                    limit: DEFAULT_MAX_DEPTH
                })
            );
        })
        .unwrap()
        .join()
        .unwrap();
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Nest(Vec<Nest>);

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Chain {
    next: Option<Box<Chain>>,
}

#[test]
fn sequences_options_structs_and_newtypes_each_count_as_a_level() {
    // Nest: newtype struct + Vec = 2 levels per nesting; the innermost Nest(vec![]) is 2.
    let mut nest = Nest(vec![]);
    for _ in 0..9 {
        nest = Nest(vec![nest]);
    }
    let bytes = postcard::to_allocvec(&nest).unwrap();
    assert_eq!(decode_payload::<Nest>(&bytes, 20), Ok(nest));
    assert_eq!(
        decode_payload::<Nest>(&bytes, 19),
        Err(PayloadError::TooDeep { limit: 19 })
    );

    // Chain: struct + Option = 2 levels per link; the last link's None is inside its struct.
    let mut chain = Chain { next: None };
    for _ in 0..4 {
        chain = Chain {
            next: Some(Box::new(chain)),
        };
    }
    let bytes = postcard::to_allocvec(&chain).unwrap();
    assert_eq!(decode_payload::<Chain>(&bytes, 10), Ok(chain));
    assert_eq!(
        decode_payload::<Chain>(&bytes, 9),
        Err(PayloadError::TooDeep { limit: 9 })
    );
}

#[test]
fn depth_is_nesting_not_count_of_siblings() {
    let forest: Vec<Tree> = (0..1000)
        .map(|_| Tree::Node(Box::new(Tree::Leaf)))
        .collect();
    let bytes = postcard::to_allocvec(&forest).unwrap();
    // Vec (1) + Node (2) + Leaf (3).
    assert_eq!(
        decode_payload::<Vec<Tree>>(&bytes, 3).map(|f| f.len()),
        Ok(1000)
    );
    assert_eq!(
        decode_payload::<Vec<Tree>>(&bytes, 2),
        Err(PayloadError::TooDeep { limit: 2 })
    );
}

#[test]
fn scalars_have_depth_zero_and_borrowed_values_decode() {
    assert_eq!(decode_payload::<u32>(&[42], 0), Ok(42));
    let bytes = postcard::to_allocvec(&("hi", &b"raw"[..])).unwrap();
    let (s, b): (&str, &[u8]) = decode_payload(&bytes, 1).unwrap();
    assert_eq!((s, b), ("hi", &b"raw"[..]));
    assert_eq!(
        decode_payload::<(&str, &[u8])>(&bytes, 0),
        Err(PayloadError::TooDeep { limit: 0 })
    );
}

#[test]
fn depth_error_is_not_confused_with_a_format_error() {
    // A malformed payload inside a shallow value is a postcard error, not TooDeep.
    let err = decode_payload::<Tree>(&[1, 1, 7], DEFAULT_MAX_DEPTH).unwrap_err();
    assert!(matches!(err, PayloadError::Postcard(_)), "{err:?}");
}
