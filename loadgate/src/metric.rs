//! The metrics a gate can judge, with their units, direction and display. Shared vocabulary of
//! `plan` (parsing thresholds), `compare` (judging) and the reports (formatting).

use serde::{Deserialize, Serialize};

use crate::summary::Metrics;
use crate::units::{Quantity, format_micros, format_percent, parse_duration, parse_percent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    P50,
    P90,
    P99,
    ErrorRate,
    Rps,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::P50,
        Metric::P90,
        Metric::P99,
        Metric::ErrorRate,
        Metric::Rps,
    ];

    /// The key used in specs, reports and baselines.
    pub fn key(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error_rate",
            Metric::Rps => "rps",
        }
    }

    /// Latency and errors get worse as they grow; throughput gets worse as it shrinks.
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::Rps)
    }

    /// The metric's value in its internal unit: µs for latency, a fraction for the error rate,
    /// requests/second for throughput.
    pub fn value(self, metrics: &Metrics) -> f64 {
        match self {
            Metric::P50 => metrics.latency_us.p50 as f64,
            Metric::P90 => metrics.latency_us.p90 as f64,
            Metric::P99 => metrics.latency_us.p99 as f64,
            Metric::ErrorRate => metrics.error_rate,
            Metric::Rps => metrics.rps,
        }
    }

    /// Reads a threshold amount written for this metric into the internal unit.
    pub fn parse_amount(self, amount: &Quantity) -> Result<f64, String> {
        match (self, amount) {
            (Metric::P50 | Metric::P90 | Metric::P99, Quantity::Text(text)) => {
                parse_duration(text).map(|d| d.as_secs_f64() * 1e6)
            }
            (Metric::ErrorRate, Quantity::Text(text)) => parse_percent(text),
            (Metric::Rps, Quantity::Number(n)) if n.is_finite() && *n >= 0.0 => Ok(*n),
            (Metric::P50 | Metric::P90 | Metric::P99, _) => {
                Err(format!("{} takes a duration such as \"20ms\"", self.key()))
            }
            (Metric::ErrorRate, _) => {
                Err("error_rate takes a percentage such as \"1%\"".to_owned())
            }
            (Metric::Rps, _) => Err(
                "rps takes a non-negative number of requests per second, such as 100".to_owned(),
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
            Metric::Rps => 0.0,
        }
    }

    pub fn format(self, value: f64) -> String {
        match self {
            Metric::P50 | Metric::P90 | Metric::P99 => format_micros(value),
            Metric::ErrorRate => format_percent(value),
            Metric::Rps => format!("{value:.1}/s"),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}
