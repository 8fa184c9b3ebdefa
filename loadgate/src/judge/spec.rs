//! The verdict on one spec's measurement, and the notes beside it: unjudged when the service
//! failed, the gate was interrupted or a distributed run's shards did not make the spec's load;
//! against the base revision's pairs in A/B; else against the stored baseline, with every rule of
//! trust applied. Pure: the pipeline hands in what it measured and the facts around it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::cost::CostSummary;
use crate::judge::baseline::Baseline;
use crate::judge::checks::{Check, compare};
use crate::judge::cost::{self, CostChange};
use crate::judge::pairs::pair_ratios;
use crate::judge::trust::{Facts, trust};
use crate::judge::verdict::SpecResult;
use crate::plan::{Overrides, Plan};
use crate::service::ServiceFailure;
use crate::summary::{LatencyStats, SpecSummary};
use crate::support::meta::{Build, Host};
use crate::support::paths::Paths;

/// What the measurement is judged against.
#[derive(Debug, Clone, Copy)]
pub enum Against<'a> {
    /// The stored baseline, if there is one.
    Baseline(Option<&'a Baseline>),
    /// `--against`: the base revision measured in at least `rounds` ABBA pairs beside it.
    Pairs { rounds: usize },
}

/// What the verdict on a spec's measurement depends on, beside the measurement.
#[derive(Debug)]
pub struct SpecFacts<'a> {
    pub plan: &'a Plan,
    pub against: Against<'a>,
    /// The host this run measured on.
    pub host: &'a Host,
    /// How its services were built; `None` with `--target` and after `merge`.
    pub build: Option<&'a Build>,
    pub paths: &'a Paths,
    pub overrides: &'a Overrides,
    /// `--strict-host`: a baseline from another host makes the run inconclusive.
    pub strict_host: bool,
    /// The signal that interrupted the gate, if one did.
    pub interrupted: Option<&'static str>,
    /// A merged run whose shards did not all run as planned: why it is reported unjudged.
    pub distrusted: Option<String>,
}

/// A spec's runs combined into the figures judged.
#[derive(Debug, Default)]
pub struct Combined {
    pub summary: Option<SpecSummary>,
    /// A/B: the base revision's summary over the complete pairs.
    pub base: Option<SpecSummary>,
    /// A/B: how many complete pairs there are.
    pub pairs: usize,
}

/// The verdict on what was measured (`failure`: the service's death, which ended it).
pub fn judge_spec(
    facts: &SpecFacts<'_>,
    mut result: SpecResult,
    measured: Combined,
    failure: Option<ServiceFailure>,
) -> SpecResult {
    let Combined {
        summary,
        base,
        pairs,
    } = measured;
    let paired = matches!(facts.against, Against::Pairs { .. });
    if paired {
        result.baseline_total = base.as_ref().map(|b| b.total.clone());
        result.baseline_requests = base.as_ref().map(latency_by_request).unwrap_or_default();
    }
    result.summary = summary;
    if let Some(failure) = failure {
        // What was measured up to the failure is kept, but not judged.
        return result
            .with_failure(failure, facts.plan, facts.paths)
            .judged(None);
    }
    if let Some(signal) = facts.interrupted {
        let reason = if paired && pairs == 0 {
            format!("interrupted by {signal} before a pair of rounds completed")
        } else {
            format!("interrupted by {signal}: the partial results are kept but not judged")
        };
        return result.judged(Some(reason));
    }
    if let Some(reason) = &facts.distrusted {
        return result.judged(Some(reason.clone()));
    }
    match (facts.against, base) {
        (Against::Pairs { rounds }, Some(base)) => {
            against_pairs(facts, result, &base, pairs, rounds)
        }
        (Against::Pairs { .. }, None) => result.judged(None),
        (Against::Baseline(baseline), _) => against_baseline(facts, result, baseline),
    }
}

