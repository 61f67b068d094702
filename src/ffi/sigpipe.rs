//! SIGPIPE in a C host.
//!
//! A Rust program starts with SIGPIPE ignored (its runtime sets that up before `main`); a C or
//! C++ program does not, and there a write to a socket whose peer has gone raises SIGPIPE,
//! whose default action kills the whole process. std's socket `write` passes MSG_NOSIGNAL, but
//! `write_vectored` is a plain `writev` (rustls writes its TLS records that way), so an https or
//! wss client resetting its connection at the wrong moment killed the host (found by
//! `make test-c-tsan`: tests/js/tls.test.mjs against tests/c/c_server.c). The hub's threads are
//! therefore created with SIGPIPE blocked: such a write fails with EPIPE instead (the signal
//! stays pending on that thread and is never delivered), while the host's own threads and its
//! signal dispositions are left alone.

/// Blocks SIGPIPE on the calling thread until dropped. Threads spawned meanwhile inherit the
/// mask and keep it, and so do the threads they spawn (tokio's blocking pool).
pub(crate) struct SigpipeBlocked {
    #[cfg(unix)]
    previous: libc::sigset_t,
}

impl SigpipeBlocked {
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        // SAFETY: plain libc calls on local, initialized sigset_t values.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
            SigpipeBlocked { previous }
        }
        #[cfg(not(unix))]
        SigpipeBlocked {}
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: restores the mask saved by `new` on this same thread.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}
