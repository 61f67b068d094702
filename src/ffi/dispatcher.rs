//! The dispatcher: ONE thread per hub that runs every foreign callback, in
//! the order the events happened (so in order per socket). Foreign code never
//! runs on a runtime worker, so a slow callback never stalls I/O. The queue
//! is drained in batches: a busy hub pays one wake-up per batch, not per event.
//!
//! A host whose callbacks only hand the event over to a thread of its own
//! (the Node addon: to the JS thread) may have them run inline instead
//! (`wshub_deliver_inline`): on the thread where the event happened, and a
//! "ready" call once a burst of them is over. That saves the event a hop
//! through the dispatcher thread: a wake-up and a context switch per batch,
//! and the queue's allocation per event.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::deferred_wake::{self, Wake};

pub(crate) type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True inside a foreign callback (on the dispatcher thread, or inline).
pub(crate) fn on_dispatcher_thread() -> bool {
    IN_CALLBACK.with(|f| f.get())
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Wake for Shared {
    fn wake(&self) {
        self.ready.notify_one();
    }
}

/// Past this many queued jobs a runtime worker wakes the dispatcher at once
/// instead of waiting until it parks (bounds the latency under load).
const DEFER_LIMIT: usize = 32;

/// The host's "a burst of callbacks is over" function (`wshub_deliver_inline`).
pub(crate) type ReadyFn = unsafe extern "C" fn(userdata: *mut c_void);

/// Inline delivery: the host's ready function and the count of callbacks
/// not yet followed by it.
struct Inline {
    ready: ReadyFn,
    userdata: *mut c_void,
    unannounced: AtomicUsize,
    /// True once shut down. Callbacks hold it shared while they run, so
    /// shutdown (exclusive) returns only when none runs any more.
    closed: RwLock<bool>,
}
// SAFETY: the host promised that `ready` may be called with `userdata` from any thread.
unsafe impl Send for Inline {}
unsafe impl Sync for Inline {}

impl Inline {
    /// Calls `ready` if a callback ran since the last call (the caller holds `closed` shared).
    fn announce(&self) {
        if self.unannounced.swap(0, Ordering::AcqRel) > 0 {
            // SAFETY: the host's function, with its own userdata (see wshub_deliver_inline).
            unsafe { (self.ready)(self.userdata) };
        }
    }
}

impl Wake for Inline {
    fn wake(&self) {
        let closed = self.closed.read_recursive();
        if !*closed {
            self.announce();
        }
    }
}

pub(crate) struct Dispatcher {
    shared: Arc<Shared>,
    waker: Arc<dyn Wake>,
    thread: Mutex<Option<JoinHandle<()>>>,
    inline: once_cell::sync::OnceCell<(Arc<Inline>, Arc<dyn Wake>)>,
}

impl Dispatcher {
    pub fn start() -> std::io::Result<Dispatcher> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("wshub-dispatch".into()).spawn(move || run(&s))?;
        let waker: Arc<dyn Wake> = shared.clone();
        Ok(Dispatcher { shared, waker, thread: Mutex::new(Some(thread)), inline: Default::default() })
    }

    /// From now on jobs run inline, followed by `ready(userdata)` (see the
    /// module's comment); false if that was set before.
    pub fn deliver_inline(&self, ready: ReadyFn, userdata: *mut c_void) -> bool {
        let target =
            Arc::new(Inline { ready, userdata, unannounced: AtomicUsize::new(0), closed: RwLock::new(false) });
        let waker: Arc<dyn Wake> = target.clone();
        self.inline.set((target, waker)).is_ok()
    }

    /// Queues a job (or runs it, inline: then it is not even boxed); false
    /// (and the job is dropped) once the dispatcher closed.
    pub fn push(&self, job: impl FnOnce() + Send + 'static) -> bool {
        if let Some((target, waker)) = self.inline.get() {
            return push_inline(target, waker, job);
        }
        let mut q = self.shared.queue.lock();
        if q.closed {
            return false;
        }
        q.jobs.push_back(Box::new(job));
        let queued = q.jobs.len();
        drop(q);
        // On a runtime worker, wake the dispatcher when the worker parks (one
        // wake-up per round of I/O); elsewhere, or with a long queue, now.
        if queued >= DEFER_LIMIT || !deferred_wake::defer(&self.waker) {
            self.shared.ready.notify_one();
        }
        true
    }

    /// Runs what is queued, then ends and joins the thread; inline, waits
    /// for the callbacks that run. Nothing runs afterwards. Idempotent.
    pub fn shutdown(&self) {
        if let Some((target, _)) = self.inline.get() {
            let mut closed = target.closed.write();
            if !*closed {
                // A worker's deferred "ready" may never have run: its thread ended.
                target.announce();
                *closed = true;
            }
        }
        self.shared.queue.lock().closed = true;
        self.shared.ready.notify_one();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

fn push_inline(target: &Inline, waker: &Arc<dyn Wake>, job: impl FnOnce()) -> bool {
    let closed = target.closed.read_recursive();
    if *closed {
        return false;
    }
    run_job(job);
    // As with the queue: on a runtime worker, ready when it parks (or after
    // DEFER_LIMIT callbacks); elsewhere at once.
    let unannounced = target.unannounced.fetch_add(1, Ordering::AcqRel) + 1;
    if unannounced >= DEFER_LIMIT || !deferred_wake::defer(waker) {
        target.announce();
    }
    drop(closed);
    true
}

fn run_job(job: impl FnOnce()) {
    let outer = IN_CALLBACK.with(|f| f.replace(true));
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
        tracing::error!("a callback wrapper panicked; the hub goes on");
    }
    IN_CALLBACK.with(|f| f.set(outer));
}

fn run(shared: &Shared) {
    loop {
        let batch = {
            let mut q = shared.queue.lock();
            while q.jobs.is_empty() && !q.closed {
                shared.ready.wait(&mut q);
            }
            if q.jobs.is_empty() {
                return;
            }
            std::mem::take(&mut q.jobs)
        };
        for job in batch {
            run_job(job);
        }
    }
}
