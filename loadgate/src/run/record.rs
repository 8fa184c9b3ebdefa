//! What the load generator writes on the hot path: per request name, HDR histograms of latency
//! (µs, 3 significant digits, fixed memory) for answered and for failed requests apart, so a
//! failure that comes back fast never makes the service look faster; status-code counts, error
//! counts by kind and bytes.
//! No allocation per request and no samples kept; recorders are merged once at the end.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

// Where the summary and the report have always found them.
pub use crate::run::outcome::{ErrorExample, ErrorKind, Outcome};
use crate::support::histogram::EncodedHistogram;
use crate::support::units::Seconds;

/// Latencies above this are clamped (and counted as clamped): ten minutes is past any timeout.
pub const LATENCY_MAX_US: u64 = 600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// How many examples of errors a request name keeps.
pub const MAX_EXAMPLES: usize = 3;

/// Everything recorded for one request name (or, merged, for all of them).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Requests that got an expected answer: the judged latency.
    pub latency_us: Histogram<u64>,
    /// Failed requests, timed apart: reported, never judged.
    pub failed_latency_us: Histogram<u64>,
    pub n_requests: u64,
    pub n_errors: [u64; ErrorKind::ALL.len()],
    /// (status, count), few distinct codes, so a linear scan beats a map.
    pub statuses: Vec<(u16, u64)>,
    pub bytes_received: u64,
    pub n_clamped: u64,
    /// The first [`MAX_EXAMPLES`] errors.
    pub examples: Vec<ErrorExample>,
    /// A stream request's messages: made on its first answered stream.
    pub stream: Option<StreamRecord>,
}

/// The messages of a request's answered streams: when the first came (from the send, or the
/// open model's intended send time) and the gaps between the next ones, in µs like latency.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub first_message_us: Histogram<u64>,
    pub message_gap_us: Histogram<u64>,
    pub n_streams: u64,
    pub n_messages: u64,
}

impl StreamRecord {
    pub fn new() -> StreamRecord {
        StreamRecord {
            first_message_us: new_histogram(),
            message_gap_us: new_histogram(),
            n_streams: 0,
            n_messages: 0,
        }
    }

    /// One stream whose clock started at `start` and whose messages arrived at `arrivals`.
    pub fn record(&mut self, start: Instant, arrivals: &[Instant]) {
        self.n_streams += 1;
        self.n_messages += arrivals.len() as u64;
        if let Some(first) = arrivals.first() {
            self.first_message_us
                .saturating_record(micros(first.saturating_duration_since(start)));
        }
        for pair in arrivals.windows(2) {
            // Messages read at once are 0 µs apart, recorded as the histogram's 1 µs.
            self.message_gap_us
                .saturating_record(micros(pair[1].saturating_duration_since(pair[0])));
        }
    }

    /// Empty again, its histograms kept.
    pub fn reset(&mut self) {
        self.first_message_us.reset();
        self.message_gap_us.reset();
        (self.n_streams, self.n_messages) = (0, 0);
    }

    pub fn merge(&mut self, other: &StreamRecord) {
        for (mine, theirs) in [
            (&mut self.first_message_us, &other.first_message_us),
            (&mut self.message_gap_us, &other.message_gap_us),
        ] {
            mine.add(theirs).expect("histograms share their bounds");
        }
        self.n_streams += other.n_streams;
        self.n_messages += other.n_messages;
    }
}

impl Default for StreamRecord {
    fn default() -> Self {
        StreamRecord::new()
    }
}

impl RequestRecord {
    pub fn new() -> RequestRecord {
        RequestRecord {
            latency_us: new_histogram(),
            failed_latency_us: new_histogram(),
            n_requests: 0,
            n_errors: [0; ErrorKind::ALL.len()],
            statuses: Vec::with_capacity(4),
            bytes_received: 0,
            n_clamped: 0,
            examples: Vec::new(),
            stream: None,
        }
    }

    /// An answered stream's messages (see [`StreamRecord::record`]).
    pub fn record_messages(&mut self, start: Instant, arrivals: &[Instant]) {
        self.stream
            .get_or_insert_with(StreamRecord::new)
            .record(start, arrivals);
    }

