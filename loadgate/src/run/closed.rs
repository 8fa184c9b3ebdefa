//! The closed model: each virtual user is a task that picks a request (or a flow) by weight,
//! sends it (a flow: its steps in order), waits for the whole answer, records it, then thinks.
//! Each user keeps its captured values and its cookie jar across its iterations. User `i` runs while the profile's level
//! (users, ramped by `ramp_up` or `stages`) is above `i`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::run::client::http1::Connection;
use crate::run::cookies::Jar;
use crate::run::exchange::{Buffers, User, exchange};
use crate::run::shared::{Picked, Shared, Stripe, sleep_unless_stopped};
use crate::support::sync::lock;
use crate::support::units::DurationRange;

/// How often a user the profile has not started (or has stopped) looks again.
const IDLE_POLL: Duration = Duration::from_millis(20);
/// How long a user whose `[[on_start]]` failed waits before trying again.
const ON_START_RETRY: Duration = Duration::from_millis(100);

/// Virtual user `user_idx` until the end of the run or the stop.
pub async fn run_user(shared: Arc<Shared>, user_idx: u32, mut stop: watch::Receiver<bool>) {
    let load = &shared.load;
    let end = shared.end();
    let mut rng = fastrand::Rng::with_seed(
        shared
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(user_idx)),
    );
    let stripe = &shared.stripes[user_idx as usize % shared.stripes.len()];
    let mut active = Active {
        count: &shared.active,
        on: false,
    };
    let mut buffers = Buffers::default();
    let mut connection = Connection::default();
    // What this user captured (a login's token), by capture slot, and its cookies.
    let mut user_vars = vec![String::new(); shared.n_captures];
    let mut jar = Jar::default();
    let mut started_flow = shared.n_on_start == 0;

    while Instant::now() < end && !*stop.borrow() {
        // User i runs while the profile's level is above i: ramps start and stop users.
        let on = f64::from(user_idx) < load.profile.level_at(shared.started.elapsed());
        active.set(on);
        if !on {
            if !sleep_unless_stopped(Instant::now() + IDLE_POLL, &mut stop).await {
                break;
            }
            continue;
        }
        let mut user = User {
            id: user_idx + 1,
            rng: &mut rng,
            vars: &mut user_vars,
            buffers: &mut buffers,
            connection: &mut connection,
            slot: Some(user_idx as usize / shared.streams_per_connection),
            jar: shared.cookies.then_some(&mut jar),
        };
        if !started_flow {
            // The `[[on_start]]` requests, in order, before the mix; one that fails starts
            // them over after a pause, so the mix never runs without what they capture.
            started_flow = on_start(&shared, stripe, &mut user).await;
            let pause = Instant::now() + ON_START_RETRY;
            if !started_flow && (pause >= end || !sleep_unless_stopped(pause, &mut stop).await) {
                break;
            }
            continue;
        }
        let going_on = match shared.pick(user.rng) {
            Picked::Request(request_idx) => {
                exchange(&shared, stripe, request_idx, &mut user).await;
                think(&shared, request_idx, user.rng, &mut stop).await
            }
            Picked::Flow(flow_idx) => {
                run_flow(&shared, stripe, flow_idx, &mut user, &mut stop).await
            }
        };
        if !going_on {
            break;
        }
    }
}

