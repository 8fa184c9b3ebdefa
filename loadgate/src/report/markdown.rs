//! `summary.md`, for the CI job page: a verdict line, then per spec a table of checks
//! (metric, baseline, current, change, threshold, verdict), the failures spelled out and a
//! Mermaid chart of the latency percentiles against the baseline.

use std::io::{self, Write};

use crate::judge::checks::{Check, CheckKind, CheckOutcome};
use crate::judge::verdict::{GateResult, Verdict};
use crate::summary::{LatencyStats, Metrics, SpecSummary};
use crate::support::units::format_percent;

pub fn write(out: &mut dyn Write, result: &GateResult) -> io::Result<()> {
    let icon = |verdict| match verdict {
        Verdict::Pass => "✅",
        Verdict::Fail | Verdict::ServiceFailed => "❌",
        Verdict::Inconclusive => "⚠️",
    };
    let interrupted = match &result.interrupted {
        Some(signal) => format!(" (interrupted by {signal}: partial results, unjudged)"),
        None => String::new(),
    };
    writeln!(
        out,
        "## loadgate: {} {}{interrupted}\n",
        icon(result.verdict),
        result.verdict.label()
    )?;
    for spec in &result.specs {
        writeln!(
            out,
            "### {} {} — {}\n",
            icon(spec.verdict),
            spec.name,
            spec.verdict.label()
        )?;
        if let Some(summary) = &spec.summary {
            let total = &summary.total;
            writeln!(
                out,
                "{} · {:.1}s · {} requests · {:.1} req/s · {} errors\n",
                summary.load.describe(),
                summary.load.measured_seconds.0,
                total.requests,
                total.rps,
                format_percent(total.error_rate)
            )?;
            for (who, figures) in [
                ("service", &summary.service),
                ("generator", &summary.generator),
            ] {
                if let Some(figures) = figures {
                    writeln!(out, "- {who}: {}", figures.describe())?;
                }
            }
            writeln!(out)?;
        }
        if !spec.checks.is_empty() {
            writeln!(
                out,
                "| check | baseline | current | change | threshold | verdict |"
            )?;
            writeln!(out, "|---|---|---|---|---|---|")?;
            for check in &spec.checks {
                writeln!(
                    out,
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
            writeln!(out)?;
        }
        for check in spec.failed_checks() {
            writeln!(out, "- ❌ **{}**: {}", check.name(), check.message)?;
        }
        for (name, example) in spec.summary.iter().flat_map(|s| s.error_examples()) {
            writeln!(out, "- error in `{name}`: {}", example.describe())?;
        }
        if let Some(summary) = &spec.summary {
            write_latency_chart(out, &spec.name, summary, spec.baseline_total.as_ref())?;
        }
        if let Some(failure) = &spec.service_failure {
            writeln!(
                out,
                "- ❌ **service**: {}\n\n```\n{}\n```",
                failure.message, failure.log_tail
            )?;
        } else if let Some(reason) = &spec.reason {
            writeln!(out, "- ⚠️ {reason}")?;
        }
        for note in &spec.notes {
            writeln!(out, "- {note}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// A Mermaid chart (GitHub renders them) of the percentiles: the baseline's as bars, this
/// run's as a line over them.
fn write_latency_chart(
    out: &mut dyn Write,
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
        out,
        "\n```mermaid\nxychart-beta\n    title \"{name}: latency in ms ({what})\"\n    x-axis [p50, p90, p99]\n    y-axis \"ms\""
    )?;
    if let Some(baseline) = baseline {
        writeln!(out, "    bar [{}]", ms(&baseline.latency_us))?;
    }
    writeln!(out, "    line [{}]\n```", ms(&summary.total.latency_us))
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, golden};

    #[test]
    fn markdown_matches_its_golden_file() {
        let mut out = Vec::new();
        write(&mut out, &fixtures::result()).unwrap();
        golden::check("summary.md", &String::from_utf8(out).unwrap());
    }
}
