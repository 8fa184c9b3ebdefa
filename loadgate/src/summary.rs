//! Recorder → summary: the plain, serializable numbers of one spec's run (per request name and
//! in total), including the histograms themselves so later tools can compare distributions.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::record::{ErrorKind, Recorder, RequestRecord};
use crate::resources::{self, ResourceFigures, ResourcePoint, Sample, Who};
use crate::units::{Seconds, round_to};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecSummary {
    pub load: LoadFacts,
    pub total: Metrics,
    /// Per request name.
    pub requests: BTreeMap<String, Metrics>,
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
}

/// What the load actually was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadFacts {
    pub model: String,
    pub users: u32,
    pub seed: u64,
    /// Length of the judged window; shorter than planned when the run stopped early.
    pub measured_seconds: Seconds,
    pub warmup_seconds: Seconds,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupFacts {
    pub requests: u64,
    pub failures: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Failures by kind: connect, timeout, io, status (unexpected status).
    pub errors: BTreeMap<String, u64>,
    pub bytes_received: u64,
    /// Latencies beyond the histogram's range, recorded at its maximum.
    pub clamped: u64,
    /// The latency histogram (µs), HdrHistogram V2 + DEFLATE, base64.
    pub histogram: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyStats {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// Summarizes a run of `plan`: `measured` holds the judged requests, which started within a
/// window of `window` (the planned duration, or less when the run stopped early) after the
/// warmup; `samples` are the resource readings since the load started.
pub fn summarize(
    plan: &Plan,
    warmup: &Recorder,
    measured: &Recorder,
    window: Duration,
    samples: &[Sample],
) -> SpecSummary {
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
            model: "closed".to_owned(),
            users: plan.load.users,
            seed: plan.seed,
            measured_seconds: window.into(),
            warmup_seconds: plan.load.warmup.into(),
        },
        total: metrics(&measured_total, window),
        requests: plan
            .requests
            .iter()
            .zip(&measured.by_request)
            .map(|(request, record)| (request.name.clone(), metrics(record, window)))
            .collect(),
        warmup: WarmupFacts {
            requests: warmup_total.n_requests,
            failures: warmup_total.n_failures(),
        },
        service: judged(Who::Service),
        generator: judged(Who::Generator),
        service_series: resources::series(samples),
    }
}

fn metrics(record: &RequestRecord, window: Duration) -> Metrics {
    let latency = &record.latency_us;
    let empty = record.n_requests == 0;
    let quantile = |q| {
        if empty {
            0
        } else {
            latency.value_at_quantile(q)
        }
    };
    Metrics {
        requests: record.n_requests,
        failures: record.n_failures(),
        error_rate: if empty {
            0.0
        } else {
            round_to(record.n_failures() as f64 / record.n_requests as f64, 6)
        },
        rps: if window.is_zero() {
            0.0
        } else {
            round_to(record.n_requests as f64 / window.as_secs_f64(), 3)
        },
        latency_us: LatencyStats {
            min: if empty { 0 } else { latency.min() },
            mean: round_to(latency.mean(), 1),
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            max: latency.max(),
        },
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
        bytes_received: record.bytes_received,
        clamped: record.n_clamped,
        histogram: encode_histogram(latency),
    }
}

pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into memory cannot fail");
    BASE64.encode(bytes)
}

pub fn decode_histogram(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = BASE64.decode(text)?;
    Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    #[test]
    fn histograms_survive_a_round_trip_through_text() {
        let mut record = RequestRecord::new();
        for us in [120, 450, 900, 15_000] {
            record.record(
                Duration::from_micros(us),
                &Outcome {
                    status: Some(200),
                    error: None,
                    bytes_received: 0,
                },
            );
        }
        let decoded = decode_histogram(&encode_histogram(&record.latency_us)).unwrap();
        assert_eq!(decoded, record.latency_us);
        assert!(decode_histogram("not base64!").is_err());
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
            error: Some(ErrorKind::Status),
            bytes_received: 0,
        };
        for i in 0..40 {
            let outcome = if i < 2 {
                failure
            } else {
                Outcome {
                    status: Some(200),
                    error: None,
                    bytes_received: 3,
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
