//! `loadtest bisect GOOD BAD`: which commit of the first-parent history between a good and a
//! bad revision made the service worse. Pure: the search over the commits (what to measure
//! next, what is known once nothing is left to measure) and the decision on one commit's
//! measurement, what a measurement is reported as, and the exit code of where the search ended.
//! Measuring is the pipeline's (`pipeline/bisect.rs`).

use serde::{Deserialize, Serialize};

use crate::cost::CostSummary;
use crate::judge::checks::{Check, CheckKind, CheckOutcome};
use crate::judge::cost::CostChange;
use crate::metric::Metric;
use crate::plan::Threshold;
use crate::support::exit::Exit;

/// The least relative change of instructions that counts as "worse" when the spec sets no
/// `instructions` regression of its own: unchanged runs of a tokio service repeat to ~0.3 %.
pub const COST_LEAST_CHANGE: f64 = 0.01;

/// What one commit was found to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "decision", content = "why")]
pub enum Decision {
    /// Like GOOD: the regression is not in it yet.
    Good,
    /// Like BAD: the regression is in it.
    Bad,
    /// The measurement could not tell, even with more rounds.
    Unknown,
    /// It could not be measured (it does not build, or its service failed): why.
    Skipped(String),
}

impl Decision {
    /// The word the progress line and the reports use.
    pub fn describe(&self) -> &'static str {
        match self {
            Decision::Good => "good",
            Decision::Bad => "bad",
            Decision::Unknown => "undecided",
            Decision::Skipped(_) => "skipped",
        }
    }
}

/// The commits after GOOD up to BAD (oldest first, BAD last and known bad), and what each
/// was found to be.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    decisions: Vec<Option<Decision>>,
}

/// Where a search ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// The commit at this index is the first bad one: the one before it is good (or GOOD).
    FirstBad(usize),
    /// The first bad commit is one of `from..=to` (indices), which could not be told apart:
    /// some of them were skipped or undecided.
    Range { from: usize, to: usize },
}

impl Search {
    /// A search over `n` commits after GOOD, the last of which is BAD.
    pub fn new(n: usize) -> Search {
        assert!(n > 0, "BAD comes after GOOD");
        let mut decisions = vec![None; n];
        decisions[n - 1] = Some(Decision::Bad);
        Search { decisions }
    }

    pub fn record(&mut self, index: usize, decision: Decision) {
        self.decisions[index] = Some(decision);
    }

    /// The bounds: the last good index (`None`: GOOD itself) and the first bad one after it.
    fn bounds(&self) -> (Option<usize>, usize) {
        let good = self
            .decisions
            .iter()
            .rposition(|d| d == &Some(Decision::Good));
        let from = good.map_or(0, |g| g + 1);
        let bad = (from..self.decisions.len())
            .find(|&i| self.decisions[i] == Some(Decision::Bad))
            .expect("BAD is bad");
        (good, bad)
    }

    /// The commit to measure next: of those not yet measured strictly between the bounds, the
    /// one nearest the middle (the earlier on a tie), so each step halves what remains even
    /// around a skipped commit. `None` when nothing is left to measure.
    pub fn next(&self) -> Option<usize> {
        let (good, bad) = self.bounds();
        let from = good.map_or(0, |g| g + 1);
        let middle = (from + bad) as f64 / 2.0 - 0.5;
        (from..bad)
            .filter(|&i| self.decisions[i].is_none())
            .min_by(|&a, &b| {
                let (da, db) = ((a as f64 - middle).abs(), (b as f64 - middle).abs());
                da.total_cmp(&db).then(a.cmp(&b))
            })
    }

    /// What is known now: exact once nothing between the bounds is left unknown.
    pub fn found(&self) -> Found {
        let (good, bad) = self.bounds();
        let from = good.map_or(0, |g| g + 1);
        if from == bad {
            Found::FirstBad(bad)
        } else {
            Found::Range { from, to: bad }
        }
    }
}

/// With `[cost]`: which instructions a bisection follows, and where it draws the line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CostLine {
    /// A request name, or `None` for instructions over the spec's mix.
    pub request: Option<String>,
    pub good: f64,
    pub bad: f64,
    /// A commit counting at least this many instructions per request is bad: halfway from
    /// GOOD's count to BAD's, far beyond the noise of a count when BAD is worse at all.
    pub line: f64,
}

