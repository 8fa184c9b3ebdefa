//! `[cost]` → [`CostPlan`]: which requests are counted in instructions under Callgrind, how
//! many of each, and what is kept of where they went.

use std::time::Duration;

use toml::Spanned;

use crate::plan::defaults;
use crate::plan::request::RequestPlan;
use crate::spec::{CostSpec, Locator, SpecError};

#[derive(Debug, Clone, PartialEq)]
pub struct CostPlan {
    /// Requests of each name counted.
    pub requests: u32,
    /// Requests of each name sent before counting.
    pub warmup_requests: u32,
    /// Functions kept per request name.
    pub functions: u32,
    /// The requests counted, by index in `Plan::requests`: the mix's `[[request]]`s, less
    /// `exclude` (the `[[on_start]]` requests are sent once first, uncounted; flows' steps
    /// depend on each other's answers and are not counted one by one).
    pub counted: Vec<usize>,
    pub ready_timeout: Duration,
}

/// The upper bound of `requests`: counting is serial and Valgrind slow.
const MAX_COST_REQUESTS: u32 = 100_000;

/// Plans `[cost]`; `mix` is the range of `requests` that are the `[[request]]` mix.
pub(super) fn plan_cost(
    cost: Option<&Spanned<CostSpec>>,
    requests: &[RequestPlan],
    mix: std::ops::Range<usize>,
    has_service: bool,
    at: &Locator<'_>,
) -> Result<Option<CostPlan>, SpecError> {
    let Some(cost) = cost else {
        return Ok(None);
    };
    let spec = cost.get_ref();
    if !has_service {
        return at.fail(
            cost.span(),
            "[cost] launches the service under Valgrind: the spec needs a [service]",
        );
    }
    let number = |value: &Option<Spanned<u32>>, default: u32, least: u32, key: &str| {
        let Some(value) = value else {
            return Ok(default);
        };
        let n = *value.get_ref();
        if n < least || n > MAX_COST_REQUESTS {
            return at.fail(
                value.span(),
                format!("cost.{key} must be between {least} and {MAX_COST_REQUESTS}, not {n}"),
            );
        }
        Ok(n)
    };
    let mut counted: Vec<usize> = mix.collect();
    for name in &spec.exclude {
        let before = counted.len();
        counted.retain(|&idx| &requests[idx].name != name.get_ref());
        if counted.len() == before {
            let known: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
            return at.fail(
                name.span(),
                format!(
                    "cost.exclude names no request of the mix: `{}` (requests: {})",
                    name.get_ref(),
                    known.join(", ")
                ),
            );
        }
    }
    if counted.is_empty() {
        return at.fail(
            cost.span(),
            "[cost] counts the [[request]]s of the mix, and this spec leaves none to count",
        );
    }
    Ok(Some(CostPlan {
        requests: number(&spec.requests, defaults::COST_REQUESTS, 1, "requests")?,
        warmup_requests: number(
            &spec.warmup_requests,
            defaults::COST_WARMUP_REQUESTS,
            0,
            "warmup_requests",
        )?,
        functions: number(&spec.functions, defaults::COST_FUNCTIONS, 1, "functions")?,
        counted,
        ready_timeout: spec
            .ready_timeout
            .map_or(defaults::COST_READY_TIMEOUT, |d| d.0),
    }))
}

#[cfg(test)]
mod tests {
    use crate::plan::fixtures::{SPEC, assert_plan_error, plan};

    #[test]
    fn cost_counts_the_mix_less_what_it_excludes() {
        assert_eq!(plan(SPEC).unwrap().cost, None);
        let all = plan(&format!("{SPEC}\n[cost]\n")).unwrap();
        let cost = all.cost.unwrap();
        assert_eq!(
            (cost.requests, cost.warmup_requests, cost.functions),
            (1_000, 20, 100)
        );
        let names: Vec<&str> = (cost.counted.iter())
            .map(|&i| all.requests[i].name.as_str())
            .collect();
        assert_eq!(names, ["create", "home"]);
        let some = plan(&format!(
            "{SPEC}\n[cost]\nrequests = 50\nexclude = [\"create\"]\n"
        ))
        .unwrap();
        let cost = some.cost.unwrap();
        assert_eq!((cost.requests, cost.counted.len()), (50, 1));
    }

    #[test]
    fn a_broken_cost_table_names_its_key() {
        for (cost, key, part) in [
            ("requests = 0", "cost.requests", "between 1 and"),
            ("exclude = [\"nope\"]", "cost.exclude", "names no request"),
            ("exclude = [\"home\", \"create\"]", "cost", "none to count"),
        ] {
            assert_plan_error(&format!("{SPEC}\n[cost]\n{cost}\n"), key, part);
        }
        let service = SPEC.find("[load]").unwrap();
        let no_service = &SPEC[service..];
        assert_plan_error(
            &format!("{no_service}\n[cost]\n"),
            "cost",
            "needs a [service]",
        );
    }
}
