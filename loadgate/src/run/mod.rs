//! Plan + base URL → recorded outcomes: the load generator, closed model ([`closed`]: virtual
//! users) and open model ([`open`]: a schedule of send times, no coordinated omission).
//!
//! Requests go over the generator's own HTTP/1.1 client ([`http1`]): each closed-model user
//! keeps one keep-alive connection, as a browser tab or a client pool would; the open model's
//! requests take idle connections from a shared pool and open more as needed. One request, from
//! rendering to its [`outcome::Outcome`], is in [`exchange`].
//!
//! Requests due before `warmup` are recorded apart and not judged. Recording goes to a few
//! striped recorders ([`record`]; one lock per stripe, held for a histogram increment): no
//! per-request message to a collector, no samples kept, so memory stays flat however long the
//! run. A failure is counted by its kind; only the first few of each request name are spelled
//! out as examples.

pub mod client;
pub mod closed;
pub mod cookies;
pub mod exchange;
pub mod messages;
pub mod open;
pub mod outcome;
pub mod pace;
pub mod record;
pub mod resources;
pub mod serial;
pub mod series;
pub mod shared;
pub mod sse;
pub mod websocket;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use crate::plan::{Plan, RequestPlan};
use crate::run::closed::{run_user, run_users};
use crate::run::open::run_schedule;
use crate::run::record::{EncodedInterval, Recorder, Schedule, SeriesPoint};
pub use crate::run::series::Progress;
use crate::run::series::run_series;
pub use crate::run::shared::Counters;
use crate::run::shared::Shared;
use crate::spec::Model;
use crate::support::sync::lock;

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
    /// Each point's latency histogram, as text (a few hundred bytes each): a shard hands them
    /// over so the merged series' percentiles are exact too.
    pub series_histograms: Vec<EncodedInterval>,
}

/// A run in progress.
pub struct Load {
    shared: Arc<Shared>,
    users: JoinSet<()>,
    progress: watch::Receiver<Progress>,
    series: tokio::task::JoinHandle<Vec<(SeriesPoint, EncodedInterval)>>,
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
    // A few users per stripe: enough stripes that users rarely wait for a lock, few enough that
    // merging them at the end is cheap.
    let n_stripes = concurrency.clamp(
        1,
        4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let shared = Arc::new(Shared::new(plan, base_url, counters, n_stripes)?);
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    match plan.load.model {
        Model::Closed => {
            // Users keep their global index (their id, seed and place in the ramp) on any shard.
            let owned: Vec<u32> = (0..plan.load.users)
                .filter(|&u| plan.shard.owns_user(u))
                .collect();
            // HTTP/2: the users of one connection share a task, which drives it.
            if shared.http2.is_some() {
                let per_slot = shared.streams_per_connection as u32;
                for users in owned.chunk_by(|a, b| a / per_slot == b / per_slot) {
                    let slot = (users[0] / per_slot) as usize;
                    let users = users.to_vec();
                    tasks.spawn(run_users(shared.clone(), slot, users, stop_rx.clone()));
                }
            } else {
                for user_idx in owned {
                    tasks.spawn(run_user(shared.clone(), user_idx, stop_rx.clone()));
                }
            }
        }
        Model::Open => {
            tasks.spawn(run_schedule(shared.clone(), stop_rx.clone()));
        }
    }
    let (progress_tx, progress) = watch::channel(Progress {
        total: plan.load.warmup + plan.load.duration,
        ..Progress::default()
    });
    let series = tokio::spawn(run_series(shared.clone(), stop_rx, progress_tx));
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
            let t = self.shared.started.elapsed().as_secs_f64();
            series.push((last.point(t, 0), last.encoded()));
        }
        let (series, series_histograms) = series.into_iter().unzip();
        let shared = &self.shared;
        let n_requests = shared.requests.len();
        let mut warmup = Recorder::new(n_requests);
        let mut measured = Recorder::new(n_requests);
        for stripe in &shared.stripes {
            let stripe = lock(stripe);
            warmup.merge(&stripe.warmup);
            measured.merge(&stripe.measured);
        }
        let window_end = self
            .stopped_at
            .map_or(shared.end(), |at| at.min(shared.end()));
        let schedule = (shared.load.model == Model::Open).then(|| {
            let hits = shared.in_flight_limit_hits.load(Ordering::Relaxed);
            Schedule::of(&measured.send_error_us, hits)
        });
        Recording {
            warmup,
            measured,
            window: window_end.saturating_duration_since(shared.warmup_end()),
            schedule,
            series,
            series_histograms,
        }
    }
}

/// The longest timeout of the plan's requests (a plan has at least one).
fn longest_timeout(requests: &[RequestPlan]) -> Duration {
    requests
        .iter()
        .map(|r| r.timeout)
        .max()
        .unwrap_or(crate::plan::defaults::REQUEST_TIMEOUT)
}

/// After the stop and the longest request timeout, how long users get before they are aborted;
/// a distributed run's timeline leaves the same room after each part.
const STOP_GRACE: Duration = crate::plan::defaults::DRAIN_GRACE;
