//! Wake-ups deferred until a runtime worker goes idle.
//!
//! A handler running on a runtime worker that hands work to another thread
//! (the FFI dispatcher) would wake that thread once per event; on a busy core
//! each wake-up is a context switch. Instead the worker notes the wake-up
//! here and performs all of them, once each, just before it parks: one
//! switch per round of I/O instead of one per event. Per-thread state only.

use std::cell::RefCell;
use std::sync::Arc;

/// Something to wake: the dispatcher's queue.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self);
}

thread_local! {
    static IS_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PENDING: RefCell<Vec<Arc<dyn Wake>>> = const { RefCell::new(Vec::new()) };
}

/// Marks this thread as a runtime worker (from the runtime's thread-start hook).
pub(crate) fn mark_worker() {
    IS_WORKER.with(|f| f.set(true));
}

/// Defers `target.wake()` to the moment this worker parks. Returns false
/// (nothing deferred; the caller wakes at once) on any other thread.
pub(crate) fn defer(target: &Arc<dyn Wake>) -> bool {
    if !IS_WORKER.with(|f| f.get()) {
        return false;
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if !p.iter().any(|t| Arc::ptr_eq(t, target)) {
            p.push(target.clone());
        }
    });
    true
}

/// Performs the deferred wake-ups (from the runtime's thread-park hook).
pub(crate) fn run_pending() {
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for target in pending {
        target.wake();
    }
}

/// Marks this thread (a runtime worker) as one that, when woken, waits for
/// the running thread's turn to end instead of preempting it (Linux:
/// SCHED_BATCH, same priority). A handler thread that emits wakes a worker
/// per emit; on a busy core each of those wake-ups used to preempt it, one
/// context switch there and back per event (half the Python binding's echo
/// time). Now the worker runs when the handler thread waits for its next
/// batch, and sends what the whole batch queued. On an idle core nothing
/// changes; elsewhere this does nothing.
pub(crate) fn yield_on_wake() {
    #[cfg(target_os = "linux")]
    // SAFETY: sets the calling thread's policy (pid 0) from a local, initialized sched_param.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) != 0 {
            tracing::debug!("SCHED_BATCH refused: {}", std::io::Error::last_os_error());
        }
    }
}
