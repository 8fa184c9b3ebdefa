//! Verdict → reports. Each format is a function over the same `GateResult`, computed once:
//! console text, `junit.xml`, `summary.json`, `summary.md`, `report.html`, and GitHub
//! annotations.

pub mod annotations;
pub mod bisect;
pub mod console;
pub mod history;
pub mod html;
pub mod junit;
pub mod markdown;
mod rows;
pub mod schema;

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::judge::verdict::GateResult;
use crate::plan::secret::Secrets;
use crate::support::files::write_atomic;

/// Writes `junit.xml`, `summary.json`, `summary.md` and `report.html` into `out_dir`, each atomically, and
/// appends the Markdown to `step_summary` (GitHub's `$GITHUB_STEP_SUMMARY`) when given. Every
/// file is written with `secrets` redacted.
pub fn write_files(
    result: &GateResult,
    out_dir: &Path,
    step_summary: Option<&Path>,
    secrets: &Secrets,
) -> anyhow::Result<()> {
    let mut junit = Vec::new();
    junit::write(&mut junit, result)?;
    write_atomic(&out_dir.join("junit.xml"), &secrets.redact_bytes(&junit))?;
    write_atomic(
        &out_dir.join("summary.json"),
        secrets.redact(&summary_json(result)).as_bytes(),
    )?;
    let mut markdown = Vec::new();
    markdown::write(&mut markdown, result)?;
    let markdown = secrets.redact_bytes(&markdown);
    write_atomic(&out_dir.join("summary.md"), &markdown)?;
    let mut page = Vec::new();
    html::write(&mut page, result)?;
    write_atomic(&out_dir.join("report.html"), &secrets.redact_bytes(&page))?;
    append_step_summary(step_summary, &markdown)
}

/// Appends `markdown` to GitHub's job summary file (`$GITHUB_STEP_SUMMARY`), when given.
pub fn append_step_summary(step_summary: Option<&Path>, markdown: &[u8]) -> anyhow::Result<()> {
    if let Some(path) = step_summary {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(markdown))
            .with_context(|| format!("cannot append the summary to {}", path.display()))?;
    }
    Ok(())
}