fn against_pairs(
    facts: &SpecFacts<'_>,
    mut result: SpecResult,
    base: &SpecSummary,
    pairs: usize,
    rounds: usize,
) -> SpecResult {
    if let Some(summary) = &result.summary {
        result.checks = compare(&facts.plan.thresholds, summary, Some(base), true);
        result.pairs = pair_ratios(summary, base);
        result.cost = cost_changes(facts.plan, summary, base.cost.as_ref(), &result.checks);
    }
    if pairs > rounds {
        result.notes.push(format!(
            "{pairs} pairs were run: {} more while a check could not tell",
            pairs - rounds
        ));
    }
    result.judged(None)
}

fn against_baseline(
    facts: &SpecFacts<'_>,
    mut result: SpecResult,
    stored: Option<&Baseline>,
) -> SpecResult {
    let (plan, paths) = (facts.plan, facts.paths);
    let Some(summary) = result.summary.as_ref() else {
        return result.judged(None);
    };
    let overrides = facts.overrides;
    let trust = trust(&Facts {
        thresholds: &plan.thresholds,
        spec_hash: &plan.spec_hash,
        summary,
        baseline: stored,
        baseline_file: &paths.shown(&paths.baseline_file(&plan.name)),
        host: facts.host,
        build: facts.build,
        strict_host: facts.strict_host,
        load_overridden: overrides.users.is_some()
            || overrides.duration.is_some()
            || overrides.warmup.is_some(),
    });
    let mut baseline = stored.map(|b| Cow::Borrowed(&b.summary));
    if let Some(cost) = &summary.cost
        && let Some(stored) = baseline.as_mut()
        && let Some(why) = cost::incomparable(cost, stored.cost.as_ref())
    {
        // Instructions counted otherwise are no baseline for these: "no baseline" checks.
        stored.to_mut().cost = None;
        result.notes.push(why);
    }
    result.checks = compare(&plan.thresholds, summary, baseline.as_deref(), false);
    let stored_cost = baseline.as_ref().and_then(|b| b.cost.as_ref());
    result.cost = cost_changes(plan, summary, stored_cost, &result.checks);
    result.notes.extend(trust.notes.iter().cloned());
    result.judged(trust.reason())
}

fn cost_changes(
    plan: &Plan,
    summary: &SpecSummary,
    baseline: Option<&CostSummary>,
    checks: &[Check],
) -> Vec<CostChange> {
    summary.cost.as_ref().map_or_else(Vec::new, |counted| {
        cost::changes(counted, baseline, &plan.thresholds, checks)
    })
}

/// The stored baseline's figures beside a result, for its charts.
pub fn with_baseline(mut result: SpecResult, baseline: Option<&Baseline>) -> SpecResult {
    result.baseline_total = baseline.map(|b| b.summary.total.clone());
    result.baseline_requests = baseline
        .map(|b| latency_by_request(&b.summary))
        .unwrap_or_default();
    result.baseline_sweep = baseline.and_then(|b| b.summary.sweep.clone());
    result
}

/// Each request name's latency in `summary`.
fn latency_by_request(summary: &SpecSummary) -> BTreeMap<String, LatencyStats> {
    (summary.requests.iter())
        .map(|(name, metrics)| (name.clone(), metrics.latency_us.clone()))
        .collect()
}

/// The note of an A/B run: what it was compared with, and how.
pub fn compared_with(rev: &str, commit: &str, rounds: u32) -> String {
    format!(
        "compared with {rev} ({}) on this machine, not with a stored baseline: paired rounds in ABBA order, at least {rounds}",
        &commit[..commit.len().min(12)]
    )
}

