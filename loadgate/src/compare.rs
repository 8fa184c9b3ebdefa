//! Summary + baseline + thresholds → checks. A pure function: one `Check` per limit per scope.
//!
//! A relative regression and an absolute bound are separate checks. A change smaller than the
//! threshold's noise floor never fails, and an improvement is reported but never fails.

use serde::{Deserialize, Serialize};

use crate::metric::Metric;
use crate::plan::Threshold;
use crate::summary::SpecSummary;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// "total" or a request name.
    pub scope: String,
    pub metric: Metric,
    pub kind: CheckKind,
    /// For `regression` the allowed fraction; for `max`/`min` the bound, in the metric's unit
    /// (µs for latency, a fraction for the error rate, requests/second for rps).
    pub limit: f64,
    pub baseline: Option<f64>,
    pub current: f64,
    /// (current − baseline) / baseline, when both exist and the baseline is not zero.
    pub change: Option<f64>,
    pub outcome: CheckOutcome,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Regression,
    Max,
    Min,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Pass,
    Fail,
    /// A regression check with nothing to compare against: not a failure.
    NoBaseline,
}

impl CheckKind {
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Regression => "regression",
            CheckKind::Max => "max",
            CheckKind::Min => "min",
        }
    }
}

impl Check {
    /// A stable name for the check, e.g. "total p90 regression".
    pub fn name(&self) -> String {
        format!("{} {} {}", self.scope, self.metric, self.kind.label())
    }
}

/// Judges `current` against the thresholds and, for regressions, against `baseline`.
pub fn compare(
    thresholds: &[Threshold],
    current: &SpecSummary,
    baseline: Option<&SpecSummary>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for threshold in thresholds {
        let metric = threshold.metric;
        let Some(value) = metric.value(current, &threshold.scope) else {
            continue;
        };
        let base = baseline.and_then(|b| metric.value(b, &threshold.scope));
        let change = base.filter(|b| *b != 0.0).map(|b| (value - b) / b);
        let check = |kind, limit, outcome, message| Check {
            scope: threshold.scope.label().to_owned(),
            metric,
            kind,
            limit,
            baseline: base,
            current: value,
            change,
            outcome,
            message,
        };
        if let Some(allowed) = threshold.regression {
            let (outcome, message) =
                judge_regression(metric, value, base, allowed, threshold.noise_floor);
            checks.push(check(CheckKind::Regression, allowed, outcome, message));
        }
        // Absolute bounds: (kind, limit, whether the value breaks it, verb if so, verb if not).
        let bounds = [
            threshold
                .max
                .map(|max| (CheckKind::Max, max, value > max, "exceeds", "within")),
            threshold
                .min
                .map(|min| (CheckKind::Min, min, value < min, "below", "at or above")),
        ];
        for (kind, limit, broken, broken_verb, kept_verb) in bounds.into_iter().flatten() {
            let (outcome, verb) = if broken {
                (CheckOutcome::Fail, broken_verb)
            } else {
                (CheckOutcome::Pass, kept_verb)
            };
            let message = format!(
                "{metric} {} {verb} {} {}",
                metric.format(value),
                kind.label(),
                metric.format(limit)
            );
            checks.push(check(kind, limit, outcome, message));
        }
    }
    checks
}

fn judge_regression(
    metric: Metric,
    value: f64,
    base: Option<f64>,
    allowed: f64,
    noise_floor: f64,
) -> (CheckOutcome, String) {
    let sign = if metric.higher_is_worse() { '+' } else { '-' };
    let allowed_text = format!("{sign}{}%", format_number(allowed * 100.0));
    let Some(base) = base else {
        return (
            CheckOutcome::NoBaseline,
            format!(
                "{metric} {} (no baseline to compare with)",
                metric.format(value)
            ),
        );
    };
    let transition = format!(
        "{metric} {} -> {}",
        metric.format(base),
        metric.format(value)
    );
    let change_text = if base == 0.0 {
        if value == 0.0 {
            "(no change)".to_owned()
        } else {
            "(from zero)".to_owned()
        }
    } else {
        format!("({:+.1}%)", (value - base) / base * 100.0)
    };
    let worse_by = if metric.higher_is_worse() {
        value - base
    } else {
        base - value
    };
    if worse_by < 0.0 {
        return (
            CheckOutcome::Pass,
            format!("{transition} {change_text} improved"),
        );
    }
    let relative = match (base == 0.0, worse_by > 0.0) {
        (true, true) => f64::INFINITY,
        (true, false) => 0.0,
        (false, _) => worse_by / base,
    };
    if relative <= allowed {
        (
            CheckOutcome::Pass,
            format!("{transition} {change_text} within {allowed_text}"),
        )
    } else if worse_by <= noise_floor {
        let floor = metric.format(noise_floor);
        (
            CheckOutcome::Pass,
            format!("{transition} {change_text} within the noise floor of {floor}"),
        )
    } else {
        (
            CheckOutcome::Fail,
            format!("{transition} {change_text} exceeds {allowed_text}"),
        )
    }
}

