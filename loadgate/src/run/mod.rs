//! Plan + base URL → recorded outcomes: the load generator, closed and open model.
//!
//! Closed model: each virtual user is a task that picks a request by weight, sends it, waits for
//! the whole answer, records it, then thinks. User `i` runs while the profile's level (users,
//! ramped by `ramp_up` or `stages`) is above `i`.
//!
//! Open model: one scheduler task gives request `i` the intended send time at which the rate
//! profile has delivered `i` requests (`i / rate` at a constant rate), sends it
//! then in a task of its own (at most `max_in_flight` at once), and its latency is measured from
//! that intended time, not from when it was actually sent: a service that stalls delays every
//! request due meanwhile, and each of them shows it (no coordinated omission). How late the
//! sends were is recorded, so a generator that could not keep up is caught, not believed.
//!
//! Requests go over the generator's own HTTP/1.1 client ([`crate::run::http1`]): each closed-model
//! user keeps one keep-alive connection, as a browser tab or a client pool would; the open
//! model's requests take idle connections from a shared pool and open more as needed.
//!
//! Requests due before `warmup` are recorded apart and not judged. Recording goes to a few sharded recorders
//! (one lock per shard, held for a histogram increment): no per-request message to a collector,
//! no samples kept, so memory stays flat however long the run.

pub mod http1;
pub mod record;
pub mod resources;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HOST;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::{Position, Url};

use crate::plan::data::DataTable;
use crate::plan::expect;
use crate::plan::secret::Secrets;
use crate::plan::template::RenderContext;
use crate::plan::{LoadPlan, Plan, RequestPlan};
use crate::run::record::{
    ErrorExample, ErrorKind, Interval, LATE_AFTER, Outcome, Recorder, Schedule, SeriesPoint,
};
use crate::spec::{Model, Pick};
use http1::Connection;

/// Counters that go on across the runs against one service (rounds, sweep steps): `${seq}`
/// and a sequential data pick, so a later round does not repeat an earlier round's ids.
#[derive(Debug, Default)]
pub struct Counters {
    pub seq: AtomicU64,
    pub next_row: AtomicU64,
}

/// What a finished (or stopped) run recorded.
#[derive(Debug)]
pub struct Recording {
    pub warmup: Recorder,
    pub measured: Recorder,
    /// The judged window: `duration`, or less when the run was stopped early.
    pub window: Duration,
    /// Open model: how well the schedule was kept.
    pub schedule: Option<Schedule>,
    /// A point per second since the load started.
    pub series: Vec<SeriesPoint>,
}

#[derive(Debug)]
struct Shard {
    warmup: Recorder,
    measured: Recorder,
    /// Since the last point of the time series.
    interval: Interval,
}

impl Shard {
    /// One answered request: judged or warmup, and in the current second of the series.
    /// `uncorrected` is the open model's latency from the actual send.
    fn record(
        &mut self,
        judged: bool,
        request_idx: usize,
        latency: Duration,
        uncorrected: Option<Duration>,
        outcome: &Outcome,
    ) {
        let recorder = if judged {
            &mut self.measured
        } else {
            &mut self.warmup
        };
        match uncorrected {
            Some(uncorrected) => {
                recorder.record_scheduled(request_idx, latency, uncorrected, outcome)
            }
            None => recorder.record(request_idx, latency, outcome),
        }
        self.interval.record(latency, outcome);
    }
}

/// How far a run has come, sent every second for a live display.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub elapsed: Duration,
    /// Warmup and duration: when the run will end.
    pub total: Duration,
    pub requests: u64,
    pub errors: u64,
    /// Requests completed in the last second.
    pub rps: f64,
    /// Over every request so far, warmup included.
    pub p50_us: u64,
    pub p90_us: u64,
}

