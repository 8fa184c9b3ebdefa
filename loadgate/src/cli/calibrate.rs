//! `loadtest calibrate`: how noisy is this machine for these specs? Takes the specs and a number
//! of runs; runs each spec that many times unchanged (its baselines neither read nor written),
//! and gives, for each metric its `[gate]` judges relatively, the median, the spread and the
//! `regression` and `noise_floor` that none of those runs would have tripped, with a margin, as
//! `[gate]` lines ready to paste.
//!
//! A user cannot know the run-to-run noise of their CI runner without measuring it; thresholds
//! copied from somewhere else are either blind there or cry wolf.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;

use crate::judge::checks::{Check, CheckKind};
use crate::metric::{Metric, Scope};
use crate::pipeline::blocking::run_blocking;
use crate::pipeline::{GateError, GateOptions};
use crate::summary::SpecSummary;
use crate::support::exit::Exit;
use crate::support::stats::median;

use super::terminal::Terminal;
use super::{CalibrateArgs, build_binaries, paths};

/// How far beyond the widest change seen between two unchanged runs the proposed thresholds
/// sit: unchanged runs on a busier day spread further than the few measured here.
pub const MARGIN: f64 = 1.5;

/// Judged when a spec's `[gate]` judges nothing relatively: the metrics a first gate needs.
const FIRST_METRICS: [Metric; 3] = [Metric::P50, Metric::P90, Metric::ServiceCpuPerRequest];

impl CalibrateArgs {
    pub(super) fn run(self, root: &Path) -> Result<Exit, GateError> {
        if !self.no_build {
            build_binaries(root).map_err(GateError::BadInput)?;
        }
        // An empty baselines directory: nothing is compared with, nothing is written.
        let baselines = tempfile::tempdir()
            .map_err(|err| GateError::Output(anyhow!("cannot make a scratch directory: {err}")))?;
        let mut out = paths(root, &None, &self.out);
        out.out_dir = out.out_dir.join("calibrate");
        let mut options = GateOptions::new(out);
        options.paths.baselines_dir = baselines.path().to_path_buf();
        options.specs = self.specs.clone();
        options.overrides = self.overrides.overrides();
        let observer = Arc::new(Terminal::stderr());
        let mut runs: BTreeMap<String, Vec<SpecRun>> = BTreeMap::new();
        for run in 1..=self.runs {
            eprintln!("calibrate: run {run} of {}", self.runs);
            let result = run_blocking(&options, &mut std::io::sink(), observer.clone())?;
            if result.interrupted.is_some() {
                return Ok(Exit::Interrupted);
            }
            for spec in result.specs {
                let (Some(summary), None) = (spec.summary, &spec.service_failure) else {
                    eprintln!(
                        "error: {}: the service failed on run {run}{}; see its log under {}",
                        spec.name,
                        spec.reason.map(|r| format!(": {r}")).unwrap_or_default(),
                        options.paths.out_dir.display()
                    );
                    return Ok(Exit::ServiceFailed);
                };
                let judged = judged_metrics(&spec.checks);
                runs.entry(spec.name).or_default().push((summary, judged));
            }
        }
        let mut text = format!(
            "\ncalibrate: each spec ran {} times unchanged on this machine; nothing was written to baselines/\n",
            self.runs
        );
        for (name, runs) in &runs {
            let judged = match runs.first() {
                Some((_, judged)) if !judged.is_empty() => judged.clone(),
                _ => FIRST_METRICS.iter().map(|m| (Scope::Total, *m)).collect(),
            };
            let rows: Vec<Row> = judged
                .iter()
                .filter_map(|(scope, metric)| {
                    let values: Vec<f64> = runs
                        .iter()
                        .filter_map(|(summary, _)| summary.value(*metric, scope))
                        .collect();
                    Row::of(scope.clone(), *metric, &values)
                })
                .collect();
            write_spec(&mut text, name, runs.len(), &rows);
        }
        print!("{text}");
        Ok(Exit::Passed)
    }
}