/// "15" for 15.0, "2.5" for 2.5: thresholds as people wrote them.
fn format_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::Scope;
    use crate::summary::{LatencyStats, LoadFacts, Metrics, WarmupFacts};
    use crate::units::Seconds;

    fn summary(p90_us: u64, error_rate: f64, rps: f64) -> SpecSummary {
        let metrics = Metrics {
            examples: Vec::new(),
            requests: 1000,
            failures: (error_rate * 1000.0) as u64,
            error_rate,
            rps,
            latency_us: LatencyStats {
                min: 100,
                mean: 900.0,
                p50: p90_us / 2,
                p90: p90_us,
                p99: p90_us * 2,
                max: p90_us * 3,
            },
            status_codes: BTreeMap::new(),
            errors: BTreeMap::new(),
            bytes_received: 0,
            clamped: 0,
            histogram: String::new(),
        };
        SpecSummary {
            load: LoadFacts {
                model: "closed".into(),
                rate: 0.0,
                users: 1,
                seed: 1,
                measured_seconds: Seconds(1.0),
                warmup_seconds: Seconds(0.0),
            },
            total: metrics.clone(),
            requests: BTreeMap::from([("home".to_owned(), metrics)]),
            warmup: WarmupFacts {
                requests: 0,
                failures: 0,
            },
            service: None,
            generator: None,
            service_series: Vec::new(),
            schedule: None,
            sweep: None,
            series: Vec::new(),
        }
    }

    fn threshold(
        metric: Metric,
        regression: Option<f64>,
        max: Option<f64>,
        min: Option<f64>,
    ) -> Threshold {
        Threshold {
            scope: Scope::Total,
            metric,
            regression,
            max,
            min,
            noise_floor: metric.default_noise_floor(),
        }
    }

    fn only(checks: Vec<Check>) -> Check {
        assert_eq!(checks.len(), 1, "{checks:?}");
        checks.into_iter().next().unwrap()
    }

    #[test]
    fn regression_verdicts() {
        // (metric, baseline, current, allowed, outcome, message)
        let p90 = |us| summary(us, 0.0, 100.0);
        let rps = |r| summary(10_000, 0.0, r);
        let errors = |e| summary(10_000, e, 100.0);
        let cases: Vec<(Metric, SpecSummary, SpecSummary, f64, CheckOutcome, &str)> = vec![
            (
                Metric::P90,
                p90(12_400),
                p90(15_100),
                0.15,
                CheckOutcome::Fail,
                "p90 12.40ms -> 15.10ms (+21.8%) exceeds +15%",
            ),
            (
                Metric::P90,
                p90(12_400),
                p90(13_000),
                0.15,
                CheckOutcome::Pass,
                "p90 12.40ms -> 13.00ms (+4.8%) within +15%",
            ),
            (
                Metric::P90,
                p90(12_400),
                p90(10_000),
                0.15,
                CheckOutcome::Pass,
                "p90 12.40ms -> 10.00ms (-19.4%) improved",
            ),
            // +100 %, but only 400 µs: inside the default 1 ms noise floor.
            (
                Metric::P90,
                p90(400),
                p90(800),
                0.15,
                CheckOutcome::Pass,
                "p90 400µs -> 800µs (+100.0%) within the noise floor of 1.00ms",
            ),
            (
                Metric::Rps,
                rps(120.0),
                rps(90.0),
                0.10,
                CheckOutcome::Fail,
                "rps 120.0/s -> 90.0/s (-25.0%) exceeds -10%",
            ),
            (
                Metric::Rps,
                rps(120.0),
                rps(200.0),
                0.10,
                CheckOutcome::Pass,
                "rps 120.0/s -> 200.0/s (+66.7%) improved",
            ),
            (
                Metric::ErrorRate,
                errors(0.0),
                errors(0.02),
                0.5,
                CheckOutcome::Fail,
                "error_rate 0.00% -> 2.00% (from zero) exceeds +50%",
            ),
            (
                Metric::ErrorRate,
                errors(0.0),
                errors(0.0005),
                0.5,
                CheckOutcome::Pass,
                "error_rate 0.00% -> 0.05% (from zero) within the noise floor of 0.10%",
            ),
        ];
        for (metric, base, current, allowed, outcome, message) in cases {
            let check = only(compare(
                &[threshold(metric, Some(allowed), None, None)],
                &current,
                Some(&base),
            ));
            assert_eq!((check.outcome, check.message.as_str()), (outcome, message));
            assert_eq!(check.kind, CheckKind::Regression);
        }
    }

    #[test]
    fn without_a_baseline_regressions_are_not_judged_but_bounds_are() {
        let current = summary(30_000, 0.0, 100.0);
        let checks = compare(
            &[threshold(Metric::P90, Some(0.1), Some(20_000.0), None)],
            &current,
            None,
        );
        assert_eq!(
            checks.iter().map(|c| c.outcome).collect::<Vec<_>>(),
            [CheckOutcome::NoBaseline, CheckOutcome::Fail]
        );
        assert_eq!(checks[1].message, "p90 30.00ms exceeds max 20.00ms");
        assert_eq!(checks[1].name(), "total p90 max");
    }

    #[test]
    fn service_metrics_are_judged_when_measured() {
        let with_cpu = |us: f64| SpecSummary {
            service: Some(crate::resources::ResourceFigures {
                rss_peak_bytes: 64 << 20,
                rss_mean_bytes: 60 << 20,
                rss_start_bytes: 60 << 20,
                rss_end_bytes: 60 << 20,
                rss_growth_bytes: 0,
                cpu_seconds: 1.0,
                cpu_per_request_us: us,
                cpu_utilisation: 0.1,
                threads_peak: 4,
                fds_peak: 10,
                processes_peak: 1,
            }),
            ..summary(1_000, 0.0, 100.0)
        };
        let cpu = [threshold(
            Metric::ServiceCpuPerRequest,
            Some(0.15),
            None,
            None,
        )];
        let check = only(compare(&cpu, &with_cpu(130.0), Some(&with_cpu(100.0))));
        assert_eq!(
            (check.outcome, check.message.as_str()),
            (
                CheckOutcome::Fail,
                "service_cpu_per_request 100µs/req -> 130µs/req (+30.0%) exceeds +15%"
            )
        );
        let rss = [threshold(
            Metric::ServiceRssPeak,
            None,
            Some(32.0 * 1024.0 * 1024.0),
            None,
        )];
        let check = only(compare(&rss, &with_cpu(100.0), None));
        assert_eq!(
            check.message,
            "service_rss_peak 64.0 MiB exceeds max 32.0 MiB"
        );
        // Not measured (--target): nothing to judge.
        assert!(compare(&cpu, &summary(1_000, 0.0, 100.0), None).is_empty());
    }

    #[test]
    fn a_floor_on_throughput() {
        let check = only(compare(
            &[threshold(Metric::Rps, None, None, Some(150.0))],
            &summary(1, 0.0, 100.0),
            None,
        ));
        assert_eq!(
            (check.outcome, check.message.as_str()),
            (CheckOutcome::Fail, "rps 100.0/s below min 150.0/s")
        );
    }

    #[test]
    fn per_request_scopes_read_their_own_metrics() {
        let mut current = summary(10_000, 0.0, 100.0);
        current.requests.get_mut("home").unwrap().latency_us.p90 = 50_000;
        let per_request = Threshold {
            scope: Scope::Request("home".into()),
            ..threshold(Metric::P90, None, Some(20_000.0), None)
        };
        let check = only(compare(&[per_request], &current, None));
        assert_eq!(
            (check.scope.as_str(), check.outcome),
            ("home", CheckOutcome::Fail)
        );
    }

    #[test]
    fn change_is_relative_to_the_baseline() {
        let check = only(compare(
            &[threshold(Metric::P90, Some(0.5), None, None)],
            &summary(15_000, 0.0, 1.0),
            Some(&summary(10_000, 0.0, 1.0)),
        ));
        assert_eq!(
            (check.baseline, check.current, check.change),
            (Some(10_000.0), 15_000.0, Some(0.5))
        );
        assert_eq!(check.outcome, CheckOutcome::Pass);
    }
}
