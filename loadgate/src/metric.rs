//! The metrics a gate can judge, with their units, direction and display. Shared vocabulary of
//! `plan` (parsing thresholds), `compare` (judging) and the reports (formatting).

use serde::{Deserialize, Serialize};

use crate::plan::Scope;
use crate::run::resources::format_bytes;
use crate::summary::SpecSummary;
use crate::support::units::{
    Quantity, format_micros, format_percent, parse_duration, parse_percent,
};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    P50,
    P90,
    P99,
    ErrorRate,
    Rps,
    /// The service's highest resident memory (bytes), summed over its process tree.
    ServiceRssPeak,
    /// How much the service's resident memory grew over the judged window (bytes): a leak.
    ServiceRssGrowth,
    /// The service's CPU time per judged request (µs): far steadier on a shared machine than
    /// wall-clock latency.
    ServiceCpuPerRequest,
    /// A `[sweep]`'s capacity: the highest step (users or requests/second) whose throughput still
    /// grew and whose limits held.
    Capacity,
}

impl Metric {
    /// The key used in specs, reports and baselines.
    pub fn key(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error_rate",
            Metric::Rps => "rps",
            Metric::ServiceRssPeak => "service_rss_peak",
            Metric::ServiceRssGrowth => "service_rss_growth",
            Metric::ServiceCpuPerRequest => "service_cpu_per_request",
            Metric::Capacity => "capacity",
        }
    }

    /// Measured once for the whole spec, so it has no per-request threshold.
    pub fn is_spec_wide(self) -> bool {
        self.is_service() || self == Metric::Capacity
    }

    /// Measured on the service's processes, for the whole spec: not per request name.
    pub fn is_service(self) -> bool {
        matches!(
            self,
            Metric::ServiceRssPeak | Metric::ServiceRssGrowth | Metric::ServiceCpuPerRequest
        )
    }

    /// Latency and errors get worse as they grow; throughput gets worse as it shrinks.
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::Rps | Metric::Capacity)
    }

    /// The metric's value in `scope` of `summary`, in its internal unit: µs for latency and CPU
    /// per request, a fraction for the error rate, requests/second for throughput, bytes for
    /// memory. `None` when it was not measured (no such request, no service with `--target`).
    pub fn value(self, summary: &SpecSummary, scope: &Scope) -> Option<f64> {
        let metrics = match scope {
            Scope::Total => Some(&summary.total),
            Scope::Request(name) => summary.requests.get(name),
        };
        let service = summary.service.as_ref();
        match self {
            Metric::P50 => metrics.map(|m| m.latency_us.p50 as f64),
            Metric::P90 => metrics.map(|m| m.latency_us.p90 as f64),
            Metric::P99 => metrics.map(|m| m.latency_us.p99 as f64),
            Metric::ErrorRate => metrics.map(|m| m.error_rate),
            Metric::Rps => metrics.map(|m| m.rps),
            Metric::ServiceRssPeak => service.map(|s| s.rss_peak_bytes as f64),
            Metric::ServiceRssGrowth => service.map(|s| s.rss_growth_bytes as f64),
            Metric::ServiceCpuPerRequest => service.map(|s| s.cpu_per_request_us),
            Metric::Capacity => summary.sweep.as_ref().and_then(|s| s.capacity),
        }
    }

    /// Reads a threshold amount written for this metric into the internal unit.
    pub fn parse_amount(self, amount: &Quantity) -> Result<f64, String> {
        match (self, amount) {
            (Metric::P50 | Metric::P90 | Metric::P99, Quantity::Text(text)) => {
                parse_duration(text).map(|d| d.as_secs_f64() * 1e6)
            }
            (Metric::ErrorRate, Quantity::Text(text)) => parse_percent(text),
            (Metric::Rps | Metric::Capacity, Quantity::Number(n)) if n.is_finite() && *n >= 0.0 => {
                Ok(*n)
            }
            (Metric::ServiceRssPeak | Metric::ServiceRssGrowth, Quantity::Text(text)) => text
                .parse::<bytesize::ByteSize>()
                .map(|size| size.as_u64() as f64)
                .map_err(|_| format!("invalid size `{text}`: expected a number with a unit, like \"512MiB\" or \"50MB\"")),
            (Metric::ServiceCpuPerRequest, Quantity::Text(text)) => {
                parse_duration(text).map(|d| d.as_secs_f64() * 1e6)
            }
            (Metric::P50 | Metric::P90 | Metric::P99 | Metric::ServiceCpuPerRequest, _) => {
                Err(format!("{} takes a duration such as \"20ms\"", self.key()))
            }
            (Metric::ServiceRssPeak | Metric::ServiceRssGrowth, _) => {
                Err(format!("{} takes a size such as \"512MiB\"", self.key()))
            }
            (Metric::ErrorRate, _) => {
                Err("error_rate takes a percentage such as \"1%\"".to_owned())
            }
            (Metric::Rps, _) => Err(
                "rps takes a non-negative number of requests per second, such as 100".to_owned(),
            ),
            (Metric::Capacity, _) => Err(
                "capacity takes a number of users or requests per second, such as 50".to_owned(),
            ),
        }
    }

    /// The change below which a regression check never fails, unless the spec sets `noise_floor`.
    /// Loopback latency jitters by fractions of a millisecond on a busy machine; error rates by a
    /// few requests in a thousand.
    pub fn default_noise_floor(self) -> f64 {
        match self {
            Metric::P50 | Metric::P90 | Metric::P99 => 1_000.0,
            Metric::ErrorRate => 0.001,
            Metric::Rps | Metric::Capacity => 0.0,
            // Allocator and page-cache jitter of a service at rest.
            Metric::ServiceRssPeak | Metric::ServiceRssGrowth => 4.0 * 1024.0 * 1024.0,
            Metric::ServiceCpuPerRequest => 1.0,
        }
    }

    pub fn format(self, value: f64) -> String {
        match self {
            Metric::P50 | Metric::P90 | Metric::P99 => format_micros(value),
            Metric::ErrorRate => format_percent(value),
            Metric::Rps => format!("{value:.1}/s"),
            Metric::ServiceRssPeak | Metric::ServiceRssGrowth => format_bytes(value),
            Metric::ServiceCpuPerRequest => format!("{}/req", format_micros(value)),
            Metric::Capacity => format!("{value}"),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}
