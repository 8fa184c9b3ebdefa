//! The rows and lines every format shows alike (resources, cost, requests against the baseline,
//! the profile, flows and their steps), each format laying them out its own way.

use crate::judge::cost::CostChange;
use crate::judge::verdict::SpecResult;
use crate::metric::{Metric, format_count};
use crate::profile::{ProfileReport, format_share, format_share_change};
use crate::run::resources::ResourceFigures;
use crate::summary::{FlowSummary, Metrics, SpecSummary};
use crate::support::units::format_micros;

/// The resource figures of each process that was measured, named: the service, then the generator.
pub(super) fn resource_figures(
    summary: &SpecSummary,
) -> impl Iterator<Item = (&'static str, &ResourceFigures)> {
    [
        ("service", &summary.service),
        ("generator", &summary.generator),
    ]
    .into_iter()
    .filter_map(|(who, figures)| Some((who, figures.as_ref()?)))
}

/// `[cost]`: a row per request name counted, then the mix: name, baseline, now, change.
pub(super) fn cost_rows(result: &SpecResult) -> Vec<[String; 4]> {
    let Some(cost) = result.summary.as_ref().and_then(|s| s.cost.as_ref()) else {
        return Vec::new();
    };
    let total_check = result
        .checks
        .iter()
        .find(|c| c.metric == Metric::Instructions && c.scope == "total");
    let total = CostChange {
        request: "total (the mix)".to_owned(),
        baseline: total_check.and_then(|c| c.baseline),
        current: cost.instructions,
        functions: Vec::new(),
    };
    result
        .cost
        .iter()
        .chain([&total])
        .map(|row| {
            let shown = |value: Option<f64>| value.map_or("—".to_owned(), format_count);
            let change = match row.baseline {
                Some(base) if base != 0.0 => {
                    format!("{:+.2}%", (row.current - base) / base * 100.0)
                }
                _ => "—".to_owned(),
            };
            [
                row.request.clone(),
                shown(row.baseline),
                shown(Some(row.current)),
                change,
            ]
        })
        .collect()
}

/// Each request name's p50 and p90 beside the baseline's: name, "p50 1.00ms -> 1.20ms (+20.0%)"
/// and the same for p90; empty without a baseline.
pub(super) fn request_changes(result: &SpecResult) -> Vec<[String; 3]> {
    let Some(summary) = &result.summary else {
        return Vec::new();
    };
    let moved = |before: u64, now: u64| {
        let change = if before == 0 {
            String::new()
        } else {
            format!(
                " ({:+.1}%)",
                (now as f64 - before as f64) / before as f64 * 100.0
            )
        };
        format!(
            "{} -> {}{change}",
            format_micros(before as f64),
            format_micros(now as f64)
        )
    };
    (summary.requests.iter())
        .filter_map(|(name, metrics)| {
            let before = result.baseline_requests.get(name)?;
            let now = &metrics.latency_us;
            Some([
                name.clone(),
                moved(before.p50, now.p50),
                moved(before.p90, now.p90),
            ])
        })
        .collect()
}

/// A request name's function table: function, baseline, now and change in self instructions
/// per request.
pub(super) fn function_rows(change: &CostChange) -> Vec<[String; 4]> {
    let shown = |value: Option<f64>| value.map_or("—".to_owned(), format_count);
    change
        .functions
        .iter()
        .map(|row| {
            let sign = if row.change > 0.0 { "+" } else { "" };
            [
                row.function.clone(),
                shown(row.baseline),
                shown(row.current),
                format!("{sign}{}", format_count(row.change)),
            ]
        })
        .collect()
}

/// `--profile`: the functions whose self share of the samples changed most (with nothing to
/// compare with, the largest shares): function, before, now, change.
pub(super) fn profile_rows(profile: &ProfileReport) -> Vec<[String; 4]> {
    let compared = profile.compared_with.is_some();
    profile
        .functions
        .iter()
        .map(|row| {
            let (before, change) = if compared {
                (format_share(row.before), format_share_change(row.change))
            } else {
                ("—".to_owned(), "—".to_owned())
            };
            [row.function.clone(), before, format_share(row.now), change]
        })
        .collect()
}

/// What a profile's table shows: "the service's CPU by function (perf: self share of 1234
/// samples, before: 1180 samples of HEAD~1 (0123abcd4567))".
pub(super) fn profile_heading(profile: &ProfileReport) -> String {
    let before = match (&profile.compared_with, profile.before_samples) {
        (Some(what), Some(samples)) => format!(", before: {samples} samples of {what}"),
        _ => ", nothing to compare with".to_owned(),
    };
    format!(
        "the service's CPU by function (perf: self share of {} samples{before}; {})",
        profile.samples, profile.folded
    )
}

/// Each `[[flow]]` with its steps' figures, in step order (a step's own row in `requests`).
pub(super) fn flows(
    summary: &SpecSummary,
) -> impl Iterator<Item = (&str, &FlowSummary, Vec<(&str, &Metrics)>)> {
    summary.flows.iter().map(|(name, flow)| {
        let steps = flow
            .steps
            .iter()
            .filter_map(|step| Some((step.as_str(), summary.requests.get(step)?)))
            .collect();
        (name.as_str(), flow, steps)
    })
}

/// "flow checkout: 120 iterations · 118 completed · 2 aborted".
pub(super) fn flow_line(name: &str, flow: &FlowSummary) -> String {
    format!("flow {name}: {}", flow.describe())
}

/// "checkout/pay: 120 requests · 2 failed · p50 1.20ms · p90 2.00ms · p99 3.10ms".
pub(super) fn step_line(name: &str, metrics: &Metrics) -> String {
    let [requests, failures, p50, p90, p99] = step_figures(metrics);
    format!("{name}: {requests} requests · {failures} failed · p50 {p50} · p90 {p90} · p99 {p99}")
}

/// A step's requests, failures, p50, p90 and p99, as the reports write them.
pub(super) fn step_figures(metrics: &Metrics) -> [String; 5] {
    let latency = &metrics.latency_us;
    [
        metrics.requests.to_string(),
        metrics.failures.to_string(),
        format_micros(latency.p50 as f64),
        format_micros(latency.p90 as f64),
        format_micros(latency.p99 as f64),
    ]
}