/// State shared by all users of one run; read-only but for the shards and the sequence.
struct Shared {
    target: http1::Target,
    base_url: String,
    requests: Vec<RequestPlan>,
    /// Running sums of the weights, for picking a request with one random draw.
    cumulative_weights: Vec<u32>,
    load: LoadPlan,
    seed: u64,
    started: Instant,
    shards: Vec<Mutex<Shard>>,
    counters: Arc<Counters>,
    /// The data file (the next row of a sequential pick is in `counters`).
    data: Option<DataTable>,
    /// The first `n_on_start` requests are each user's `[[on_start]]`.
    n_on_start: usize,
    n_captures: usize,
    /// Redacted from the error examples, which quote answers.
    secrets: Secrets,
    /// The path and query of each request whose path has no template, parsed once: parsing per
    /// request showed in profiles.
    static_targets: Vec<Option<String>>,
    /// The open model's idle connections.
    pool: Mutex<Vec<Connection>>,
    schedule: Mutex<Schedule>,
    /// Users running (closed model) or requests in flight (open model).
    active: AtomicU32,
}

impl Shared {
    /// What every shard recorded since the last call, merged; the shards start afresh.
    fn take_interval(&self) -> Interval {
        let mut total = Interval::new();
        for shard in &self.shards {
            total.drain_from(&mut lock(shard).interval);
        }
        total
    }

    /// A request of the mix, by weight, with one random draw.
    fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        let total = *self.cumulative_weights.last().expect("a plan has requests");
        let draw = rng.u32(0..total);
        self.cumulative_weights.partition_point(|&w| w <= draw)
    }

    fn warmup_end(&self) -> Instant {
        self.started + self.load.warmup
    }

    fn end(&self) -> Instant {
        self.warmup_end() + self.load.duration
    }
}

/// A run in progress.
pub struct Load {
    shared: Arc<Shared>,
    users: JoinSet<()>,
    progress: watch::Receiver<Progress>,
    series: tokio::task::JoinHandle<Vec<SeriesPoint>>,
    stop: watch::Sender<bool>,
    stopped_at: Option<Instant>,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load")
            .field("users", &self.users.len())
            .finish()
    }
}

