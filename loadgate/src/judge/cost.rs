//! Where the instructions went: each request name's cost beside its baseline's (or the base
//! revision's), and, where it moved beyond its noise floor or its check failed, the functions
//! sorted by how much their self instructions per request changed. Pure.

use serde::{Deserialize, Serialize};

use crate::cost::{CostSummary, RequestCost};
use crate::judge::checks::{Check, CheckOutcome};
use crate::metric::{INSTRUCTIONS_NOISE_FLOOR, Metric};
use crate::plan::Threshold;

/// Rows of a function table: the few a pull request's reader can take in.
pub const FUNCTION_ROWS: usize = 10;

/// One request name's instructions, now and before, and (when it moved) the functions that did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostChange {
    /// A request name.
    pub request: String,
    /// Instructions per request in the baseline (or the base revision); `None` without one.
    pub baseline: Option<f64>,
    pub current: f64,
    /// Functions by how much their self instructions per request changed, most first; empty
    /// unless the change is beyond the noise floor or the check failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionChange>,
}

/// One function's self instructions per request, before and now. `None`: not among the functions
/// kept on that side (so 0 when fewer than the most were kept, else at most the smallest kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionChange {
    pub function: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// current − baseline; where a side's value is only bounded, the smallest change it can be.
    pub change: f64,
}

/// Each request name counted now, beside `baseline`'s. `thresholds` give each name's noise
/// floor (the default where none is set); a failed `instructions` check always gets its table.
/// The function table compares what both sides kept (`CostSummary::functions` each).
pub fn changes(
    current: &CostSummary,
    baseline: Option<&CostSummary>,
    thresholds: &[Threshold],
    checks: &[Check],
) -> Vec<CostChange> {
    current
        .by_request
        .iter()
        .map(|(request, now)| {
            let before = baseline.and_then(|b| b.by_request.get(request));
            let floor = thresholds
                .iter()
                .find(|t| t.metric == Metric::Instructions && t.scope.label() == request)
                .map_or(INSTRUCTIONS_NOISE_FLOOR, |t| {
                    t.noise_floor.at(before.map_or(0.0, |b| b.instructions))
                });
            let failed = checks.iter().any(|c| {
                c.metric == Metric::Instructions
                    && c.scope == *request
                    && c.outcome == CheckOutcome::Fail
            });
            let functions = match before {
                Some(before)
                    if failed || (now.instructions - before.instructions).abs() > floor =>
                {
                    function_changes(before, now, current.functions as usize)
                }
                _ => Vec::new(),
            };
            CostChange {
                request: request.clone(),
                baseline: before.map(|b| b.instructions),
                current: now.instructions,
                functions,
            }
        })
        .collect()
}

/// The functions of both sides, by the size of their change, the largest [`FUNCTION_ROWS`].
/// `kept`: how many functions a side keeps at most, which tells a function it does not list
/// (0) from one below its cut (at most its smallest).
fn function_changes(before: &RequestCost, now: &RequestCost, kept: usize) -> Vec<FunctionChange> {
    let mut names: Vec<&str> = before
        .functions
        .iter()
        .chain(&now.functions)
        .map(|f| f.function.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let side = |cost: &RequestCost, name: &str| {
        let found = cost.functions.iter().find(|f| f.function == name);
        let bound = match cost.functions.last() {
            Some(smallest) if cost.functions.len() >= kept => smallest.self_instructions,
            _ => 0.0,
        };
        (found.map(|f| f.self_instructions), bound)
    };
    let mut rows: Vec<FunctionChange> = names
        .into_iter()
        .map(|name| {
            let ((baseline, before_bound), (current, now_bound)) =
                (side(before, name), side(now, name));
            let change = match (baseline, current) {
                (Some(b), Some(c)) => c - b,
                (None, Some(c)) => (c - before_bound).max(0.0),
                (Some(b), None) => (now_bound - b).min(0.0),
                (None, None) => 0.0,
            };
            FunctionChange {
                function: name.to_owned(),
                baseline,
                current,
                change,
            }
        })
        .filter(|row| row.change != 0.0)
        .collect();
    rows.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then_with(|| a.function.cmp(&b.function))
    });
    rows.truncate(FUNCTION_ROWS);
    rows
}

