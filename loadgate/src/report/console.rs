//! The console report, in the manner of Vegeta's and Locust's: per request name requests,
//! failures, latency percentiles and throughput, then status codes, errors and each check.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use crate::judge::checks::CheckOutcome;
use crate::judge::verdict::{GateResult, SpecResult};
use crate::report::rows::{
    cost_rows, function_rows, profile_heading, profile_rows, request_changes, resource_figures,
};
use crate::summary::{Metrics, ScheduleSummary, SpecSummary, StreamStats, SweepSummary};
use crate::support::units::format_micros;

/// One spec's block: the run, the request table, statuses and errors, the schedule, resources,
/// checks, then what went wrong and the verdict.
pub fn write_spec(out: &mut dyn Write, result: &SpecResult) -> io::Result<()> {
    SpecBlock { out, result }.write()
}

/// The writer and the spec it describes, so each section is a method with a short name.
struct SpecBlock<'a> {
    out: &'a mut dyn Write,
    result: &'a SpecResult,
}

impl SpecBlock<'_> {
    fn write(mut self) -> io::Result<()> {
        let result = self.result;
        write!(self.out, "\n{} ({})", result.name, result.file.display())?;
        // A run that never measured (the service failed) has only the verdict to show.
        if let Some(summary) = &result.summary {
            self.header(summary)?;
            if let Some(sweep) = &summary.sweep {
                self.sweep(sweep)?;
            }
            self.request_table(summary)?;
            self.streams(summary)?;
            self.request_changes()?;
            self.flows(summary)?;
            self.statuses_and_errors(summary)?;
            if let Some(schedule) = &summary.schedule {
                self.schedule(schedule)?;
            }
            self.resources(summary)?;
            self.cost()?;
            self.profile()?;
            self.checks()?;
        } else {
            writeln!(self.out)?;
        }
        self.failure_and_verdict()
    }

    /// The rest of the title line: how the load was made and how long it was measured.
    fn header(&mut self, summary: &SpecSummary) -> io::Result<()> {
        let load = &summary.load;
        writeln!(
            self.out,
            " · {} model · {} · {:.1}s measured after {:.1}s warmup ({} requests) · seed {}",
            load.model,
            load.describe(),
            load.measured_seconds.0,
            load.warmup_seconds.0,
            summary.warmup.requests,
            load.seed
        )
    }

    /// The sweep's table, as in our users' notes, then the capacity it found.
    fn sweep(&mut self, sweep: &SweepSummary) -> io::Result<()> {
        writeln!(
            self.out,
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
                self.out,
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
                self.out,
                "  capacity: {capacity} {} (the request table below is that step)",
                sweep.by
            ),
            None => writeln!(
                self.out,
                "  capacity: none of the steps held the limits (the request table below is the first step)"
            ),
        }
    }

    /// A row per request name, then the total, under one header.
    fn request_table(&mut self, summary: &SpecSummary) -> io::Result<()> {
        let width = summary
            .requests
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max("request".len());
        writeln!(
            self.out,
            "  {:<width$} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "request", "reqs", "fails", "avg", "min", "p50", "p90", "p99", "max", "req/s"
        )?;
        let rows = summary.requests.iter().map(|(n, m)| (n.as_str(), m));
        for (name, metrics) in rows.clone().chain([("total", &summary.total)]) {
            self.request_row(name, metrics, width)?;
        }
        if summary.total.failures == 0 {
            return Ok(());
        }
        // Failures are timed apart: a fast error must never read as a fast service.
        writeln!(
            self.out,
            "  latency is of answered requests; the failed ones took:"
        )?;
        for (name, metrics) in rows.chain([("total", &summary.total)]) {
            if let Some(failed) = &metrics.failed {
                let latency = &failed.latency_us;
                writeln!(
                    self.out,
                    "  {name:<width$} {:>8} failed  p50 {}  p90 {}  p99 {}  max {}",
                    metrics.failures,
                    format_micros(latency.p50 as f64),
                    format_micros(latency.p90 as f64),
                    format_micros(latency.p99 as f64),
                    format_micros(latency.max as f64),
                )?;
            }
        }
        Ok(())
    }

    /// A line per flow: its iterations and its steps (their rows are in the request table).
    fn flows(&mut self, summary: &SpecSummary) -> io::Result<()> {
        for (name, flow, _) in crate::report::rows::flows(summary) {
            let line = crate::report::rows::flow_line(name, flow);
            writeln!(self.out, "  {line} (steps: {})", flow.steps.join(" → "))?;
        }
        Ok(())
    }

    fn request_row(&mut self, name: &str, metrics: &Metrics, width: usize) -> io::Result<()> {
        let latency = &metrics.latency_us;
        writeln!(
            self.out,
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

    /// Status codes always; error kinds and an example of each only when there were errors.
    /// Stream requests' messages: time to the first and the gaps between them.
    fn streams(&mut self, summary: &SpecSummary) -> io::Result<()> {
        for (name, stream) in StreamStats::of_summary(summary) {
            writeln!(self.out, "  stream {name}: {}", stream.describe())?;
        }
        Ok(())
    }

    fn statuses_and_errors(&mut self, summary: &SpecSummary) -> io::Result<()> {
        let total = &summary.total;
        let statuses = counts(&total.status_codes);
        writeln!(
            self.out,
            "  status codes: {}",
            if statuses.is_empty() {
                "none"
            } else {
                &statuses
            }
        )?;
        if !total.errors.is_empty() {
            writeln!(self.out, "  errors: {}", counts(&total.errors))?;
            for (name, example) in summary.error_examples() {
                writeln!(self.out, "    {name}: {}", example.describe())?;
            }
        }
        Ok(())
    }

    /// How well an open model kept its schedule, its own send error (the floor under every
    /// latency), and the latency without correcting for it.
    fn schedule(&mut self, schedule: &ScheduleSummary) -> io::Result<()> {
        let (e, u) = (&schedule.send_error_us, &schedule.uncorrected_latency_us);
        let us = |v: u64| format_micros(v as f64);
        writeln!(
            self.out,
            "  schedule   {:.1} of {} req/s sent · {} late (max {}) · in-flight limit {} hit {}×",
            schedule.achieved_rps,
            schedule.target_rps,
            schedule.late,
            us(schedule.max_late_us),
            schedule.max_in_flight,
            schedule.in_flight_limit_hits,
        )?;
        writeln!(
            self.out,
            "             send error p50 {} p99 {} max {} · uncorrected p50 {} p90 {} p99 {}",
            us(e.p50),
            us(e.p99),
            us(e.max),
            us(u.p50),
            us(u.p90),
            us(u.p99),
        )
    }

    fn resources(&mut self, summary: &SpecSummary) -> io::Result<()> {
        for (who, figures) in resource_figures(summary) {
            writeln!(self.out, "  {who:<9}  {}", figures.describe())?;
        }
        Ok(())
    }

    /// Each request name's p50 and p90 beside the baseline's, so the one that moved stands out
    /// even when only the total is gated.
    fn request_changes(&mut self) -> io::Result<()> {
        let rows = request_changes(self.result);
        if rows.is_empty() {
            return Ok(());
        }
        let width = (rows.iter().map(|r| r[0].len()))
            .chain(["request".len()])
            .max()
            .unwrap_or(0);
        let p50_width = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
        writeln!(self.out, "  against the baseline:")?;
        for [name, p50, p90] in &rows {
            writeln!(
                self.out,
                "    {name:<width$}  p50 {p50:<p50_width$}  p90 {p90}"
            )?;
        }
        Ok(())
    }

    /// `[cost]`: instructions per request by name beside the baseline, then where they went
    /// for each name that moved.
    fn cost(&mut self) -> io::Result<()> {
        let Some(cost) = self.result.summary.as_ref().and_then(|s| s.cost.as_ref()) else {
            return Ok(());
        };
        let rows = cost_rows(self.result);
        writeln!(
            self.out,
            "  instructions per request (Callgrind, {} requests of each name):",
            cost.requests
        )?;
        self.table(&["request", "baseline", "now", "change"], &rows)?;
        for change in &self.result.cost {
            let functions = function_rows(change);
            if functions.is_empty() {
                continue;
            }
            writeln!(
                self.out,
                "  where {}'s instructions went (self, per request):",
                change.request
            )?;
            self.table(&["function", "baseline", "now", "change"], &functions)?;
        }
        Ok(())
    }

    /// `--profile`: the functions whose share of the service's samples changed most.
    fn profile(&mut self) -> io::Result<()> {
        let Some(profile) = &self.result.profile else {
            return Ok(());
        };
        writeln!(self.out, "  {}:", profile_heading(profile))?;
        self.table(
            &["function", "before", "now", "change"],
            &profile_rows(profile),
        )
    }

    /// Rows under a header, the first column left-aligned to its widest cell.
    fn table(&mut self, header: &[&str; 4], rows: &[[String; 4]]) -> io::Result<()> {
        let firsts: Vec<String> = rows.iter().map(|row| elide(&row[0])).collect();
        let width = firsts
            .iter()
            .map(|first| first.chars().count())
            .chain([header[0].len()])
            .max()
            .unwrap_or(0);
        let [first, a, b, c] = header;
        writeln!(self.out, "    {first:<width$} {a:>12} {b:>12} {c:>10}")?;
        for (first, [_, a, b, c]) in firsts.iter().zip(rows) {
            writeln!(self.out, "    {first:<width$} {a:>12} {b:>12} {c:>10}")?;
        }
        Ok(())
    }

    fn checks(&mut self) -> io::Result<()> {
        let checks = &self.result.checks;
        if checks.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "  checks:")?;
        let name_width = checks.iter().map(|c| c.name().len()).max().unwrap_or(0);
        for check in checks {
            let mark = match check.outcome {
                CheckOutcome::Pass => "✓",
                CheckOutcome::Fail => "✗",
                CheckOutcome::NoBaseline => "·",
                CheckOutcome::Inconclusive => "?",
            };
            writeln!(
                self.out,
                "    {mark} {:<name_width$}  {}",
                check.name(),
                check.message
            )?;
        }
        Ok(())
    }

    /// Notes, then the service's failure with its log tail (or why the run is not judged),
    /// then the verdict.
    fn failure_and_verdict(&mut self) -> io::Result<()> {
        let result = self.result;
        for note in &result.notes {
            writeln!(self.out, "  note: {note}")?;
        }
        if let Some(failure) = &result.service_failure {
            writeln!(self.out, "  service failure: {}", failure.message)?;
            // A `--target` service has no log of ours.
            if !failure.log_file.as_os_str().is_empty() {
                writeln!(self.out, "  last lines of {}:", failure.log_file.display())?;
                for line in failure.log_tail.lines() {
                    writeln!(self.out, "    | {line}")?;
                }
            }
        } else if let Some(reason) = &result.reason {
            writeln!(self.out, "  {reason}")?;
        }
        writeln!(self.out, "  → {}", result.verdict.label())
    }
}

/// `"201 ×190, 409 ×3770"`: a count per key, in key order; empty when there are none.
/// A name kept to a line's width: its start and its end (where a Rust path names the function),
/// the middle elided.
fn elide(name: &str) -> String {
    const MOST: usize = 72;
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= MOST {
        return name.to_owned();
    }
    let (head, tail) = (MOST / 3, MOST - MOST / 3 - 1);
    let start: String = chars[..head].iter().collect();
    let end: String = chars[chars.len() - tail..].iter().collect();
    format!("{start}…{end}")
}

fn counts(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(key, n)| format!("{key} ×{n}"))
        .collect();
    parts.join(", ")
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
        let text = fixtures::render(
            |out, result| {
                for spec in &result.specs {
                    write_spec(out, spec)?;
                }
                write_footer(out, result, Path::new("target/loadtest"))
            },
            &fixtures::result(),
        );
        golden::check("console.txt", &text);
    }
}
