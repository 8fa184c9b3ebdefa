//! The gate's answer: per spec, the summary, its checks and a verdict; overall, the worst verdict
//! and its exit code. This is the data every report renders, and `summary.json` is its
//! serialization (schema version [`SCHEMA_VERSION`], documented in docs/summary-json.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::judge::checks::{Check, CheckOutcome};
use crate::service::ServiceFailure;
use crate::summary::{Metrics, SpecSummary};
use crate::support::exit;
use crate::support::meta::Provenance;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
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
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => exit::PASSED,
            Verdict::Inconclusive => exit::INCONCLUSIVE,
            Verdict::Fail => exit::CHECK_FAILED,
            Verdict::ServiceFailed => exit::SERVICE_FAILED,
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
    pub checks: Vec<Check>,
}

impl SpecResult {
    /// Sets the verdict from the checks and the facts that make a run broken (a service
    /// failure) or untrustworthy (`inconclusive`, with its reason).
    pub fn judged(mut self, inconclusive: Option<String>) -> SpecResult {
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
}

impl GateResult {
    pub fn new(
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
        let exit_code = if interrupted.is_some() {
            exit::INTERRUPTED
        } else if !baselines_updated.is_empty() && verdict != Verdict::ServiceFailed {
            exit::PASSED
        } else {
            verdict.exit_code()
        };
        GateResult {
            schema_version: SCHEMA_VERSION,
            verdict,
            exit_code,
            provenance,
            specs,
            baselines_updated,
            interrupted,
        }
    }
}