    pub fn record(&mut self, latency: Duration, outcome: &Outcome) {
        if latency.as_micros() > u128::from(LATENCY_MAX_US) {
            self.n_clamped += 1;
        }
        self.n_requests += 1;
        match outcome.error() {
            None => self.latency_us.saturating_record(micros(latency)),
            Some(kind) => {
                self.failed_latency_us.saturating_record(micros(latency));
                self.n_errors[kind as usize] += 1;
            }
        }
        if let Some(status) = outcome.status {
            match self.statuses.iter_mut().find(|(code, _)| *code == status) {
                Some((_, count)) => *count += 1,
                None => self.statuses.push((status, 1)),
            }
        }
        self.bytes_received += outcome.bytes_received;
    }

    /// Whether the next failure should be spelled out: only the first few are.
    pub fn wants_example(&self) -> bool {
        self.examples.len() < MAX_EXAMPLES
    }

    pub fn keep_example(&mut self, example: ErrorExample) {
        if self.wants_example() {
            self.examples.push(example);
        }
    }

    pub fn merge(&mut self, other: &RequestRecord) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share their bounds");
        self.failed_latency_us
            .add(&other.failed_latency_us)
            .expect("histograms share their bounds");
        self.n_requests += other.n_requests;
        for (mine, theirs) in self.n_errors.iter_mut().zip(other.n_errors) {
            *mine += theirs;
        }
        for &(status, count) in &other.statuses {
            match self.statuses.iter_mut().find(|(code, _)| *code == status) {
                Some((_, mine)) => *mine += count,
                None => self.statuses.push((status, count)),
            }
        }
        self.bytes_received += other.bytes_received;
        self.n_clamped += other.n_clamped;
        if let Some(theirs) = &other.stream {
            self.stream
                .get_or_insert_with(StreamRecord::new)
                .merge(theirs);
        }
        let room = MAX_EXAMPLES.saturating_sub(self.examples.len());
        self.examples
            .extend(other.examples.iter().take(room).cloned());
    }

    pub fn n_failures(&self) -> u64 {
        self.n_errors.iter().sum()
    }
}

impl Default for RequestRecord {
    fn default() -> Self {
        RequestRecord::new()
    }
}

/// A latency in the histograms' unit and range: µs, at least 1, clamped at the maximum.
fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, LATENCY_MAX_US)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, SIGNIFICANT_DIGITS)
        .expect("valid histogram bounds")
}

/// How well an open-model run kept its schedule, over the requests due in the judged window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Schedule {
    /// Requests whose intended send time fell in the judged window and that were sent.
    pub sent: u64,
    /// Of those, sent [`LATE_AFTER`] or more after their intended time.
    pub late: u64,
    pub max_late: Duration,
    /// Times a request had to wait for a free sender under `max_in_flight`.
    pub in_flight_limit_hits: u64,
}

impl Schedule {
    /// From the judged requests' send errors and the count of judged waits for a sender.
    pub fn of(send_error_us: &Histogram<u64>, in_flight_limit_hits: u64) -> Schedule {
        Schedule {
            sent: send_error_us.len(),
            // A bucket boundary of the histogram, so the count is exact.
            late: send_error_us.count_between(micros(LATE_AFTER), u64::MAX),
            max_late: Duration::from_micros(send_error_us.max()),
            in_flight_limit_hits,
        }
    }

    /// Adds the schedule another part of the run kept (a shard's): counts add, the worst
    /// lateness is the worst of both.
    pub fn merge(&mut self, other: &Schedule) {
        self.sent += other.sent;
        self.late += other.late;
        self.max_late = self.max_late.max(other.max_late);
        self.in_flight_limit_hits += other.in_flight_limit_hits;
    }
}

/// This late or later, a send is late: a generator that could not keep up, not its timer's
/// error (microseconds), and well below any latency worth gating.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// An open-model request's two other times, beside its latency from the intended send time.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    /// How long after its intended time it was written: the generator's own error.
    pub late: Duration,
    /// From the write to the answer, as a closed-model tool would time it.
    pub uncorrected: Duration,
}

