//! `[gate]` → [`Threshold`]s: each metric's limits for the spec as a whole and per request, in
//! the metric's internal unit, checked for the direction in which the metric gets worse.

use toml::Spanned;

use crate::metric::{Metric, Scope};
use crate::plan::request::RequestPlan;
use crate::spec::{GateSpec, Locator, SpecError, ThresholdSpec};
use crate::support::units::Quantity;

/// One metric's limits in one scope, in the metric's internal unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub scope: Scope,
    pub metric: Metric,
    /// Fraction by which the metric may be worse than its baseline.
    pub regression: Option<f64>,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub noise_floor: f64,
}

/// The thresholds of `[gate]`, then those of each `[gate.request.NAME]`.
pub(super) fn plan_gate(
    gate: &GateSpec,
    requests: &[RequestPlan],
    at: &Locator<'_>,
) -> Result<Vec<Threshold>, SpecError> {
    let mut thresholds = plan_scope(gate, Scope::Total, at)?;
    for (name, request_gate) in &gate.request {
        if !requests.iter().any(|r| &r.name == name) {
            let known: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
            return at.fail(
                request_gate.span(),
                format!(
                    "[gate.request.{name}] names no request (requests: {})",
                    known.join(", ")
                ),
            );
        }
        if !request_gate.get_ref().request.is_empty() {
            return at.fail(
                request_gate.span(),
                "per-request gates cannot nest another `request` table",
            );
        }
        thresholds.extend(plan_scope(
            request_gate.get_ref(),
            Scope::Request(name.clone()),
            at,
        )?);
    }
    Ok(thresholds)
}

fn plan_scope(
    gate: &GateSpec,
    scope: Scope,
    at: &Locator<'_>,
) -> Result<Vec<Threshold>, SpecError> {
    let by_metric = [
        (Metric::P50, &gate.p50),
        (Metric::P90, &gate.p90),
        (Metric::P99, &gate.p99),
        (Metric::ErrorRate, &gate.error_rate),
        (Metric::Rps, &gate.rps),
        (Metric::ServiceRssPeak, &gate.service_rss_peak),
        (Metric::ServiceRssGrowth, &gate.service_rss_growth),
        (Metric::ServiceCpuPerRequest, &gate.service_cpu_per_request),
        (Metric::Capacity, &gate.capacity),
    ];
    let mut thresholds = Vec::new();
    for (metric, spec) in by_metric {
        let Some(spec) = spec else { continue };
        if metric.is_spec_wide() && scope != Scope::Total {
            return at.fail(
                spec.span(),
                format!(
                    "{metric} is measured on the spec as a whole: set it under [gate], not per request"
                ),
            );
        }
        thresholds.push(plan_threshold(metric, spec, scope.clone(), at)?);
    }
    Ok(thresholds)
}

fn plan_threshold(
    metric: Metric,
    spec: &Spanned<ThresholdSpec>,
    scope: Scope,
    at: &Locator<'_>,
) -> Result<Threshold, SpecError> {
    let ThresholdSpec {
        regression,
        max,
        min,
        noise_floor,
    } = spec.get_ref();
    let amount = |value: &Option<Spanned<Quantity>>| {
        value
            .as_ref()
            .map(|q| {
                metric
                    .parse_amount(q.get_ref())
                    .map_err(|e| at.error(q.span(), e))
            })
            .transpose()
    };
    if regression.is_none() && max.is_none() && min.is_none() {
        return at.fail(
            spec.span(),
            format!("the {metric} threshold sets no limit: give `regression`, `max` or `min`"),
        );
    }
    if let (true, Some(min)) = (metric.higher_is_worse(), min) {
        return at.fail(
            min.span(),
            format!("{metric} grows when it gets worse: limit it with `max`, not `min`"),
        );
    }
    if let (false, Some(max)) = (metric.higher_is_worse(), max) {
        return at.fail(
            max.span(),
            format!("{metric} shrinks when it gets worse: limit it with `min`, not `max`"),
        );
    }
    Ok(Threshold {
        scope,
        metric,
        regression: regression.map(|p| p.0),
        max: amount(max)?,
        min: amount(min)?,
        noise_floor: amount(noise_floor)?.unwrap_or(metric.default_noise_floor()),
    })
}
