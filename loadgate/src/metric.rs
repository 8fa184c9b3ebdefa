//! The metrics a gate can judge, with their units, direction and display. Shared vocabulary of
//! `plan` (parsing thresholds), `compare` (judging) and the reports (formatting).

use serde::{Deserialize, Serialize};

use crate::support::units::{
    Quantity, format_bytes, format_micros, format_percent, parse_duration, parse_percent,
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
    /// Instructions the service executed per request, counted under Callgrind (`[cost]`): the
    /// same on any machine, however busy.
    Instructions,
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
            Metric::Instructions => "instructions",
        }
    }

    /// Judged on the latency of answered requests.
    pub fn is_latency(self) -> bool {
        matches!(self, Metric::P50 | Metric::P90 | Metric::P99)
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
            (Metric::Instructions, Quantity::Number(n)) if n.is_finite() && *n >= 0.0 => Ok(*n),
            (Metric::Instructions, _) => Err(
                "instructions takes a non-negative number of instructions per request, such as 20000"
                    .to_owned(),
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
            Metric::Instructions => INSTRUCTIONS_NOISE_FLOOR,
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
            Metric::Instructions => format_count(value),
        }
    }
}

/// The change in instructions per request below which an `instructions` regression never
/// fails: unchanged demo-service runs moved by at most this much (see `scripts/cost-gate.py`).
pub const INSTRUCTIONS_NOISE_FLOOR: f64 = 100.0;

/// "16 950", "812.5": a count with a space between thousands, one decimal below 1 000.
pub fn format_count(value: f64) -> String {
    let rounded = value.round();
    if value.abs() < 1000.0 && (value - rounded).abs() >= 0.05 {
        return format!("{value:.1}");
    }
    let digits = format!("{}", rounded.abs() as u64);
    let mut out = String::new();
    for (idx, digit) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    if rounded < 0.0 {
        out.insert(0, '-');
    }
    out
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// Where a threshold applies: the aggregate of all requests, or one request name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Total,
    Request(String),
}

impl Scope {
    pub fn label(&self) -> &str {
        match self {
            Scope::Total => "total",
            Scope::Request(name) => name,
        }
    }
}
