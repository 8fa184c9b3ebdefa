//! Sparse schedules: each sender keeps its own time. It claims the schedule's next request,
//! renders it, waits for its time on a timer of its own (a timerfd, then a spin), writes it,
//! reads the answer on the same worker thread (awake already: the answer is not read late), and
//! claims the next. Nothing is handed between threads.
//!
//! The pool grows from what it sees: when the last sender waiting for a time starts to send,
//! every other one is busy with an answer, so one more is started to wait for the next request.
//! It ends at what the rate and the service's latency need, plus one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::due::{intended_of, planted_lateness, render, send_due};
use super::pool::{Pool, Running};
use crate::run::client::http1::Connection;
use crate::run::exchange::Buffers;
use crate::run::messages::Messages;
use crate::run::pace;
use crate::run::shared::Shared;

pub async fn run(shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let senders = Arc::new(Senders {
        next: AtomicU64::new(0),
        waiting: AtomicU32::new(0),
        pool: Pool::new(shared.load.max_in_flight),
        margin: pace::Margin::for_this_machine(),
    });
    senders.start(&shared, &stop);
    // Every request has a timeout, so this ends.
    senders.pool.ended().await;
}

struct Senders {
    /// The schedule's next unclaimed request.
    next: AtomicU64,
    /// Senders holding a claimed request until its time, or just started.
    waiting: AtomicU32,
    pool: Pool,
    /// How early the senders' timers fire: learned from their wake-ups.
    margin: pace::Margin,
}

impl Senders {
    /// Starts one more sender, unless the pool is full.
    fn start(self: &Arc<Self>, shared: &Arc<Shared>, stop: &watch::Receiver<bool>) {
        if self.pool.reserve() {
            // Counted as waiting from now: one sender on its way is enough, so a schedule that
            // fell behind grows the pool a sender at a time, not one per late request.
            self.waiting.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(run_sender(shared.clone(), self.clone(), stop.clone()));
        }
    }

    /// Claims the next request of this shard's stripe: its index and intended time; `None`
    /// past the end.
    fn claim(&self, shared: &Shared) -> Option<(u64, Instant)> {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let intended = intended_of(shared, i)?;
            // A shard of a distributed run sends its stripe of the one schedule.
            if shared.counters.shard.owns_request(i) {
                return Some((i, intended));
            }
        }
    }
}

/// A sender: claims a request, waits for its time, sends it, and again, until the end or the
/// stop. A sender that fell behind stops at the end all the same: what it could not send shows
/// as a shortfall, not as a longer run.
async fn run_sender(shared: Arc<Shared>, senders: Arc<Senders>, mut stop: watch::Receiver<bool>) {
    let _running = Running(&senders.pool);
    let (mut body, mut messages, mut buffers) =
        (Vec::new(), Messages::default(), Buffers::default());
    let mut connection = Connection::default();
    let mut timer = pace::Timer::default();
    // Counted among the waiting (by `start`, at first).
    let mut waiting = true;
    while let Some((i, intended)) = senders.claim(&shared) {
        if !waiting {
            senders.waiting.fetch_add(1, Ordering::AcqRel);
            waiting = true;
        }
        let now = Instant::now();
        if now >= shared.end() || *stop.borrow() {
            break;
        }
        // Due already, and no sender can be added: it waited for the limit.
        if intended <= now && intended >= shared.warmup_end() && senders.pool.full() {
            shared.in_flight_limit_hits.fetch_add(1, Ordering::Relaxed);
        }
        let due = render(&shared, (i, intended), &mut buffers, &mut connection);
        let spin = spin_cap(&shared, i, intended);
        let send_at = intended + planted_lateness();
        if !pace::wait_until(&mut timer, &senders.margin, (send_at, spin), &mut stop).await {
            break;
        }
        waiting = false;
        if senders.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            senders.start(&shared, &stop);
        }
        let kept = (&mut body, &mut messages);
        send_due(&shared, &mut connection, kept, due, Instant::now()).await;
    }
    if waiting {
        senders.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Half the schedule's gap before request `i`: the longest a sender spins for it, since a spin
/// holds a worker thread that other senders' answers may be waiting for.
fn spin_cap(shared: &Shared, i: u64, intended: Instant) -> Duration {
    let before = i
        .checked_sub(1)
        .and_then(|before| intended_of(shared, before));
    before.map_or(Duration::MAX, |before| {
        intended.saturating_duration_since(before) / 2
    })
}