/// `summary.json`: pretty, with a final newline.
pub fn summary_json(result: &GateResult) -> String {
    let mut text = serde_json::to_string_pretty(result).expect("a result always encodes as JSON");
    text.push('\n');
    text
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A hand-built result for the golden files of every format.

    use std::collections::BTreeMap;
    use std::fmt::Debug;
    use std::io::Write;
    use std::path::PathBuf;

    use crate::cost::{CostSummary, FunctionCost, RequestCost};
    use crate::judge::checks::{Check, CheckKind, CheckOutcome};
    use crate::judge::cost::{CostChange, FunctionChange};
    use crate::judge::pairs::PairRatios;
    use crate::judge::verdict::{GateResult, SpecResult, Verdict};
    use crate::metric::Metric;
    use crate::profile::{ProfileReport, ShareChange};
    use crate::run::record::ErrorExample;
    use crate::run::resources::{ResourceFigures, ResourcePoint};
    use crate::service::ServiceFailure;
    use crate::summary::{
        FailedLatency, LatencyStats, LoadFacts, Metrics, SpecSummary, StreamStats, SweepStep,
        SweepSummary, WarmupFacts,
    };
    use crate::support::meta::{Host, Provenance};
    use crate::support::units::Seconds;

    /// What a format's `write` makes of `result`, as text.
    pub fn render<E: Debug>(
        write: impl Fn(&mut dyn Write, &GateResult) -> Result<(), E>,
        result: &GateResult,
    ) -> String {
        let mut out = Vec::new();
        write(&mut out, result).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn metrics(requests: u64, failures: u64, p50: u64) -> Metrics {
        Metrics {
            examples: Vec::new(),
            requests,
            failures,
            error_rate: failures as f64 / requests as f64,
            rps: requests as f64 / 10.0,
            latency_us: LatencyStats {
                min: p50 / 4,
                mean: p50 as f64 * 1.2,
                p50,
                p90: p50 * 2,
                p99: p50 * 4,
                max: p50 * 9,
            },
            status_codes: BTreeMap::from([
                ("201".into(), requests / 20),
                ("409".into(), requests - requests / 20 - failures),
                ("500".into(), failures),
            ]),
            errors: if failures > 0 {
                BTreeMap::from([("status".into(), failures)])
            } else {
                BTreeMap::new()
            },
            bytes_received: requests * 12,
            clamped: 0,
            histogram: "HISTOGRAM".into(),
            failed: (failures > 0).then(|| FailedLatency {
                latency_us: LatencyStats {
                    min: 20,
                    mean: 45.5,
                    p50: 40,
                    p90: 80,
                    p99: 150,
                    max: 900,
                },
                histogram: "FAILED HISTOGRAM".into(),
            }),
            stream: None,
        }
    }

    /// 198 answered streams of ten messages: the first after ~50 ms, then ~20 ms apart.
    fn stream_stats() -> StreamStats {
        let stats = |p50: u64| LatencyStats {
            min: p50 * 9 / 10,
            mean: p50 as f64 * 1.05,
            p50,
            p90: p50 * 11 / 10,
            p99: p50 * 13 / 10,
            max: p50 * 2,
        };
        StreamStats {
            streams: 198,
            messages: 1_980,
            messages_per_stream: 10.0,
            messages_per_second: 198.0,
            first_message_us: stats(50_200),
            message_gap_us: stats(20_050),
            first_message_histogram: "FIRST MESSAGE HISTOGRAM".into(),
            message_gap_histogram: "MESSAGE GAP HISTOGRAM".into(),
        }
    }

    fn check(
        metric: Metric,
        kind: CheckKind,
        limit: f64,
        baseline: Option<f64>,
        current: f64,
        outcome: CheckOutcome,
        message: &str,
    ) -> Check {
        Check {
            scope: "total".into(),
            metric,
            kind,
            limit,
            baseline,
            current,
            change: baseline.filter(|b| *b != 0.0).map(|b| (current - b) / b),
            outcome,
            message: message.into(),
        }
    }

    /// `[cost]` of the badges spec: `emit-new` got a function of 158 instructions more.
    fn cost() -> CostSummary {
        let request = |instructions: f64, functions: &[(&str, f64)]| RequestCost {
            instructions,
            failures: 0,
            functions: (functions.iter())
                .map(|&(function, self_instructions)| FunctionCost {
                    function: function.to_owned(),
                    self_instructions,
                    inclusive: self_instructions * 2.0,
                })
                .collect(),
        };
        CostSummary {
            requests: 1000,
            warmup_requests: 20,
            functions: 100,
            instructions: 17_190.5,
            by_request: BTreeMap::from([
                (
                    "emit-duplicate".into(),
                    request(17_000.0, &[("sqlite3VdbeExec", 4_100.0)]),
                ),
                (
                    "emit-new".into(),
                    request(
                        21_000.0,
                        &[
                            ("sqlite3VdbeExec", 5_200.0),
                            ("demo_service::extra_work", 158.0),
                        ],
                    ),
                ),
            ]),
        }
    }

    fn cost_changes() -> Vec<CostChange> {
        vec![
            CostChange {
                request: "emit-duplicate".into(),
                baseline: Some(17_010.0),
                current: 17_000.0,
                functions: Vec::new(),
            },
            CostChange {
                request: "emit-new".into(),
                baseline: Some(20_840.0),
                current: 21_000.0,
                functions: vec![
                    FunctionChange {
                        function: "demo_service::extra_work".into(),
                        baseline: None,
                        current: Some(158.0),
                        change: 158.0,
                    },
                    FunctionChange {
                        function: "<axum::Router<S> as Service<Request<B>>>::call".into(),
                        baseline: Some(266.0),
                        current: Some(268.5),
                        change: 2.5,
                    },
                ],
            },
        ]
    }

    /// A sweep that saturates at 8 users and breaks its limits at 16; `faster` adds to its
    /// throughput.
    fn sweep(faster: f64) -> SweepSummary {
        let step = |users: f64, rps: f64, p90_ms: u64, grew: bool, limits_held: bool| SweepStep {
            step: users,
            requests: (rps * 3.0) as u64,
            failures: 0,
            error_rate: 0.0,
            rps: rps + faster,
            latency_us: metrics(100, 0, p90_ms * 500).latency_us,
            grew,
            limits_held,
        };
        SweepSummary {
            by: "users".into(),
            steps: vec![
                step(2.0, 95.0, 21, true, true),
                step(4.0, 190.0, 21, true, true),
                step(8.0, 370.0, 24, true, true),
                step(16.0, 380.0, 250, false, false),
            ],
            capacity: Some(8.0),
        }
    }

    pub fn result() -> GateResult {
        let summary = SpecSummary {
            load: LoadFacts {
                model: "closed".into(),
                rate: 0.0,
                users: 20,
                seed: 1,
                measured_seconds: Seconds(10.0),
                warmup_seconds: Seconds(2.0),
            },
            total: metrics(4000, 40, 1_200),
            requests: BTreeMap::from([
                ("emit-duplicate".into(), metrics(3800, 38, 1_100)),
                (
                    "emit-new".into(),
                    Metrics {
                        examples: vec![ErrorExample {
                            kind: "status".into(),
                            status: Some(500),
                            message: "got 500, expected one of [201, 409]".into(),
                            body: Some("database is locked\n".into()),
                        }],
                        stream: Some(stream_stats()),
                        ..metrics(200, 2, 2_400)
                    },
                ),
            ]),
            flows: BTreeMap::new(),
            warmup: WarmupFacts {
                requests: 800,
                failures: 0,
            },
            service: Some(ResourceFigures {
                rss_peak_bytes: 48 << 20,
                rss_mean_bytes: 40 << 20,
                rss_start_bytes: 36 << 20,
                rss_end_bytes: 44 << 20,
                rss_growth_bytes: 8 << 20,
                cpu_seconds: 1.6,
                cpu_clock: None,
                cpu_per_request_us: 400.0,
                cpu_utilisation: 0.16,
                threads_peak: 6,
                fds_peak: 31,
                processes_peak: 1,
            }),
            generator: Some(ResourceFigures {
                rss_peak_bytes: 12 << 20,
                rss_mean_bytes: 12 << 20,
                rss_start_bytes: 12 << 20,
                rss_end_bytes: 12 << 20,
                rss_growth_bytes: 0,
                cpu_seconds: 0.4,
                cpu_clock: None,
                cpu_per_request_us: 100.0,
                cpu_utilisation: 0.04,
                threads_peak: 3,
                fds_peak: 40,
                processes_peak: 1,
            }),
            service_series: vec![ResourcePoint {
                t: Seconds(0.1),
                rss_bytes: 36 << 20,
                cpu_seconds: 0.01,
                threads: 6,
                fds: 31,
                processes: 1,
            }],
            schedule: None,
            sweep: Some(sweep(0.0)),
            rounds: Vec::new(),
            cost: Some(cost()),
            series: Vec::new(),
        };
        let failing = SpecResult {
            cost: cost_changes(),
            by_shard: Vec::new(),
            profile: Some(ProfileReport {
                samples: 1980,
                folded: "target/loadtest/badges.profile.folded".into(),
                compared_with: Some("HEAD~1 (0123abcd4567)".into()),
                before_samples: Some(1850),
                functions: vec![
                    ShareChange {
                        function: "demo_service::extra_work".into(),
                        before: 0.0,
                        now: 41.2,
                        change: 41.2,
                    },
                    ShareChange {
                        function: "<hyper::proto::h1::role::Server as Http1Transaction>::parse"
                            .into(),
                        before: 12.5,
                        now: 7.4,
                        change: -5.1,
                    },
                ],
                ..ProfileReport::default()
            }),
            name: "badges".into(),
            file: PathBuf::from("loadspec/badges.toml"),
            spec_hash: "0123456789abcdef".into(),
            verdict: Verdict::Fail,
            reason: None,
            service_failure: None,
            notes: vec![],
            summary: Some(summary),
            baseline_total: Some(metrics(4000, 0, 1_000)),
            baseline_requests: BTreeMap::from([
                ("emit-duplicate".into(), metrics(3800, 0, 1_000).latency_us),
                ("emit-new".into(), metrics(200, 0, 1_500).latency_us),
            ]),
            baseline_sweep: Some(sweep(10.0)),
            pairs: vec![PairRatios {
                metric: "total p90".into(),
                ratios: vec![1.21, 1.18, 1.2, 1.25, 1.19],
                median: 1.2,
                low: 1.18,
                high: 1.21,
            }],
            checks: vec![
                check(
                    Metric::P90,
                    CheckKind::Regression,
                    0.15,
                    Some(2_000.0),
                    2_400.0,
                    CheckOutcome::Fail,
                    "p90 2.00ms -> 2.40ms (+20.0%) exceeds +15%",
                ),
                check(
                    Metric::P90,
                    CheckKind::Max,
                    20_000.0,
                    Some(2_000.0),
                    2_400.0,
                    CheckOutcome::Pass,
                    "p90 2.40ms within max 20.00ms",
                ),
                check(
                    Metric::ErrorRate,
                    CheckKind::Max,
                    0.01,
                    Some(0.0),
                    0.01,
                    CheckOutcome::Pass,
                    "error_rate 1.00% within max 1.00%",
                ),
                check(
                    Metric::Instructions,
                    CheckKind::Regression,
                    0.01,
                    Some(17_000.0),
                    17_190.5,
                    CheckOutcome::Fail,
                    "instructions 17 000 -> 17 190.5 (+1.1%) exceeds +1%",
                ),
            ],
        };
        let crashed = SpecResult {
            cost: Vec::new(),
            by_shard: Vec::new(),
            profile: None,
            name: "reads".into(),
            file: PathBuf::from("loadspec/reads.toml"),
            spec_hash: "fedcba9876543210".into(),
            verdict: Verdict::ServiceFailed,
            reason: Some("the service exited with status 1 before it became ready".into()),
            service_failure: Some(ServiceFailure {
                message: "the service exited with status 1 before it became ready".into(),
                log_file: PathBuf::from("target/loadtest/reads.service.log"),
                log_tail: "error: address in use".into(),
            }),
            notes: vec![
                "no baseline (baselines/reads.json): regression checks were not judged".into(),
            ],
            summary: None,
            baseline_total: None,
            baseline_requests: BTreeMap::new(),
            baseline_sweep: None,
            pairs: Vec::new(),
            checks: vec![],
        };
        let provenance = Provenance {
            recorded_at: "2026-11-24T12:00:00Z".into(),
            git_revision: Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904".into()),
            git_dirty: false,
            host: Host {
                os: "linux".into(),
                arch: "x86_64".into(),
                cpus: 2,
                cpu_model: Some("Test CPU".into()),
                cpus_kept_awake: false,
            },
            loadgate_version: "0.1.0".into(),
            build: None,
        };
        GateResult::new(provenance, vec![failing, crashed], vec![], None)
    }
}

#[cfg(test)]
pub(crate) mod golden {
    //! Golden-file comparison: `UPDATE_GOLDEN=1 cargo test -p loadgate` rewrites them.

    use std::path::PathBuf;

    pub fn check(name: &str, actual: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `UPDATE_GOLDEN=1 cargo test -p loadgate` to create it",
                path.display()
            )
        });
        assert!(
            expected == actual,
            "{} differs from the output (rerun with UPDATE_GOLDEN=1 to accept it, then review the diff):\n{actual}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::FlowSummary;

    #[test]
    fn every_format_shows_each_flow_and_a_row_per_step() {
        let mut result = fixtures::result();
        let summary = result.specs[0].summary.as_mut().unwrap();
        let step = summary.requests["emit-new"].clone();
        summary.requests.insert("cart/open".into(), step.clone());
        summary.requests.insert("cart/pay".into(), step);
        summary.flows.insert(
            "cart".into(),
            FlowSummary {
                iterations: 200,
                completed: 198,
                aborted: 2,
                steps: vec!["cart/open".into(), "cart/pay".into()],
            },
        );
        let flow = "flow cart: 200 iterations · 198 completed · 2 aborted";
        let console = fixtures::render(|out, r| console::write_spec(out, &r.specs[0]), &result);
        assert!(
            console.contains(&format!("{flow} (steps: cart/open → cart/pay)")),
            "{console}"
        );
        assert!(console.contains("  cart/pay "), "{console}");
        let markdown = fixtures::render(markdown::write, &result);
        assert!(markdown.contains(flow), "{markdown}");
        assert!(
            markdown.contains("| cart/pay | 200 | 2 | 2.40ms | 4.80ms | 9.60ms |"),
            "{markdown}"
        );
        let junit = fixtures::render(junit::write, &result);
        assert!(junit.contains(flow), "{junit}");
        assert!(
            junit.contains("cart/open: 200 requests · 2 failed · p50 2.40ms"),
            "{junit}"
        );
        let page = fixtures::render(html::write, &result);
        assert!(page.contains(flow) && page.contains("cart/pay: 200 requests"));
        let parsed: GateResult = serde_json::from_str(&summary_json(&result)).unwrap();
        assert_eq!(
            parsed.specs[0].summary.as_ref().unwrap().flows["cart"].aborted,
            2
        );
    }

    #[test]
    fn summary_json_round_trips_and_matches_its_golden_file() {
        let result = fixtures::result();
        let text = summary_json(&result);
        golden::check("summary.json", &text);
        let parsed: GateResult = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, result);
        assert_eq!(
            (result.verdict.label(), result.exit_code),
            ("SERVICE FAILED", 3)
        );
    }

    #[test]
    fn write_files_writes_every_format_and_appends_the_step_summary() {
        let dir = tempfile::tempdir().unwrap();
        let step_summary = dir.path().join("step.md");
        std::fs::write(&step_summary, "earlier step\n").unwrap();
        // The fixture's service log says "address in use": play that it is a secret.
        let mut secrets = Secrets::default();
        secrets.extend(&["address in use".to_owned()]);
        write_files(
            &fixtures::result(),
            &dir.path().join("out"),
            Some(&step_summary),
            &secrets,
        )
        .unwrap();
        for name in ["junit.xml", "summary.json", "summary.md", "report.html"] {
            let text = std::fs::read_to_string(dir.path().join("out").join(name)).unwrap();
            assert!(
                !text.contains("address in use") && text.contains("error: ***"),
                "{name}: {text}"
            );
        }
        let appended = std::fs::read_to_string(step_summary).unwrap();
        assert!(
            appended.starts_with("earlier step\n## loadgate"),
            "{appended}"
        );
        assert!(!appended.contains("address in use"));
    }
}