/// Starts the users of `plan` against `base_url`; the run ends by itself after warmup + duration.
pub fn start(plan: &Plan, base_url: &Url, counters: Arc<Counters>) -> anyhow::Result<Load> {
    let concurrency = match plan.load.model {
        Model::Closed => plan.load.users,
        Model::Open => plan.load.max_in_flight,
    } as usize;
    let target = http1::Target::resolve(base_url)?;
    let n_shards = concurrency.clamp(
        1,
        4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let cumulative_weights = plan
        .requests
        .iter()
        .scan(0u32, |sum, r| {
            *sum = sum.saturating_add(r.weight);
            Some(*sum)
        })
        .collect();
    let shared = Arc::new(Shared {
        target,
        base_url: base_url.as_str().trim_end_matches('/').to_owned(),
        requests: plan.requests.clone(),
        cumulative_weights,
        load: plan.load.clone(),
        seed: plan.seed,
        started: Instant::now(),
        shards: (0..n_shards)
            .map(|_| {
                Mutex::new(Shard {
                    warmup: Recorder::new(plan.requests.len()),
                    measured: Recorder::new(plan.requests.len()),
                    interval: Interval::new(),
                })
            })
            .collect(),
        counters,
        data: plan.data.clone(),
        n_on_start: plan.n_on_start,
        n_captures: plan.captures.len(),
        secrets: plan.secrets.clone(),
        static_targets: plan
            .requests
            .iter()
            .map(|r| {
                let path = r.path.as_static()?;
                let url = Url::parse(&format!(
                    "{}{path}",
                    base_url.as_str().trim_end_matches('/')
                ))
                .ok()?;
                Some(url[Position::BeforePath..Position::AfterQuery].to_owned())
            })
            .collect(),
        pool: Mutex::new(Vec::new()),
        schedule: Mutex::new(Schedule::default()),
        active: AtomicU32::new(0),
    });
    let (stop, stop_rx) = watch::channel(false);
    let stop_rx_series = stop_rx.clone();
    let mut tasks = JoinSet::new();
    match plan.load.model {
        Model::Closed => {
            for user_idx in 0..plan.load.users {
                tasks.spawn(run_user(shared.clone(), user_idx, stop_rx.clone()));
            }
        }
        Model::Open => {
            tasks.spawn(run_schedule(shared.clone(), stop_rx));
        }
    }
    let (progress_tx, progress) = watch::channel(Progress {
        total: plan.load.warmup + plan.load.duration,
        ..Progress::default()
    });
    let series = tokio::spawn(run_series(shared.clone(), stop_rx_series, progress_tx));
    Ok(Load {
        shared,
        users: tasks,
        progress,
        series,
        stop,
        stopped_at: None,
    })
}

impl Load {
    /// The run's progress, updated every second; closed when the run ends.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Resolves when every user has finished. Cancel-safe: it can lose a `select!` and be called again.
    pub async fn wait(&mut self) {
        while let Some(result) = self.users.join_next().await {
            if let Err(err) = result
                && err.is_panic()
            {
                std::panic::resume_unwind(err.into_panic());
            }
        }
    }

    /// A timer that fires when the run should have ended, requests in flight included: the end of the
    /// duration, the longest request timeout and a grace. A guard for the caller's wait.
    pub fn overdue(&self) -> tokio::time::Sleep {
        tokio::time::sleep_until(self.shared.end() + self.stop_bound())
    }

    fn stop_bound(&self) -> Duration {
        longest_timeout(&self.shared.requests) + STOP_GRACE
    }

    /// Tells every user to stop after its request in flight.
    pub fn stop(&mut self) {
        self.stopped_at.get_or_insert_with(Instant::now);
        let _ = self.stop.send(true);
    }

    /// Stops (if still running), waits for the users and merges what they recorded. A user
    /// still busy a request timeout (plus a grace) after the stop is aborted: nothing a service
    /// does can hold the run past `warmup + duration + timeout + grace`.
    pub async fn finish(mut self) -> Recording {
        if self.users.is_empty() {
            // The run ended by itself: only the series' ticker is left to stop.
            let _ = self.stop.send(true);
        } else {
            self.stop();
        }
        if tokio::time::timeout(self.stop_bound(), self.wait())
            .await
            .is_err()
        {
            self.users.abort_all();
            self.wait().await;
        }
        let mut series = self.series.await.unwrap_or_default();
        // The answers that came in since the last full second.
        let last = self.shared.take_interval();
        if last.requests > 0 {
            series.push(last.point(self.shared.started.elapsed().as_secs_f64(), 0));
        }
        let shared = &self.shared;
        let n_requests = shared.requests.len();
        let mut warmup = Recorder::new(n_requests);
        let mut measured = Recorder::new(n_requests);
        for shard in &shared.shards {
            let shard = lock(shard);
            warmup.merge(&shard.warmup);
            measured.merge(&shard.measured);
        }
        let window_end = self
            .stopped_at
            .map_or(shared.end(), |at| at.min(shared.end()));
        Recording {
            warmup,
            measured,
            window: window_end.saturating_duration_since(shared.warmup_end()),
            schedule: (shared.load.model == Model::Open).then(|| *lock(&shared.schedule)),
            series,
        }
    }
}

async fn run_user(shared: Arc<Shared>, user_idx: u32, mut stop: watch::Receiver<bool>) {
    let load = &shared.load;
    let end = shared.end();
    let mut rng = fastrand::Rng::with_seed(
        shared
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(user_idx)),
    );
    let shard = &shared.shards[user_idx as usize % shared.shards.len()];
    let mut active = Active {
        count: &shared.active,
        on: false,
    };
    let mut buffers = Buffers::default();
    let mut connection = Connection::default();
    // What this user captured (a login's token), by capture slot.
    let mut user_vars = vec![String::new(); shared.n_captures];
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
        };
        if !started_flow {
            // The `[[on_start]]` requests, in order, before the mix; one that fails starts
            // them over after a pause, so the mix never runs without what they capture.
            let mut succeeded = true;
            for request_idx in 0..shared.n_on_start {
                succeeded = exchange(&shared, shard, request_idx, &mut user).await;
                if !succeeded {
                    break;
                }
            }
            started_flow = succeeded;
            let pause = Instant::now() + ON_START_RETRY;
            if !succeeded && (pause >= end || !sleep_unless_stopped(pause, &mut stop).await) {
                break;
            }
            continue;
        }
        let request_idx = shared.pick(user.rng);
        exchange(&shared, shard, request_idx, &mut user).await;

        let think = think_time(load, &mut rng);
        if think.is_zero() {
            continue;
        }
        if Instant::now() + think >= end
            || !sleep_unless_stopped(Instant::now() + think, &mut stop).await
        {
            break;
        }
    }
}

