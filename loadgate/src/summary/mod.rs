//! Recorder → summary: the plain, serializable numbers of one spec's run (per request name and
//! in total), including the histograms themselves so later tools can compare distributions.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::cost::CostSummary;
use crate::metric::{Metric, Scope};
use crate::plan::Plan;
use crate::run::Recording;
use crate::run::record::{
    ErrorExample, ErrorKind, FlowRecord, RequestRecord, SeriesPoint, StreamRecord,
};
use crate::run::resources::{self, ResourceFigures, ResourcePoint, Sample, Who};
use crate::spec::Model;
use crate::support::histogram::EncodedHistogram;
use crate::support::units::{Seconds, format_micros, round_to};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecSummary {
    pub load: LoadFacts,
    pub total: Metrics,
    /// Per request name; a flow's steps are named `FLOW/STEP`.
    pub requests: BTreeMap<String, Metrics>,
    /// Per `[[flow]]`: how its iterations started in the judged window ended.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flows: BTreeMap<String, FlowSummary>,
    /// The warmup was measured but is not judged; its size is kept to show it happened.
    pub warmup: WarmupFacts,
    /// The service's process tree during the judged window; null with `--target`.
    #[serde(default)]
    pub service: Option<ResourceFigures>,
    /// The generator (this process) during the judged window, to show it was not the limit.
    #[serde(default)]
    pub generator: Option<ResourceFigures>,
    /// The service's readings over the whole load, every 100 ms, for charts. Not kept in baselines.
    #[serde(default)]
    pub service_series: Vec<ResourcePoint>,
    /// Open model: how well the generator kept its schedule; null for the closed model.
    #[serde(default)]
    pub schedule: Option<ScheduleSummary>,
    /// A point per second of the load (warmup included): requests, errors, p50/p90/p99 and
    /// active users or requests in flight, for charts. Not kept in baselines.
    #[serde(default)]
    pub series: Vec<SeriesPoint>,
    /// A `[sweep]`: every step, and the capacity. The rest of this summary is the capacity step's
    /// (the first step's when no step qualifies).
    #[serde(default)]
    pub sweep: Option<SweepSummary>,
    /// With more than one round: per round, the value of every metric a regression threshold
    /// judges, keyed `"SCOPE METRIC"` (`"total p90"`); those verdicts are taken over the rounds.
    /// The rest of the summary merges the rounds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<BTreeMap<String, f64>>,
    /// `[cost]`: instructions per request counted under Callgrind after the load. Absent
    /// without `[cost]`, with `--no-cost`, and in files written before loadgate counted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSummary>,
}

impl SpecSummary {
    /// The figures of `scope`: the total, or one request name's (`None` for a name not run).
    pub(crate) fn metrics(&self, scope: &Scope) -> Option<&Metrics> {
        match scope {
            Scope::Total => Some(&self.total),
            Scope::Request(name) => self.requests.get(name),
        }
    }

    /// `metric`'s value in `scope`, in its internal unit: µs for latency and CPU
    /// per request, a fraction for the error rate, requests/second for throughput, bytes for
    /// memory. `None` when it was not measured (no such request, no service with `--target`).
    pub(crate) fn value(&self, metric: Metric, scope: &Scope) -> Option<f64> {
        let metrics = self.metrics(scope);
        let service = self.service.as_ref();
        let stream = metrics.and_then(|m| m.stream.as_ref());
        match metric {
            Metric::P50 => metrics.map(|m| m.latency_us.p50 as f64),
            Metric::P90 => metrics.map(|m| m.latency_us.p90 as f64),
            Metric::P99 => metrics.map(|m| m.latency_us.p99 as f64),
            Metric::ErrorRate => metrics.map(|m| m.error_rate),
            Metric::Rps => metrics.map(|m| m.rps),
            Metric::ServiceRssPeak => service.map(|s| s.rss_peak_bytes as f64),
            Metric::ServiceRssGrowth => service.map(|s| s.rss_growth_bytes as f64),
            Metric::ServiceCpuPerRequest => service.map(|s| s.cpu_per_request_us),
            Metric::Capacity => self.sweep.as_ref().and_then(|s| s.capacity),
            Metric::Instructions => self.cost.as_ref().and_then(|cost| match scope {
                Scope::Total => cost.instructions(None),
                Scope::Request(name) => cost.instructions(Some(name)),
            }),
            Metric::FirstMessageP50 => stream.map(|s| s.first_message_us.p50 as f64),
            Metric::FirstMessageP90 => stream.map(|s| s.first_message_us.p90 as f64),
            Metric::FirstMessageP99 => stream.map(|s| s.first_message_us.p99 as f64),
            Metric::MessageGapP50 => stream.map(|s| s.message_gap_us.p50 as f64),
            Metric::MessageGapP90 => stream.map(|s| s.message_gap_us.p90 as f64),
            Metric::MessageGapP99 => stream.map(|s| s.message_gap_us.p99 as f64),
        }
    }

