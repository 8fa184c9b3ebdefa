//! The open model: request `i` is due when the rate profile has delivered `i` requests (`i / rate`
//! at a constant rate), and its latency runs from that intended time, not from when it was
//! sent: a service that stalls delays every request due meanwhile, and each of them shows it (no
//! coordinated omission).
//!
//! Requests are sent by senders: tokio tasks that each own one keep-alive connection, started
//! as the load needs them, up to `max_in_flight`, and kept for the whole run, so no task is
//! spawned per request. So that the latency measures the service and not the generator's timer,
//! every request is written on time to the microsecond ([`pace`](crate::run::pace)), and what it takes depends on
//! how dense the schedule is:
//!
//! - below [`DENSE_RATE`], each sender keeps its own time ([`senders`]): it claims the next
//!   request, waits for it on a timer of its own, writes it, reads the answer on the same worker
//!   thread, and claims again. One wake-up per request, and the CPU stays small;
//! - from [`DENSE_RATE`], a wake-up per request would cost more than it saves: a thread of its own
//!   keeps the schedule ([`schedule_thread`]), spinning between requests, writes each on an idle
//!   sender's connection and hands it over for the answer.
//!
//! Each request's send error (its write time minus its intended time) is recorded beside its
//! latency, as the floor under it.

mod schedule_thread;
mod senders;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::run::exchange::{Answered, Buffers, User, build_request, send_and_classify};
use crate::run::http1::{self, Connection};
use crate::run::outcome::ErrorExample;
use crate::run::record::{Sending, Timing};
use crate::run::shared::{Picked, Shared, lock};

/// The rate (of this shard's own requests) from which one thread keeps the schedule: requests
/// 200 µs apart or less. Measured against nginx here, senders keeping their own time hold their
/// send error and CPU below the thread's up to about 5 000 requests/s, and fall behind it
/// beyond (a wake-up costs tens of µs of CPU in a virtual machine).
const DENSE_RATE: f64 = 5_000.0;

/// Sends the schedule until the end (or the stop), then waits for the last answers.
pub async fn run_schedule(shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let shards = f64::from(shared.counters.shard.count());
    if shared.load.profile.peak() / shards < DENSE_RATE {
        senders::run(shared, stop).await;
    } else {
        schedule_thread::run(shared, stop).await;
    }
}

/// How many senders run, up to `max`.
struct Pool {
    running: AtomicU32,
    max: u32,
    /// The last sender ended.
    gone: Notify,
}

impl Pool {
    fn new(max_in_flight: u32) -> Pool {
        Pool {
            running: AtomicU32::new(0),
            max: max_in_flight.max(1),
            gone: Notify::new(),
        }
    }

    /// Takes a place for one more sender; false when `max` run already.
    fn reserve(&self) -> bool {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < self.max).then_some(running + 1)
            })
            .is_ok()
    }

    fn running(&self) -> u32 {
        self.running.load(Ordering::Acquire)
    }

    fn full(&self) -> bool {
        self.running() >= self.max
    }

    /// Resolves when every sender has ended.
    async fn ended(&self) {
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
struct Running<'a>(&'a Pool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.gone.notify_waiters();
        }
    }
}

/// A request the schedule gave a send time, rendered.
struct Due {
    /// Its place in the schedule.
    i: u64,
    request_idx: usize,
    intended: Instant,
    /// Due after the warmup.
    judged: bool,
    request: Result<Vec<u8>, http1::Invalid>,
}

/// When request `i` is due; `None` when that is at or after the end.
fn intended_of(shared: &Shared, i: u64) -> Option<Instant> {
    let intended = shared.started + shared.load.profile.time_of(i as f64)?;
    (intended < shared.end()).then_some(intended)
}

/// Renders request `i`, due at `intended`, from its own random stream. The open model has no
/// users: requests are alike, with nothing captured.
fn render(
    shared: &Shared,
    (i, intended): (u64, Instant),
    buffers: &mut Buffers,
    connection: &mut Connection,
) -> Due {
    let mut rng = request_rng(shared.seed, i);
    let request_idx = match shared.pick(&mut rng) {
        Picked::Request(idx) => idx,
        Picked::Flow(_) => unreachable!("planning refuses flows in the open model"),
    };
    let mut user = User {
        id: 1,
        rng: &mut rng,
        vars: &mut [],
        buffers,
        connection,
        slot: None,
        jar: None,
    };
    let built = build_request(shared, request_idx, &mut user);
    Due {
        i,
        request_idx,
        intended,
        judged: intended >= shared.warmup_end(),
        request: built.map(|()| std::mem::take(&mut user.buffers.request)),
    }
}

/// Request `i`'s own random stream, from the seed and `i` alone: what it draws (its name, its
/// random values) does not depend on which thread or process renders it, nor on the requests
/// before it.
fn request_rng(seed: u64, i: u64) -> fastrand::Rng {
    // splitmix64's finalizer: neighbouring indices get unrelated seeds.
    let mut z = seed ^ i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    fastrand::Rng::with_seed(z ^ (z >> 31))
}

/// Sends one due request (the rest of it when the schedule thread wrote it at `sent_at`) and
/// records it: its latency from the intended time, its send error (`sent_at` minus intended),
/// and its latency from the actual send.
async fn send_due(
    shared: &Shared,
    connection: &mut Connection,
    (body, arrivals): (&mut Vec<u8>, &mut Vec<Instant>),
    due: Due,
    sent_at: Instant,
) {
    let Due {
        i,
        request_idx,
        intended,
        judged,
        request,
    } = due;
    shared.active.fetch_add(1, Ordering::Relaxed);
    let request = request.as_deref().map_err(|&invalid| invalid);
    let outcome = send_and_classify(
        shared,
        (connection, None),
        request,
        request_idx,
        body,
        Answered {
            vars: &mut [],
            jar: None,
            arrivals,
        },
    )
    .await;
    let answered_at = Instant::now();
    let plan = &shared.requests[request_idx];
    // The intended send time starts a stream's clock too.
    let timing = Timing {
        latency: answered_at - intended,
        sending: Some(Sending {
            late: sent_at.saturating_duration_since(intended),
            uncorrected: answered_at - sent_at,
        }),
        messages: plan
            .stream
            .is_some()
            .then_some((intended, arrivals.as_slice())),
    };
    let stripe = &shared.stripes[(i % shared.stripes.len() as u64) as usize];
    lock(stripe).record(judged, request_idx, timing, &outcome, |cause| {
        ErrorExample::new(cause, &outcome, plan, body, &shared.secrets)
    });
    shared.active.fetch_sub(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_draws_the_same_whoever_renders_it_and_its_neighbours_differ() {
        let draws = |i| {
            let mut rng = request_rng(7, i);
            [rng.u64(..), rng.u64(..)]
        };
        assert_eq!(draws(41), draws(41));
        assert_ne!(draws(41), draws(42));
        assert_ne!(request_rng(7, 0).u64(..), request_rng(8, 0).u64(..));
    }
}
