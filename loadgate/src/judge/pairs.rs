//! A/B (`--against`) summaries → the ratio of each pair of rounds, candidate over base, for every
//! metric a regression threshold judges, with the 90 % interval of their median: what a reviewer
//! looks at to see whether a verdict rests on a steady difference or on one odd pair.

use serde::{Deserialize, Serialize};

use crate::judge::checks::BOOTSTRAP_SEED;
use crate::summary::SpecSummary;
use crate::support::stats;

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
