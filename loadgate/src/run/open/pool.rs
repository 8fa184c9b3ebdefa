//! How many senders of the open model run, and each one's place in that count: what the senders
//! and the schedule thread both start and end senders with.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Notify;

/// How many senders run, up to `max`.
pub(super) struct Pool {
    running: AtomicU32,
    max: u32,
    /// The last sender ended.
    gone: Notify,
}

impl Pool {
    pub(super) fn new(max_in_flight: u32) -> Pool {
        Pool {
            running: AtomicU32::new(0),
            max: max_in_flight.max(1),
            gone: Notify::new(),
        }
    }

    /// Takes a place for one more sender; false when `max` run already.
    pub(super) fn reserve(&self) -> bool {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < self.max).then_some(running + 1)
            })
            .is_ok()
    }

    pub(super) fn running(&self) -> u32 {
        self.running.load(Ordering::Acquire)
    }

    pub(super) fn full(&self) -> bool {
        self.running() >= self.max
    }

    /// Resolves when every sender has ended.
    pub(super) async fn ended(&self) {
        loop {
            let gone = self.gone.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            gone.await;
        }
    }
}

/// A sender's place in the pool (taken by [`Pool::reserve`]), given back however its task ends
/// (aborted too).
pub(super) struct Running<'a>(pub(super) &'a Pool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.gone.notify_waiters();
        }
    }
}
