//! `loadtest bisect`'s report → the console verdict (as git words it: `<sha> is the first bad
//! commit`), `bisect.json` and `bisect.md` (appended to `$GITHUB_STEP_SUMMARY` when set).

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;

use crate::judge::bisect::{BisectReport, Decision, Found};
use crate::metric::format_count;
use crate::support::files::write_atomic;

/// Writes bisect.json and bisect.md into `out_dir`, and appends the Markdown to `step_summary`.
pub fn write_files(
    report: &BisectReport,
    out_dir: &Path,
    step_summary: Option<&Path>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut json = serde_json::to_string_pretty(report).context("bisect.json")?;
    json.push('\n');
    write_atomic(&out_dir.join("bisect.json"), json.as_bytes())?;
    let mut markdown = Vec::new();
    write_markdown(&mut markdown, report)?;
    write_atomic(&out_dir.join("bisect.md"), &markdown)?;
    crate::report::append_step_summary(step_summary, &markdown)
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

fn shown(value: Option<f64>) -> String {
    value.map_or("—".to_owned(), format_count)
}

fn change(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) if b != 0.0 => format!(" ({:+.1} %)", (a - b) / b * 100.0),
        _ => String::new(),
    }
}

fn decision(decision: &Decision) -> String {
    match decision {
        Decision::Good => "good".to_owned(),
        Decision::Bad => "bad".to_owned(),
        Decision::Unknown => "undecided".to_owned(),
        Decision::Skipped(why) => format!("skipped: {why}"),
    }
}

fn subject_of<'r>(report: &'r BisectReport, sha: &str) -> &'r str {
    report
        .steps
        .iter()
        .find(|s| s.commit == sha)
        .map_or("", |s| s.subject.as_str())
}

/// The verdict, as git prints it, then the values and the function table.
pub fn write_console(out: &mut dyn Write, report: &BisectReport) -> io::Result<()> {
    match &report.found {
        Found::FirstBad(index) => {
            let sha = &report.commits[*index];
            writeln!(out, "{sha} is the first bad commit")?;
            writeln!(out, "    {}", subject_of(report, sha))?;
            writeln!(
                out,
                "  {}: {} before it, {} after it{}",
                report.metric,
                shown(report.before),
                shown(report.after),
                change(report.before, report.after)
            )?;
            if let Some(step) = report.steps.iter().find(|s| &s.commit == sha)
                && !report.metric.starts_with("instructions")
            {
                writeln!(out, "  paired against GOOD: {}", step.detail)?;
            }
        }
        Found::Range { from, to } => {
            writeln!(
                out,
                "the first bad commit could be any of {} commits (from {} to {}):",
                to - from + 1,
                short(&report.commits[*from]),
                short(&report.commits[*to])
            )?;
            for sha in &report.commits[*from..=*to] {
                let why = report
                    .steps
                    .iter()
                    .find(|s| &s.commit == sha)
                    .map_or("not measured".to_owned(), |s| decision(&s.decision));
                writeln!(out, "  {} {} — {why}", short(sha), subject_of(report, sha))?;
            }
        }
    }
    for change in &report.cost {
        if change.functions.is_empty() {
            continue;
        }
        writeln!(
            out,
            "  where {}'s instructions went (self, per request):",
            change.request
        )?;
        let rows = super::rows::function_rows(change);
        let width = (rows.iter().map(|[f, ..]| f.chars().count()))
            .chain(["function".len()])
            .max()
            .unwrap_or(0);
        let (f, a, b, c) = ("function", "before", "after", "change");
        writeln!(out, "    {f:<width$} {a:>12} {b:>12} {c:>10}")?;
        for [f, a, b, c] in rows {
            writeln!(out, "    {f:<width$} {a:>12} {b:>12} {c:>10}")?;
        }
    }
    let skipped: Vec<String> = report
        .steps
        .iter()
        .filter_map(|s| match &s.decision {
            Decision::Skipped(why) => Some(format!("{} ({why})", short(&s.commit))),
            _ => None,
        })
        .collect();
    if !skipped.is_empty() {
        writeln!(out, "  skipped: {}", skipped.join(", "))?;
    }
    writeln!(
        out,
        "  {} steps in {:.1} s",
        report.steps.len(),
        report.seconds
    )?;
    Ok(())
}

/// bisect.md: the verdict, then a table of every step.
pub fn write_markdown(out: &mut dyn Write, report: &BisectReport) -> io::Result<()> {
    writeln!(out, "## loadgate bisect: {}\n", report.spec)?;
    if let Some(signal) = &report.interrupted {
        writeln!(out, "Interrupted by {signal} before the bisection ended.\n")?;
    }
    match &report.found {
        Found::FirstBad(index) => {
            let sha = &report.commits[*index];
            writeln!(
                out,
                "**`{sha}` is the first bad commit**: {}\n",
                subject_of(report, sha)
            )?;
            writeln!(
                out,
                "{}: {} before it, {} after it{}\n",
                report.metric,
                shown(report.before),
                shown(report.after),
                change(report.before, report.after)
            )?;
        }
        Found::Range { from, to } if report.interrupted.is_none() => writeln!(
            out,
            "**Undecided**: the first bad commit is one of the {} commits from `{}` to `{}`.\n",
            to - from + 1,
            short(&report.commits[*from]),
            short(&report.commits[*to])
        )?,
        Found::Range { .. } => {}
    }
    writeln!(out, "| commit | subject | {} | decision |", report.metric)?;
    writeln!(out, "|---|---|---:|---|")?;
    for step in &report.steps {
        let value = if step.detail.is_empty() || report.metric.starts_with("instructions") {
            shown(step.value)
        } else {
            format!("{} ({})", shown(step.value), step.detail)
        };
        writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            short(&step.commit),
            step.subject.replace('|', "\\|"),
            value.replace('|', "\\|"),
            decision(&step.decision).replace('|', "\\|")
        )?;
    }
    for change in &report.cost {
        if change.functions.is_empty() {
            continue;
        }
        writeln!(
            out,
            "\nWhere {}'s instructions went (self, per request):\n",
            change.request
        )?;
        writeln!(out, "| function | before | after | change |")?;
        writeln!(out, "|---|---:|---:|---:|")?;
        for [f, a, b, c] in super::rows::function_rows(change) {
            writeln!(out, "| `{f}` | {a} | {b} | {c} |")?;
        }
    }
    writeln!(
        out,
        "\n{} steps in {:.1} s.",
        report.steps.len(),
        report.seconds
    )?;
    Ok(())
}
