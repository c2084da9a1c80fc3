//! crew: Node.js-cluster-style primary/worker processes for Rust.