/// What one run of a spec measured, and the (scope, metric) its gate judged relatively.
type SpecRun = (SpecSummary, Vec<(Scope, Metric)>);

/// The (scope, metric) of each regression check, in the order the gate judged them.
fn judged_metrics(checks: &[Check]) -> Vec<(Scope, Metric)> {
    let mut judged = Vec::new();
    for check in checks.iter().filter(|c| c.kind == CheckKind::Regression) {
        let scope = match check.scope.as_str() {
            "total" => Scope::Total,
            name => Scope::Request(name.to_owned()),
        };
        if !judged.contains(&(scope.clone(), check.metric)) {
            judged.push((scope, check.metric));
        }
    }
    judged
}

/// One metric in one scope over the runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub scope: Scope,
    pub metric: Metric,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// The widest change between two runs, as a fraction, in the direction that is worse:
    /// the worst any run would have looked against any other as its baseline.
    pub widest: f64,
    /// [`MARGIN`] × `widest`, rounded up to whole 5 % (whole 0.25 % for instructions, which
    /// are counted, not timed, and repeat to a few tenths of a percent).
    pub regression: f64,
    /// [`MARGIN`] × the absolute spread, for the metrics whose floor is an amount of their own
    /// unit (latency, CPU time); `None` for the others.
    pub noise_floor: Option<f64>,
}

