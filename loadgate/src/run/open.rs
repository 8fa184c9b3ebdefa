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

mod due;
mod pool;
mod schedule_thread;
mod senders;

use std::sync::Arc;

use tokio::sync::watch;

use crate::run::shared::Shared;

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
