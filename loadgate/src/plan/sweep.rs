//! `[sweep]` → [`SweepPlan`]: the steps of a capacity sweep in the load's model, and the limits a
//! step must stay within to count. Also checks the keys that need a sweep or refuse one.

use std::time::Duration;

use toml::Spanned;

use crate::metric::Metric;
use crate::plan::bounds::{MAX_RATE, MAX_USERS};
use crate::plan::load::LoadPlan;
use crate::spec::{Locator, Model, SpecError, SpecFile, SweepLimitSpec, SweepSpec};

/// A capacity sweep: `[load]` run at each step's users (closed) or rate (open) in turn.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPlan {
    /// Users or requests/second, increasing.
    pub steps: Vec<f64>,
    /// Each step's judged duration.
    pub step_duration: Duration,
    /// Latency limits in µs and the error rate as a fraction: a step beyond one does not count.
    pub limits: Vec<(Metric, f64)>,
}

/// The spec's sweep, if any. A sweep holds each step's level, so it refuses `stages`; the
/// `capacity` threshold is what a sweep measures, so it needs one.
pub(super) fn plan_sweep(
    spec: &SpecFile,
    load: &LoadPlan,
    at: &Locator<'_>,
) -> Result<Option<SweepPlan>, SpecError> {
    let sweep = spec
        .sweep
        .as_ref()
        .map(|sweep| plan_steps(sweep, load, at))
        .transpose()?;
    if let (Some(sweep), Some(_)) = (&spec.sweep, &spec.load.get_ref().stages) {
        return at.fail(
            sweep.span(),
            "a sweep holds each step's level: it cannot run `stages` too",
        );
    }
    if sweep.is_none()
        && let Some(capacity) = spec.gate.as_ref().and_then(|gate| gate.capacity.as_ref())
    {
        return at.fail(
            capacity.span(),
            "`capacity` is measured by a [sweep]: add one, or remove this threshold",
        );
    }
    Ok(sweep)
}

/// Steps of the load's model (users for closed, rates for open), increasing, within the hard
/// bounds.
fn plan_steps(
    sweep: &Spanned<SweepSpec>,
    load: &LoadPlan,
    at: &Locator<'_>,
) -> Result<SweepPlan, SpecError> {
    let spec = sweep.get_ref();
    let (steps, span, key, low, high): (Vec<f64>, _, _, _, _) =
        match (load.model, &spec.users, &spec.rates) {
            (Model::Closed, Some(users), None) => (
                users.get_ref().iter().map(|&u| f64::from(u)).collect(),
                users.span(),
                "users",
                1.0,
                f64::from(MAX_USERS),
            ),
            (Model::Open, None, Some(rates)) => (
                rates.get_ref().clone(),
                rates.span(),
                "rates",
                f64::MIN_POSITIVE,
                MAX_RATE,
            ),
            (Model::Closed, _, _) => {
                return at.fail(
                    sweep.span(),
                    "a sweep of the closed model lists `users = [...]` (and no `rates`)",
                );
            }
            (Model::Open, _, _) => {
                return at.fail(
                    sweep.span(),
                    "a sweep of the open model lists `rates = [...]` (and no `users`)",
                );
            }
        };
    if steps.is_empty()
        || steps.windows(2).any(|w| w[0] >= w[1])
        || steps.iter().any(|s| !(low..=high).contains(s))
    {
        return at.fail(
            span,
            format!("sweep {key} must be increasing values between {low} and {high}"),
        );
    }
    Ok(SweepPlan {
        steps,
        step_duration: spec.step.map_or(load.duration, |d| d.0),
        limits: step_limits(&spec.limit),
    })
}

/// Latency limits in µs, the error rate as a fraction.
fn step_limits(limit: &SweepLimitSpec) -> Vec<(Metric, f64)> {
    let latencies = [
        (Metric::P50, &limit.p50),
        (Metric::P90, &limit.p90),
        (Metric::P99, &limit.p99),
    ];
    let mut limits: Vec<(Metric, f64)> = latencies
        .into_iter()
        .filter_map(|(metric, value)| {
            value
                .as_ref()
                .map(|value| (metric, value.get_ref().0.as_secs_f64() * 1e6))
        })
        .collect();
    if let Some(error_rate) = &limit.error_rate {
        limits.push((Metric::ErrorRate, error_rate.get_ref().0));
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::{SPEC, assert_plan_error, plan};

    #[test]
    fn a_sweep_takes_increasing_steps_of_its_model() {
        let sweep = "\n[sweep]\nusers = [2, 4, 8]\nstep = \"1s\"\nlimit = { p90 = \"200ms\", error_rate = \"1%\" }\n";
        let planned = plan(&format!("{SPEC}{sweep}")).unwrap();
        assert_eq!(
            planned.sweep,
            Some(SweepPlan {
                steps: vec![2.0, 4.0, 8.0],
                step_duration: Duration::from_secs(1),
                limits: vec![(Metric::P90, 200_000.0), (Metric::ErrorRate, 0.01)],
            })
        );
        let step = planned.at_step(8.0);
        assert_eq!(
            (step.load.users, step.load.duration),
            (8, Duration::from_secs(1))
        );
        assert_ne!(
            planned.spec_hash,
            plan(SPEC).unwrap().spec_hash,
            "the sweep shapes the load"
        );

        let cases = [
            (
                sweep.replace("[2, 4, 8]", "[4, 2]"),
                "sweep.users",
                "must be increasing",
            ),
            (
                sweep.replace("users = [2, 4, 8]", "rates = [2.0]"),
                "sweep",
                "lists `users = [...]`",
            ),
            (
                sweep.replace("p90 = ", "p95 = "),
                "sweep.limit.p95",
                "unknown field",
            ),
        ];
        for (text, key, message) in cases {
            assert_plan_error(&format!("{SPEC}{text}"), key, message);
        }
        let err = plan(&SPEC.replacen(
            "[gate]\n",
            "[gate]\ncapacity = { regression = \"10%\" }\n",
            1,
        ))
        .unwrap_err();
        assert!(err.message.contains("measured by a [sweep]"), "{err}");
    }
}