/// The note of a spec with a `[cost]` phase that `--no-cost` skipped.
pub fn cost_skipped(plan: &Plan) -> Option<String> {
    plan.cost
        .is_some()
        .then(|| "the cost phase was skipped (--no-cost): no instructions were counted".to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::judge::verdict::Verdict;

    const SPEC: &str = r#"
[service]
command = ["demo-service", "--port", "{port}"]
[load]
users = 1
duration = "1s"
[[request]]
name = "home"
path = "/"
"#;

    fn host() -> Host {
        Host {
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 2,
            cpu_model: None,
            cpus_kept_awake: false,
        }
    }

    fn summary() -> SpecSummary {
        let result = crate::report::fixtures::result();
        result.specs[0]
            .summary
            .clone()
            .expect("the fixture has a summary")
    }

    struct Case {
        name: &'static str,
        against: Against<'static>,
        interrupted: Option<&'static str>,
        distrusted: Option<&'static str>,
        base: bool,
        pairs: usize,
        failure: bool,
        verdict: Verdict,
        /// Words the inconclusive reason, or else a note, holds.
        says: &'static str,
    }

    const BASE: Case = Case {
        name: "",
        against: Against::Baseline(None),
        interrupted: None,
        distrusted: None,
        base: false,
        pairs: 0,
        failure: false,
        verdict: Verdict::Pass,
        says: "",
    };

    #[test]
    fn each_rule_decides_the_verdict_and_words_why() {
        let cases = [
            Case {
                name: "no baseline: judged on absolute limits, with a note",
                says: "no baseline",
                ..BASE
            },
            Case {
                name: "the service failed: unjudged whatever else",
                failure: true,
                interrupted: Some("SIGINT"),
                verdict: Verdict::ServiceFailed,
                ..BASE
            },
            Case {
                name: "interrupted against a baseline",
                interrupted: Some("SIGINT"),
                verdict: Verdict::Inconclusive,
                says: "interrupted by SIGINT: the partial results are kept but not judged",
                ..BASE
            },
            Case {
                name: "interrupted before any pair",
                against: Against::Pairs { rounds: 3 },
                interrupted: Some("SIGTERM"),
                verdict: Verdict::Inconclusive,
                says: "interrupted by SIGTERM before a pair of rounds completed",
                ..BASE
            },
            Case {
                name: "interrupted after a pair",
                against: Against::Pairs { rounds: 3 },
                interrupted: Some("SIGTERM"),
                pairs: 1,
                base: true,
                verdict: Verdict::Inconclusive,
                says: "the partial results are kept",
                ..BASE
            },
            Case {
                name: "a distrusted merge",
                distrusted: Some("shard 2 of 2 is missing"),
                verdict: Verdict::Inconclusive,
                says: "shard 2 of 2 is missing",
                ..BASE
            },
            Case {
                name: "pairs without a base summary: nothing to compare",
                against: Against::Pairs { rounds: 3 },
                ..BASE
            },
            Case {
                name: "more pairs than asked: said in a note",
                against: Against::Pairs { rounds: 3 },
                base: true,
                pairs: 5,
                says: "5 pairs were run: 2 more while a check could not tell",
                ..BASE
            },
        ];
        let plan = crate::plan::of_text(SPEC);
        let paths = Paths::under(Path::new("/project"));
        let overrides = Overrides::default();
        let host = host();
        for case in cases {
            let facts = SpecFacts {
                plan: &plan,
                against: case.against,
                host: &host,
                build: None,
                paths: &paths,
                overrides: &overrides,
                strict_host: false,
                interrupted: case.interrupted,
                distrusted: case.distrusted.map(str::to_owned),
            };
            let measured = Combined {
                summary: Some(summary()),
                base: case.base.then(summary),
                pairs: case.pairs,
            };
            let failure = case.failure.then(|| ServiceFailure {
                message: "it exited".into(),
                log_file: "/project/out/t.log".into(),
                log_tail: String::new(),
            });
            let result = judge_spec(
                &facts,
                SpecResult::unjudged(&plan, &paths),
                measured,
                failure,
            );
            assert_eq!(result.verdict, case.verdict, "{}: {result:#?}", case.name);
            let words = [result.reason.clone().unwrap_or_default()]
                .into_iter()
                .chain(result.notes.clone())
                .collect::<Vec<_>>();
            assert!(
                words.iter().any(|w| w.contains(case.says)),
                "{}: {words:#?}",
                case.name
            );
            assert!(
                result.summary.is_some(),
                "{}: the figures are kept",
                case.name
            );
        }
    }

    #[test]
    fn a_skipped_cost_phase_is_noted_only_when_the_spec_has_one() {
        assert_eq!(cost_skipped(&crate::plan::of_text(SPEC)), None);
    }

    #[test]
    fn an_a_b_note_names_the_revision_and_its_short_commit() {
        let note = compared_with("main", "0123456789abcdef0123", 4);
        assert!(note.starts_with("compared with main (0123456789ab) on this machine"));
        assert!(note.ends_with("at least 4"));
    }
}