/// HTTP/2: the users sharing connection `slot`, polled by one task, which also drives the
/// connection. An answer read wakes no other task, and the requests that the answers of one read
/// let users send leave in one write: per request, a fraction of a wake-up and of a system call.
pub async fn run_users(
    shared: Arc<Shared>,
    slot: usize,
    users: Vec<u32>,
    stop: watch::Receiver<bool>,
) {
    let mut running: FuturesUnordered<_> = users
        .into_iter()
        .map(|user_idx| run_user(shared.clone(), user_idx, stop.clone()))
        .collect();
    let Some(pool) = &shared.http2 else {
        while running.next().await.is_some() {}
        return;
    };
    let batch = Arc::new(Batch::default());
    let waker = Waker::from(batch.clone());
    std::future::poll_fn(|cx| {
        let mut task = lock(&batch.task);
        if !task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
            *task = Some(cx.waker().clone());
        }
        drop(task);
        let mut inner = Context::from_waker(&waker);
        batch.woken.store(false, Ordering::SeqCst);
        // The users queue requests, the connection writes them and reads what came; users whose
        // answers came go on, and so on while anything is woken, a bounded number of times.
        for _ in 0..BATCH_ROUNDS {
            batch.polling.store(true, Ordering::SeqCst);
            while let Poll::Ready(user) = running.poll_next_unpin(&mut inner) {
                if user.is_none() {
                    return Poll::Ready(());
                }
            }
            pool.drive(slot, &mut inner);
            batch.polling.store(false, Ordering::SeqCst);
            if !batch.woken.swap(false, Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// How many rounds of its users and its connection a task polls at most before it yields.
const BATCH_ROUNDS: usize = 8;

/// The waker of a task that polls its users and its connection itself: a wake-up while it polls
/// them (a user queued a request, the connection woke a user) is only noted, and the task polls
/// again before it returns, instead of being scheduled again (and another worker woken to take
/// it). A wake-up at any other time wakes the task.
#[derive(Default)]
struct Batch {
    polling: AtomicBool,
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Batch {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst)
            && let Some(task) = lock(&self.task).as_ref()
        {
            task.wake_by_ref();
        }
    }
}

/// The `[[on_start]]` requests in order; true when all succeeded.
async fn on_start(shared: &Shared, stripe: &Mutex<Stripe>, user: &mut User<'_>) -> bool {
    for request_idx in 0..shared.n_on_start {
        if !exchange(shared, stripe, request_idx, user).await {
            return false;
        }
    }
    true
}

/// One iteration of a flow: its steps in order, each followed by its think time, until one
/// fails (the iteration is then aborted and counted so). False when the run ended meanwhile.
async fn run_flow(
    shared: &Shared,
    stripe: &Mutex<Stripe>,
    flow_idx: usize,
    user: &mut User<'_>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let judged = Instant::now() >= shared.warmup_end();
    for request_idx in shared.flows[flow_idx].steps.clone() {
        let succeeded = exchange(shared, stripe, request_idx, user).await;
        if !succeeded {
            lock(stripe).record_flow(judged, flow_idx, false);
        }
        if !think(shared, request_idx, user.rng, stop).await {
            return false;
        }
        if !succeeded {
            return true;
        }
    }
    lock(stripe).record_flow(judged, flow_idx, true);
    true
}

/// The pause after request `request_idx` (a flow step's own `think`, else `[load]
/// think_time`); false when the run ends or stops before it is over.
async fn think(
    shared: &Shared,
    request_idx: usize,
    rng: &mut fastrand::Rng,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let range = shared.requests[request_idx]
        .think
        .unwrap_or(shared.load.think_time);
    let think = think_time(range, rng);
    if think.is_zero() {
        return true;
    }
    let until = Instant::now() + think;
    until < shared.end() && sleep_unless_stopped(until, stop).await
}

/// A user's place in the count of active users, given back however its loop ends.
struct Active<'a> {
    count: &'a AtomicU32,
    on: bool,
}

impl Active<'_> {
    fn set(&mut self, on: bool) {
        if on != self.on {
            if on {
                self.count.fetch_add(1, Ordering::Relaxed);
            } else {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            self.on = on;
        }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// A pause between the `think_time` bounds, drawn evenly.
fn think_time(range: DurationRange, rng: &mut fastrand::Rng) -> Duration {
    let DurationRange { min, max } = range;
    if min == max {
        return min;
    }
    let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
    min + Duration::from_nanos(rng.u64(0..=span))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the wake-ups of the task it stands for.
    #[derive(Default)]
    struct Count(AtomicU32);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_up_while_the_task_polls_is_noted_and_any_other_wakes_the_task() {
        let (count, batch) = (Arc::new(Count::default()), Arc::new(Batch::default()));
        *lock(&batch.task) = Some(Waker::from(count.clone()));
        let waker = Waker::from(batch.clone());
        batch.polling.store(true, Ordering::SeqCst);
        waker.wake_by_ref();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "the task polls again itself"
        );
        assert!(batch.woken.swap(false, Ordering::SeqCst));
        batch.polling.store(false, Ordering::SeqCst);
        waker.wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn think_time_is_drawn_between_its_bounds() {
        let mut rng = fastrand::Rng::with_seed(7);
        let ms = Duration::from_millis;
        for (min, max) in [(ms(0), ms(0)), (ms(5), ms(5)), (ms(10), ms(20))] {
            for _ in 0..100 {
                let think = think_time(DurationRange { min, max }, &mut rng);
                assert!(
                    min <= think && think <= max,
                    "{think:?} in {min:?}..={max:?}"
                );
            }
        }
    }
}