impl CostLine {
    /// GOOD's and BAD's counts: the request name (or the mix) that got relatively the most
    /// expensive, when that is worse than `thresholds` allow (its `instructions` regression,
    /// at least [`COST_LEAST_CHANGE`]); else why BAD is not worse.
    pub fn between(
        good: &CostSummary,
        bad: &CostSummary,
        thresholds: &[Threshold],
    ) -> Result<CostLine, String> {
        // The names first: the mix moves less than the name that moved it, or as much.
        let scopes = (good.by_request.keys().map(|k| Some(k.clone()))).chain([None]);
        let mut worst: Option<(CostLine, f64)> = None;
        for request in scopes {
            let (Some(g), Some(b)) = (
                good.instructions(request.as_deref()),
                bad.instructions(request.as_deref()),
            ) else {
                continue;
            };
            if g <= 0.0 {
                continue;
            }
            let change = (b - g) / g;
            if worst.as_ref().is_none_or(|(_, c)| change > *c) {
                let line = CostLine {
                    request,
                    good: g,
                    bad: b,
                    line: g + (b - g) / 2.0,
                };
                worst = Some((line, change));
            }
        }
        let Some((line, change)) = worst else {
            return Err("no request name was counted on both sides".to_owned());
        };
        let label = line.request.as_deref().unwrap_or("total");
        let allowed = thresholds
            .iter()
            .find(|t| t.metric == Metric::Instructions && t.scope.label() == label)
            .and_then(|t| t.regression)
            .unwrap_or(0.0)
            .max(COST_LEAST_CHANGE);
        if change <= allowed {
            return Err(format!(
                "BAD is not worse than GOOD in instructions: the largest change is {label} \
                 {:+.2} % ({:.1} → {:.1} per request), not beyond {:.1} %",
                change * 100.0,
                line.good,
                line.bad,
                allowed * 100.0
            ));
        }
        Ok(line)
    }

    /// A commit's count, decided: bad at or beyond the line, else good.
    pub fn decide(&self, cost: &CostSummary) -> Decision {
        match cost.instructions(self.request.as_deref()) {
            Some(value) if value >= self.line => Decision::Bad,
            Some(_) => Decision::Good,
            None => Decision::Skipped(format!(
                "`{}` was not counted",
                self.request.as_deref().unwrap_or("total")
            )),
        }
    }

    /// The metric's label, "instructions of home" or "instructions (total)".
    pub fn label(&self) -> String {
        match &self.request {
            Some(name) => format!("instructions of {name}"),
            None => "instructions (total)".to_owned(),
        }
    }
}

/// Without `[cost]`: the regression checks that failed with BAD paired against GOOD are the
/// ones a bisection judges; none failing means BAD is not worse.
pub fn judged_checks(bad_vs_good: &[Check]) -> Result<Vec<(String, Metric)>, String> {
    let failed: Vec<(String, Metric)> = bad_vs_good
        .iter()
        .filter(|c| c.kind == CheckKind::Regression && c.outcome == CheckOutcome::Fail)
        .map(|c| (c.scope.clone(), c.metric))
        .collect();
    if failed.is_empty() {
        let seen: Vec<String> = bad_vs_good
            .iter()
            .filter(|c| c.kind == CheckKind::Regression)
            .map(|c| c.message.clone())
            .collect();
        return Err(format!(
            "BAD is not worse than GOOD: no regression check of the spec failed with BAD paired \
             against GOOD{}",
            if seen.is_empty() {
                " (the spec has no regression threshold: add one to [gate])".to_owned()
            } else {
                format!(" ({})", seen.join("; "))
            }
        ));
    }
    Ok(failed)
}

/// A commit paired against GOOD, decided on the judged checks: bad when one of them fails,
/// good when every one passes, unknown otherwise (the rounds could not tell).
pub fn decide_checks(judged: &[(String, Metric)], checks: &[Check]) -> Decision {
    let outcomes: Vec<CheckOutcome> = judged
        .iter()
        .filter_map(|(scope, metric)| {
            checks
                .iter()
                .find(|c| {
                    c.kind == CheckKind::Regression && &c.scope == scope && c.metric == *metric
                })
                .map(|c| c.outcome)
        })
        .collect();
    if outcomes.contains(&CheckOutcome::Fail) {
        Decision::Bad
    } else if !outcomes.is_empty() && outcomes.iter().all(|o| *o == CheckOutcome::Pass) {
        Decision::Good
    } else {
        Decision::Unknown
    }
}