    /// Every request name's error examples, as `(name, example)`.
    pub fn error_examples(&self) -> impl Iterator<Item = (&str, &ErrorExample)> {
        self.requests
            .iter()
            .flat_map(|(name, m)| m.examples.iter().map(move |e| (name.as_str(), e)))
    }
}

/// A capacity sweep, step by step: the table of our users' notes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSummary {
    /// What the steps count: `users` (closed model) or `rate` (open model, requests/second).
    pub by: String,
    pub steps: Vec<SweepStep>,
    /// The highest step whose throughput still grew and whose limits held; null when none did.
    pub capacity: Option<f64>,
}

impl SweepSummary {
    /// The first step beyond the sweep's limits, if any.
    pub fn first_failed(&self) -> Option<f64> {
        self.steps.iter().find(|s| !s.limits_held).map(|s| s.step)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepStep {
    pub step: f64,
    pub requests: u64,
    pub failures: u64,
    pub error_rate: f64,
    pub rps: f64,
    pub latency_us: LatencyStats,
    /// Its throughput beat every step before it by at least a quarter of the load's growth
    /// (doubling the users must bring 25 % more requests/second).
    pub grew: bool,
    /// It stayed within the sweep's limits.
    pub limits_held: bool,
}

/// A step's throughput must grow by at least this share of its load's growth over the step
/// before: a saturated service answers more users with the same requests/second, give or take
/// the few per cent that queueing hides.
const MIN_GROWTH_SHARE: f64 = 0.25;

/// The sweep's table from each step's summary, with the index of the step the spec's summary
/// stands for (the capacity step, or the first).
pub fn summarize_sweep(plan: &Plan, steps: &[(f64, SpecSummary)]) -> (SweepSummary, usize) {
    let sweep = plan.sweep.as_ref().expect("a sweep plan");
    let mut best_rps = 0.0_f64;
    let mut capacity = None;
    let mut previous_step = None;
    let rows = steps
        .iter()
        .enumerate()
        .map(|(idx, (step, summary))| {
            let total = &summary.total;
            let load_growth = previous_step.map_or(0.0, |previous| step / previous - 1.0);
            previous_step = Some(*step);
            let grew = total.rps > best_rps * (1.0 + MIN_GROWTH_SHARE * load_growth);
            best_rps = best_rps.max(total.rps);
            let limits_held = sweep.limits.iter().all(|(metric, limit)| {
                summary
                    .value(*metric, &Scope::Total)
                    .is_some_and(|v| v <= *limit)
            });
            if grew && limits_held {
                capacity = Some(idx);
            }
            SweepStep {
                step: *step,
                requests: total.requests,
                failures: total.failures,
                error_rate: total.error_rate,
                rps: total.rps,
                latency_us: total.latency_us.clone(),
                grew,
                limits_held,
            }
        })
        .collect();
    let by = match plan.load.model {
        Model::Closed => "users",
        Model::Open => "rate",
    };
    let summary = SweepSummary {
        by: by.to_owned(),
        steps: rows,
        capacity: capacity.map(|i| steps[i].0),
    };
    (summary, capacity.unwrap_or(0))
}

/// The open model's schedule, kept or not, over the judged window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSummary {
    /// The rate the profile asks for over the judged window, on average.
    pub target_rps: f64,
    /// Requests due in the judged window that were sent, per second of the window.
    pub achieved_rps: f64,
    pub sent: u64,
    /// Sent 10 ms or more after their intended time.
    pub late: u64,
    pub late_fraction: f64,
    pub max_late_us: u64,
    /// Times a request waited for a free slot under `max_in_flight`.
    pub in_flight_limit_hits: u64,
    pub max_in_flight: u32,
    /// Latency from the actual send, as a closed-model tool would report it. The judged latency
    /// (`total.latency_us`) runs from the intended send time.
    pub uncorrected_latency_us: LatencyStats,
    /// The generator's own error: when each judged request was written minus its intended send
    /// time (1 µs means 1 µs or less). It is in every judged latency, so it is the floor under
    /// them. Absent (zeros) in files written before it was measured.
    #[serde(default)]
    pub send_error_us: LatencyStats,
}

/// One flow's iterations: completed (every step as expected) or aborted by a failed step (the
/// user then went on with its next iteration). Iterations the end of the run cut short are
/// neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSummary {
    pub iterations: u64,
    pub completed: u64,
    pub aborted: u64,
    /// Its steps' request names, in order.
    pub steps: Vec<String>,
}

