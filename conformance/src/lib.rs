//! crew-conformance: holds crew's real runtime to crew-model (see ARCHITECTURE.md).
#![forbid(unsafe_code)]
