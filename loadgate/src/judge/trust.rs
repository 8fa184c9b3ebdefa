//! Whether a measured run can be trusted against its baseline: every rule that makes a result
//! inconclusive, and every note a reader should see beside the checks, in pure functions over
//! plain facts (no clock, no host read, no file).

use std::path::Path;

use crate::judge::baseline::{self, Baseline};
use crate::judge::verdict::{SpecResult, Verdict};
use crate::plan::Threshold;
use crate::summary::{ScheduleSummary, SpecSummary};
use crate::support::meta::{Build, Host, Provenance};
use crate::support::units::{format_micros, format_percent};

/// Above this fraction of late sends, the generator did not keep the schedule.
pub const MAX_LATE_FRACTION: f64 = 0.01;
/// Above this error rate, a baseline whose latency mixed in its failures is no reference.
const MAX_MIXED_FAILURES: f64 = 0.01;
/// Below this share of the target rate, the run did not apply the load it was asked for.
const MIN_ACHIEVED_SHARE: f64 = 0.98;

/// What a stored-baseline judgement knows beside the checks.
#[derive(Debug)]
pub struct Facts<'a> {
    pub thresholds: &'a [Threshold],
    pub spec_hash: &'a str,
    pub summary: &'a SpecSummary,
    pub baseline: Option<&'a Baseline>,
    /// The baseline file, as reports name it.
    pub baseline_file: &'a Path,
    /// The host this run measured on.
    pub host: &'a Host,
    /// How this run's services were built; `None` with `--target`.
    pub build: Option<&'a Build>,
    /// `--strict-host`: a baseline from another host makes the run inconclusive.
    pub strict_host: bool,
    /// `--users`, `--duration` or `--warmup` changed the spec's load.
    pub load_overridden: bool,
}

/// The rules' answer: reasons that make the run inconclusive, and notes that do not.
#[derive(Debug, Default, PartialEq)]
pub struct Trust {
    pub inconclusive: Vec<String>,
    pub notes: Vec<String>,
}

impl Trust {
    /// The reasons as one sentence, `None` when the run can be trusted.
    pub fn reason(&self) -> Option<String> {
        (!self.inconclusive.is_empty()).then(|| self.inconclusive.join("; "))
    }
}

/// Applies every rule, in the order reports show their sentences.
pub fn trust(facts: &Facts<'_>) -> Trust {
    let mut trust = Trust::default();
    match facts.baseline {
        None => trust.notes.push(format!(
            "no baseline ({}): regression checks were not judged; record one with --update-baselines",
            facts.baseline_file.display()
        )),
        Some(baseline) if baseline.spec_hash != facts.spec_hash => {
            trust.inconclusive.push(format!(
                "the baseline was recorded for another version of the spec (workload hash {} there, {} now): \
                 record a new one with --update-baselines",
                baseline.spec_hash, facts.spec_hash
            ));
        }
        Some(_) => {}
    }
    if let Some(baseline) = facts.baseline
        && let Some(text) = failures_in_latency(baseline, facts.thresholds)
    {
        // A trace of failures barely moves a percentile; more compares different things.
        if baseline.summary.total.error_rate > MAX_MIXED_FAILURES {
            trust.inconclusive.push(text);
        } else {
            trust.notes.push(text);
        }
    }
    trust
        .inconclusive
        .extend(facts.summary.schedule.as_ref().and_then(shortfall));
    // Figures from another machine are not comparable: said always, decisive with --strict-host.
    if let Some(baseline) = facts.baseline
        && baseline.provenance.host != *facts.host
    {
        let text = format!(
            "the baseline was recorded on another host ({} there, {} here)",
            describe_host(&baseline.provenance.host),
            describe_host(facts.host)
        );
        if facts.strict_host {
            trust
                .inconclusive
                .push(format!("{text} and --strict-host is set"));
        } else {
            trust
                .notes
                .push(format!("{text}: its figures may not compare"));
        }
    }
    // A baseline built with other profile settings (a faster CI build, say) measured another
    // binary: said, as for another host. Baselines from before builds were recorded say nothing.
    if let (Some(baseline), Some(build)) = (facts.baseline, facts.build)
        && let Some(theirs) = &baseline.provenance.build
        && theirs != build
    {
        trust.notes.push(format!(
            "the baseline's service was built with {} and this run's with {}: its figures may not compare",
            theirs.describe(),
            build.describe()
        ));
    }
    if facts.summary.service.is_none() && facts.thresholds.iter().any(|t| t.metric.is_service()) {
        trust.notes.push(
            "the service_* checks were not judged: there is no service process to measure (--target)"
                .to_owned(),
        );
    }
    if facts.load_overridden {
        trust.notes.push(
            "run with --users/--duration/--warmup overrides: the load differs from the spec's"
                .to_owned(),
        );
    }
    trust
}

