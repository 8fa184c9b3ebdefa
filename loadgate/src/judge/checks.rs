//! Summary + baseline + thresholds → checks. A pure function: one `Check` per limit per scope.
//!
//! A relative regression and an absolute bound are separate checks. A change smaller than the
//! threshold's noise floor (for a default latency floor, a share of the baseline value) never
//! fails, and an improvement is reported but never fails.
//!
//! With three rounds or more on both sides, a regression is judged over the rounds (see
//! [`crate::support::stats`]): it fails only when the median change exceeds the threshold *and* the 90 %
//! interval of the change excludes no change; when the interval still reaches beyond the
//! threshold otherwise, the run cannot tell, and the check is inconclusive.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metric::{Metric, NoiseFloor, Scope};
use crate::plan::Threshold;
use crate::summary::SpecSummary;
use crate::support::stats;

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
#[non_exhaustive]
pub enum CheckKind {
    Regression,
    Max,
    Min,
    /// The rule that some request got an expected answer: a run in which every request failed
    /// never passes, whatever its thresholds.
    Answered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckOutcome {
    Pass,
    Fail,
    /// A regression check with nothing to compare against: not a failure.
    NoBaseline,
    /// The rounds are too noisy to tell a change of the threshold's size: neither a pass nor a
    /// failure.
    Inconclusive,
}

impl CheckKind {
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Regression => "regression",
            CheckKind::Max => "max",
            CheckKind::Min => "min",
            CheckKind::Answered => "answered",
        }
    }
}

impl Check {
    /// A stable name for the check, e.g. "total p90 regression".
    pub fn name(&self) -> String {
        format!("{} {} {}", self.scope, self.metric, self.kind.label())
    }
}

/// Judges `current` against the thresholds and, for regressions, against `baseline`. `paired`:
/// round i of both was run back to back on this machine (`--against`), not at another time.
pub fn compare(
    thresholds: &[Threshold],
    current: &SpecSummary,
    baseline: Option<&SpecSummary>,
    paired: bool,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for threshold in thresholds {
        let Some(value) = current.value(threshold.metric, &threshold.scope) else {
            checks.extend(unmeasured_messages(threshold, current));
            continue;
        };
        let base = baseline.and_then(|b| b.value(threshold.metric, &threshold.scope));
        let measured = Measured {
            threshold,
            value,
            base,
        };
        let mut judged = Vec::new();
        if let Some(allowed) = threshold.regression {
            judged.push(measured.regression(allowed, current, baseline, paired));
        }
        judged.extend(measured.bounds());
        if threshold.metric.is_latency() {
            unmeasured_latency(&mut judged, current, &threshold.scope);
        }
        checks.extend(judged);
    }
    checks.extend(nothing_answered(current));
    checks
}

/// Latency is judged on answered requests. In a scope where requests were sent and none was
/// answered, no latency check can pass: it fails. Where none was sent, nothing was measured:
/// the check cannot tell, and the run is inconclusive.
fn unmeasured_latency(judged: &mut [Check], current: &SpecSummary, scope: &Scope) {
    let Some(metrics) = current.metrics(scope) else {
        return;
    };
    let (outcome, what) = match (metrics.requests, metrics.requests - metrics.failures) {
        (0, _) => (CheckOutcome::Inconclusive, "no requests"),
        (_, 0) => (CheckOutcome::Fail, "no answered requests"),
        _ => return,
    };
    for check in judged {
        check.outcome = outcome;
        check.message = format!(
            "{} {}: {what} in {}",
            check.metric,
            check.kind.label(),
            check.scope
        );
    }
}

/// A stream's message times are of answered streams. In a scope whose streams all failed there
/// are none, and no message check can pass; with no requests at all, the run cannot tell.
fn unmeasured_messages(threshold: &Threshold, current: &SpecSummary) -> Option<Check> {
    let metrics = current.metrics(&threshold.scope)?;
    if !threshold.metric.is_message() {
        return None;
    }
    let (outcome, what) = if metrics.requests == 0 {
        (CheckOutcome::Inconclusive, "no requests")
    } else {
        (CheckOutcome::Fail, "no answered streams")
    };
    let kind = if threshold.regression.is_some() {
        CheckKind::Regression
    } else if threshold.max.is_some() {
        CheckKind::Max
    } else {
        CheckKind::Min
    };
    Some(Check {
        scope: threshold.scope.label().to_owned(),
        metric: threshold.metric,
        kind,
        limit: threshold.regression.or(threshold.max).unwrap_or_default(),
        baseline: None,
        current: 0.0,
        change: None,
        outcome,
        message: format!(
            "{} {}: {what} in {}",
            threshold.metric,
            kind.label(),
            threshold.scope.label()
        ),
    })
}