/// The open model's scheduler: sends request `i` at `started + i / rate` until the end, each in
/// a task of its own holding one of `max_in_flight` slots, then waits for the last answers.
async fn run_schedule(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
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
        let request_idx = shared.pick(&mut rng);
        // The open model has no users: requests are alike, with nothing captured.
        let mut user = User {
            id: 1,
            rng: &mut rng,
            vars: &mut [],
            buffers: &mut buffers,
            connection: &mut spare,
        };
        let built = build_request(&shared, request_idx, &mut user);
        let request = std::mem::take(&mut buffers.request);
        if judged {
            let late = intended.elapsed();
            schedule.sent += 1;
            schedule.late += u64::from(late > LATE_AFTER);
            schedule.max_late = schedule.max_late.max(late);
        }
        let shared = shared.clone();
        shared.active.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut connection = lock(&shared.pool).pop().unwrap_or_default();
            let sent_at = Instant::now();
            let request = built.map(|()| request.as_slice());
            let outcome = send(&shared, &mut connection, request, request_idx, &mut []).await;
            lock(&shared.pool).push(connection);
            let (latency, uncorrected) = (intended.elapsed(), sent_at.elapsed());
            let shard = &shared.shards[(i % shared.shards.len() as u64) as usize];
            lock(shard).record(judged, request_idx, latency, Some(uncorrected), &outcome);
            shared.active.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    *lock(&shared.schedule) = schedule;
    // The last answers: every request has a timeout, so this ends.
    let _ = slots.acquire_many(load.max_in_flight).await;
}

/// The time series: every second until the run ends or stops, the shards' interval records
/// merged into one point; the same second also moves the progress on.
async fn run_series(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    progress: watch::Sender<Progress>,
) -> Vec<SeriesPoint> {
    const TICK: Duration = Duration::from_secs(1);
    let mut points = Vec::new();
    let mut so_far = Interval::new();
    let mut next = shared.started + TICK;
    while next <= shared.end() && sleep_unless_stopped(next, &mut stop).await {
        let active = shared.active.load(Ordering::Relaxed);
        let mut interval = shared.take_interval();
        points.push(interval.point((next - shared.started).as_secs_f64(), active));
        let last_second = interval.requests;
        so_far.drain_from(&mut interval);
        progress.send_modify(|p| {
            p.elapsed = next - shared.started;
            p.requests = so_far.requests;
            p.errors = so_far.errors;
            p.rps = last_second as f64 / TICK.as_secs_f64();
            p.p50_us = so_far.latency_us.value_at_quantile(0.5);
            p.p90_us = so_far.latency_us.value_at_quantile(0.9);
        });
        next += TICK;
    }
    points
}

/// The longest timeout of the plan's requests (a plan has at least one).
fn longest_timeout(requests: &[RequestPlan]) -> Duration {
    requests
        .iter()
        .map(|r| r.timeout)
        .max()
        .unwrap_or(crate::plan::defaults::REQUEST_TIMEOUT)
}

