//! The console report, in the manner of Vegeta's and Locust's: per request name requests,
//! failures, latency percentiles and throughput, then status codes, errors and each check.

use std::io::{self, Write};
use std::path::Path;

use crate::judge::checks::CheckOutcome;
use crate::judge::verdict::{GateResult, SpecResult};
use crate::summary::{Metrics, SweepSummary};
use crate::support::units::format_micros;

pub fn write_spec(out: &mut dyn Write, result: &SpecResult) -> io::Result<()> {
    write!(out, "\n{} ({})", result.name, result.file.display())?;
    let Some(summary) = &result.summary else {
        writeln!(out)?;
        return write_failure_and_verdict(out, result);
    };
    let load = &summary.load;
    writeln!(
        out,
        " · {} model · {} · {:.1}s measured after {:.1}s warmup ({} requests) · seed {}",
        load.model,
        load.describe(),
        load.measured_seconds.0,
        load.warmup_seconds.0,
        summary.warmup.requests,
        load.seed
    )?;
    if let Some(sweep) = &summary.sweep {
        write_sweep(out, sweep)?;
    }

    let width = summary
        .requests
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("request".len());
    writeln!(
        out,
        "  {:<width$} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "request", "reqs", "fails", "avg", "min", "p50", "p90", "p99", "max", "req/s"
    )?;
    for (name, metrics) in summary
        .requests
        .iter()
        .map(|(n, m)| (n.as_str(), m))
        .chain([("total", &summary.total)])
    {
        write_row(out, name, metrics, width)?;
    }
    let total = &summary.total;
    let statuses: Vec<String> = total
        .status_codes
        .iter()
        .map(|(code, n)| format!("{code} ×{n}"))
        .collect();
    writeln!(
        out,
        "  status codes: {}",
        if statuses.is_empty() {
            "none".to_owned()
        } else {
            statuses.join(", ")
        }
    )?;
    if !total.errors.is_empty() {
        let errors: Vec<String> = total
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind} ×{n}"))
            .collect();
        writeln!(out, "  errors: {}", errors.join(", "))?;
        for (name, example) in summary.error_examples() {
            writeln!(out, "    {name}: {}", example.describe())?;
        }
    }
    if let Some(schedule) = &summary.schedule {
        let u = &schedule.uncorrected_latency_us;
        writeln!(
            out,
            "  schedule   {:.1} of {} req/s sent · {} late (max {}) · in-flight limit {} hit {}× · uncorrected p50 {} p90 {} p99 {}",
            schedule.achieved_rps,
            schedule.target_rps,
            schedule.late,
            format_micros(schedule.max_late_us as f64),
            schedule.max_in_flight,
            schedule.in_flight_limit_hits,
            format_micros(u.p50 as f64),
            format_micros(u.p90 as f64),
            format_micros(u.p99 as f64),
        )?;
    }
    for (who, figures) in [
        ("service", &summary.service),
        ("generator", &summary.generator),
    ] {
        if let Some(figures) = figures {
            writeln!(out, "  {who:<9}  {}", figures.describe())?;
        }
    }
    if !result.checks.is_empty() {
        writeln!(out, "  checks:")?;
        let name_width = result
            .checks
            .iter()
            .map(|c| c.name().len())
            .max()
            .unwrap_or(0);
        for check in &result.checks {
            let mark = match check.outcome {
                CheckOutcome::Pass => "✓",
                CheckOutcome::Fail => "✗",
                CheckOutcome::NoBaseline => "·",
                CheckOutcome::Inconclusive => "?",
            };
            writeln!(
                out,
                "    {mark} {:<name_width$}  {}",
                check.name(),
                check.message
            )?;
        }
    }
    write_failure_and_verdict(out, result)
}

fn write_row(out: &mut dyn Write, name: &str, metrics: &Metrics, width: usize) -> io::Result<()> {
    let latency = &metrics.latency_us;
    writeln!(
        out,
        "  {name:<width$} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9.1}",
        metrics.requests,
        metrics.failures,
        format_micros(latency.mean),
        format_micros(latency.min as f64),
        format_micros(latency.p50 as f64),
        format_micros(latency.p90 as f64),
        format_micros(latency.p99 as f64),
        format_micros(latency.max as f64),
        metrics.rps,
    )
}

/// The sweep's table, as in our users' notes, then the capacity it found.
fn write_sweep(out: &mut dyn Write, sweep: &SweepSummary) -> io::Result<()> {
    writeln!(
        out,
        "  sweep by {}:\n  {:>9} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        sweep.by, "step", "reqs", "fails", "fail %", "avg", "p50", "p90", "p99", "req/s"
    )?;
    for step in &sweep.steps {
        let latency = &step.latency_us;
        let mark = match (step.grew, step.limits_held) {
            (true, true) => "",
            (false, true) => "  (throughput no longer grows)",
            (_, false) => "  (beyond the limits)",
        };
        writeln!(
            out,
            "  {:>9} {:>8} {:>7} {:>6.2}% {:>9} {:>9} {:>9} {:>9} {:>9.1}{mark}",
            step.step,
            step.requests,
            step.failures,
            step.error_rate * 100.0,
            format_micros(latency.mean),
            format_micros(latency.p50 as f64),
            format_micros(latency.p90 as f64),
            format_micros(latency.p99 as f64),
            step.rps,
        )?;
    }
    match sweep.capacity {
        Some(capacity) => writeln!(
            out,
            "  capacity: {capacity} {} (the request table below is that step)",
            sweep.by
        ),
        None => writeln!(
            out,
            "  capacity: none of the steps held the limits (the request table below is the first step)"
        ),
    }
}

fn write_failure_and_verdict(out: &mut dyn Write, result: &SpecResult) -> io::Result<()> {
    for note in &result.notes {
        writeln!(out, "  note: {note}")?;
    }
    if let Some(failure) = &result.service_failure {
        writeln!(out, "  service failure: {}", failure.message)?;
        writeln!(out, "  last lines of {}:", failure.log_file.display())?;
        for line in failure.log_tail.lines() {
            writeln!(out, "    | {line}")?;
        }
    } else if let Some(reason) = &result.reason {
        writeln!(out, "  {reason}")?;
    }
    writeln!(out, "  → {}", result.verdict.label())
}

/// The closing line: overall verdict, counts, where the files are.
pub fn write_footer(out: &mut dyn Write, result: &GateResult, out_dir: &Path) -> io::Result<()> {
    let n_checks: usize = result.specs.iter().map(|s| s.checks.len()).sum();
    let n_failed: usize = result.specs.iter().map(|s| s.failed_checks().count()).sum();
    writeln!(
        out,
        "\nloadgate: {} · {} spec{} · {n_checks} checks, {n_failed} failed · reports in {}",
        result.verdict.label(),
        result.specs.len(),
        if result.specs.len() == 1 { "" } else { "s" },
        out_dir.display()
    )?;
    for file in &result.baselines_updated {
        writeln!(out, "loadgate: baseline written: {}", file.display())?;
    }
    if let Some(signal) = &result.interrupted {
        writeln!(
            out,
            "loadgate: INTERRUPTED by {signal}: the partial results are in the reports, unjudged; no baseline was written"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, golden};

    #[test]
    fn console_report_matches_its_golden_file() {
        let result = fixtures::result();
        let mut out = Vec::new();
        for spec in &result.specs {
            write_spec(&mut out, spec).unwrap();
        }
        write_footer(&mut out, &result, Path::new("target/loadtest")).unwrap();
        golden::check("console.txt", &String::from_utf8(out).unwrap());
    }
}