impl FlowSummary {
    fn of(plan: &Plan, flow_idx: usize, record: FlowRecord) -> FlowSummary {
        let flow = &plan.flows[flow_idx];
        FlowSummary {
            iterations: record.completed + record.aborted,
            completed: record.completed,
            aborted: record.aborted,
            steps: plan.requests[flow.steps.clone()]
                .iter()
                .map(|r| r.name.clone())
                .collect(),
        }
    }

    /// "120 iterations · 118 completed · 2 aborted".
    pub fn describe(&self) -> String {
        format!(
            "{} iterations · {} completed · {} aborted",
            self.iterations, self.completed, self.aborted
        )
    }
}

/// What the load actually was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadFacts {
    pub model: String,
    /// Closed model: concurrent users; 0 for the open model.
    pub users: u32,
    /// Open model: the target rate, requests/second; 0 for the closed model.
    #[serde(default)]
    pub rate: f64,
    pub seed: u64,
    /// Length of the judged window; shorter than planned when the run stopped early.
    pub measured_seconds: Seconds,
    pub warmup_seconds: Seconds,
}

impl LoadFacts {
    /// "10 users" or "200 req/s".
    pub fn describe(&self) -> String {
        if self.model == "open" {
            format!("{} req/s", self.rate)
        } else {
            format!("{} users", self.users)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmupFacts {
    pub requests: u64,
    pub failures: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub requests: u64,
    pub failures: u64,
    /// failures / requests, 0 when there were no requests.
    pub error_rate: f64,
    /// Requests started per second of the judged window.
    pub rps: f64,
    pub latency_us: LatencyStats,
    pub status_codes: BTreeMap<String, u64>,
    /// Failures by kind: connect, timeout, io, status (unexpected status), expect (body or
    /// JSON field not as expected, or nothing to capture).
    pub errors: BTreeMap<String, u64>,
    /// The first few failures spelled out (per request name; none in the total).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<ErrorExample>,
    pub bytes_received: u64,
    /// Latencies beyond the histogram's range, recorded at its maximum.
    pub clamped: u64,
    /// The latency histogram (µs), HdrHistogram V2 + DEFLATE, base64.
    pub histogram: EncodedHistogram,
    /// The failed requests, timed apart: reported beside, never judged. Absent when none
    /// failed, and in summaries written before loadgate timed failures apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<FailedLatency>,
    /// Stream requests (`stream = "sse"`): their answered streams' messages. Absent for other
    /// requests, and in summaries written before loadgate read streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamStats>,
}

/// The messages of answered streams: the time to the first (from the send, or in the open model
/// from the intended send time) and the gaps between the next ones, in µs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamStats {
    /// Answered streams.
    pub streams: u64,
    /// Messages of the answered streams.
    pub messages: u64,
    pub messages_per_stream: f64,
    /// Messages per second of the judged window.
    pub messages_per_second: f64,
    pub first_message_us: LatencyStats,
    pub message_gap_us: LatencyStats,
    /// HdrHistogram V2 + DEFLATE, base64, like `histogram`.
    pub first_message_histogram: EncodedHistogram,
    pub message_gap_histogram: EncodedHistogram,
}

impl StreamStats {
    fn of(record: &StreamRecord, window: Duration) -> StreamStats {
        StreamStats {
            streams: record.n_streams,
            messages: record.n_messages,
            messages_per_stream: round_to(
                record.n_messages as f64 / record.n_streams.max(1) as f64,
                3,
            ),
            messages_per_second: rate(record.n_messages, window),
            first_message_us: latency_stats(&record.first_message_us),
            message_gap_us: latency_stats(&record.message_gap_us),
            first_message_histogram: EncodedHistogram::encode(&record.first_message_us),
            message_gap_histogram: EncodedHistogram::encode(&record.message_gap_us),
        }
    }

    /// "28 streams · 10 messages/stream · 140/s · first message p50 50.2ms p90 … · gap p50 …".
    pub fn describe(&self) -> String {
        let percentiles = |stats: &LatencyStats| {
            format!(
                "p50 {} p90 {} p99 {}",
                format_micros(stats.p50 as f64),
                format_micros(stats.p90 as f64),
                format_micros(stats.p99 as f64)
            )
        };
        format!(
            "{} streams · {} messages/stream · {} messages/s · first message {} · gap {}",
            self.streams,
            self.messages_per_stream,
            self.messages_per_second,
            percentiles(&self.first_message_us),
            percentiles(&self.message_gap_us)
        )
    }

    /// Each request name's streams, then the total's when more than one request streams.
    pub fn of_summary(summary: &SpecSummary) -> Vec<(&str, &StreamStats)> {
        let mut all: Vec<(&str, &StreamStats)> = (summary.requests.iter())
            .filter_map(|(name, m)| Some((name.as_str(), m.stream.as_ref()?)))
            .collect();
        if all.len() > 1
            && let Some(total) = &summary.total.stream
        {
            all.push(("total", total));
        }
        all
    }

    /// The streams of every part (rounds), over `seconds` in all; `None` when no part has any.
    fn merge(parts: &[&Metrics], seconds: f64) -> Option<StreamStats> {
        let streams: Vec<&StreamStats> = parts.iter().filter_map(|m| m.stream.as_ref()).collect();
        if streams.is_empty() {
            return None;
        }
        let histogram = |pick: fn(&StreamStats) -> &EncodedHistogram| {
            merge_histograms(streams.iter().map(|s| pick(s)))
                .unwrap_or_else(|| StreamRecord::new().first_message_us)
        };
        let record = StreamRecord {
            first_message_us: histogram(|s| &s.first_message_histogram),
            message_gap_us: histogram(|s| &s.message_gap_histogram),
            n_streams: streams.iter().map(|s| s.streams).sum(),
            n_messages: streams.iter().map(|s| s.messages).sum(),
        };
        Some(StreamStats::of(
            &record,
            Duration::from_secs_f64(seconds.max(0.0)),
        ))
    }
}

/// How long the failed requests took (µs): in the open model from their intended send time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedLatency {
    pub latency_us: LatencyStats,
    /// HdrHistogram V2 + DEFLATE, base64, like `histogram`.
    pub histogram: EncodedHistogram,
}

impl FailedLatency {
    fn of(histogram: &Histogram<u64>) -> Option<FailedLatency> {
        (!histogram.is_empty()).then(|| FailedLatency {
            latency_us: latency_stats(histogram),
            histogram: EncodedHistogram::encode(histogram),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyStats {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// Summarizes a run of `plan`: the recording's judged requests started within its window (the
/// planned duration, or less when the run stopped early) after the warmup; `samples` are the
/// resource readings since the load started.
pub fn summarize(plan: &Plan, recording: &Recording, samples: &[Sample]) -> SpecSummary {
    let Recording {
        warmup,
        measured,
        window,
        schedule,
        series,
        series_histograms: _,
    } = recording;
    let window = *window;
    let warmup_total = warmup.total();
    let measured_total = measured.total();
    let judged = |who| {
        resources::figures(
            samples,
            who,
            plan.load.warmup,
            plan.load.warmup + window,
            measured_total.n_requests,
        )
    };
    SpecSummary {
        load: LoadFacts {
            model: match plan.load.model {
                Model::Closed => "closed",
                Model::Open => "open",
            }
            .to_owned(),
            users: plan.load.users,
            rate: plan.load.rate,
            seed: plan.seed,
            measured_seconds: window.into(),
            warmup_seconds: plan.load.warmup.into(),
        },
        total: Metrics {
            examples: Vec::new(),
            ..metrics(&measured_total, window)
        },
        requests: plan
            .requests
            .iter()
            .zip(&measured.by_request)
            .map(|(request, record)| (request.name.clone(), metrics(record, window)))
            .collect(),
        flows: flow_summaries(plan, &measured.by_flow),
        warmup: WarmupFacts {
            requests: warmup_total.n_requests,
            failures: warmup_total.n_failures(),
        },
        service: judged(Who::Service),
        generator: judged(Who::Generator),
        service_series: resources::series(samples),
        sweep: None,
        rounds: Vec::new(),
        cost: None,
        series: series.clone(),
        schedule: schedule.map(|schedule| ScheduleSummary {
            // The rate asked for over the judged window: the mean of a ramping profile.
            target_rps: round_to(
                (plan.load.profile.count_until(plan.load.warmup + window)
                    - plan.load.profile.count_until(plan.load.warmup))
                    / window.as_secs_f64().max(f64::MIN_POSITIVE),
                3,
            ),
            achieved_rps: rate(schedule.sent, window),
            sent: schedule.sent,
            late: schedule.late,
            late_fraction: fraction(schedule.late, schedule.sent),
            max_late_us: u64::try_from(schedule.max_late.as_micros()).unwrap_or(u64::MAX),
            in_flight_limit_hits: schedule.in_flight_limit_hits,
            max_in_flight: plan.load.max_in_flight,
            uncorrected_latency_us: latency_stats(&measured.uncorrected_us),
            send_error_us: latency_stats(&measured.send_error_us),
        }),
    }
}

/// One summary of several rounds of the same spec: counts add up, histograms merge (so the
/// percentiles are those of every request of every round), the service's figures are the last
/// round's but for the peak RSS (the highest) and the CPU per request (the median), and each
/// round's judged values are the judge's to add (`rounds`).
pub fn merge_rounds(rounds: &[SpecSummary]) -> SpecSummary {
    let last = rounds.last().expect("at least one round ran");
    let seconds: f64 = rounds.iter().map(|r| r.load.measured_seconds.0).sum();
    let merge = |pick: &dyn Fn(&SpecSummary) -> Option<&Metrics>| {
        let parts: Vec<&Metrics> = rounds.iter().filter_map(pick).collect();
        merge_metrics(&parts, seconds)
    };
    let mut merged = SpecSummary {
        load: LoadFacts {
            measured_seconds: Seconds(round_to(seconds, 3)),
            warmup_seconds: Seconds(rounds.iter().map(|r| r.load.warmup_seconds.0).sum()),
            ..last.load.clone()
        },
        total: merge(&|r| Some(&r.total)),
        requests: last
            .requests
            .keys()
            .map(|name| (name.clone(), merge(&|r| r.requests.get(name))))
            .collect(),
        flows: merge_flows(rounds),
        warmup: WarmupFacts {
            requests: rounds.iter().map(|r| r.warmup.requests).sum(),
            failures: rounds.iter().map(|r| r.warmup.failures).sum(),
        },
        service: last.service.clone(),
        generator: last.generator.clone(),
        service_series: last.service_series.clone(),
        schedule: last.schedule.clone(),
        series: last.series.clone(),
        sweep: None,
        rounds: Vec::new(),
        cost: None,
    };
    if let Some(service) = merged.service.as_mut() {
        let all: Vec<&ResourceFigures> = rounds.iter().filter_map(|r| r.service.as_ref()).collect();
        service.rss_peak_bytes = all.iter().map(|f| f.rss_peak_bytes).max().unwrap_or(0);
        service.cpu_per_request_us = crate::support::stats::median(
            &all.iter().map(|f| f.cpu_per_request_us).collect::<Vec<_>>(),
        );
    }
    merged
}

/// Each flow's iterations, by name.
fn flow_summaries(plan: &Plan, records: &[FlowRecord]) -> BTreeMap<String, FlowSummary> {
    (0..plan.flows.len())
        .map(|idx| {
            let record = records.get(idx).copied().unwrap_or_default();
            (
                plan.flows[idx].name.clone(),
                FlowSummary::of(plan, idx, record),
            )
        })
        .collect()
}

/// Each flow's iterations over the rounds.
fn merge_flows(rounds: &[SpecSummary]) -> BTreeMap<String, FlowSummary> {
    let mut flows: BTreeMap<String, FlowSummary> = BTreeMap::new();
    for (name, flow) in rounds.iter().flat_map(|r| &r.flows) {
        flows
            .entry(name.clone())
            .and_modify(|sum| {
                sum.iterations += flow.iterations;
                sum.completed += flow.completed;
                sum.aborted += flow.aborted;
            })
            .or_insert_with(|| flow.clone());
    }
    flows
}

fn merge_metrics(parts: &[&Metrics], seconds: f64) -> Metrics {
    let histogram = merge_histograms(parts.iter().map(|m| &m.histogram))
        .unwrap_or_else(|| RequestRecord::new().latency_us);
    let failed = merge_histograms(
        parts
            .iter()
            .filter_map(|m| m.failed.as_ref())
            .map(|f| &f.histogram),
    );
    let sum_maps = |get: &dyn Fn(&Metrics) -> &BTreeMap<String, u64>| {
        let mut sum = BTreeMap::new();
        for part in parts {
            for (key, n) in get(part) {
                *sum.entry(key.clone()).or_insert(0) += n;
            }
        }
        sum
    };
    let requests = parts.iter().map(|m| m.requests).sum();
    let failures = parts.iter().map(|m| m.failures).sum();
    Metrics {
        requests,
        failures,
        error_rate: fraction(failures, requests),
        rps: round_to(requests as f64 / seconds.max(f64::MIN_POSITIVE), 3),
        latency_us: latency_stats(&histogram),
        status_codes: sum_maps(&|m| &m.status_codes),
        errors: sum_maps(&|m| &m.errors),
        examples: parts
            .iter()
            .flat_map(|m| m.examples.iter().cloned())
            .take(crate::run::record::MAX_EXAMPLES)
            .collect(),
        bytes_received: parts.iter().map(|m| m.bytes_received).sum(),
        clamped: parts.iter().map(|m| m.clamped).sum(),
        histogram: EncodedHistogram::encode(&histogram),
        failed: failed.as_ref().and_then(FailedLatency::of),
        stream: StreamStats::merge(parts, seconds),
    }
}

/// The sum of encoded histograms; `None` when there is none. Every round's histograms are this
/// run's own encoding: one that does not decode is a bug, never skipped.
fn merge_histograms<'a>(
    encoded: impl Iterator<Item = &'a EncodedHistogram>,
) -> Option<Histogram<u64>> {
    let mut sum: Option<Histogram<u64>> = None;
    for encoded in encoded {
        let h = (encoded.decode()).unwrap_or_else(|err| panic!("a round's histogram: {err}"));
        match sum.as_mut() {
            Some(all) => all.add(&h).expect("histograms share their bounds"),
            None => sum = Some(h),
        }
    }
    sum
}

fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round_to(part as f64 / whole as f64, 6)
    }
}

fn rate(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        0.0
    } else {
        round_to(count as f64 / window.as_secs_f64(), 3)
    }
}

fn latency_stats(latency: &Histogram<u64>) -> LatencyStats {
    let empty = latency.is_empty();
    let quantile = |q| {
        if empty {
            0
        } else {
            latency.value_at_quantile(q)
        }
    };
    LatencyStats {
        min: if empty { 0 } else { latency.min() },
        mean: round_to(latency.mean(), 1),
        p50: quantile(0.50),
        p90: quantile(0.90),
        p99: quantile(0.99),
        max: latency.max(),
    }
}

fn metrics(record: &RequestRecord, window: Duration) -> Metrics {
    Metrics {
        requests: record.n_requests,
        failures: record.n_failures(),
        error_rate: fraction(record.n_failures(), record.n_requests),
        rps: rate(record.n_requests, window),
        latency_us: latency_stats(&record.latency_us),
        status_codes: record
            .statuses
            .iter()
            .map(|(code, count)| (code.to_string(), *count))
            .collect(),
        errors: ErrorKind::ALL
            .iter()
            .filter(|kind| record.n_errors[**kind as usize] > 0)
            .map(|kind| (kind.as_str().to_owned(), record.n_errors[*kind as usize]))
            .collect(),
        examples: record.examples.clone(),
        bytes_received: record.bytes_received,
        clamped: record.n_clamped,
        histogram: EncodedHistogram::encode(&record.latency_us),
        failed: FailedLatency::of(&record.failed_latency_us),
        stream: record.stream.as_ref().map(|s| StreamStats::of(s, window)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::record::Outcome;

    #[test]
    fn the_capacity_is_the_last_step_that_grew_within_its_limits() {
        let text = "[load]\nusers = 1\nduration = \"1s\"\n[[request]]\nname = \"home\"\npath = \"/\"\n\
                    [sweep]\nusers = [2, 4, 8, 16, 32]\nlimit = { p90 = \"50ms\" }\n";
        let plan = crate::plan::build(
            std::path::Path::new("sweep.toml"),
            text,
            std::path::Path::new("."),
            &Default::default(),
            &|_| None,
        )
        .unwrap();
        let fixture = crate::report::fixtures::result().specs[0]
            .summary
            .clone()
            .unwrap();
        let step = |users: f64, rps: f64, p90_ms: u64| {
            let mut summary = fixture.clone();
            summary.total.rps = rps;
            summary.total.latency_us.p90 = p90_ms * 1000;
            (users, summary)
        };
        // Saturates at 8 users: 16 brings +8 % for +100 % load, which does not count.
        let saturating = [
            step(2.0, 86.0, 24),
            step(4.0, 170.0, 24),
            step(8.0, 340.0, 25),
            step(16.0, 368.0, 45),
            step(32.0, 365.0, 89),
        ];
        let (sweep, chosen) = summarize_sweep(&plan, &saturating);
        assert_eq!((sweep.capacity, chosen), (Some(8.0), 2));
        assert_eq!(
            sweep.steps.iter().map(|s| s.grew).collect::<Vec<_>>(),
            [true, true, true, false, false]
        );
        assert_eq!(sweep.by, "users");
        // Still growing at 16 users, but beyond the 50 ms limit there.
        let limited = [
            step(2.0, 86.0, 24),
            step(4.0, 170.0, 24),
            step(8.0, 340.0, 40),
            step(16.0, 600.0, 70),
        ];
        assert_eq!(summarize_sweep(&plan, &limited).0.capacity, Some(8.0));
        // Beyond the limits from the first step: no capacity, the summary stands for step one.
        let hopeless = [step(2.0, 86.0, 90), step(4.0, 170.0, 95)];
        let (sweep, chosen) = summarize_sweep(&plan, &hopeless);
        assert_eq!((sweep.capacity, chosen), (None, 0));
    }

    #[test]
    fn rounds_add_up_each_flow_s_iterations() {
        let mut round = crate::report::fixtures::result().specs[0]
            .summary
            .clone()
            .unwrap();
        let flow = |completed, aborted| FlowSummary {
            iterations: completed + aborted,
            completed,
            aborted,
            steps: vec!["cart/open".into()],
        };
        // Real histograms: the fixture's placeholders are no encoding, and rounds add theirs.
        let empty = EncodedHistogram::encode(&RequestRecord::new().latency_us);
        for metrics in round.requests.values_mut().chain([&mut round.total]) {
            metrics.histogram = empty.clone();
            metrics.failed = None;
            metrics.stream = None;
        }
        round.flows.insert("cart".into(), flow(10, 1));
        let mut other = round.clone();
        other.flows.insert("cart".into(), flow(7, 2));
        let merged = merge_rounds(&[round, other]);
        assert_eq!(merged.flows["cart"], flow(17, 3));
    }

    #[test]
    fn metrics_of_an_empty_record_are_zero_not_nan() {
        let metrics = metrics(&RequestRecord::new(), Duration::ZERO);
        assert_eq!(
            (metrics.error_rate, metrics.rps, metrics.latency_us.p99),
            (0.0, 0.0, 0)
        );
        assert!(metrics.latency_us.mean.is_finite());
    }

    #[test]
    fn rates_are_per_second_of_the_window() {
        let mut record = RequestRecord::new();
        let failure = Outcome {
            status: Some(500),
            bytes_received: 0,
            cause: Some(crate::run::outcome::Cause::Status(500)),
        };
        for i in 0..40 {
            let outcome = if i < 2 {
                failure
            } else {
                Outcome {
                    status: Some(200),
                    bytes_received: 3,
                    cause: None,
                }
            };
            record.record(Duration::from_millis(1), &outcome);
        }
        let metrics = metrics(&record, Duration::from_secs(2));
        assert_eq!(
            (
                metrics.requests,
                metrics.failures,
                metrics.rps,
                metrics.error_rate
            ),
            (40, 2, 20.0, 0.05)
        );
        assert_eq!(
            metrics.status_codes,
            BTreeMap::from([("200".into(), 38), ("500".into(), 2)])
        );
        assert_eq!(metrics.errors, BTreeMap::from([("status".into(), 2)]));
    }
}
