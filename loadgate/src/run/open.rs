//! The open model: one scheduler task gives request `i` the intended send time at which the
//! rate profile has delivered `i` requests (`i / rate` at a constant rate), sends it then in a
//! task of its own (at most `max_in_flight` at once), and its latency is measured from that
//! intended time, not from when it was actually sent: a service that stalls delays every
//! request due meanwhile, and each of them shows it (no coordinated omission). How late the
//! sends were is recorded, so a generator that could not keep up is caught, not believed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use crate::run::exchange::{Answered, Buffers, User, build_request, send_and_classify};
use crate::run::http1::{self, Connection};
use crate::run::outcome::ErrorExample;
use crate::run::record::{LATE_AFTER, Schedule};
use crate::run::shared::{Picked, Shared, lock, sleep_unless_stopped};

/// The open model's scheduler: sends request `i` at `started + i / rate` until the end, each in
/// a task of its own holding one of `max_in_flight` slots, then waits for the last answers.
pub async fn run_schedule(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let load = &shared.load;
    let slots = Arc::new(Semaphore::new(load.max_in_flight as usize));
    let mut rng = fastrand::Rng::with_seed(shared.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut schedule = Schedule::default();
    let mut buffers = Buffers::default();
    // Connections belong to the tasks that send; the scheduler's user only renders.
    let mut spare = Connection::default();
    let (warmup_end, end) = (shared.warmup_end(), shared.end());
    for i in 0u64.. {
        let Some(offset) = load.profile.time_of(i as f64) else {
            break;
        };
        let intended = shared.started + offset;
        // A scheduler that fell behind stops at the end all the same: what it could not send
        // shows as a shortfall, not as a longer run.
        if intended >= end
            || Instant::now() >= end
            || !sleep_unless_stopped(intended, &mut stop).await
        {
            break;
        }
        let judged = intended >= warmup_end;
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                schedule.in_flight_limit_hits += u64::from(judged);
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    _ = stop.wait_for(|stopped| *stopped) => break,
                }
            }
        };
        let request_idx = match shared.pick(&mut rng) {
            Picked::Request(idx) => idx,
            Picked::Flow(_) => unreachable!("planning refuses flows in the open model"),
        };
        // The open model has no users: requests are alike, with nothing captured.
        let mut user = User {
            id: 1,
            rng: &mut rng,
            vars: &mut [],
            buffers: &mut buffers,
            connection: &mut spare,
            slot: None,
            jar: None,
        };
        let built = build_request(&shared, request_idx, &mut user);
        let request = std::mem::take(&mut buffers.request);
        if judged {
            let late = intended.elapsed();
            schedule.sent += 1;
            schedule.late += u64::from(late > LATE_AFTER);
            schedule.max_late = schedule.max_late.max(late);
        }
        let scheduled = Scheduled {
            i,
            request_idx,
            intended,
            judged,
        };
        shared.active.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(send_scheduled(
            shared.clone(),
            scheduled,
            built.map(|()| request),
            slot,
        ));
    }
    *lock(&shared.schedule) = schedule;
    // The last answers: every request has a timeout, so this ends.
    let _ = slots.acquire_many(load.max_in_flight).await;
}

/// A request the scheduler gave a send time.
struct Scheduled {
    /// Its place in the schedule.
    i: u64,
    request_idx: usize,
    intended: Instant,
    /// Due after the warmup.
    judged: bool,
}

/// Sends one scheduled request on a connection from the pool and records it; its latency runs
/// from the intended send time. The slot is given back at the end.
async fn send_scheduled(
    shared: Arc<Shared>,
    scheduled: Scheduled,
    request: Result<Vec<u8>, http1::Invalid>,
    slot: OwnedSemaphorePermit,
) {
    let Scheduled {
        i,
        request_idx,
        intended,
        judged,
    } = scheduled;
    let (mut connection, mut body) = lock(&shared.pool).pop().unwrap_or_default();
    let sent_at = Instant::now();
    let request = request.as_deref().map_err(|&invalid| invalid);
    let outcome = send_and_classify(
        &shared,
        (&mut connection, None),
        request,
        request_idx,
        &mut body,
        Answered {
            vars: &mut [],
            jar: None,
        },
    )
    .await;
    let (latency, uncorrected) = (intended.elapsed(), sent_at.elapsed());
    let stripe = &shared.stripes[(i % shared.stripes.len() as u64) as usize];
    lock(stripe).record(
        judged,
        request_idx,
        latency,
        Some(uncorrected),
        &outcome,
        |cause| {
            let plan = &shared.requests[request_idx];
            ErrorExample::new(cause, &outcome, plan, &body, &shared.secrets)
        },
    );
    lock(&shared.pool).push((connection, body));
    shared.active.fetch_sub(1, Ordering::Relaxed);
    drop(slot);
}