/// After the stop and the longest request timeout, how long users get before they are aborted.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How often a user the profile has not started (or has stopped) looks again.
const IDLE_POLL: Duration = Duration::from_millis(20);
/// How long a user whose `[[on_start]]` failed waits before trying again.
const ON_START_RETRY: Duration = Duration::from_millis(100);
/// The most of an answer's body kept for `expect` and `capture`; the rest is drained uncounted
/// against memory. A longer JSON answer fails to parse, which is reported as such.
const MAX_KEPT_BODY: usize = 1 << 20;
/// How much of an unexpected answer's body an error example quotes.
const EXAMPLE_BODY: usize = 200;

/// Reused buffers of one user (or of the open model's scheduler).
#[derive(Default)]
struct Buffers {
    url: String,
    text: String,
    /// The request as written on the wire.
    request: Vec<u8>,
}

/// Who sends a request: the user's id, random stream, captured values, buffers and connection.
struct User<'a> {
    id: u32,
    rng: &'a mut fastrand::Rng,
    vars: &'a mut [String],
    buffers: &'a mut Buffers,
    connection: &'a mut Connection,
}

/// One request of a closed-model user: rendered, sent, its answer checked (and captured), and
/// recorded. True when it succeeded.
async fn exchange(
    shared: &Shared,
    shard: &Mutex<Shard>,
    request_idx: usize,
    user: &mut User<'_>,
) -> bool {
    let built = build_request(shared, request_idx, user);
    let sent_at = Instant::now();
    let request = built.map(|()| user.buffers.request.as_slice());
    let outcome = send(shared, user.connection, request, request_idx, user.vars).await;
    let latency = sent_at.elapsed();
    let succeeded = outcome.error.is_none();
    lock(shard).record(
        sent_at >= shared.warmup_end(),
        request_idx,
        latency,
        None,
        &outcome,
    );
    succeeded
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

/// Sleeps until `deadline`; false if the run was stopped meanwhile.
async fn sleep_unless_stopped(deadline: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep_until(deadline) => false,
        _ = stop.wait_for(|stopped| *stopped) => true,
    };
    !stopped && !*stop.borrow()
}

fn think_time(load: &LoadPlan, rng: &mut fastrand::Rng) -> Duration {
    let (min, max) = (load.think_time.min, load.think_time.max);
    if min == max {
        return min;
    }
    let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
    min + Duration::from_nanos(rng.u64(0..=span))
}

/// Renders the request's templates into the bytes to send, in the user's buffer. Fails only
/// when a rendered URL or header is not valid HTTP, which is counted as an I/O error of that
/// request.
fn build_request(
    shared: &Shared,
    request_idx: usize,
    user: &mut User<'_>,
) -> Result<(), http1::Invalid> {
    let plan = &shared.requests[request_idx];
    let row: &[String] = match &shared.data {
        Some(data) if plan.uses_row => {
            let n = data.rows.len();
            let index = match data.pick {
                Pick::Sequential => {
                    (shared.counters.next_row.fetch_add(1, Ordering::Relaxed) % n as u64) as usize
                }
                Pick::Random => user.rng.usize(..n),
                Pick::PerUser => (user.id as usize - 1) % n,
            };
            &data.rows[index]
        }
        _ => &[],
    };
    let mut ctx = RenderContext {
        seq: &shared.counters.seq,
        user_id: user.id,
        rng: user.rng,
        row,
        user_vars: user.vars,
    };
    let Buffers {
        url: url_buf,
        text: text_buf,
        request: out,
    } = &mut *user.buffers;
    let method = plan.method.as_str();
    match &shared.static_targets[request_idx] {
        Some(target) => http1::request_line(out, method, target),
        None => {
            url_buf.clear();
            url_buf.push_str(&shared.base_url);
            plan.path.render(&mut ctx, url_buf);
            let url = Url::parse(url_buf).map_err(|_| http1::Invalid)?;
            http1::request_line(
                out,
                method,
                &url[Position::BeforePath..Position::AfterQuery],
            );
        }
    }
    if !plan.headers.iter().any(|(name, _)| name == HOST) {
        http1::header(out, HOST.as_str(), &shared.target.host)?;
    }
    for (name, value) in &plan.headers {
        text_buf.clear();
        value.render(&mut ctx, text_buf);
        http1::header(out, name.as_str(), text_buf)?;
    }
    let body = plan.body.as_ref().map(|body| {
        text_buf.clear();
        body.render(&mut ctx, text_buf);
        text_buf.as_bytes()
    });
    http1::finish(out, method, body);
    Ok(())
}