/// The rule with or without `[gate]`: a run that sent requests and got no expected answer fails.
fn nothing_answered(current: &SpecSummary) -> Option<Check> {
    let total = &current.total;
    (total.requests > 0 && total.failures == total.requests).then(|| Check {
        scope: Scope::Total.label().to_owned(),
        metric: Metric::ErrorRate,
        kind: CheckKind::Answered,
        limit: 0.0,
        baseline: None,
        current: total.error_rate,
        change: None,
        outcome: CheckOutcome::Fail,
        message: format!(
            "every one of the {} requests failed: a run with no expected answer never passes",
            total.requests
        ),
    })
}

/// One threshold's metric as measured now and in the baseline.
struct Measured<'a> {
    threshold: &'a Threshold,
    value: f64,
    base: Option<f64>,
}

impl Measured<'_> {
    fn check(&self, kind: CheckKind, limit: f64, outcome: CheckOutcome, message: String) -> Check {
        Check {
            scope: self.threshold.scope.label().to_owned(),
            metric: self.threshold.metric,
            kind,
            limit,
            baseline: self.base,
            current: self.value,
            change: self
                .base
                .filter(|b| *b != 0.0)
                .map(|b| (self.value - b) / b),
            outcome,
            message,
        }
    }

    /// Over the rounds when both sides have them, else on the two values.
    fn regression(
        &self,
        allowed: f64,
        current: &SpecSummary,
        baseline: Option<&SpecSummary>,
        paired: bool,
    ) -> Check {
        let (metric, noise_floor) = (self.threshold.metric, self.threshold.noise_floor);
        let key = round_key(self.threshold);
        let rounds_of = |summary: &SpecSummary| -> Vec<f64> {
            summary
                .rounds
                .iter()
                .filter_map(|r| r.get(&key).copied())
                .collect()
        };
        let over_rounds = baseline.and_then(|b| {
            judge_rounds(
                metric,
                &rounds_of(current),
                &rounds_of(b),
                allowed,
                noise_floor,
                paired,
            )
        });
        match over_rounds {
            Some(judged) => Check {
                current: judged.current,
                baseline: Some(judged.baseline),
                change: (judged.baseline != 0.0).then_some(judged.change),
                ..self.check(
                    CheckKind::Regression,
                    allowed,
                    judged.outcome,
                    judged.message,
                )
            },
            None => {
                let (outcome, message) =
                    judge_regression(metric, self.value, self.base, allowed, noise_floor);
                self.check(CheckKind::Regression, allowed, outcome, message)
            }
        }
    }

    /// The absolute bounds, `max` and `min`, each a check of its own.
    fn bounds(&self) -> impl Iterator<Item = Check> + '_ {
        let (metric, value) = (self.threshold.metric, self.value);
        let max = self.threshold.max.map(|max| {
            let broken = value > max;
            (
                CheckKind::Max,
                max,
                broken,
                if broken { "exceeds" } else { "within" },
            )
        });
        let min = self.threshold.min.map(|min| {
            let broken = value < min;
            (
                CheckKind::Min,
                min,
                broken,
                if broken { "below" } else { "at or above" },
            )
        });
        [max, min]
            .into_iter()
            .flatten()
            .map(move |(kind, limit, broken, verb)| {
                let outcome = if broken {
                    CheckOutcome::Fail
                } else {
                    CheckOutcome::Pass
                };
                let message = format!(
                    "{metric} {} {verb} {} {}",
                    metric.format(value),
                    kind.label(),
                    metric.format(limit)
                );
                self.check(kind, limit, outcome, message)
            })
    }
}

fn judge_regression(
    metric: Metric,
    value: f64,
    base: Option<f64>,
    allowed: f64,
    noise_floor: NoiseFloor,
) -> (CheckOutcome, String) {
    let limit = Limit { metric, allowed };
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
    let noise_floor = noise_floor.at(base);
    let relative = match (base == 0.0, worse_by > 0.0) {
        (true, true) => f64::INFINITY,
        (true, false) => 0.0,
        (false, _) => worse_by / base,
    };
    let evidence = format!("{transition} {change_text}");
    if relative <= allowed {
        (
            CheckOutcome::Pass,
            limit.describe(&evidence, Against::Within),
        )
    } else if worse_by <= noise_floor {
        let said = limit.describe(&evidence, Against::WithinFloor(noise_floor));
        (CheckOutcome::Pass, said)
    } else {
        (
            CheckOutcome::Fail,
            limit.describe(&evidence, Against::Exceeds),
        )
    }
}

