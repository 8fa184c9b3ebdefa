//! The open model: request `i` is due when the rate profile has delivered `i` requests (`i / rate`
//! at a constant rate), and its latency runs from that intended time, not from when it was
//! sent: a service that stalls delays every request due meanwhile, and each of them shows it (no
//! coordinated omission).
//!
//! So that this latency measures the service and not the generator's timer, the schedule is
//! kept by a thread of its own that renders request `i` ahead of its time and hands it to an idle
//! sender: a task that owns one keep-alive connection, sends, records, and waits for its next
//! request. Senders are started as the load needs them, up to `max_in_flight`, and live the whole
//! run, so no task is spawned per request. A request due while every sender is busy waits, and
//! the wait is counted. How a request is sent on time depends on how dense the schedule is:
//!
//! - sparse (requests further apart than twice the sender's [`Senders::lead`]): the request is
//!   handed over `lead` early, and the sender, awake by then, spins to the microsecond and writes
//!   it. A sleeping thread takes tens of µs to wake, and a sender woken only after the write
//!   would be that late to read the answer, which would add to every latency;
//! - dense: the senders are busy, so awake; the scheduler waits for the time itself ([`pace`])
//!   and writes the request on the sender's connection before handing it over.
//!
//! Each sender records when the request was actually written: that send error is reported
//! beside the latency, as the floor under it.

use std::sync::atomic::{AtomicU64, Ordering};
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
    pace::raise_priority();
    let mut pacer = pace::Pacer::default();
    let stopped = || *stop.borrow();
    let mut buffers = Buffers::default();
    // Connections belong to the senders; the scheduler's user only renders.
    let mut spare = Connection::default();
    let (warmup_end, end) = (shared.warmup_end(), shared.end());
    let mut previous = shared.started;
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
        let lead = senders.lead();
        let early = intended.saturating_duration_since(previous) >= 2 * lead;
        previous = intended;
        let on_time = if early {
            pace::sleep_until((intended - lead).into_std(), stopped)
        } else {
            senders.ease_lead();
            pacer.wait_until(intended.into_std(), stopped)
        };
        if !on_time || !hand_over(shared, senders, runtime, (due, early), &stopped) {
            break;
        }
    }
}