/// Paired against GOOD: the value a commit is reported with, the first judged check's.
pub fn first_judged<'c>(judged: &[(String, Metric)], checks: &'c [Check]) -> Option<&'c Check> {
    let (scope, metric) = judged.first()?;
    checks
        .iter()
        .find(|c| c.kind == CheckKind::Regression && &c.scope == scope && c.metric == *metric)
}

/// Paired against GOOD: how a commit's measurement reads, the judged checks' messages.
pub fn details(judged: &[(String, Metric)], checks: &[Check]) -> String {
    checks
        .iter()
        .filter(|c| {
            c.kind == CheckKind::Regression
                && judged.iter().any(|(s, m)| s == &c.scope && *m == c.metric)
        })
        .map(|c| c.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// One commit of the bisection, as the reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BisectStep {
    pub commit: String,
    pub subject: String,
    /// The judged metric's value: instructions per request, or the first judged check's
    /// current value paired against GOOD; `None` when not measured.
    pub value: Option<f64>,
    /// How the value was read, e.g. "total p90 +42.0 % vs GOOD (90% interval …)".
    pub detail: String,
    pub decision: Decision,
    /// How long building and measuring it took, in seconds.
    pub seconds: f64,
}

/// What `loadtest bisect` found: bisect.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BisectReport {
    pub spec: String,
    pub good: String,
    pub bad: String,
    /// "instructions of home", or the judged checks.
    pub metric: String,
    /// Every commit after GOOD up to BAD, oldest first.
    pub commits: Vec<String>,
    /// GOOD, BAD, then each commit measured, in the order they were.
    pub steps: Vec<BisectStep>,
    pub found: Found,
    /// The first bad commit's value and the one before it (GOOD or the last good commit).
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// With `[cost]`: the first bad commit's request names against the commit before it, with
    /// the functions that changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cost: Vec<CostChange>,
    pub seconds: f64,
    /// The signal that stopped the bisection before it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

impl BisectReport {
    /// 0 with a first bad commit; with a range left, 3 when a commit in it could not be
    /// measured, else 4 (the noise left it undecided).
    pub fn exit(&self) -> Exit {
        match self.found {
            Found::FirstBad(_) => Exit::Passed,
            Found::Range { from, to } => {
                let in_range = &self.commits[from..=to];
                let skipped = self.steps.iter().any(|s| {
                    matches!(s.decision, Decision::Skipped(_)) && in_range.contains(&s.commit)
                });
                if skipped {
                    Exit::ServiceFailed
                } else {
                    Exit::Inconclusive
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search where commits at index `culprit` and after are bad, `skipped` cannot be
    /// measured and `unknown` cannot be told: what it found and which it measured.
    fn search(
        n: usize,
        culprit: usize,
        skipped: &[usize],
        unknown: &[usize],
    ) -> (Found, Vec<usize>) {
        let mut search = Search::new(n);
        let mut measured = Vec::new();
        while let Some(i) = search.next() {
            measured.push(i);
            assert!(measured.len() <= n, "the search loops: {measured:?}");
            let decision = if skipped.contains(&i) {
                Decision::Skipped("does not build".into())
            } else if unknown.contains(&i) {
                Decision::Unknown
            } else if i >= culprit {
                Decision::Bad
            } else {
                Decision::Good
            };
            search.record(i, decision);
        }
        (search.found(), measured)
    }

    #[test]
    fn every_culprit_of_twelve_commits_is_found_in_at_most_four_steps() {
        for culprit in 0..12 {
            let (found, measured) = search(12, culprit, &[], &[]);
            assert_eq!(found, Found::FirstBad(culprit), "{measured:?}");
            assert!(measured.len() <= 4, "{culprit}: {measured:?}");
        }
    }

    #[test]
    fn a_skipped_commit_is_stepped_around_unless_it_is_the_answer() {
        // Skipped, but not next to the culprit: found exactly.
        assert_eq!(search(12, 7, &[5], &[]).0, Found::FirstBad(7));
        // The commit before the culprit is skipped: either could be first.
        assert_eq!(search(12, 7, &[6], &[]).0, Found::Range { from: 6, to: 7 });
        // The culprit itself cannot be told from its successor.
        assert_eq!(search(12, 7, &[7], &[]).0, Found::Range { from: 7, to: 8 });
        // Undecided acts like skipped.
        assert_eq!(search(12, 3, &[], &[3]).0, Found::Range { from: 3, to: 4 });
    }

    #[test]
    fn one_commit_after_good_is_the_culprit_without_measuring() {
        assert_eq!(search(1, 0, &[], &[]), (Found::FirstBad(0), vec![]));
    }

    fn cost(home: f64, status: f64) -> CostSummary {
        use crate::cost::RequestCost;
        let request = |instructions| RequestCost {
            instructions,
            failures: 0,
            functions: Vec::new(),
        };
        CostSummary {
            requests: 100,
            warmup_requests: 10,
            functions: 30,
            instructions: (home * 3.0 + status) / 4.0,
            by_request: [
                ("home".to_owned(), request(home)),
                ("status".to_owned(), request(status)),
            ]
            .into(),
        }
    }

    #[test]
    fn the_cost_line_follows_the_name_that_changed_most_and_is_halfway() {
        let line =
            CostLine::between(&cost(16_000.0, 9_000.0), &cost(32_000.0, 9_010.0), &[]).unwrap();
        assert_eq!(line.request.as_deref(), Some("home"));
        assert_eq!(line.line, 24_000.0);
        assert_eq!(line.decide(&cost(16_050.0, 9_000.0)), Decision::Good);
        assert_eq!(line.decide(&cost(31_900.0, 9_000.0)), Decision::Bad);
        assert_eq!(line.label(), "instructions of home");
    }

    #[test]
    fn bad_within_the_noise_of_a_count_is_not_worse() {
        let err =
            CostLine::between(&cost(16_000.0, 9_000.0), &cost(16_050.0, 9_000.0), &[]).unwrap_err();
        assert!(err.contains("BAD is not worse than GOOD"), "{err}");
        assert!(err.contains("home +0.31 %"), "{err}");
    }

    fn report(found: Found, skipped: Option<&str>) -> BisectReport {
        let commits: Vec<String> = ["a", "b", "c", "d"].map(str::to_owned).into();
        let steps = skipped
            .into_iter()
            .map(|commit| BisectStep {
                commit: commit.to_owned(),
                subject: String::new(),
                value: None,
                detail: String::new(),
                decision: Decision::Skipped("does not build".to_owned()),
                seconds: 1.0,
            })
            .collect();
        BisectReport {
            spec: "s".to_owned(),
            good: "g".to_owned(),
            bad: "d".to_owned(),
            metric: String::new(),
            commits,
            steps,
            found,
            before: None,
            after: None,
            cost: Vec::new(),
            seconds: 1.0,
            interrupted: None,
        }
    }

    #[test]
    fn a_named_commit_exits_0_and_a_range_3_when_skipped_commits_hide_it_else_4() {
        let range = Found::Range { from: 1, to: 2 };
        // (where the search ended, the commit skipped, the exit)
        let table = [
            (Found::FirstBad(2), Some("a"), Exit::Passed),
            (Found::FirstBad(0), None, Exit::Passed),
            (range.clone(), Some("b"), Exit::ServiceFailed),
            (range.clone(), Some("c"), Exit::ServiceFailed),
            // Skipped, but outside the range that is left: the noise left it.
            (range.clone(), Some("a"), Exit::Inconclusive),
            (range, None, Exit::Inconclusive),
        ];
        for (found, skipped, exit) in table {
            let report = report(found.clone(), skipped);
            assert_eq!(report.exit(), exit, "{found:?}, skipped {skipped:?}");
        }
    }

    #[test]
    fn a_paired_commit_reads_as_its_judged_checks() {
        let check = |scope: &str, metric, kind, message: &str| Check {
            scope: scope.to_owned(),
            metric,
            kind,
            limit: 0.1,
            baseline: Some(100.0),
            current: 120.0,
            change: Some(0.2),
            outcome: CheckOutcome::Fail,
            message: message.to_owned(),
        };
        let checks = [
            check("total", Metric::P50, CheckKind::Regression, "p50 +20 %"),
            check("total", Metric::P90, CheckKind::Max, "p90 over its max"),
            check("total", Metric::P90, CheckKind::Regression, "p90 +20 %"),
            check("home", Metric::P90, CheckKind::Regression, "home p90 +20 %"),
        ];
        let judged = [
            ("total".to_owned(), Metric::P90),
            ("home".to_owned(), Metric::P90),
        ];
        // The first judged one's regression, not its max nor an unjudged metric.
        let first = first_judged(&judged, &checks).unwrap();
        assert_eq!(first.message, "p90 +20 %");
        assert_eq!(details(&judged, &checks), "p90 +20 %; home p90 +20 %");
        assert!(first_judged(&[], &checks).is_none());
        assert_eq!(details(&judged, &checks[..2]), "");
    }
}