/// A relative limit of a regression check, worded the same way by both judges (a point and
/// rounds): "exceeds +15%", "within +15%", "within the noise floor of 50µs".
struct Limit {
    metric: Metric,
    /// The change allowed, as a fraction.
    allowed: f64,
}

/// Where a change stands against its [`Limit`].
enum Against {
    Exceeds,
    Within,
    /// Beyond the limit, but not by more than this noise floor.
    WithinFloor(f64),
}

impl Limit {
    fn describe(&self, evidence: &str, against: Against) -> String {
        let sign = if self.metric.higher_is_worse() {
            '+'
        } else {
            '-'
        };
        let allowed = format!("{sign}{}%", format_number(self.allowed * 100.0));
        match against {
            Against::Exceeds => format!("{evidence} exceeds {allowed}"),
            Against::Within => format!("{evidence} within {allowed}"),
            Against::WithinFloor(floor) => format!(
                "{evidence} within the noise floor of {}",
                self.metric.format(floor)
            ),
        }
    }
}

/// The bootstrap's seed: the same rounds always give the same interval.
pub const BOOTSTRAP_SEED: u64 = 0x5eed;

/// A regression judged over rounds: medians, and the verdict of their ratio's interval.
struct OverRounds {
    current: f64,
    baseline: f64,
    /// The judged ratio, current over baseline, minus one: paired, the median of the per-pair
    /// ratios (what the message, summary.md's pairs and the A/B chart show), else the ratio of
    /// the two medians.
    change: f64,
    outcome: CheckOutcome,
    message: String,
}

/// `None` when either side has too few rounds for an interval: the caller judges the point.
fn judge_rounds(
    metric: Metric,
    current: &[f64],
    baseline: &[f64],
    allowed: f64,
    noise_floor: NoiseFloor,
    paired: bool,
) -> Option<OverRounds> {
    // The ratio oriented so that above 1 is worse.
    let seed = BOOTSTRAP_SEED;
    let worse = if metric.higher_is_worse() {
        stats::ratio(current, baseline, paired, seed)?
    } else {
        stats::ratio(baseline, current, paired, seed)?
    };
    let (cur, base) = (stats::median(current), stats::median(baseline));
    let noise_floor = noise_floor.at(base);
    let percent = |ratio: f64| format!("{:+.1}%", (ratio - 1.0) * 100.0);
    let limit = Limit { metric, allowed };
    // Paired, the change is the median of the per-pair ratios, which need not match the ratio
    // of the two medians shown.
    let evidence = format!(
        "{metric} {} -> {} ({} worse{}, 90% interval {}..{}, {} rounds{})",
        metric.format(base),
        metric.format(cur),
        percent(worse.point),
        if paired { " pair by pair" } else { "" },
        percent(worse.low),
        percent(worse.high),
        current.len(),
        if paired { ", paired" } else { "" }
    );
    let noise = (worse.high - worse.low) / 2.0 * 100.0;
    // The noise floor bounds what may fail, and what the interval may leave undecided.
    let beyond_floor = |ratio: f64| (ratio - 1.0) * base.abs() > noise_floor;
    let (outcome, message) = if worse.point > 1.0 + allowed
        && worse.low > 1.0
        && beyond_floor(worse.point)
    {
        (
            CheckOutcome::Fail,
            limit.describe(&evidence, Against::Exceeds),
        )
    } else if worse.high > 1.0 + allowed && beyond_floor(worse.high) {
        (
            CheckOutcome::Inconclusive,
            format!(
                "{evidence}: this run cannot tell a {}% change on this machine; measured noise ±{noise:.1}% (more rounds narrow it)",
                format_number(allowed * 100.0)
            ),
        )
    } else if (cur - base).abs() <= noise_floor && worse.point > 1.0 + allowed {
        let said = limit.describe(&evidence, Against::WithinFloor(noise_floor));
        (CheckOutcome::Pass, said)
    } else {
        (
            CheckOutcome::Pass,
            limit.describe(&evidence, Against::Within),
        )
    };
    let change = if metric.higher_is_worse() {
        worse.point - 1.0
    } else {
        1.0 / worse.point - 1.0
    };
    Some(OverRounds {
        current: cur,
        baseline: base,
        change,
        outcome,
        message,
    })
}

