//! `summary.md`, for the CI job page: a verdict line, then per spec a table of checks
//! (metric, baseline, current, change, threshold, verdict), the failures spelled out and a
//! Mermaid chart of the latency percentiles against the baseline.

use std::io::{self, Write};

use crate::judge::checks::{Check, CheckKind, CheckOutcome};
use crate::judge::verdict::{GateResult, SpecResult, Verdict};
use crate::report::resource_figures;
use crate::summary::{LatencyStats, Metrics, SpecSummary};
use crate::support::units::{format_micros, format_percent};

pub fn write(out: &mut dyn Write, result: &GateResult) -> io::Result<()> {
    Markdown { out, result }.write()
}

/// The writer and the result it describes, so each section is a method with a short name.
struct Markdown<'a> {
    out: &'a mut dyn Write,
    result: &'a GateResult,
}

impl Markdown<'_> {
    fn write(mut self) -> io::Result<()> {
        self.header()?;
        let result = self.result;
        for spec in &result.specs {
            self.spec(spec)?;
        }
        Ok(())
    }

    /// The overall verdict, and whether a signal cut the run short.
    fn header(&mut self) -> io::Result<()> {
        let result = self.result;
        let interrupted = match &result.interrupted {
            Some(signal) => format!(" (interrupted by {signal}: partial results, unjudged)"),
            None => String::new(),
        };
        writeln!(
            self.out,
            "## loadgate: {} {}{interrupted}\n",
            icon(result.verdict),
            result.verdict.label()
        )
    }

    /// One spec's section: heading, run, checks, what failed, the chart, then why and notes.
    fn spec(&mut self, spec: &SpecResult) -> io::Result<()> {
        writeln!(
            self.out,
            "### {} {} — {}\n",
            icon(spec.verdict),
            spec.name,
            spec.verdict.label()
        )?;
        if let Some(summary) = &spec.summary {
            self.run_and_resources(summary)?;
        }
        self.check_table(&spec.checks)?;
        self.failures_and_errors(spec)?;
        if let Some(summary) = &spec.summary {
            self.latency_chart(&spec.name, summary, spec.baseline_total.as_ref())?;
        }
        self.service_failure_and_notes(spec)?;
        writeln!(self.out)
    }

    /// One line for the load and its totals, then a bullet per measured process.
    fn run_and_resources(&mut self, summary: &SpecSummary) -> io::Result<()> {
        let total = &summary.total;
        writeln!(
            self.out,
            "{} · {:.1}s · {} requests · {:.1} req/s · {} errors\n",
            summary.load.describe(),
            summary.load.measured_seconds.0,
            total.requests,
            total.rps,
            format_percent(total.error_rate)
        )?;
        for (who, figures) in resource_figures(summary) {
            writeln!(self.out, "- {who}: {}", figures.describe())?;
        }
        writeln!(self.out)?;
        self.flow_tables(summary)
    }

    /// Per flow, its iterations and a row per step.
    fn flow_tables(&mut self, summary: &SpecSummary) -> io::Result<()> {
        for (name, flow, steps) in crate::report::flows(summary) {
            writeln!(self.out, "{}\n", crate::report::flow_line(name, flow))?;
            writeln!(self.out, "| step | requests | failures | p50 | p90 | p99 |")?;
            writeln!(self.out, "|---|---|---|---|---|---|")?;
            for (step, metrics) in steps {
                let figures = crate::report::step_figures(metrics).join(" | ");
                writeln!(self.out, "| {step} | {figures} |")?;
            }
            writeln!(self.out)?;
        }
        Ok(())
    }

    fn check_table(&mut self, checks: &[Check]) -> io::Result<()> {
        if checks.is_empty() {
            return Ok(());
        }
        writeln!(
            self.out,
            "| check | baseline | current | change | threshold | verdict |"
        )?;
        writeln!(self.out, "|---|---|---|---|---|---|")?;
        for check in checks {
            writeln!(
                self.out,
                "| {} | {} | {} | {} | {} | {} |",
                check.name(),
                check
                    .baseline
                    .map_or("—".to_owned(), |b| check.metric.format(b)),
                check.metric.format(check.current),
                check
                    .change
                    .map_or("—".to_owned(), |c| format!("{:+.1}%", c * 100.0)),
                threshold(check),
                match check.outcome {
                    CheckOutcome::Pass => "✅",
                    CheckOutcome::Fail => "❌",
                    CheckOutcome::NoBaseline => "➖ no baseline",
                    CheckOutcome::Inconclusive => "⚠️ inconclusive",
                }
            )?;
        }
        writeln!(self.out)
    }

    /// Each failed check spelled out, then an example of each kind of request error.
    fn failures_and_errors(&mut self, spec: &SpecResult) -> io::Result<()> {
        for check in spec.failed_checks() {
            writeln!(self.out, "- ❌ **{}**: {}", check.name(), check.message)?;
        }
        for (name, example) in spec.summary.iter().flat_map(|s| s.error_examples()) {
            writeln!(self.out, "- error in `{name}`: {}", example.describe())?;
        }
        // Failures are timed apart: a fast error must never read as a fast service.
        let failed = spec.summary.iter().flat_map(|s| {
            s.requests
                .iter()
                .filter_map(|(name, m)| Some((name, m.failures, m.failed.as_ref()?)))
        });
        for (name, failures, failed) in failed {
            let latency = &failed.latency_us;
            writeln!(
                self.out,
                "- {failures} failed in `{name}` took p50 {}, p90 {}, p99 {} (apart: latency is of answered requests)",
                format_micros(latency.p50 as f64),
                format_micros(latency.p90 as f64),
                format_micros(latency.p99 as f64),
            )?;
        }
        Ok(())
    }

    /// A Mermaid chart (GitHub renders them) of the percentiles: the baseline's as bars, this
    /// run's as a line over them.
    fn latency_chart(
        &mut self,
        name: &str,
        summary: &SpecSummary,
        baseline: Option<&Metrics>,
    ) -> io::Result<()> {
        let ms = |latency: &LatencyStats| {
            [latency.p50, latency.p90, latency.p99]
                .map(|us| format!("{:.3}", us as f64 / 1000.0))
                .join(", ")
        };
        let what = match baseline {
            Some(_) => "bars: baseline, line: this run",
            None => "this run; no baseline",
        };
        writeln!(
            self.out,
            "\n```mermaid\nxychart-beta\n    title \"{name}: latency in ms ({what})\"\n    x-axis [p50, p90, p99]\n    y-axis \"ms\""
        )?;
        if let Some(baseline) = baseline {
            writeln!(self.out, "    bar [{}]", ms(&baseline.latency_us))?;
        }
        writeln!(
            self.out,
            "    line [{}]\n```",
            ms(&summary.total.latency_us)
        )
    }

    /// The service's failure with its log tail (or why the run is not judged), then the notes.
    fn service_failure_and_notes(&mut self, spec: &SpecResult) -> io::Result<()> {
        if let Some(failure) = &spec.service_failure {
            writeln!(
                self.out,
                "- ❌ **service**: {}\n\n```\n{}\n```",
                failure.message, failure.log_tail
            )?;
        } else if let Some(reason) = &spec.reason {
            writeln!(self.out, "- ⚠️ {reason}")?;
        }
        for note in &spec.notes {
            writeln!(self.out, "- {note}")?;
        }
        Ok(())
    }
}

fn icon(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✅",
        Verdict::Fail | Verdict::ServiceFailed => "❌",
        Verdict::Inconclusive => "⚠️",
    }
}

fn threshold(check: &Check) -> String {
    match check.kind {
        CheckKind::Regression => {
            let sign = if check.metric.higher_is_worse() {
                '+'
            } else {
                '-'
            };
            format!("{sign}{:.0}%", check.limit * 100.0)
        }
        CheckKind::Max => format!("≤ {}", check.metric.format(check.limit)),
        CheckKind::Min => format!("≥ {}", check.metric.format(check.limit)),
        CheckKind::Answered => "some request answered".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, golden};

    #[test]
    fn markdown_matches_its_golden_file() {
        golden::check("summary.md", &fixtures::render(write, &fixtures::result()));
    }
}