/// Why the baseline's instructions are not compared, if they are not: counted over another
/// number of requests, or absent (recorded before `[cost]`).
pub fn incomparable(current: &CostSummary, baseline: Option<&CostSummary>) -> Option<String> {
    match baseline {
        None => Some(
            "the baseline has no instructions (recorded without [cost]): instructions are not \
             compared until one is recorded with --update-baselines"
                .to_owned(),
        ),
        Some(b)
            if (b.requests, b.warmup_requests) != (current.requests, current.warmup_requests) =>
        {
            Some(format!(
                "the baseline's instructions were counted over {} requests per name after {} \
                 warmup requests, this run's over {} after {}: they are not compared until a \
                 baseline is recorded with --update-baselines",
                b.requests, b.warmup_requests, current.requests, current.warmup_requests
            ))
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cost::FunctionCost;
    use crate::judge::checks::CheckKind;

    fn cost(instructions: f64, functions: &[(&str, f64)]) -> RequestCost {
        RequestCost {
            instructions,
            failures: 0,
            functions: functions
                .iter()
                .map(|&(function, self_instructions)| FunctionCost {
                    function: function.to_owned(),
                    self_instructions,
                    inclusive: self_instructions,
                })
                .collect(),
        }
    }

    fn summary(home: RequestCost) -> CostSummary {
        CostSummary {
            requests: 1000,
            warmup_requests: 20,
            functions: 3,
            instructions: home.instructions,
            by_request: BTreeMap::from([("home".to_owned(), home)]),
        }
    }

    #[test]
    fn the_function_that_grew_comes_first_and_unmoved_ones_are_left_out() {
        let before = summary(cost(16_000.0, &[("malloc", 900.0), ("route", 400.0)]));
        let now = summary(cost(
            16_180.0,
            &[("malloc", 905.0), ("route", 400.0), ("extra_work", 170.0)],
        ));
        let changed = changes(&now, Some(&before), &[], &[]);
        let rows: Vec<(&str, Option<f64>, Option<f64>, f64)> = changed[0]
            .functions
            .iter()
            .map(|f| (f.function.as_str(), f.baseline, f.current, f.change))
            .collect();
        assert_eq!(
            rows,
            [
                ("extra_work", None, Some(170.0), 170.0),
                ("malloc", Some(900.0), Some(905.0), 5.0),
            ]
        );
    }

    #[test]
    fn a_function_below_a_full_lists_cut_is_bounded_not_zero() {
        // Three kept at most: `b` fell below `now`'s cut (at most 50 now), `new` was below
        // `before`'s (at most 100 then).
        let before = summary(cost(1_000.0, &[("a", 300.0), ("b", 200.0), ("c", 100.0)]));
        let now = summary(cost(1_300.0, &[("a", 300.0), ("new", 400.0), ("c", 50.0)]));
        let changed = changes(&now, Some(&before), &[], &[]);
        let rows: Vec<(&str, f64)> = (changed[0].functions.iter())
            .map(|f| (f.function.as_str(), f.change))
            .collect();
        assert_eq!(rows, [("new", 300.0), ("b", -150.0), ("c", -50.0)]);
    }

    #[test]
    fn a_table_only_beyond_the_noise_floor_or_for_a_failed_check() {
        let before = summary(cost(16_000.0, &[("route", 400.0)]));
        let now = summary(cost(16_050.0, &[("route", 450.0)]));
        // 50 instructions: within the default floor of 100.
        assert!(
            changes(&now, Some(&before), &[], &[])[0]
                .functions
                .is_empty()
        );
        let failed = Check {
            scope: "home".into(),
            metric: Metric::Instructions,
            kind: CheckKind::Regression,
            limit: 0.001,
            baseline: Some(16_000.0),
            current: 16_050.0,
            change: Some(0.003),
            outcome: CheckOutcome::Fail,
            message: String::new(),
        };
        let rows = &changes(&now, Some(&before), &[], &[failed])[0].functions;
        assert_eq!(rows.len(), 1);
        // Without a baseline there is nothing to diff.
        let alone = &changes(&now, None, &[], &[])[0];
        assert_eq!((alone.baseline, alone.functions.len()), (None, 0));
    }

    #[test]
    fn instructions_counted_otherwise_are_not_compared() {
        let now = summary(cost(16_000.0, &[]));
        assert!(
            incomparable(&now, None)
                .unwrap()
                .contains("no instructions")
        );
        assert_eq!(incomparable(&now, Some(&now)), None);
        let mut other = now.clone();
        other.requests = 500;
        assert!(
            incomparable(&now, Some(&other))
                .unwrap()
                .contains("over 500")
        );
    }
}
