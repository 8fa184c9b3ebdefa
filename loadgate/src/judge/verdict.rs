//! The gate's answer: per spec, the summary, its checks and a verdict; overall, the worst verdict
//! and its exit code. This is the data every report renders, and `summary.json` is its
//! serialization (schema version [`SCHEMA_VERSION`], documented in docs/summary-json.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::judge::checks::{Check, CheckKind, CheckOutcome};
use crate::judge::cost::CostChange;
use crate::judge::distribution::{Distribution, ShardTotals};
use crate::judge::pairs::PairRatios;
use crate::plan::Plan;
use crate::profile::ProfileReport;
use crate::service::ServiceFailure;
use crate::summary::{LatencyStats, Metrics, SpecSummary, SweepSummary};
use crate::support::exit::Exit;
use crate::support::meta::Provenance;
use crate::support::paths::Paths;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    Pass,
    /// The run cannot be trusted; never reported as a pass.
    Inconclusive,
    Fail,
    ServiceFailed,
}

impl Verdict {
    /// Ordered by severity, so the worst of several is their maximum: a broken service says
    /// more than a slower one, and a measured regression more than an unmeasurable run.
    pub fn exit(self) -> Exit {
        match self {
            Verdict::Pass => Exit::Passed,
            Verdict::Inconclusive => Exit::Inconclusive,
            Verdict::Fail => Exit::CheckFailed,
            Verdict::ServiceFailed => Exit::ServiceFailed,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Fail => "FAIL",
            Verdict::ServiceFailed => "SERVICE FAILED",
        }
    }
}

/// One spec's run and judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecResult {
    pub name: String,
    pub file: PathBuf,
    pub spec_hash: String,
    pub verdict: Verdict,
    /// Why the verdict is inconclusive, or what happened to the service.
    pub reason: Option<String>,
    pub service_failure: Option<ServiceFailure>,
    /// Things a reader should know that did not decide the verdict (no baseline, overrides).
    pub notes: Vec<String>,
    /// What was measured; `None` when the service never became ready.
    pub summary: Option<SpecSummary>,
    /// The baseline's aggregate (latency and its histogram), for charts against it; `None`
    /// without a baseline.
    #[serde(default)]
    pub baseline_total: Option<Metrics>,
    /// The baseline's (or the base revision's) latency per request name, so each name shows
    /// beside it even when only the total is gated; absent without a baseline.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline_requests: BTreeMap<String, LatencyStats>,
    /// The baseline's sweep, for its capacity curve beside this run's; `None` without a
    /// baseline or a sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_sweep: Option<SweepSummary>,
    /// `--against`: per judged metric, the ratio of each pair of rounds and their interval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<PairRatios>,
    pub checks: Vec<Check>,
    /// `[cost]`: each request name's instructions beside the baseline's (or the base
    /// revision's), with the functions that changed where it moved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cost: Vec<CostChange>,
    /// `loadtest merge`: each shard's own totals, for diagnosis; never judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_shard: Vec<ShardTotals>,
    /// `--profile`: the service's sampled profile, and the functions whose share moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileReport>,
}

impl SpecResult {
    /// A spec's result before anything is measured or judged: its identity only.
    pub(crate) fn unjudged(plan: &Plan, paths: &Paths) -> SpecResult {
        SpecResult {
            name: plan.name.clone(),
            file: paths.shown(&plan.file),
            spec_hash: plan.spec_hash.clone(),
            verdict: Verdict::Pass,
            reason: None,
            service_failure: None,
            // The plan's warnings (a capture nothing uses) come first: they are about the spec.
            notes: plan
                .warnings
                .iter()
                .cloned()
                .chain(default_gate_note(plan))
                .collect(),
            summary: None,
            baseline_total: None,
            baseline_requests: BTreeMap::new(),
            baseline_sweep: None,
            pairs: Vec::new(),
            checks: Vec::new(),
            cost: Vec::new(),
            by_shard: Vec::new(),
            profile: None,
        }
    }

    /// Adds what happened to the service. Its log is named relative to the project, like every
    /// other path, and its tail has the plan's secrets redacted: it may echo what it was sent.
    pub(crate) fn with_failure(
        mut self,
        failure: ServiceFailure,
        plan: &Plan,
        paths: &Paths,
    ) -> Self {
        self.service_failure = Some(ServiceFailure {
            log_file: paths.shown(&failure.log_file),
            log_tail: plan.secrets.redact(&failure.log_tail).into_owned(),
            ..failure
        });
        self
    }

