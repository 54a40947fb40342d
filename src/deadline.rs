//! Where a request's deadline stops applying: at the commit point.
//!
//! The HTTP layer answers 408 to a request that takes too long. A write that
//! has been handed to the store may still commit after that, and a client
//! told 408 would retry a POST that succeeded and create a duplicate. So the
//! store marks the request as committing when it hands a unit of work to the
//! writer, and from then on the HTTP layer waits for the real outcome instead
//! of answering 408. The mark is a task-local set by the HTTP layer around
//! each request; outside a request (CLI, background jobs) it does nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

tokio::task_local! {
    static COMMITTING: Arc<AtomicBool>;
}

/// Runs `fut` with a fresh commit mark; returns the mark with the future.
pub fn scope<F: std::future::Future>(
    fut: F,
) -> (
    Arc<AtomicBool>,
    impl std::future::Future<Output = F::Output>,
) {
    let mark = Arc::new(AtomicBool::new(false));
    (mark.clone(), COMMITTING.scope(mark, fut))
}

/// Called by the store when a unit of work is handed to the writer.
pub fn mark_committing() {
    let _ = COMMITTING.try_with(|m| m.store(true, Ordering::Release));
}

/// True once the request handed a write to the store.
pub fn is_committing(mark: &AtomicBool) -> bool {
    mark.load(Ordering::Acquire)
}
