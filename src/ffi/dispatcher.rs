//! The dispatcher: ONE thread per hub that runs every foreign callback, in
//! the order the events happened (so in order per socket). Foreign code never
//! runs on a runtime worker, so a slow callback never stalls I/O. The queue
//! is drained in batches: a busy hub pays one wake-up per batch, not per event.

use std::collections::VecDeque;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::deferred_wake::{self, Wake};

pub(crate) type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    static ON_DISPATCHER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True on a dispatcher thread (inside a foreign callback).
pub(crate) fn on_dispatcher_thread() -> bool {
    ON_DISPATCHER.with(|f| f.get())
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

pub(crate) struct Dispatcher {
    shared: std::sync::Arc<Shared>,
    waker: std::sync::Arc<dyn Wake>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Dispatcher {
    pub fn start() -> std::io::Result<Dispatcher> {
        let shared = std::sync::Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("wshub-dispatch".into()).spawn(move || run(&s))?;
        let waker: std::sync::Arc<dyn Wake> = shared.clone();
        Ok(Dispatcher { shared, waker, thread: Mutex::new(Some(thread)) })
    }

    /// Queues a job; false (and the job is dropped) once the dispatcher closed.
    pub fn push(&self, job: Job) -> bool {
        let mut q = self.shared.queue.lock();
        if q.closed {
            return false;
        }
        q.jobs.push_back(job);
        let queued = q.jobs.len();
        drop(q);
        // On a runtime worker, wake the dispatcher when the worker parks (one
        // wake-up per round of I/O); elsewhere, or with a long queue, now.
        if queued >= DEFER_LIMIT || !deferred_wake::defer(&self.waker) {
            self.shared.ready.notify_one();
        }
        true
    }

    /// Runs what is queued, then ends and joins the thread. Idempotent.
    pub fn shutdown(&self) {
        self.shared.queue.lock().closed = true;
        self.shared.ready.notify_one();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    ON_DISPATCHER.with(|f| f.set(true));
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
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                tracing::error!("a callback wrapper panicked; the dispatcher goes on");
            }
        }
    }
}