impl Row {
    /// `None` with fewer than two values.
    pub fn of(scope: Scope, metric: Metric, values: &[f64]) -> Option<Row> {
        if values.len() < 2 {
            return None;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Higher is worse: a baseline at min and a run at max; lower is worse: the reverse.
        // Either way the ratio is max / min.
        let widest = if min > 0.0 {
            max / min - 1.0
        } else if max > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let step = if metric == Metric::Instructions {
            0.0025
        } else {
            0.05
        };
        // The epsilon keeps an exact multiple of the step from rounding up a whole step.
        let regression = ((widest * MARGIN / step - 1e-9).ceil() * step).max(step);
        let noise_floor = matches!(
            metric,
            Metric::P50 | Metric::P90 | Metric::P99 | Metric::ServiceCpuPerRequest
        )
        .then(|| ((max - min) * MARGIN).ceil());
        Some(Row {
            scope,
            metric,
            median: median(values),
            min,
            max,
            widest,
            regression,
            noise_floor,
        })
    }

    /// The `[gate]` line: `p50 = { regression = "35%", noise_floor = "40us" }`.
    pub fn gate_line(&self) -> String {
        let regression = if self.regression.is_finite() {
            // Display drops trailing zeros: "30%", "0.75%".
            let percent = (self.regression * 10_000.0).round() / 100.0;
            format!("regression = \"{percent}%\"")
        } else {
            // From zero: no percentage holds; only an absolute floor can.
            "regression = \"1000%\"".to_owned()
        };
        match self.noise_floor {
            Some(floor) => format!(
                "{} = {{ {regression}, noise_floor = \"{floor:.0}us\" }}",
                self.metric
            ),
            None => format!("{} = {{ {regression} }}", self.metric),
        }
    }
}

/// One spec's table and proposed `[gate]` lines.
pub fn write_spec(text: &mut String, name: &str, runs: usize, rows: &[Row]) {
    let _ = writeln!(text, "\n{name} ({runs} runs)");
    if rows.is_empty() {
        let _ = writeln!(
            text,
            "  nothing to calibrate: no judged metric was measured"
        );
        return;
    }
    let _ = writeln!(
        text,
        "  {:<32} {:>12} {:>26} {:>14}",
        "metric", "median", "spread (min..max)", "widest change"
    );
    for row in rows {
        let spread = format!(
            "{}..{}",
            row.metric.format(row.min),
            row.metric.format(row.max)
        );
        let _ = writeln!(
            text,
            "  {:<32} {:>12} {:>26} {:>13.1}%",
            format!("{} {}", row.scope.label(), row.metric),
            row.metric.format(row.median),
            spread,
            row.widest * 100.0
        );
    }
    let _ = writeln!(
        text,
        "  thresholds none of these runs would have tripped, {MARGIN} × the widest change between two \
         of them\n  (a change must exceed both regression and noise_floor to fail; keep your max/min):"
    );
    let mut current_scope = None;
    for row in rows {
        if current_scope != Some(&row.scope) {
            let table = match &row.scope {
                Scope::Total => "[gate]".to_owned(),
                Scope::Request(name) => format!("[gate.request.{name}]"),
            };
            let _ = writeln!(text, "  {table}");
            current_scope = Some(&row.scope);
        }
        let _ = writeln!(text, "  {}", row.gate_line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_cover_the_widest_change_with_the_margin() {
        // (metric, values, widest, regression, noise floor)
        let cases = [
            // 100 -> 120 µs is +20 %: ×1.5 is 30 %; 20 µs ×1.5 is 30 µs.
            (Metric::P50, vec![100.0, 110.0, 120.0], 0.2, 0.3, Some(30.0)),
            // +2 %: ×1.5 is 3 %, rounded up to 5 %, the least proposed.
            (
                Metric::ServiceCpuPerRequest,
                vec![50.0, 51.0, 50.5],
                0.02,
                0.05,
                Some(2.0),
            ),
            // Counted instructions: +0.3 % ×1.5 is 0.45 %, rounded up to 0.5 %.
            (
                Metric::Instructions,
                vec![10_000.0, 10_030.0],
                0.003,
                0.005,
                None,
            ),
            // Throughput gets worse as it shrinks: 400 -> 300 req/s is the same ratio.
            (Metric::Rps, vec![400.0, 300.0], 1.0 / 3.0, 0.5, None),
        ];
        for (metric, values, widest, regression, floor) in cases {
            let row = Row::of(Scope::Total, metric, &values).unwrap();
            assert!((row.widest - widest).abs() < 1e-9, "{metric}: {row:?}");
            assert!(
                (row.regression - regression).abs() < 1e-9,
                "{metric}: {row:?}"
            );
            assert_eq!(row.noise_floor, floor, "{metric}");
        }
        assert!(Row::of(Scope::Total, Metric::P50, &[100.0]).is_none());
    }

    #[test]
    fn the_proposals_are_gate_lines_a_spec_parses() {
        let rows = [
            Row::of(Scope::Total, Metric::P50, &[100.0, 125.0]).unwrap(),
            Row::of(Scope::Total, Metric::ServiceCpuPerRequest, &[40.0, 41.0]).unwrap(),
            Row::of(Scope::Total, Metric::ErrorRate, &[0.0, 0.001]).unwrap(),
            Row::of(Scope::Request("home".into()), Metric::P90, &[200.0, 210.0]).unwrap(),
            Row::of(
                Scope::Request("home".into()),
                Metric::Instructions,
                &[1e4, 1.005e4],
            )
            .unwrap(),
        ];
        let mut text = String::new();
        write_spec(&mut text, "fast", 2, &rows);
        assert!(text.contains("fast (2 runs)"), "{text}");
        assert!(
            text.contains("  p50 = { regression = \"40%\", noise_floor = \"38us\" }"),
            "{text}"
        );
        assert!(text.contains("  [gate.request.home]\n  p90 = "), "{text}");
        assert!(
            text.contains("  instructions = { regression = \"0.75%\" }"),
            "{text}"
        );
        // The lines after "[gate]" are a [gate] table the spec parser takes.
        let gate: String = text
            .lines()
            .skip_while(|l| l.trim() != "[gate]")
            .map(|l| format!("{}\n", l.trim()))
            .collect();
        let spec = format!(
            "name = \"fast\"\n[service]\ncommand = [\"fast\"]\n[load]\nusers = 1\nduration = \"1s\"\n[[request]]\nname = \"home\"\npath = \"/\"\n[cost]\n{gate}"
        );
        let plan = crate::plan::build(
            Path::new("fast.toml"),
            &spec,
            Path::new("."),
            &crate::plan::Overrides::default(),
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}\n{spec}"));
        assert_eq!(plan.thresholds.len(), 5, "{spec}");
    }
}
