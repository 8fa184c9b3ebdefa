//! `[gate]` → [`Threshold`]s: each metric's limits for the spec as a whole and per request, in
//! the metric's internal unit, checked for the direction in which the metric gets worse.

use toml::Spanned;

use crate::metric::{Metric, NoiseFloor, Scope};
use crate::plan::defaults;
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
    /// The spec's `noise_floor` (fixed), or the metric's default rule.
    pub noise_floor: NoiseFloor,
}

/// The thresholds of `[gate]`, then those of each `[gate.request.NAME]`; a spec without a
/// `[gate]` table gets [`default_thresholds`] (and `true`: the report says they applied).
/// `counts_cost`: the spec has `[cost]`, which `instructions` needs.
pub(super) fn plan_gate(
    gate: Option<&GateSpec>,
    requests: &[RequestPlan],
    counts_cost: bool,
    at: &Locator<'_>,
) -> Result<(Vec<Threshold>, bool), SpecError> {
    match gate {
        Some(gate) => Ok((plan_written_gate(gate, requests, counts_cost, at)?, false)),
        None => Ok((default_thresholds(), true)),
    }
}

/// What a spec without `[gate]` is checked on: an error-rate ceiling, which needs no baseline,
/// so a first run against a service that fails every request fails instead of passing.
pub fn default_thresholds() -> Vec<Threshold> {
    let metric = Metric::ErrorRate;
    vec![Threshold {
        scope: Scope::Total,
        metric,
        regression: None,
        max: Some(defaults::GATE_ERROR_RATE_MAX),
        min: None,
        noise_floor: metric.default_noise_floor_rule(),
    }]
}

fn plan_written_gate(
    gate: &GateSpec,
    requests: &[RequestPlan],
    counts_cost: bool,
    at: &Locator<'_>,
) -> Result<Vec<Threshold>, SpecError> {
    let mut thresholds = plan_scope(gate, Scope::Total, requests, counts_cost, at)?;
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
            requests,
            counts_cost,
            at,
        )?);
    }
    Ok(thresholds)
}

fn plan_scope(
    gate: &GateSpec,
    scope: Scope,
    requests: &[RequestPlan],
    counts_cost: bool,
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
        (Metric::Instructions, &gate.instructions),
        (Metric::FirstMessageP50, &gate.first_message_p50),
        (Metric::FirstMessageP90, &gate.first_message_p90),
        (Metric::FirstMessageP99, &gate.first_message_p99),
        (Metric::MessageGapP50, &gate.message_gap_p50),
        (Metric::MessageGapP90, &gate.message_gap_p90),
        (Metric::MessageGapP99, &gate.message_gap_p99),
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
        if metric == Metric::Instructions && !counts_cost {
            return at.fail(
                spec.span(),
                "instructions are counted by the cost phase: add a [cost] table to the spec",
            );
        }
        if metric.is_message() && !streams(requests, &scope) {
            let whose = match &scope {
                Scope::Total => "no request of the spec".to_owned(),
                Scope::Request(name) => format!("request `{name}` does not"),
            };
            return at.fail(
                spec.span(),
                format!("{metric} times a stream's messages, but {whose} stream (add `stream = \"sse\"`)"),
            );
        }
        thresholds.push(plan_threshold(metric, spec, scope.clone(), at)?);
    }
    Ok(thresholds)
}

/// Whether a request of `scope` streams its answer.
fn streams(requests: &[RequestPlan], scope: &Scope) -> bool {
    requests.iter().any(|r| {
        r.stream.is_some()
            && match scope {
                Scope::Total => true,
                Scope::Request(name) => &r.name == name,
            }
    })
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
        noise_floor: amount(noise_floor)?
            .map_or(metric.default_noise_floor_rule(), NoiseFloor::fixed),
    })
}

#[cfg(test)]
mod tests {
    use crate::metric::{Metric, Scope};
    use crate::plan::fixtures::{SPEC, plan};

    /// The fixture with its `[gate]` tables replaced by `gate` (nothing: no `[gate]` at all).
    fn with_gate(gate: &str) -> String {
        let at = SPEC.find("[gate]").unwrap();
        format!("{}{gate}", &SPEC[..at])
    }

    #[test]
    fn only_a_spec_without_gate_gets_the_default_checks() {
        let cases = [
            // (the [gate] as written, default checks applied, the thresholds' metrics)
            ("", true, vec![(Scope::Total, Metric::ErrorRate)]),
            ("[gate]\n", false, vec![]),
            (
                "[gate]\np99 = { max = \"1s\" }\n",
                false,
                vec![(Scope::Total, Metric::P99)],
            ),
            (
                "[gate.request.home]\np90 = { max = \"1s\" }\n",
                false,
                vec![(Scope::Request("home".into()), Metric::P90)],
            ),
        ];
        for (gate, defaulted, metrics) in cases {
            let plan = plan(&with_gate(gate)).unwrap();
            assert_eq!(plan.default_gate, defaulted, "{gate:?}");
            let planned: Vec<(Scope, Metric)> = plan
                .thresholds
                .iter()
                .map(|t| (t.scope.clone(), t.metric))
                .collect();
            assert_eq!(planned, metrics, "{gate:?}");
        }
    }

    #[test]
    fn the_default_error_rate_ceiling_is_one_percent_and_needs_no_baseline() {
        let plan = plan(&with_gate("")).unwrap();
        let ceiling = &plan.thresholds[0];
        assert_eq!((ceiling.max, ceiling.regression), (Some(0.01), None));
    }

    #[test]
    fn the_default_gate_leaves_the_spec_hash_alone() {
        assert_eq!(
            plan(&with_gate("")).unwrap().spec_hash,
            plan(SPEC).unwrap().spec_hash
        );
    }
}