/// A baseline recorded before failures were timed apart has its failed requests in its latency;
/// said when a latency check reads it.
fn failures_in_latency(baseline: &Baseline, thresholds: &[Threshold]) -> Option<String> {
    let total = &baseline.summary.total;
    let judged = thresholds
        .iter()
        .any(|t| t.metric.is_latency() && t.regression.is_some());
    (judged && total.failures > 0 && total.failed.is_none()).then(|| {
        format!(
            "the baseline's latency includes its {} failed requests ({}): it was recorded before \
             failures were timed apart; record a new one with --update-baselines",
            total.failures,
            format_percent(total.error_rate)
        )
    })
}

fn describe_host(host: &Host) -> String {
    format!(
        "{} × {}, {} {}{}",
        host.cpus,
        host.cpu_model.as_deref().unwrap_or("unknown CPU"),
        host.os,
        host.arch,
        if host.cpus_kept_awake {
            ", CPUs kept awake"
        } else {
            ""
        }
    )
}

/// Why an open-model run did not apply the load its spec asked for, if it did not: a reason to
/// call it inconclusive (and to record no baseline from it), never a pass.
pub fn shortfall(schedule: &ScheduleSummary) -> Option<String> {
    let mut problems = Vec::new();
    if schedule.achieved_rps < schedule.target_rps * MIN_ACHIEVED_SHARE {
        problems.push(format!(
            "it sent {:.1} requests/s of the {} asked ({:+.1}%)",
            schedule.achieved_rps,
            schedule.target_rps,
            (schedule.achieved_rps / schedule.target_rps - 1.0) * 100.0
        ));
    }
    if schedule.late_fraction > MAX_LATE_FRACTION {
        problems.push(format!(
            "{} of its requests started more than 10ms late (up to {})",
            format_percent(schedule.late_fraction),
            format_micros(schedule.max_late_us as f64)
        ));
    }
    if schedule.in_flight_limit_hits > 0 {
        problems.push(format!(
            "{} requests waited for a slot under max_in_flight = {}",
            schedule.in_flight_limit_hits, schedule.max_in_flight
        ));
    }
    (!problems.is_empty()).then(|| {
        format!(
            "the open model did not keep its schedule: {} (the service is saturated or the generator is the limit)",
            problems.join("; ")
        )
    })
}

