//! Dense schedules: a thread of its own keeps the schedule. It renders each request ahead of its
//! time, waits for the time (a sleep with 1 ns of timer slack, then a spin: between requests this
//! close, mostly a spin), writes the request on an idle sender's connection and hands it over;
//! the sender reads the answer and is idle again. A sender is started when none is idle, up to
//! `max_in_flight`; beyond that, a due request waits for one, and the wait is counted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::due::{Due, intended_of, planted_lateness, render, send_due};
use super::pool::{Pool, Running};
use crate::run::client::http1::Connection;
use crate::run::exchange::Buffers;
use crate::run::messages::Messages;
use crate::run::pace;
use crate::run::shared::Shared;
use crate::support::sync::lock;

pub async fn run(shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let senders = Arc::new(Senders {
        state: Mutex::new(State {
            idle: Vec::new(),
            closed: false,
            waiting: false,
        }),
        freed: Condvar::new(),
        pool: Pool::new(shared.load.max_in_flight),
        starting: AtomicU32::new(0),
    });
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
    senders.close();
    // Every request has a timeout, so this ends.
    senders.pool.ended().await;
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
    let margin = pace::Margin::for_this_machine();
    let stopped = || *stop.borrow();
    let mut buffers = Buffers::default();
    // Connections belong to the senders; the scheduler only renders.
    let mut spare = Connection::default();
    for i in 0u64.. {
        let Some(intended) = intended_of(shared, i) else {
            break;
        };
        if Instant::now() >= shared.end() {
            break;
        }
        // A shard of a distributed run sends its stripe of the one schedule.
        if !shared.counters.shard.owns_request(i) {
            continue;
        }
        let due = render(shared, (i, intended), &mut buffers, &mut spare);
        if !pace::block_until(&margin, intended + planted_lateness(), stopped)
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
    if judged && senders.pool.full() {
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

/// The senders: the idle ones, each waiting for its next request, and how many run.
struct Senders {
    state: Mutex<State>,
    /// A sender became idle while the scheduler waited for one.
    freed: Condvar,
    pool: Pool,
    /// Senders started that have not had their first answer yet.
    starting: AtomicU32,
}

struct State {
    idle: Vec<Idle>,
    closed: bool,
    /// The scheduler waits for an idle sender: only then is `freed` worth a system call.
    waiting: bool,
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
    /// When the scheduler wrote the request (or its start); `None`: the sender writes it, at
    /// once (a connection not yet open, TLS, HTTP/2).
    written: Option<Instant>,
}

impl Senders {
    /// Gives `due` to the sender idle the shortest time (its connection is the warmest), its
    /// request written on the sender's connection first when it can be at once; or starts a
    /// new sender while the pool is not full and fewer than a quarter of it are starting;
    /// gives `due` back otherwise. A scheduler that fell behind would otherwise open a
    /// connection per late request, and the connections' cost would keep it behind; a quarter
    /// still lets the pool grow by a quarter per answer's time when the service slows down.
    fn hand(self: &Arc<Self>, shared: &Arc<Shared>, runtime: &Handle, due: Due) -> Result<(), Due> {
        let idle = lock(&self.state).idle.pop();
        if let Some(Idle {
            next,
            mut connection,
        }) = idle
        {
            let at = Instant::now();
            // A WebSocket opens a connection of its own: nothing is written ahead on this one.
            let own = shared.requests[due.request_idx].websocket().is_some();
            let written = match &due.request {
                Ok(request) if !own => connection.write_now(request).then_some(at),
                _ => None,
            };
            // Fails only if the sender's task was aborted, when the run is torn down.
            let _ = next.send(Handed {
                due,
                connection,
                written,
            });
            return Ok(());
        }
        let starting_at_most = 1 + self.pool.running() / 4;
        if self.starting.load(Ordering::Acquire) >= starting_at_most || !self.pool.reserve() {
            return Err(due);
        }
        self.starting.fetch_add(1, Ordering::AcqRel);
        let first = Handed {
            due,
            connection: Connection::default(),
            written: None,
        };
        runtime.spawn(run_sender(shared.clone(), self.clone(), first));
        Ok(())
    }

    /// Blocks the scheduler until a sender is idle, or `at_most`.
    fn wait_for_idle(&self, at_most: Duration) {
        let mut state = lock(&self.state);
        if state.idle.is_empty() {
            state.waiting = true;
            let (mut state, _) = self
                .freed
                .wait_timeout(state, at_most)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.waiting = false;
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
        if state.waiting {
            self.freed.notify_one();
        }
        Some(receiver)
    }

    /// No more requests: idle senders end now, busy ones after their answer.
    fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.idle.clear();
    }
}

/// A sender: its first request, then each the scheduler hands it, then idle again.
async fn run_sender(shared: Arc<Shared>, senders: Arc<Senders>, first: Handed) {
    let _running = Running(&senders.pool);
    let (mut body, mut messages) = (Vec::new(), Messages::default());
    let mut handed = first;
    let mut started = false;
    loop {
        let mut connection = handed.connection;
        let sent_at = handed.written.unwrap_or_else(Instant::now);
        let kept = (&mut body, &mut messages);
        send_due(&shared, &mut connection, kept, handed.due, sent_at).await;
        if !std::mem::replace(&mut started, true) {
            senders.starting.fetch_sub(1, Ordering::AcqRel);
        }
        let Some(next) = senders.idle(connection) else {
            break;
        };
        match next.await {
            Ok(next) => handed = next,
            Err(_closed) => break,
        }
    }
}