/// How long a request took: its latency, the open model's `sending`, and a stream's messages.
#[derive(Debug, Clone, Copy)]
pub struct Timing<'a> {
    pub latency: Duration,
    pub sending: Option<Sending>,
    /// A stream's clock start and its messages' arrivals (recorded when it was answered).
    pub messages: Option<(Instant, &'a [Instant])>,
}

/// What all requests recorded since the last point of the time series: counts and a histogram,
/// reset at every point, so the series costs one small point per second however long the run.
#[derive(Debug, Clone)]
pub struct Interval {
    pub requests: u64,
    pub errors: u64,
    pub latency_us: Histogram<u64>,
    /// Answered streams' messages, once a stream was answered.
    pub stream: Option<StreamRecord>,
}

/// An interval's histograms as text, for a shard file: the latency's, and the streams' when
/// the run has any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedInterval {
    pub latency: EncodedHistogram,
    pub first_message: Option<EncodedHistogram>,
    pub message_gap: Option<EncodedHistogram>,
}

impl Interval {
    pub fn new() -> Interval {
        Interval {
            requests: 0,
            errors: 0,
            latency_us: new_histogram(),
            stream: None,
        }
    }

    /// An answered stream's messages (see [`StreamRecord::record`]).
    pub fn record_messages(&mut self, start: Instant, arrivals: &[Instant]) {
        self.stream
            .get_or_insert_with(StreamRecord::new)
            .record(start, arrivals);
    }

    /// The series' percentiles, like the judged ones, are of answered requests.
    pub fn record(&mut self, latency: Duration, outcome: &Outcome) {
        self.requests += 1;
        if outcome.cause.is_some() {
            self.errors += 1;
        } else {
            self.latency_us.saturating_record(micros(latency));
        }
    }

    /// Adds `other` to this interval and empties `other`.
    pub fn drain_from(&mut self, other: &mut Interval) {
        self.requests += std::mem::take(&mut other.requests);
        self.errors += std::mem::take(&mut other.errors);
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with the same bounds merge");
        other.latency_us.reset();
        if let Some(theirs) = other.stream.as_mut() {
            self.stream
                .get_or_insert_with(StreamRecord::new)
                .merge(theirs);
            // Kept, emptied: the next second's streams reuse its histograms.
            theirs.reset();
        }
    }

    /// The interval's histograms as text, for a shard file.
    pub fn encoded(&self) -> EncodedInterval {
        let encode = EncodedHistogram::encode;
        EncodedInterval {
            latency: encode(&self.latency_us),
            first_message: self.stream.as_ref().map(|s| encode(&s.first_message_us)),
            message_gap: self.stream.as_ref().map(|s| encode(&s.message_gap_us)),
        }
    }

    /// The point of the time series this interval makes, at `t` seconds since the load started,
    /// with `active` users (closed model) or requests in flight (open model).
    pub fn point(&self, t: f64, active: u32) -> SeriesPoint {
        let quantile = |q| {
            if self.latency_us.is_empty() {
                0
            } else {
                self.latency_us.value_at_quantile(q)
            }
        };
        SeriesPoint {
            t: Seconds(crate::support::units::round_to(t, 3)),
            requests: self.requests,
            errors: self.errors,
            p50_us: quantile(0.50),
            p90_us: quantile(0.90),
            p99_us: quantile(0.99),
            active,
            stream: self.stream.as_ref().and_then(StreamPoint::of),
        }
    }
}

/// One second's stream message times (µs), for charts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamPoint {
    pub first_message_p50_us: u64,
    pub first_message_p90_us: u64,
    pub first_message_p99_us: u64,
    /// Zeros in a second whose streams had one message each.
    pub message_gap_p50_us: u64,
    pub message_gap_p90_us: u64,
    pub message_gap_p99_us: u64,
}

impl StreamPoint {
    /// `None` for a second in which no stream was answered.
    fn of(stream: &StreamRecord) -> Option<StreamPoint> {
        let quantile = |h: &Histogram<u64>, q| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        let (first, gap) = (&stream.first_message_us, &stream.message_gap_us);
        (!first.is_empty()).then(|| StreamPoint {
            first_message_p50_us: quantile(first, 0.50),
            first_message_p90_us: quantile(first, 0.90),
            first_message_p99_us: quantile(first, 0.99),
            message_gap_p50_us: quantile(gap, 0.50),
            message_gap_p90_us: quantile(gap, 0.90),
            message_gap_p99_us: quantile(gap, 0.99),
        })
    }
}