/// The baseline a spec's result would become; `None` when the run did not complete, did not
/// apply its load, or got no expected answer.
pub fn from_result(result: &SpecResult, provenance: &Provenance) -> Option<Baseline> {
    // A broken service, or one that answered nothing as expected, is no reference.
    if result.verdict == Verdict::ServiceFailed || result.nothing_answered() {
        return None;
    }
    // A run that did not apply the load it was asked for is no reference for later runs.
    if let Some(schedule) = result.summary.as_ref()?.schedule.as_ref()
        && shortfall(schedule).is_some()
    {
        return None;
    }
    let mut summary = result.summary.clone()?;
    // Error examples belong to one run's report, like the series.
    for metrics in summary.requests.values_mut() {
        metrics.examples.clear();
    }
    Some(Baseline {
        schema_version: baseline::SCHEMA_VERSION,
        spec: result.name.clone(),
        spec_hash: result.spec_hash.clone(),
        provenance: provenance.clone(),
        // The time series is for charts of one run; a baseline keeps the figures.
        summary: SpecSummary {
            series: Vec::new(),
            service_series: Vec::new(),
            ..summary
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{Metric, Scope};
    use crate::summary::LatencyStats;
    use crate::support::meta::Provenance;

    fn host(cpus: usize) -> Host {
        Host {
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus,
            cpu_model: Some("Test CPU".into()),
            cpus_kept_awake: false,
        }
    }

    fn schedule() -> ScheduleSummary {
        ScheduleSummary {
            target_rps: 200.0,
            achieved_rps: 199.0,
            sent: 1990,
            late: 5,
            late_fraction: 0.0025,
            max_late_us: 30_000,
            in_flight_limit_hits: 0,
            max_in_flight: 100,
            uncorrected_latency_us: LatencyStats::default(),
            send_error_us: LatencyStats::default(),
        }
    }

    fn baseline(hash: &str, cpus: usize) -> Baseline {
        let summary = crate::report::fixtures::result().specs[0]
            .summary
            .clone()
            .unwrap();
        Baseline {
            schema_version: 1,
            spec: "reads".into(),
            spec_hash: hash.into(),
            provenance: Provenance {
                host: host(cpus),
                ..crate::report::fixtures::result().provenance
            },
            summary,
        }
    }

    /// One row: what differs from a trusted run with a same-host baseline of the same hash.
    struct Row {
        baseline: Option<(&'static str, usize)>,
        /// The baseline's error rate, recorded before failures were timed apart.
        old_failures: f64,
        late_fraction: f64,
        strict_host: bool,
        no_service: bool,
        load_overridden: bool,
        inconclusive: &'static [&'static str],
        notes: &'static [&'static str],
    }

    const TRUSTED: Row = Row {
        baseline: Some(("abc", 2)),
        old_failures: 0.0,
        late_fraction: 0.0,
        strict_host: false,
        no_service: false,
        load_overridden: false,
        inconclusive: &[],
        notes: &[],
    };

    #[test]
    fn each_rule_makes_its_reason_or_note() {
        let rows = [
            TRUSTED,
            Row {
                baseline: None,
                notes: &["no baseline (baselines/reads.json): regression checks were not judged"],
                ..TRUSTED
            },
            Row {
                baseline: Some(("old", 2)),
                inconclusive: &["another version of the spec (workload hash old there, abc now)"],
                ..TRUSTED
            },
            Row {
                late_fraction: 0.2,
                inconclusive: &["the open model did not keep its schedule"],
                ..TRUSTED
            },
            Row {
                baseline: Some(("abc", 64)),
                notes: &[
                    "another host (64 × Test CPU, linux x86_64 there, 2 × Test CPU, linux x86_64 here): its figures may not compare",
                ],
                ..TRUSTED
            },
            Row {
                baseline: Some(("abc", 64)),
                strict_host: true,
                inconclusive: &["another host", "and --strict-host is set"],
                ..TRUSTED
            },
            Row {
                old_failures: 0.005,
                notes: &["the baseline's latency includes its 5 failed requests (0.50%)"],
                ..TRUSTED
            },
            Row {
                old_failures: 0.2,
                inconclusive: &["includes its 200 failed requests (20.00%)"],
                ..TRUSTED
            },
            Row {
                no_service: true,
                notes: &["the service_* checks were not judged"],
                ..TRUSTED
            },
            Row {
                load_overridden: true,
                notes: &["run with --users/--duration/--warmup overrides"],
                ..TRUSTED
            },
        ];
        let threshold = |metric| Threshold {
            scope: Scope::Total,
            metric,
            regression: Some(0.1),
            max: None,
            min: None,
            noise_floor: crate::metric::NoiseFloor::fixed(0.0),
        };
        let thresholds = [threshold(Metric::ServiceRssPeak), threshold(Metric::P90)];
        for (idx, row) in rows.iter().enumerate() {
            let mut summary = baseline("abc", 2).summary;
            summary.schedule = Some(ScheduleSummary {
                late_fraction: row.late_fraction,
                ..schedule()
            });
            if row.no_service {
                summary.service = None;
            }
            let stored = row.baseline.map(|(hash, cpus)| {
                let mut stored = baseline(hash, cpus);
                let total = &mut stored.summary.total;
                total.requests = 1000;
                total.failures = (row.old_failures * 1000.0).round() as u64;
                total.error_rate = row.old_failures;
                total.failed = None;
                stored
            });
            let got = trust(&Facts {
                thresholds: &thresholds,
                spec_hash: "abc",
                summary: &summary,
                baseline: stored.as_ref(),
                baseline_file: Path::new("baselines/reads.json"),
                host: &host(2),
                build: None,
                strict_host: row.strict_host,
                load_overridden: row.load_overridden,
            });
            let joined = |texts: &[String]| texts.join(" | ");
            assert_eq!(
                got.inconclusive.len(),
                usize::from(!row.inconclusive.is_empty()),
                "row {idx}: {got:?}"
            );
            for part in row.inconclusive {
                assert!(
                    joined(&got.inconclusive).contains(part),
                    "row {idx}: {got:?}"
                );
            }
            assert_eq!(got.notes.len(), row.notes.len(), "row {idx}: {got:?}");
            for (note, part) in got.notes.iter().zip(row.notes) {
                assert!(note.contains(part), "row {idx}: {note}");
            }
            assert_eq!(got.reason().is_some(), !row.inconclusive.is_empty());
        }
    }

    #[test]
    fn reasons_join_in_rule_order() {
        let summary = SpecSummary {
            schedule: Some(ScheduleSummary {
                late_fraction: 0.2,
                ..schedule()
            }),
            ..baseline("abc", 2).summary
        };
        let stored = baseline("old", 64);
        let got = trust(&Facts {
            thresholds: &[],
            spec_hash: "abc",
            summary: &summary,
            baseline: Some(&stored),
            baseline_file: Path::new("baselines/reads.json"),
            host: &host(2),
            build: None,
            strict_host: true,
            load_overridden: false,
        });
        let reason = got.reason().unwrap();
        let at = |part: &str| reason.find(part).unwrap_or_else(|| panic!("{reason}"));
        assert!(at("another version") < at("did not keep its schedule"));
        assert!(at("did not keep its schedule") < at("another host"));
    }

    /// A baseline built with the project's profile, a run with CI's faster overrides: said; a
    /// baseline from before builds were recorded says nothing.
    #[test]
    fn a_baseline_built_with_other_profile_settings_is_noted() {
        let as_written = Build {
            profile: "release".to_owned(),
            overrides: Default::default(),
        };
        let faster = Build {
            overrides: [("LTO".to_owned(), "off".to_owned())].into(),
            ..as_written.clone()
        };
        for (theirs, ours, note) in [
            (Some(&as_written), &faster, true),
            (Some(&faster), &faster, false),
            (None, &faster, false),
        ] {
            let mut stored = baseline("abc", 2);
            stored.provenance.build = theirs.cloned();
            let got = trust(&Facts {
                thresholds: &[],
                spec_hash: "abc",
                summary: &baseline("abc", 2).summary,
                baseline: Some(&stored),
                baseline_file: Path::new("baselines/reads.json"),
                host: &host(2),
                build: Some(ours),
                strict_host: false,
                load_overridden: false,
            });
            let expected: &[&str] = if note {
                &[
                    "the baseline's service was built with the release profile as written and this \
                   run's with the release profile with LTO=off: its figures may not compare",
                ]
            } else {
                &[]
            };
            assert_eq!(got.notes, expected, "{theirs:?}");
        }
    }

    /// Idle CPUs that poll wake tens of µs sooner: a baseline recorded so is not this host's.
    #[test]
    fn cpus_kept_awake_on_one_side_only_is_another_host() {
        let mut stored = baseline("abc", 2);
        stored.provenance.host.cpus_kept_awake = true;
        let got = trust(&Facts {
            thresholds: &[],
            spec_hash: "abc",
            summary: &baseline("abc", 2).summary,
            baseline: Some(&stored),
            baseline_file: Path::new("baselines/reads.json"),
            host: &host(2),
            build: None,
            strict_host: false,
            load_overridden: false,
        });
        assert_eq!(
            got.notes,
            [
                "the baseline was recorded on another host (2 × Test CPU, linux x86_64, CPUs kept \
              awake there, 2 × Test CPU, linux x86_64 here): its figures may not compare"
            ]
        );
    }

    #[test]
    fn a_schedule_not_kept_is_explained() {
        assert_eq!(shortfall(&schedule()), None);
        let behind = ScheduleSummary {
            achieved_rps: 150.0,
            late: 400,
            late_fraction: 0.2,
            ..schedule()
        };
        let reason = shortfall(&behind).unwrap();
        assert!(
            reason.contains("sent 150.0 requests/s of the 200 asked (-25.0%)"),
            "{reason}"
        );
        assert!(
            reason.contains("20.00% of its requests started more than 10ms late (up to 30.00ms)"),
            "{reason}"
        );
        let bounded = ScheduleSummary {
            in_flight_limit_hits: 7,
            ..schedule()
        };
        assert!(
            shortfall(&bounded)
                .unwrap()
                .contains("7 requests waited for a slot under max_in_flight = 100")
        );
    }
}
