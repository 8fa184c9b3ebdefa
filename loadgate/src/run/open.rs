//! The open model: request `i` is due when the rate profile has delivered `i` requests (`i / rate`
//! at a constant rate), and its latency runs from that intended time, not from when it was
//! sent: a service that stalls delays every request due meanwhile, and each of them shows it (no
//! coordinated omission).
//!
//! So that this latency measures the service and not the generator's timer, the schedule is
//! kept by a thread of its own: it renders request `i` ahead of its time, waits for that time to
//! within microseconds ([`pace`]) and hands the request to an idle sender. A sender is a task
//! that owns one keep-alive connection, sends, records, and waits for its next request; senders
//! are started as the load needs them, up to `max_in_flight`, and live the whole run, so no task
//! is spawned per request. A request due while every sender is busy waits, and the wait is
//! counted. Each sender records when it actually wrote: that send error is reported beside the
//! latency, as the floor under it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

use crate::run::exchange::{Answered, Buffers, User, build_request, send_and_classify};
use crate::run::http1::{self, Connection};
use crate::run::outcome::ErrorExample;
use crate::run::pace;
use crate::run::record::Sending;
use crate::run::shared::{Picked, Shared, lock};

/// Runs the schedule on a thread of its own until the end (or the stop), then waits for the
/// last answers.
pub async fn run_schedule(shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let senders = Arc::new(Senders::new(shared.load.max_in_flight));
    let (done, kept) = oneshot::channel();
    let runtime = Handle::current();
    let (thread_shared, thread_senders) = (shared.clone(), senders.clone());
    std::thread::Builder::new()
        .name("loadgate-schedule".into())
        .spawn(move || {
            keep_schedule(&thread_shared, &thread_senders, &stop, &runtime);
            let _ = done.send(());
        })
        .expect("the system starts a thread");
    let _ = kept.await;
    // Every request has a timeout, so this ends.
    senders.close().await;
}

/// The schedule itself: renders each request, waits for its time, hands it to a sender. A
/// scheduler that fell behind stops at the end all the same: what it could not send shows as a
/// shortfall, not as a longer run.
fn keep_schedule(
    shared: &Arc<Shared>,
    senders: &Arc<Senders>,
    stop: &watch::Receiver<bool>,
    runtime: &Handle,
) {
    pace::fine_timer_slack();
    let mut pacer = pace::Pacer::default();
    let stopped = || *stop.borrow();
    let mut buffers = Buffers::default();
    // Connections belong to the senders; the scheduler's user only renders.
    let mut spare = Connection::default();
    let (warmup_end, end) = (shared.warmup_end(), shared.end());
    for i in 0u64.. {
        let Some(offset) = shared.load.profile.time_of(i as f64) else {
            break;
        };
        let intended = shared.started + offset;
        if intended >= end || Instant::now() >= end {
            break;
        }
        // A shard of a distributed run sends its stripe of the one schedule.
        if !shared.counters.shard.owns_request(i) {
            continue;
        }
        let mut rng = request_rng(shared.seed, i);
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
        let built = build_request(shared, request_idx, &mut user);
        let due = Due {
            i,
            request_idx,
            intended,
            judged: intended >= warmup_end,
            request: built.map(|()| std::mem::take(&mut buffers.request)),
        };
        if !pacer.wait_until(intended.into_std(), stopped)
            || !hand_over(shared, senders, runtime, due, &stopped)
        {
            break;
        }
    }
}

/// Gives `due` to a sender, waiting for one to be free when all `max_in_flight` are busy (a
/// judged wait is counted); false if the run stopped or ended meanwhile.
fn hand_over(
    shared: &Arc<Shared>,
    senders: &Arc<Senders>,
    runtime: &Handle,
    due: Due,
    stopped: &impl Fn() -> bool,
) -> bool {
    let judged = due.judged;
    let mut due = match senders.hand(shared, runtime, due) {
        Ok(()) => return true,
        Err(due) => due,
    };
    if judged {
        shared.in_flight_limit_hits.fetch_add(1, Ordering::Relaxed);
    }
    loop {
        if stopped() || Instant::now() >= shared.end() {
            return false;
        }
        senders.wait_for_idle(WAIT_POLL);
        due = match senders.hand(shared, runtime, due) {
            Ok(()) => return true,
            Err(due) => due,
        };
    }
}

/// How often a scheduler waiting for a free sender looks at the stop and the end.
const WAIT_POLL: Duration = Duration::from_millis(10);

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

/// The open model's senders: the idle ones, each waiting for its next request, and how many run.
struct Senders {
    state: Mutex<SendersState>,
    /// A sender became idle: a scheduler waiting for one looks again.
    freed: Condvar,
    /// The last sender ended after the close.
    gone: Notify,
    max: u32,
}

struct SendersState {
    idle: Vec<Idle>,
    running: u32,
    closed: bool,
}

