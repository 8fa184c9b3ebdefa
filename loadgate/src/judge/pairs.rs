//! A/B (`--against`) pairs of rounds: how many to run (at least a minimum, more while a check
//! cannot tell yet, up to a cap), and the ratio of each pair, candidate over base, for every
//! metric a regression threshold judges, with the 90 % interval of their median: what a reviewer
//! looks at to see whether a verdict rests on a steady difference or on one odd pair.

use serde::{Deserialize, Serialize};

use crate::judge::checks::{BOOTSTRAP_SEED, CheckOutcome, compare};
use crate::plan::Threshold;
use crate::summary::SpecSummary;
use crate::support::stats;

/// Paired rounds an A/B comparison runs at least: fewer give no interval worth the name.
const LEAST_PAIRS: u32 = 5;
/// While a check is inconclusive, an A/B comparison runs up to this many times its rounds.
const MORE_PAIRS: u32 = 3;

/// How many pairs an A/B comparison runs: `rounds` at least, and up to `most` while a check
/// cannot tell yet, so a quiet machine decides quickly and a noisy one gets the rounds it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairBudget {
    pub rounds: u32,
    pub most: u32,
}

impl PairBudget {
    /// The budget of a spec asking for `rounds` rounds.
    pub fn of(rounds: u32) -> PairBudget {
        let rounds = rounds.max(LEAST_PAIRS);
        PairBudget {
            rounds,
            most: rounds * MORE_PAIRS,
        }
    }

    /// Whether another pair runs after `complete` pairs; `can_tell` (asked only past the
    /// minimum, below the cap) is whether every check can already tell.
    pub fn another(&self, complete: u32, can_tell: impl FnOnce() -> bool) -> bool {
        complete < self.rounds || (complete < self.most && !can_tell())
    }
}

/// Whether every check of `thresholds` can tell, the pairs so far merged into `candidate` and
/// `base`: none is inconclusive.
pub fn can_tell(thresholds: &[Threshold], candidate: &SpecSummary, base: &SpecSummary) -> bool {
    compare(thresholds, candidate, Some(base), true)
        .iter()
        .all(|c| c.outcome != CheckOutcome::Inconclusive)
}

/// One judged metric over the pairs. Above 1, the candidate's value is the higher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairRatios {
    /// `"SCOPE METRIC"`, as the rounds key it (`"total p90"`).
    pub metric: String,
    /// Candidate / base, pair by pair, in the order they ran.
    pub ratios: Vec<f64>,
    pub median: f64,
    /// The 90 % bootstrap interval of the median (the judge's, for metrics where higher is worse).
    pub low: f64,
    pub high: f64,
}

/// The ratios of every metric both sides recorded per round; a metric with fewer than three
/// pairs, or a zero on the base side, has no interval and is left out.
pub fn pair_ratios(candidate: &SpecSummary, base: &SpecSummary) -> Vec<PairRatios> {
    let Some(keys) = candidate.rounds.first() else {
        return Vec::new();
    };
    keys.keys()
        .filter_map(|key| {
            let side = |summary: &SpecSummary| -> Option<Vec<f64>> {
                summary.rounds.iter().map(|r| r.get(key).copied()).collect()
            };
            let (c, b) = (side(candidate)?, side(base)?);
            let ratio = stats::ratio(&c, &b, true, BOOTSTRAP_SEED)?;
            Some(PairRatios {
                metric: key.clone(),
                ratios: c.iter().zip(&b).map(|(c, b)| c / b).collect(),
                median: ratio.point,
                low: ratio.low,
                high: ratio.high,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn rounds(p90s: &[f64]) -> SpecSummary {
        let mut summary = crate::report::fixtures::result().specs[0]
            .summary
            .clone()
            .unwrap();
        summary.rounds = p90s
            .iter()
            .map(|v| BTreeMap::from([("total p90".to_owned(), *v)]))
            .collect();
        summary
    }

    #[test]
    fn another_pair_below_the_minimum_and_while_undecided_below_the_cap() {
        let budget = PairBudget::of(2);
        assert_eq!(
            budget,
            PairBudget {
                rounds: 5,
                most: 15
            }
        );
        assert_eq!(
            PairBudget::of(8),
            PairBudget {
                rounds: 8,
                most: 24
            }
        );
        // (complete pairs, can every check tell, another pair?)
        let table = [
            (0, true, true),
            (4, true, true),
            (5, true, false),
            (5, false, true),
            (14, false, true),
            (15, false, false),
            (99, false, false),
        ];
        for (complete, tells, another) in table {
            assert_eq!(
                budget.another(complete, || tells),
                another,
                "{complete} pairs, can tell: {tells}"
            );
        }
        // Below the minimum the checks are not asked.
        assert!(budget.another(1, || panic!("asked below the minimum")));
        assert!(!budget.another(15, || panic!("asked at the cap")));
    }

    #[test]
    fn can_tell_unless_a_check_is_inconclusive() {
        use crate::metric::{Metric, NoiseFloor, Scope};
        let p90 = [Threshold {
            scope: Scope::Total,
            metric: Metric::P90,
            regression: Some(0.10),
            max: None,
            min: None,
            noise_floor: NoiseFloor::fixed(0.0),
        }];
        let base = rounds(&[10_000.0, 10_100.0, 9_900.0, 10_050.0, 9_950.0]);
        // (candidate's rounds, can every check tell?)
        let table: [(&[f64], bool); 3] = [
            // Steady and unchanged: a pass.
            (&[10_020.0, 9_980.0, 10_060.0, 9_940.0, 10_000.0], true),
            // Steady and 20 % slower: a failure, which is telling too.
            (&[12_000.0, 12_100.0, 11_900.0, 12_050.0, 11_950.0], true),
            // Far too noisy to tell 10 %: another pair would help.
            (&[7_000.0, 13_500.0, 10_000.0, 14_000.0, 6_500.0], false),
        ];
        for (candidate, tells) in table {
            let candidate = rounds(candidate);
            assert_eq!(
                can_tell(&p90, &candidate, &base),
                tells,
                "{:?}",
                compare(&p90, &candidate, Some(&base), true)
            );
        }
    }

    #[test]
    fn each_pair_s_ratio_and_the_interval_of_their_median() {
        let pairs = pair_ratios(
            &rounds(&[12.0, 11.0, 13.0, 12.0]),
            &rounds(&[10.0, 10.0, 10.0, 10.0]),
        );
        assert_eq!(pairs.len(), 1);
        let p90 = &pairs[0];
        assert_eq!(p90.metric, "total p90");
        assert_eq!(p90.ratios, [1.2, 1.1, 1.3, 1.2]);
        assert!((p90.median - 1.2).abs() < 1e-9);
        assert!(
            p90.low >= 1.1 && p90.high <= 1.3 && p90.low <= p90.high,
            "{p90:?}"
        );
        // Too few pairs for an interval: nothing to draw.
        assert!(pair_ratios(&rounds(&[1.0, 2.0]), &rounds(&[1.0, 2.0])).is_empty());
        assert!(pair_ratios(&rounds(&[]), &rounds(&[])).is_empty());
    }
}
