//! Replays the committed fuzz corpus of the runtime's targets (`fuzz/corpus/<target>/`: the wire
//! codec's and the protocol core's seeds, and every crash the fuzzers found) through the same
//! functions the fuzz targets run, so a regression shows up in
//! `cargo test` on stable without cargo-fuzz.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for path in corpus(target) {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn decoder_raw_corpus_replays_clean() {
    replay("decoder_raw", crew::wire::fuzzing::decoder_raw);
}

#[test]
fn codec_roundtrip_corpus_replays_clean() {
    replay("codec_roundtrip", crew::wire::fuzzing::codec_roundtrip);
}

#[test]
fn core_corpus_replays_clean() {
    replay("core", crew::protocol::fuzzing::core);
}