/// An idle sender: where to hand it its next request, and its connection meanwhile, so the
/// scheduler can write on it.
struct Idle {
    next: oneshot::Sender<Handed>,
    connection: Connection,
}

/// A request handed to a sender, with the sender's connection, and when the scheduler wrote
/// it (`None`: not yet, the sender writes it).
struct Handed {
    due: Due,
    connection: Connection,
    sent_at: Option<Instant>,
}

impl Senders {
    fn new(max: u32) -> Senders {
        Senders {
            state: Mutex::new(SendersState {
                idle: Vec::new(),
                running: 0,
                closed: false,
            }),
            freed: Condvar::new(),
            gone: Notify::new(),
            max: max.max(1),
        }
    }

    /// Gives `due` to the sender idle the shortest time (its connection is the warmest), writing
    /// the request on that connection first when it can be written at once; or starts a new
    /// sender while fewer than `max` run. Gives `due` back when all are busy.
    fn hand(self: &Arc<Self>, shared: &Arc<Shared>, runtime: &Handle, due: Due) -> Result<(), Due> {
        let mut state = lock(&self.state);
        if let Some(Idle {
            next,
            mut connection,
        }) = state.idle.pop()
        {
            drop(state);
            let sent_at = Instant::now();
            let written = matches!(&due.request, Ok(request) if connection.write_now(request));
            // Fails only if the sender's task was aborted, when the run is torn down.
            let _ = next.send(Handed {
                due,
                connection,
                sent_at: written.then_some(sent_at),
            });
            return Ok(());
        }
        if state.running >= self.max {
            return Err(due);
        }
        state.running += 1;
        drop(state);
        let first = Handed {
            due,
            connection: Connection::default(),
            sent_at: None,
        };
        runtime.spawn(run_sender(shared.clone(), self.clone(), first));
        Ok(())
    }

    /// Blocks the scheduler until a sender is idle, or `at_most`.
    fn wait_for_idle(&self, at_most: Duration) {
        let state = lock(&self.state);
        if state.idle.is_empty() {
            let _ = self.freed.wait_timeout(state, at_most);
        }
    }

    /// A sender is idle with its `connection`: where its next request will come, or `None`
    /// once the schedule closed.
    fn idle(&self, connection: Connection) -> Option<oneshot::Receiver<Handed>> {
        let mut state = lock(&self.state);
        if state.closed {
            return None;
        }
        let (next, receiver) = oneshot::channel();
        state.idle.push(Idle { next, connection });
        self.freed.notify_one();
        Some(receiver)
    }

    /// No more requests: idle senders end now, busy ones after their answer; resolves when all
    /// have ended.
    async fn close(&self) {
        {
            let mut state = lock(&self.state);
            state.closed = true;
            state.idle.clear();
        }
        loop {
            let gone = self.gone.notified();
            if lock(&self.state).running == 0 {
                return;
            }
            gone.await;
        }
    }
}

/// A sender's place among the running ones, given back however its task ends (aborted too).
struct Running<'a>(&'a Senders);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.running -= 1;
        if state.running == 0 {
            self.0.gone.notify_waiters();
        }
    }
}

/// A sender: its first request, then each the schedule hands it, then idle again.
async fn run_sender(shared: Arc<Shared>, senders: Arc<Senders>, first: Handed) {
    let _running = Running(&senders);
    let mut body = Vec::new();
    let mut handed = first;
    loop {
        let mut connection = handed.connection;
        send_due(
            &shared,
            &mut connection,
            &mut body,
            handed.due,
            handed.sent_at,
        )
        .await;
        let Some(next) = senders.idle(connection) else {
            break;
        };
        match next.await {
            Ok(next) => handed = next,
            Err(_closed) => break,
        }
    }
}

/// Sends one due request (the rest of it when the scheduler wrote it at `sent_at`) and
/// records it: its latency from the intended time, its send error, and its latency from the
/// actual send.
async fn send_due(
    shared: &Shared,
    connection: &mut Connection,
    body: &mut Vec<u8>,
    due: Due,
    sent_at: Option<Instant>,
) {
    let Due {
        i,
        request_idx,
        intended,
        judged,
        request,
    } = due;
    shared.active.fetch_add(1, Ordering::Relaxed);
    let sent_at = sent_at.unwrap_or_else(Instant::now);
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
        },
    )
    .await;
    let answered_at = Instant::now();
    let sending = Sending {
        late: sent_at.saturating_duration_since(intended),
        uncorrected: answered_at - sent_at,
    };
    let stripe = &shared.stripes[(i % shared.stripes.len() as u64) as usize];
    lock(stripe).record(
        judged,
        request_idx,
        answered_at - intended,
        Some(sending),
        &outcome,
        |cause| {
            let plan = &shared.requests[request_idx];
            ErrorExample::new(cause, &outcome, plan, body, &shared.secrets)
        },
    );
    shared.active.fetch_sub(1, Ordering::Relaxed);
}
