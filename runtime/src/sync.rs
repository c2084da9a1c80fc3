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

/// Runs loom models the same way in every loom test of the crate, and prints their figures.
#[cfg(all(test, loom))]
pub(crate) mod loom_support {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    /// Explores every interleaving of `f` with at most `LOOM_MAX_PREEMPTIONS` preemptions
    /// (`default_bound` when unset), then prints how many executions were explored and how
    /// long it took.
    pub(crate) fn model<F>(name: &str, default_bound: usize, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(default_bound);
        }
        let bound = builder.preemption_bound;
        let executions = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&executions);
        let start = Instant::now();
        builder.check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            f();
        });
        eprintln!(
            "loom {name}: {} executions in {:.2?} (preemption bound {:?})",
            executions.load(Ordering::Relaxed),
            start.elapsed(),
            bound,
        );
    }
}