/// Gives `due` to a sender (`early`: ahead of its time, for the sender to write), waiting for
/// one to be free when all `max_in_flight` are busy (a judged wait is counted); false if the run
/// stopped or ended meanwhile.
fn hand_over(
    shared: &Arc<Shared>,
    senders: &Arc<Senders>,
    runtime: &Handle,
    (due, early): (Due, bool),
    stopped: &impl Fn() -> bool,
) -> bool {
    let judged = due.judged;
    let mut due = match senders.hand(shared, runtime, due, early) {
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
        due = match senders.hand(shared, runtime, due, early) {
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
    /// How early a sparse schedule hands a request over (ns): learned from how early senders
    /// have been ready to write, see [`Senders::learn_lead`].
    lead_ns: AtomicU64,
}

/// The lead's bounds and start, and how early a sender should be ready: a margin for the spin.
const LEAD_MIN: Duration = Duration::from_micros(50);
const LEAD_MAX: Duration = Duration::from_micros(500);
const LEAD_START: Duration = Duration::from_micros(250);
const READY_AHEAD: Duration = Duration::from_micros(30);

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

/// A request handed to a sender, with the sender's connection.
struct Handed {
    due: Due,
    connection: Connection,
    write: Write,
}

/// Who writes a handed request.
enum Write {
    /// The scheduler wrote it (or its start) at this instant.
    Done(Instant),
    /// The sender, at its intended time, spinning until then; `early`: it was handed over a
    /// lead ahead, and how early the sender was ready teaches the lead.
    BySender { early: bool },
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
            lead_ns: AtomicU64::new(LEAD_START.as_nanos() as u64),
        }
    }

    fn lead(&self) -> Duration {
        Duration::from_nanos(self.lead_ns.load(Ordering::Relaxed))
    }

    /// A request of a dense schedule went without a lead: the lead eases back towards its
    /// minimum, so that a lead grown by a few late wake-ups does not keep a schedule that is
    /// sparse enough from handing requests over early for good.
    fn ease_lead(&self) {
        let lead = self.lead();
        let next = lead - (lead - LEAD_MIN.min(lead)) / 256;
        self.lead_ns
            .store(next.as_nanos() as u64, Ordering::Relaxed);
    }

    /// A sender handed a request early was ready to write it at `ready`: a lead that left less
    /// than [`READY_AHEAD`] grows at once by what was missing; one that left more shrinks by a
    /// sixteenth of the excess, so it follows the recent worst wake-ups, and the spin it costs
    /// stays short.
    fn learn_lead(&self, intended: Instant, ready: Instant) {
        let lead = self.lead();
        let next = match intended.checked_duration_since(ready) {
            Some(ahead) if ahead >= READY_AHEAD => lead - (ahead - READY_AHEAD).min(lead) / 16,
            Some(ahead) => lead + (READY_AHEAD - ahead),
            None => lead + (ready - intended) + READY_AHEAD,
        };
        let next = next.clamp(LEAD_MIN, LEAD_MAX);
        self.lead_ns
            .store(next.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Gives `due` to the sender idle the shortest time (its connection is the warmest), or
    /// starts a new sender while fewer than `max` run; gives `due` back when all are busy.
    /// Unless it is handed `early`, the request is first written on the sender's connection
    /// when it can be at once.
    fn hand(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        runtime: &Handle,
        due: Due,
        early: bool,
    ) -> Result<(), Due> {
        let mut state = lock(&self.state);
        if let Some(Idle {
            next,
            mut connection,
        }) = state.idle.pop()
        {
            drop(state);
            let at = Instant::now();
            let write = match &due.request {
                _ if early => Write::BySender { early },
                Ok(request) if connection.write_now(request) => Write::Done(at),
                _ => Write::BySender { early },
            };
            // Fails only if the sender's task was aborted, when the run is torn down.
            let _ = next.send(Handed {
                due,
                connection,
                write,
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
            write: Write::BySender { early: false },
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
        let sent_at = match handed.write {
            Write::Done(at) => at,
            Write::BySender { early } => {
                let intended = handed.due.intended;
                if early {
                    senders.learn_lead(intended, Instant::now());
                }
                // Never before its time: a request sent early would look faster.
                pace::spin_until(intended.into_std());
                Instant::now()
            }
        };
        send_due(&shared, &mut connection, &mut body, handed.due, sent_at).await;
        let Some(next) = senders.idle(connection) else {
            break;
        };
        match next.await {
            Ok(next) => handed = next,
            Err(_closed) => break,
        }
    }
}

/// Sends one due request (the rest of it when the scheduler wrote it) and records it: its
/// latency from the intended time, its send error (`sent_at` minus intended), and its latency
/// from the actual send.
async fn send_due(
    shared: &Shared,
    connection: &mut Connection,
    body: &mut Vec<u8>,
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

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn the_lead_grows_at_once_by_what_a_late_sender_missed_and_shrinks_slowly() {
        let senders = Senders::new(1);
        let intended = Instant::now() + Duration::from_secs(1);
        senders.learn_lead(intended, intended + 100 * US);
        assert_eq!(senders.lead(), LEAD_START + 100 * US + READY_AHEAD);
        senders.learn_lead(intended, intended - 10 * US);
        assert_eq!(senders.lead(), LEAD_START + 120 * US + READY_AHEAD);
        let before = senders.lead();
        senders.learn_lead(intended, intended - before);
        assert!(senders.lead() < before && senders.lead() > before - 30 * US);
        for _ in 0..1_000 {
            senders.learn_lead(intended, intended - senders.lead());
        }
        assert_eq!(senders.lead(), LEAD_MIN);
        senders.learn_lead(intended, intended + Duration::from_secs(1));
        assert_eq!(senders.lead(), LEAD_MAX);
        for _ in 0..5_000 {
            senders.ease_lead();
        }
        assert!(senders.lead() < LEAD_MIN + 5 * US, "{:?}", senders.lead());
    }

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