/// Sends the request and reads the answer: drained (bytes counted, not kept) unless `expect` or
/// `capture` reads it, or its status is unexpected and the report quotes it. Captured values go
/// to `user_vars`. A request that could not be built (see [`build_request`]) is an I/O error.
async fn send(
    shared: &Shared,
    connection: &mut Connection,
    request: Result<&[u8], http1::Invalid>,
    request_idx: usize,
    user_vars: &mut [String],
) -> Outcome {
    let plan = &shared.requests[request_idx];
    let Ok(request) = request else {
        return Outcome::failed(
            ErrorKind::Io,
            "the rendered request is not valid HTTP (its URL or a header value)".to_owned(),
        );
    };
    let reads_body = plan.reads_body();
    let keep = |status| match (plan.expect.accepts(status), reads_body) {
        (false, _) => EXAMPLE_BODY,
        (true, true) => MAX_KEPT_BODY,
        (true, false) => 0,
    };
    let captures_headers = plan
        .captures
        .iter()
        .any(|c| matches!(c.source, expect::Source::Header(_)));
    let exchange = http1::Exchange {
        request,
        head: plan.method == Method::HEAD,
        headers: captures_headers,
        keep: &keep,
    };
    let mut body = Vec::new();
    let answered = tokio::time::timeout(
        plan.timeout,
        connection.exchange(&shared.target, &exchange, &mut body),
    )
    .await;
    let answer = match answered {
        Ok(Ok(answer)) => answer,
        Ok(Err(failure)) => {
            // Described without the URL: a URL may hold a secret.
            return Outcome {
                status: failure.status,
                bytes_received: failure.bytes_received,
                ..Outcome::failed(
                    failure.kind,
                    shared.secrets.redact(&failure.message).into_owned(),
                )
            };
        }
        Err(_) => {
            return Outcome::failed(
                ErrorKind::Timeout,
                format!(
                    "no answer within {}",
                    humantime::format_duration(plan.timeout)
                ),
            );
        }
    };
    let status = answer.status;
    let bytes_received = answer.bytes_received;
    let accepted = plan.expect.accepts(status);
    let mismatch = if !accepted {
        let wanted = match &plan.expect.status {
            Some(statuses) => format!("one of {statuses:?}"),
            None => "a 2xx".to_owned(),
        };
        Some((
            ErrorKind::Status,
            format!("got {status}, expected {wanted}"),
        ))
    } else if keep(status) > 0 || captures_headers {
        expect::check(
            &plan.expect,
            &plan.captures,
            &answer.headers,
            &body,
            user_vars,
        )
        .err()
        .map(|expect::Mismatch(message)| (ErrorKind::Expect, message))
    } else {
        None
    };
    let example = mismatch.as_ref().map(|(kind, message)| {
        let mut quoted =
            String::from_utf8_lossy(&body[..body.len().min(EXAMPLE_BODY)]).into_owned();
        if bytes_received > quoted.len() as u64 {
            quoted.push('…');
        }
        Box::new(ErrorExample {
            kind: kind.as_str().to_owned(),
            status: Some(status),
            message: shared.secrets.redact(message).into_owned(),
            body: Some(shared.secrets.redact(&quoted).into_owned()),
        })
    });
    Outcome {
        status: Some(status),
        error: mismatch.map(|(kind, _)| kind),
        bytes_received,
        example,
    }
}

/// Locks, ignoring poisoning: every holder here takes one small step (a push, a pop, a histogram
/// increment) that a panic cannot leave half-done.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
