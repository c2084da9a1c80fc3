//! The sync facade (as in tokio): `std` types normally, `loom` types under `--cfg loom`, so loom
//! can explore every interleaving of the code that shares state between threads. The runtime's
//! concurrent code imports from here only.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, recovering the data if a thread panicked while holding it: every critical section
/// here leaves the data consistent before anything that can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