impl Default for Interval {
    fn default() -> Self {
        Interval::new()
    }
}

/// One second of the run, for charts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesPoint {
    /// End of the interval, seconds since the load started (warmup included).
    pub t: Seconds,
    /// Requests completed in the interval, and how many of them failed.
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    /// Active users (closed model) or requests in flight (open model) at the end of the interval.
    pub active: u32,
    /// Streams answered in the interval: their message times. Absent in a second without any,
    /// and in files written before loadgate read streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamPoint>,
}

/// How the iterations of one `[[flow]]` ended: every step answered as expected, or a step
/// failed and ended the iteration. An iteration the end of the run cut short is neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowRecord {
    pub completed: u64,
    pub aborted: u64,
}

/// One record per request of the plan, indexed like `Plan::requests`, and one per flow.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub by_request: Vec<RequestRecord>,
    /// Indexed like `Plan::flows`; grown on a flow's first iteration.
    pub by_flow: Vec<FlowRecord>,
    /// Open model only: answered requests' latency from their actual send, beside the judged
    /// latency from their intended send time. Shows how much of the latency was waiting to be
    /// sent.
    pub uncorrected_us: Histogram<u64>,
    /// Open model only: every request's send error (actual write time minus intended), the
    /// floor under every latency the run reports.
    pub send_error_us: Histogram<u64>,
}

impl Recorder {
    pub fn new(n_requests: usize) -> Recorder {
        Recorder {
            by_request: (0..n_requests).map(|_| RequestRecord::new()).collect(),
            by_flow: Vec::new(),
            uncorrected_us: new_histogram(),
            send_error_us: new_histogram(),
        }
    }

    /// An iteration of flow `flow_idx` ended: `completed`, or aborted by a failed step.
    pub fn record_flow(&mut self, flow_idx: usize, completed: bool) {
        if self.by_flow.len() <= flow_idx {
            self.by_flow.resize(flow_idx + 1, FlowRecord::default());
        }
        let record = &mut self.by_flow[flow_idx];
        if completed {
            record.completed += 1;
        } else {
            record.aborted += 1;
        }
    }

    pub fn record(&mut self, request_idx: usize, latency: Duration, outcome: &Outcome) {
        self.by_request[request_idx].record(latency, outcome);
    }

