//! The time series of a run, a point per second from the stripes' intervals, and the live
//! [`Progress`] the same second moves on.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use crate::run::record::{EncodedInterval, Interval, SeriesPoint};
use crate::run::shared::{Shared, sleep_unless_stopped};

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

/// The time series: every second until the run ends or stops, the stripes' interval records
/// merged into one point, kept with its histogram as text; the same second also moves the
/// progress on.
pub async fn run_series(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    progress: watch::Sender<Progress>,
) -> Vec<(SeriesPoint, EncodedInterval)> {
    const TICK: Duration = Duration::from_secs(1);
    let mut points = Vec::new();
    let mut so_far = Interval::new();
    let mut next = shared.started + TICK;
    while next <= shared.end() && sleep_unless_stopped(next, &mut stop).await {
        let active = shared.active.load(Ordering::Relaxed);
        let elapsed = next - shared.started;
        // Merging, encoding and reading histograms takes milliseconds (tens in a debug build):
        // off the runtime's workers, whose event loop wakes the open model's senders on time.
        let tick_shared = shared.clone();
        let tick = tokio::task::spawn_blocking(move || {
            let mut interval = tick_shared.take_interval();
            let point = interval.point(elapsed.as_secs_f64(), active);
            let encoded = interval.encoded();
            let last_second = interval.requests;
            so_far.drain_from(&mut interval);
            let p50_us = so_far.latency_us.value_at_quantile(0.5);
            let p90_us = so_far.latency_us.value_at_quantile(0.9);
            ((point, encoded), so_far, last_second, (p50_us, p90_us))
        });
        let (point, back, last_second, (p50_us, p90_us)) =
            tick.await.expect("a series tick does not panic");
        so_far = back;
        points.push(point);
        progress.send_modify(|p| {
            p.elapsed = elapsed;
            p.requests = so_far.requests;
            p.errors = so_far.errors;
            p.rps = last_second as f64 / TICK.as_secs_f64();
            p.p50_us = p50_us;
            p.p90_us = p90_us;
        });
        next += TICK;
    }
    points
}