    /// Sets the verdict from the checks and the facts that make a run broken (a service
    /// failure) or untrustworthy (`inconclusive`, with its reason).
    pub(crate) fn judged(mut self, inconclusive: Option<String>) -> SpecResult {
        // Checks that could not tell make the spec inconclusive too, each naming its cause.
        let reasons: Vec<String> = inconclusive
            .into_iter()
            .chain(
                self.checks
                    .iter()
                    .filter(|c| c.outcome == CheckOutcome::Inconclusive)
                    .map(|c| format!("{}: {}", c.name(), c.message)),
            )
            .collect();
        let inconclusive = (!reasons.is_empty()).then(|| reasons.join("; "));
        (self.verdict, self.reason) = if let Some(failure) = &self.service_failure {
            (Verdict::ServiceFailed, Some(failure.message.clone()))
        } else if self.failed_checks().next().is_some() {
            (Verdict::Fail, inconclusive)
        } else if let Some(reason) = inconclusive {
            (Verdict::Inconclusive, Some(reason))
        } else {
            (Verdict::Pass, None)
        };
        self
    }

    /// Every request failed: the `answered` rule failed this spec.
    pub fn nothing_answered(&self) -> bool {
        self.failed_checks().any(|c| c.kind == CheckKind::Answered)
    }

    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::Fail)
    }
}

/// The whole gate run: what `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    pub schema_version: u32,
    pub verdict: Verdict,
    pub exit_code: i32,
    pub provenance: Provenance,
    pub specs: Vec<SpecResult>,
    /// Baseline files written by `--update-baselines`; when set, the run's purpose was to
    /// record, so only a service failure makes the exit code non-zero.
    pub baselines_updated: Vec<PathBuf>,
    /// The signal that stopped the gate (`SIGINT`, `SIGTERM`): what was measured until then is
    /// here, unjudged, and the specs after it did not run. Exit code 130.
    #[serde(default)]
    pub interrupted: Option<String>,
    /// `loadtest merge`: the distributed run the shard files came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
}

impl GateResult {
    pub(crate) fn new(
        provenance: Provenance,
        specs: Vec<SpecResult>,
        baselines_updated: Vec<PathBuf>,
        interrupted: Option<String>,
    ) -> GateResult {
        let verdict = specs
            .iter()
            .map(|s| s.verdict)
            .max()
            .unwrap_or(Verdict::Pass);
        let exit = exit_for(
            verdict,
            !baselines_updated.is_empty(),
            interrupted.is_some(),
            specs.iter().any(SpecResult::nothing_answered),
        );
        GateResult {
            schema_version: SCHEMA_VERSION,
            verdict,
            exit_code: i32::from(exit.code()),
            provenance,
            specs,
            baselines_updated,
            interrupted,
            distribution: None,
        }
    }

    /// How the process ends for this result.
    pub fn exit(&self) -> Exit {
        exit_for(
            self.verdict,
            !self.baselines_updated.is_empty(),
            self.interrupted.is_some(),
            self.specs.iter().any(SpecResult::nothing_answered),
        )
    }
}

/// An interruption says the most (nothing after it ran); a run that recorded baselines passes
/// (recording was its purpose) unless its service failed or a spec got no expected answer at
/// all; otherwise the worst verdict decides.
fn exit_for(
    verdict: Verdict,
    recorded_baselines: bool,
    interrupted: bool,
    nothing_answered: bool,
) -> Exit {
    if interrupted {
        Exit::Interrupted
    } else if recorded_baselines && verdict != Verdict::ServiceFailed && !nothing_answered {
        Exit::Passed
    } else {
        verdict.exit()
    }
}