    /// An open-model request: `latency` from its intended send time, and its `sending`.
    pub fn record_scheduled(
        &mut self,
        request_idx: usize,
        latency: Duration,
        sending: Sending,
        outcome: &Outcome,
    ) {
        self.record(request_idx, latency, outcome);
        self.send_error_us.saturating_record(micros(sending.late));
        if outcome.cause.is_none() {
            self.uncorrected_us
                .saturating_record(micros(sending.uncorrected));
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in self.by_request.iter_mut().zip(&other.by_request) {
            mine.merge(theirs);
        }
        if self.by_flow.len() < other.by_flow.len() {
            self.by_flow
                .resize(other.by_flow.len(), FlowRecord::default());
        }
        for (mine, theirs) in self.by_flow.iter_mut().zip(&other.by_flow) {
            mine.completed += theirs.completed;
            mine.aborted += theirs.aborted;
        }
        for (mine, theirs) in [
            (&mut self.uncorrected_us, &other.uncorrected_us),
            (&mut self.send_error_us, &other.send_error_us),
        ] {
            mine.add(theirs)
                .expect("histograms with the same bounds merge");
        }
    }

    /// All requests together.
    pub fn total(&self) -> RequestRecord {
        let mut total = RequestRecord::new();
        for record in &self.by_request {
            total.merge(record);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::client::Broken;
    use crate::run::outcome::Cause;

    const OK: Outcome = Outcome {
        status: Some(200),
        bytes_received: 10,
        cause: None,
    };

    #[test]
    fn percentiles_come_from_the_histogram_within_its_precision() {
        let mut record = RequestRecord::new();
        for ms in 1..=100 {
            record.record(Duration::from_millis(ms), &OK);
        }
        let p50 = record.latency_us.value_at_quantile(0.5) as f64;
        let p90 = record.latency_us.value_at_quantile(0.9) as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.001, "{p50}");
        assert!((p90 - 90_000.0).abs() / 90_000.0 < 0.001, "{p90}");
        assert_eq!(
            record.latency_us.max(),
            record.latency_us.highest_equivalent(100_000)
        );
        assert_eq!(record.bytes_received, 1_000);
    }

    #[test]
    fn outliers_are_clamped_and_counted_not_dropped() {
        let mut record = RequestRecord::new();
        record.record(Duration::from_secs(3_600), &OK);
        record.record(Duration::ZERO, &OK);
        assert_eq!((record.n_requests, record.n_clamped), (2, 1));
        assert_eq!(record.latency_us.min(), 1);
    }

    #[test]
    fn merging_adds_counts_statuses_and_errors() {
        let mut a = Recorder::new(2);
        let mut b = Recorder::new(2);
        let conflict = Outcome {
            status: Some(409),
            bytes_received: 0,
            cause: Some(Cause::Status(409)),
        };
        let refused = Outcome::failed(Cause::Broken(Broken::CannotConnect(None)));
        a.record(0, Duration::from_millis(1), &OK);
        b.record(0, Duration::from_millis(2), &conflict);
        for i in 0..MAX_EXAMPLES + 1 {
            b.record(1, Duration::from_millis(3), &refused);
            let record = &mut b.by_request[1];
            assert_eq!(record.wants_example(), i < MAX_EXAMPLES);
            record.keep_example(ErrorExample {
                kind: "connect".into(),
                status: None,
                message: format!("refused {i}"),
                body: None,
            });
        }
        b.record_flow(1, false);
        a.record_flow(0, true);
        a.merge(&b);
        assert_eq!(
            a.by_flow,
            [
                FlowRecord {
                    completed: 1,
                    aborted: 0
                },
                FlowRecord {
                    completed: 0,
                    aborted: 1
                }
            ]
        );
        let total = a.total();
        assert_eq!(total.n_requests, 3 + MAX_EXAMPLES as u64);
        assert_eq!(total.n_failures(), 2 + MAX_EXAMPLES as u64);
        assert_eq!(total.n_errors[ErrorKind::Status as usize], 1);
        assert_eq!(
            total.n_errors[ErrorKind::Connect as usize],
            1 + MAX_EXAMPLES as u64
        );
        // Examples are kept up to the cap, not one per error.
        assert_eq!(total.examples.len(), MAX_EXAMPLES);
        assert_eq!(total.examples[0].message, "refused 0");
        let mut statuses = total.statuses.clone();
        statuses.sort();
        assert_eq!(statuses, vec![(200, 1), (409, 1)]);
        assert!(
            a.by_request[0].examples.is_empty(),
            "no example was given for 409"
        );
        assert_eq!(a.by_request[0].n_requests, 2);
    }

    #[test]
    fn failed_requests_are_timed_apart_from_answered_ones() {
        let failed = Outcome {
            status: Some(500),
            bytes_received: 0,
            cause: Some(Cause::Status(500)),
        };
        let mut record = RequestRecord::new();
        record.record(Duration::from_millis(10), &OK);
        record.record(Duration::from_micros(40), &failed);
        record.record(Duration::from_micros(50), &failed);
        assert_eq!(record.n_requests, 3);
        assert_eq!(record.n_failures(), 2);
        assert_eq!(record.latency_us.len(), 1);
        assert_eq!(
            record.latency_us.min(),
            record.latency_us.lowest_equivalent(10_000)
        );
        assert_eq!(record.failed_latency_us.len(), 2);
        let mut interval = Interval::new();
        interval.record(Duration::from_micros(40), &failed);
        assert_eq!(
            interval.point(1.0, 1).p50_us,
            0,
            "no answered request in the second"
        );
        interval.record(Duration::from_millis(10), &OK);
        let point = interval.point(1.0, 1);
        assert_eq!((point.requests, point.errors), (2, 1));
        assert!(point.p50_us >= 9_990, "{point:?}");
    }
}
