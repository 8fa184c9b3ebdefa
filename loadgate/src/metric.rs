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
#[non_exhaustive]
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
    /// A stream's time to its first message (µs), of answered streams: time to first token.
    FirstMessageP50,
    FirstMessageP90,
    FirstMessageP99,
    /// The gaps between a stream's messages (µs): inter-token latency.
    MessageGapP50,
    MessageGapP90,
    MessageGapP99,
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
            Metric::FirstMessageP50 => "first_message_p50",
            Metric::FirstMessageP90 => "first_message_p90",
            Metric::FirstMessageP99 => "first_message_p99",
            Metric::MessageGapP50 => "message_gap_p50",
            Metric::MessageGapP90 => "message_gap_p90",
            Metric::MessageGapP99 => "message_gap_p99",
        }
    }

    /// Timed per message of a stream, like latency but only where requests stream.
    pub fn is_message(self) -> bool {
        matches!(
            self,
            Metric::FirstMessageP50
                | Metric::FirstMessageP90
                | Metric::FirstMessageP99
                | Metric::MessageGapP50
                | Metric::MessageGapP90
                | Metric::MessageGapP99
        )
    }

    /// A duration in µs whose noise grows with its size: latency, and a stream's message times.
    fn is_timed(self) -> bool {
        self.is_latency() || self.is_message()
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

    /// The noise floor of a threshold whose spec sets none. A latency's grows with its baseline:
    /// [`LATENCY_NOISE_FLOOR_FRACTION`] of it, at least [`Metric::default_noise_floor`] and at most
    /// [`LATENCY_NOISE_FLOOR_MAX`] (the fixed floor of earlier versions, so no service is judged
    /// more loosely than before). A fixed 1 ms floor kept the gate quiet on a 10 ms service and
    /// made it blind on a 120 µs one, which could get 5 times slower and still pass.
    pub(crate) fn default_noise_floor_rule(self) -> NoiseFloor {
        if self.is_timed() {
            NoiseFloor {
                min: self.default_noise_floor(),
                fraction: LATENCY_NOISE_FLOOR_FRACTION,
                max: LATENCY_NOISE_FLOOR_MAX,
            }
        } else {
            NoiseFloor::fixed(self.default_noise_floor())
        }
    }

    /// Reads a threshold amount written for this metric into the internal unit.
    pub(crate) fn parse_amount(self, amount: &Quantity) -> Result<f64, String> {
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
            (m, Quantity::Text(text)) if m.is_message() => {
                parse_duration(text).map(|d| d.as_secs_f64() * 1e6)
            }
            (Metric::P50 | Metric::P90 | Metric::P99 | Metric::ServiceCpuPerRequest, _)
            | (
                Metric::FirstMessageP50
                | Metric::FirstMessageP90
                | Metric::FirstMessageP99
                | Metric::MessageGapP50
                | Metric::MessageGapP90
                | Metric::MessageGapP99,
                _,
            ) => {
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

    /// The smallest change a regression check fails on, unless the spec sets `noise_floor`; see
    /// [`Metric::default_noise_floor_rule`] for latencies, whose floor grows with the baseline
    /// from this minimum. Loopback latency jitters by tens of microseconds; error rates by a few
    /// requests in a thousand.
    pub fn default_noise_floor(self) -> f64 {
        match self {
            Metric::P50 | Metric::P90 | Metric::P99 => LATENCY_NOISE_FLOOR_MIN,
            Metric::ErrorRate => 0.001,
            Metric::Rps | Metric::Capacity => 0.0,
            // Allocator and page-cache jitter of a service at rest.
            Metric::ServiceRssPeak | Metric::ServiceRssGrowth => 4.0 * 1024.0 * 1024.0,
            Metric::ServiceCpuPerRequest => 1.0,
            Metric::Instructions => INSTRUCTIONS_NOISE_FLOOR,
            Metric::FirstMessageP50
            | Metric::FirstMessageP90
            | Metric::FirstMessageP99
            | Metric::MessageGapP50
            | Metric::MessageGapP90
            | Metric::MessageGapP99 => LATENCY_NOISE_FLOOR_MIN,
        }
    }

    pub fn format(self, value: f64) -> String {
        match self {
            Metric::P50 | Metric::P90 | Metric::P99 => format_micros(value),
            Metric::FirstMessageP50
            | Metric::FirstMessageP90
            | Metric::FirstMessageP99
            | Metric::MessageGapP50
            | Metric::MessageGapP90
            | Metric::MessageGapP99 => format_micros(value),
            Metric::ErrorRate => format_percent(value),
            Metric::Rps => format!("{value:.1}/s"),
            Metric::ServiceRssPeak | Metric::ServiceRssGrowth => format_bytes(value),
            Metric::ServiceCpuPerRequest => format!("{}/req", format_micros(value)),
            Metric::Capacity => format!("{value}"),
            Metric::Instructions => format_count(value),
        }
    }
}

/// The default latency noise floor's minimum, in µs: the run-to-run jitter of a loopback
/// exchange on a busy machine. Measured with scripts/fast-service-gate.py on 2 vCPUs beside a
/// CPU hog: ten unchanged runs of a service with a 206 µs p50 moved it by -31..+34 µs, a 127 µs
/// one (no hog) by -21..+16 µs. The floor is a backstop under a tight `regression`; the relative
/// noise (p90 up to +28 % there) is the regression threshold's to carry.
pub const LATENCY_NOISE_FLOOR_MIN: f64 = 50.0;
/// The share of the baseline value under which a latency change is noise by default.
pub const LATENCY_NOISE_FLOOR_FRACTION: f64 = 0.1;
/// The default latency noise floor's maximum, in µs.
pub const LATENCY_NOISE_FLOOR_MAX: f64 = 1_000.0;

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

/// The change below which a regression check never fails, in the metric's unit: a fraction of
/// the baseline value, kept within `min..=max`. One written in a spec is fixed (`min` = `max`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseFloor {
    pub min: f64,
    pub fraction: f64,
    pub max: f64,
}

impl NoiseFloor {
    /// The same floor whatever the baseline.
    pub fn fixed(amount: f64) -> NoiseFloor {
        NoiseFloor {
            min: amount,
            fraction: 0.0,
            max: amount,
        }
    }

    /// The floor for a baseline value of `base`.
    pub fn at(self, base: f64) -> f64 {
        (self.fraction * base.abs()).clamp(self.min, self.max.max(self.min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_latency_floor_scales_with_the_baseline_within_its_bounds() {
        // (baseline µs, floor µs)
        let cases = [
            (0.0, 50.0),
            (120.0, 50.0),
            (500.0, 50.0),
            (2_000.0, 200.0),
            (10_000.0, 1_000.0),
            (400_000.0, 1_000.0),
        ];
        for metric in [Metric::P50, Metric::P90, Metric::P99] {
            for (base, floor) in cases {
                let got = metric.default_noise_floor_rule().at(base);
                assert!((got - floor).abs() < 1e-9, "{metric} at {base}: {got}");
            }
        }
    }

    #[test]
    fn a_written_floor_and_other_metrics_floors_are_fixed() {
        for base in [0.0, 120.0, 1e9] {
            assert_eq!(NoiseFloor::fixed(5_000.0).at(base), 5_000.0);
            assert_eq!(Metric::ErrorRate.default_noise_floor_rule().at(base), 0.001);
            assert_eq!(Metric::Rps.default_noise_floor_rule().at(-base), 0.0);
        }
    }
}