/// Which checks a spec without `[gate]` got, so that a first user learns where they came from.
fn default_gate_note(plan: &Plan) -> Option<String> {
    if !plan.default_gate {
        return None;
    }
    let checks: Vec<String> = plan
        .thresholds
        .iter()
        .flat_map(|t| {
            let name = format!("{} {}", t.scope.label(), t.metric);
            let max = t
                .max
                .map(|max| format!("{name} max {}", t.metric.format(max)));
            let min = t
                .min
                .map(|min| format!("{name} min {}", t.metric.format(min)));
            max.into_iter().chain(min)
        })
        .collect();
    Some(format!(
        "no [gate] in the spec: the default checks apply ({}); write a [gate] table to choose your own, an empty one to check nothing",
        checks.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_precedence() {
        use Verdict::*;
        let rows = [
            // verdict, recorded baselines, interrupted, nothing answered → exit
            (Pass, false, false, false, Exit::Passed),
            (Fail, false, false, false, Exit::CheckFailed),
            (Inconclusive, false, false, false, Exit::Inconclusive),
            (ServiceFailed, false, false, false, Exit::ServiceFailed),
            (Fail, true, false, false, Exit::Passed),
            (Inconclusive, true, false, false, Exit::Passed),
            (ServiceFailed, true, false, false, Exit::ServiceFailed),
            (Fail, true, false, true, Exit::CheckFailed),
            (Fail, false, false, true, Exit::CheckFailed),
            (Pass, false, true, false, Exit::Interrupted),
            (ServiceFailed, false, true, false, Exit::Interrupted),
            (Fail, true, true, true, Exit::Interrupted),
        ];
        for (verdict, recorded, interrupted, nothing_answered, exit) in rows {
            assert_eq!(
                exit_for(verdict, recorded, interrupted, nothing_answered),
                exit,
                "{verdict:?} recorded={recorded} interrupted={interrupted} nothing_answered={nothing_answered}"
            );
        }
    }

    #[test]
    fn a_spec_without_gate_is_told_which_default_checks_apply() {
        let spec =
            "[load]\nusers = 1\nduration = \"1s\"\n\n[[request]]\nname = \"home\"\npath = \"/\"\n";
        let cases = [
            (
                "",
                Some("no [gate] in the spec: the default checks apply (total error_rate max 1"),
            ),
            ("[gate]\n", None),
        ];
        for (gate, note) in cases {
            let plan = crate::plan::build(
                std::path::Path::new("first.toml"),
                &format!("{spec}{gate}"),
                std::path::Path::new("."),
                &crate::plan::Overrides::default(),
                &|_| None,
            )
            .unwrap();
            let notes = SpecResult::unjudged(&plan, &Paths::under(std::path::Path::new("."))).notes;
            match note {
                Some(note) => assert!(notes.len() == 1 && notes[0].starts_with(note), "{notes:?}"),
                None => assert!(notes.is_empty(), "{notes:?}"),
            }
        }
    }

    #[test]
    fn the_worst_spec_verdict_is_the_gates() {
        let result = crate::report::fixtures::result();
        let mut verdicts: Vec<Verdict> = result.specs.iter().map(|s| s.verdict).collect();
        verdicts.sort();
        assert_eq!(Some(&result.verdict), verdicts.last());
        assert_eq!(result.exit().code() as i32, result.exit_code);
        // Severity order: a broken service over a regression over an unmeasurable run.
        assert!(Verdict::ServiceFailed > Verdict::Fail);
        assert!(Verdict::Fail > Verdict::Inconclusive);
        assert!(Verdict::Inconclusive > Verdict::Pass);
    }

    #[test]
    fn a_failed_check_outranks_inconclusive_and_a_service_failure_outranks_both() {
        let mut spec = crate::report::fixtures::result().specs[0].clone();
        spec.service_failure = None;
        for check in &mut spec.checks {
            check.outcome = CheckOutcome::Pass;
        }
        assert_eq!(spec.clone().judged(None).verdict, Verdict::Pass);
        let unsure = spec.clone().judged(Some("late".into()));
        assert_eq!(
            (unsure.verdict, unsure.reason.as_deref()),
            (Verdict::Inconclusive, Some("late"))
        );
        spec.checks[0].outcome = CheckOutcome::Fail;
        assert_eq!(
            spec.clone().judged(Some("late".into())).verdict,
            Verdict::Fail
        );
        spec.service_failure = Some(ServiceFailure {
            message: "exited with code 1".into(),
            log_file: PathBuf::from("reads.service.log"),
            log_tail: String::new(),
        });
        let broken = spec.judged(None);
        assert_eq!(
            (broken.verdict, broken.reason.as_deref()),
            (Verdict::ServiceFailed, Some("exited with code 1"))
        );
    }
}
