//! Replays the committed fuzz corpus of the protocol-core target (`fuzz/corpus/core/`: seeds
//! and every crash the fuzzer found) through the function the fuzz target runs, so a regression
//! shows up in `cargo test` on stable without cargo-fuzz.

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

#[test]
fn core_corpus_replays_clean() {
    let mut failed = Vec::new();
    for path in corpus("core") {
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| crew::protocol::fuzzing::core(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "core fails on {failed:?}");
}