/// "15" for 15.0, "2.5" for 2.5: thresholds as people wrote them.
fn format_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The values a round contributes to the verdicts: every metric a regression threshold judges,
/// keyed `"SCOPE METRIC"`.
pub fn round_values(summary: &SpecSummary, thresholds: &[Threshold]) -> BTreeMap<String, f64> {
    thresholds
        .iter()
        .filter(|t| t.regression.is_some())
        .filter_map(|t| {
            let value = summary.value(t.metric, &t.scope)?;
            Some((round_key(t), value))
        })
        .collect()
}

pub fn round_key(threshold: &Threshold) -> String {
    format!("{} {}", threshold.scope.label(), threshold.metric)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A stored baseline, not paired rounds.
    fn judge(
        thresholds: &[Threshold],
        current: &SpecSummary,
        baseline: Option<&SpecSummary>,
    ) -> Vec<Check> {
        compare(thresholds, current, baseline, false)
    }
    use crate::metric::Scope;
    use crate::summary::{LatencyStats, LoadFacts, Metrics, WarmupFacts};
    use crate::support::units::Seconds;

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
            histogram: Default::default(),
            failed: None,
            stream: None,
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
            flows: BTreeMap::new(),
            warmup: WarmupFacts {
                requests: 0,
                failures: 0,
            },
            service: None,
            generator: None,
            service_series: Vec::new(),
            schedule: None,
            sweep: None,
            rounds: Vec::new(),
            cost: None,
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
            noise_floor: metric.default_noise_floor_rule(),
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
            // +33 %, but only 40 µs: inside the default floor's 50 µs minimum.
            (
                Metric::P90,
                p90(120),
                p90(160),
                0.15,
                CheckOutcome::Pass,
                "p90 120µs -> 160µs (+33.3%) within the noise floor of 50µs",
            ),
            // A fast service three times slower is no jitter.
            (
                Metric::P90,
                p90(120),
                p90(360),
                0.5,
                CheckOutcome::Fail,
                "p90 120µs -> 360µs (+200.0%) exceeds +50%",
            ),
            // 150 µs more on 2 ms: under the default floor there, 10 % of the baseline.
            (
                Metric::P90,
                p90(2_000),
                p90(2_150),
                0.05,
                CheckOutcome::Pass,
                "p90 2.00ms -> 2.15ms (+7.5%) within the noise floor of 200µs",
            ),
            // Past 10 ms the default floor stays at 1 ms, as it always was.
            (
                Metric::P90,
                p90(400_000),
                p90(401_500),
                0.0,
                CheckOutcome::Fail,
                "p90 400.00ms -> 401.50ms (+0.4%) exceeds +0%",
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
            let check = only(judge(
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
        let checks = judge(
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
            service: Some(crate::run::resources::ResourceFigures {
                rss_peak_bytes: 64 << 20,
                rss_mean_bytes: 60 << 20,
                rss_start_bytes: 60 << 20,
                rss_end_bytes: 60 << 20,
                rss_growth_bytes: 0,
                cpu_seconds: 1.0,
                cpu_clock: None,
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
        let check = only(judge(&cpu, &with_cpu(130.0), Some(&with_cpu(100.0))));
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
        let check = only(judge(&rss, &with_cpu(100.0), None));
        assert_eq!(
            check.message,
            "service_rss_peak 64.0 MiB exceeds max 32.0 MiB"
        );
        // Not measured (--target): nothing to judge.
        assert!(judge(&cpu, &summary(1_000, 0.0, 100.0), None).is_empty());
    }

    #[test]
    fn a_floor_on_throughput() {
        let check = only(judge(
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
        let check = only(judge(&[per_request], &current, None));
        assert_eq!(
            (check.scope.as_str(), check.outcome),
            ("home", CheckOutcome::Fail)
        );
    }

    #[test]
    fn change_is_relative_to_the_baseline() {
        let check = only(judge(
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

    fn with_rounds(p90s: &[f64]) -> SpecSummary {
        SpecSummary {
            rounds: p90s
                .iter()
                .map(|p90| BTreeMap::from([("total p90".to_owned(), *p90)]))
                .collect(),
            ..summary(p90s[0] as u64, 0.0, 100.0)
        }
    }

    #[test]
    fn over_rounds_a_regression_fails_only_when_it_is_both_large_and_significant() {
        let p90 = [threshold(Metric::P90, Some(0.10), None, None)];
        let base = with_rounds(&[10_000.0, 10_100.0, 9_900.0, 10_050.0, 9_950.0]);
        let judge_p90 = |current: &[f64], paired| {
            only(compare(&p90, &with_rounds(current), Some(&base), paired))
        };
        // +20 %, steady: a failure, with its interval.
        let slower = judge_p90(&[12_000.0, 12_100.0, 11_900.0, 12_050.0, 11_950.0], false);
        assert_eq!(slower.outcome, CheckOutcome::Fail, "{}", slower.message);
        assert!(
            slower.message.contains("90% interval"),
            "{}",
            slower.message
        );
        assert_eq!(
            (slower.baseline, slower.current),
            (Some(10_000.0), 12_000.0)
        );
        // Unchanged and steady: a pass.
        let same = judge_p90(&[10_020.0, 9_980.0, 10_060.0, 9_940.0, 10_000.0], true);
        assert_eq!(same.outcome, CheckOutcome::Pass, "{}", same.message);
        assert!(
            same.message.contains("5 rounds, paired"),
            "{}",
            same.message
        );
        // Unchanged at the median but far too noisy to tell 10 %: inconclusive, saying why.
        let noisy = judge_p90(&[7_000.0, 13_500.0, 10_000.0, 14_000.0, 6_500.0], false);
        assert_eq!(
            noisy.outcome,
            CheckOutcome::Inconclusive,
            "{}",
            noisy.message
        );
        assert!(
            noisy
                .message
                .contains("this run cannot tell a 10% change on this machine; measured noise ±"),
            "{}",
            noisy.message
        );
        // A wild change below the noise floor still passes.
        let floor = [Threshold {
            noise_floor: NoiseFloor::fixed(5_000.0),
            ..threshold(Metric::P90, Some(0.10), None, None)
        }];
        let jitter = only(compare(
            &floor,
            &with_rounds(&[13_000.0; 5]),
            Some(&base),
            false,
        ));
        assert_eq!(jitter.outcome, CheckOutcome::Pass, "{}", jitter.message);
        // Too few rounds: the point comparison, as without rounds.
        let two = only(compare(
            &p90,
            &with_rounds(&[12_000.0, 12_000.0]),
            Some(&base),
            false,
        ));
        assert!(!two.message.contains("interval"), "{}", two.message);
    }

    #[test]
    fn latency_with_no_answered_request_fails_and_a_run_with_no_answer_never_passes() {
        let p90 = Threshold {
            scope: Scope::Request("home".into()),
            metric: Metric::P90,
            regression: Some(0.1),
            max: Some(100_000.0),
            min: None,
            noise_floor: NoiseFloor::fixed(0.0),
        };
        // Every request failed, fast: the p90 under its ceiling and far below the baseline.
        let failing = summary(50, 1.0, 100.0);
        let checks = judge(
            std::slice::from_ref(&p90),
            &failing,
            Some(&summary(1000, 0.0, 100.0)),
        );
        let outcomes: Vec<(CheckKind, CheckOutcome)> =
            checks.iter().map(|c| (c.kind, c.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                (CheckKind::Regression, CheckOutcome::Fail),
                (CheckKind::Max, CheckOutcome::Fail),
                (CheckKind::Answered, CheckOutcome::Fail),
            ]
        );
        assert_eq!(
            checks[0].message,
            "p90 regression: no answered requests in home"
        );
        assert!(
            checks[2]
                .message
                .contains("every one of the 1000 requests failed"),
            "{}",
            checks[2].message
        );
        // Without any threshold the rule still fails the run.
        let rule = judge(&[], &failing, None);
        assert_eq!(rule.len(), 1);
        assert_eq!(rule[0].name(), "total error_rate answered");
        // Nothing sent: nothing measured, so the latency check cannot tell.
        let mut idle = summary(50, 0.0, 0.0);
        for metrics in idle.requests.values_mut().chain([&mut idle.total]) {
            (metrics.requests, metrics.failures) = (0, 0);
        }
        let checks = judge(std::slice::from_ref(&p90), &idle, None);
        assert!(
            checks
                .iter()
                .all(|c| c.outcome == CheckOutcome::Inconclusive
                    && c.message.ends_with("no requests in home")),
            "{checks:?}"
        );
        // One answered request in a thousand: latency is judged, the rule stays quiet.
        let one_answered = summary(50, 0.999, 100.0);
        let checks = judge(std::slice::from_ref(&p90), &one_answered, None);
        assert!(checks.iter().all(|c| c.kind != CheckKind::Answered));
        assert!(
            checks.iter().all(|c| c.outcome != CheckOutcome::Fail),
            "{checks:?}"
        );
    }
}
