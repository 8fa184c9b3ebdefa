//! `summary.md`, for the CI job page: a verdict line, then per spec a table of checks
//! (metric, baseline, current, change, threshold, verdict), the failures spelled out and a
//! Mermaid chart of the latency percentiles against the baseline.

use std::io::{self, Write};

use crate::judge::checks::{Check, CheckKind, CheckOutcome};
use crate::judge::pairs::PairRatios;
use crate::judge::verdict::{GateResult, SpecResult, Verdict};
use crate::report::rows::{
    cost_rows, function_rows, profile_heading, profile_rows, request_changes, resource_figures,
};
use crate::summary::{LatencyStats, Metrics, SpecSummary, StreamStats, SweepStep, SweepSummary};
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
            text(&spec.name),
            spec.verdict.label()
        )?;
        if let Some(summary) = &spec.summary {
            self.run_and_resources(summary)?;
        }
        self.check_table(&spec.checks)?;
        self.request_changes(spec)?;
        self.cost(spec)?;
        self.profile(spec)?;
        self.failures_and_errors(spec)?;
        if let Some(summary) = &spec.summary {
            self.latency_chart(&spec.name, summary, spec.baseline_total.as_ref())?;
            if let Some(sweep) = &summary.sweep {
                self.capacity(&spec.name, sweep, spec.baseline_sweep.as_ref())?;
            }
        }
        self.pairs(&spec.pairs)?;
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
        for (name, stream) in StreamStats::of_summary(summary) {
            writeln!(self.out, "- stream {}: {}", code(name), stream.describe())?;
        }
        writeln!(self.out)?;
        self.flow_tables(summary)
    }

    /// Per flow, its iterations and a row per step.
    fn flow_tables(&mut self, summary: &SpecSummary) -> io::Result<()> {
        for (name, flow, steps) in crate::report::rows::flows(summary) {
            writeln!(self.out, "{}\n", crate::report::rows::flow_line(name, flow))?;
            writeln!(self.out, "| step | requests | failures | p50 | p90 | p99 |")?;
            writeln!(self.out, "|---|---|---|---|---|---|")?;
            for (step, metrics) in steps {
                let figures = crate::report::rows::step_figures(metrics).join(" | ");
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
                text(&check.name()),
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

    /// Each request name's p50 and p90 beside the baseline's.
    fn request_changes(&mut self, spec: &SpecResult) -> io::Result<()> {
        let rows = request_changes(spec);
        if rows.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "Each request against the baseline:\n")?;
        writeln!(self.out, "| request | p50 | p90 |\n|---|---|---|")?;
        for [name, p50, p90] in rows {
            writeln!(self.out, "| {} | {p50} | {p90} |", text(&name))?;
        }
        writeln!(self.out)
    }

    /// `[cost]`: instructions per request by name, then, for each name that moved, the
    /// functions whose self instructions changed most.
    fn cost(&mut self, spec: &SpecResult) -> io::Result<()> {
        let rows = cost_rows(spec);
        if rows.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "Instructions per request (Callgrind):\n")?;
        let rows: Vec<[String; 4]> = (rows.into_iter())
            .map(|[request, a, b, c]| [text(&request), a, b, c])
            .collect();
        self.table(["request", "baseline", "now", "change"], &rows)?;
        for change in &spec.cost {
            let functions = function_rows(change);
            if functions.is_empty() {
                continue;
            }
            writeln!(
                self.out,
                "Where {}'s instructions went (self, per request):\n",
                code(&change.request)
            )?;
            let functions: Vec<[String; 4]> = functions
                .into_iter()
                .map(|[function, a, b, c]| [code(&function), a, b, c])
                .collect();
            self.table(["function", "baseline", "now", "change"], &functions)?;
        }
        Ok(())
    }

    /// `--profile`: the functions whose share of the service's samples changed most.
    fn profile(&mut self, spec: &SpecResult) -> io::Result<()> {
        let Some(profile) = &spec.profile else {
            return Ok(());
        };
        let heading = profile_heading(profile);
        let mut heading = heading.chars();
        let first = heading.next().map(|c| c.to_uppercase().to_string());
        writeln!(
            self.out,
            "{}:\n",
            text(&(first.unwrap_or_default() + heading.as_str()))
        )?;
        let rows: Vec<[String; 4]> = profile_rows(profile)
            .into_iter()
            .map(|[function, a, b, c]| [code(&function), a, b, c])
            .collect();
        self.table(["function", "before", "now", "change"], &rows)
    }

    /// A table whose first column is text already escaped (or code), the others numbers.
    fn table(&mut self, header: [&str; 4], rows: &[[String; 4]]) -> io::Result<()> {
        writeln!(self.out, "| {} |\n|---|---:|---:|---:|", header.join(" | "))?;
        for row in rows {
            writeln!(self.out, "| {} |", row.join(" | "))?;
        }
        writeln!(self.out)
    }

    /// Each failed check spelled out, then an example of each kind of request error.
    fn failures_and_errors(&mut self, spec: &SpecResult) -> io::Result<()> {
        for check in spec.failed_checks() {
            writeln!(
                self.out,
                "- ❌ **{}**: {}",
                text(&check.name()),
                text(&check.message)
            )?;
        }
        for (name, example) in spec.summary.iter().flat_map(|s| s.error_examples()) {
            writeln!(
                self.out,
                "- error in {}: {}",
                code(name),
                text(&example.describe())
            )?;
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
                "- {failures} failed in {} took p50 {}, p90 {}, p99 {} (apart: latency is of answered requests)",
                code(name),
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
            "\n```mermaid\nxychart-beta\n    title \"{}: latency in ms ({what})\"\n    x-axis [p50, p90, p99]\n    y-axis \"ms\"",
            mermaid(name)
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

    /// A sweep's capacity curve: a Mermaid chart of requests/s by step (the baseline's as bars
    /// when its steps are the same), the capacity step and the first beyond the limits named on
    /// the axis, then the table of every step.
    fn capacity(
        &mut self,
        name: &str,
        sweep: &SweepSummary,
        baseline: Option<&SweepSummary>,
    ) -> io::Result<()> {
        let by = &sweep.by;
        let label = |step: &SweepStep| match step_mark(sweep, step) {
            "" => format!("\"{}\"", step.step),
            mark => format!("\"{} {mark}\"", step.step),
        };
        let list = |values: &mut dyn Iterator<Item = String>| values.collect::<Vec<_>>().join(", ");
        let same_steps = baseline.filter(|b| {
            b.steps
                .iter()
                .map(|s| s.step)
                .eq(sweep.steps.iter().map(|s| s.step))
        });
        let what = match same_steps {
            Some(_) => "bars: baseline, line: this run",
            None => "this run",
        };
        writeln!(
            self.out,
            "\n```mermaid\nxychart-beta\n    title \"{}: requests/s by {by} ({what})\"\n    x-axis \"{by}\" [{}]\n    y-axis \"requests/s\"",
            mermaid(name),
            list(&mut sweep.steps.iter().map(label))
        )?;
        if let Some(baseline) = same_steps {
            let rps = list(&mut baseline.steps.iter().map(|s| format!("{:.1}", s.rps)));
            writeln!(self.out, "    bar [{rps}]")?;
        }
        let rps = list(&mut sweep.steps.iter().map(|s| format!("{:.1}", s.rps)));
        writeln!(self.out, "    line [{rps}]\n```\n")?;
        writeln!(
            self.out,
            "| {by} | requests | failures | errors | p50 | p90 | p99 | req/s | |\n|---|---|---|---|---|---|---|---|---|"
        )?;
        for step in &sweep.steps {
            let latency = &step.latency_us;
            let mark = step_mark(sweep, step);
            writeln!(
                self.out,
                "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {mark} |",
                step.step,
                step.requests,
                step.failures,
                format_percent(step.error_rate),
                format_micros(latency.p50 as f64),
                format_micros(latency.p90 as f64),
                format_micros(latency.p99 as f64),
                step.rps
            )?;
        }
        match sweep.capacity {
            Some(capacity) => writeln!(self.out, "\ncapacity: {capacity} {by}\n"),
            None => writeln!(self.out, "\ncapacity: none of the steps held the limits\n"),
        }
    }

    /// `--against`: one line per judged metric, each pair's ratio (candidate / base) and the
    /// interval of their median; the median's change is the check's, on the console and in the
    /// chart too.
    fn pairs(&mut self, pairs: &[PairRatios]) -> io::Result<()> {
        for pair in pairs {
            let each: Vec<String> = pair.ratios.iter().map(|r| format!("{r:.3}")).collect();
            writeln!(
                self.out,
                "- A/B pairs, {} candidate / base: median {:.3}, a change of {:+.1}% (90% interval {:.3}..{:.3}) · each pair: {}",
                text(&pair.metric),
                pair.median,
                (pair.median - 1.0) * 100.0,
                pair.low,
                pair.high,
                each.join(" ")
            )?;
        }
        Ok(())
    }

    /// The service's failure with its log tail (or why the run is not judged), then the notes.
    fn service_failure_and_notes(&mut self, spec: &SpecResult) -> io::Result<()> {
        if let Some(failure) = &spec.service_failure {
            let fence = fence(&failure.log_tail);
            writeln!(
                self.out,
                "- ❌ **service**: {}\n\n{fence}\n{}\n{fence}",
                text(&failure.message),
                failure.log_tail
            )?;
        } else if let Some(reason) = &spec.reason {
            writeln!(self.out, "- ⚠️ {}", text(reason))?;
        }
        for note in &spec.notes {
            writeln!(self.out, "- {}", text(note))?;
        }
        Ok(())
    }
}

/// `raw` as Markdown text that renders as written, in a paragraph, a list item or a table cell:
/// every character CommonMark or GitHub could read as markup (emphasis, code, links, HTML and
/// entities, cell borders, strikethrough, math) escaped with a backslash, and line breaks as
/// spaces, since a row or an item is one line.
pub(crate) fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '$' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// `raw` as an inline code span: fenced by more backticks than any run of them inside, padded
/// when it starts or ends with one (CommonMark strips one space from each side).
fn code(raw: &str) -> String {
    let ticks = "`".repeat(longest_run(raw, '`') + 1);
    let pad = if raw.starts_with('`') || raw.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", raw.replace(['\n', '\r'], " "))
}

/// A code block's fence: longer than any run of backticks in `body`, at least three.
fn fence(body: &str) -> String {
    "`".repeat((longest_run(body, '`') + 1).max(3))
}

fn longest_run(text: &str, of: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c == of { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// `raw` inside a quoted Mermaid label: its quote and entity characters as Mermaid's entity
/// codes (`#quot;`), which it decodes back when it draws, and no line break.
pub(crate) fn mermaid(raw: &str) -> String {
    raw.replace('#', "#35;")
        .replace('"', "#quot;")
        .replace('`', "#96;")
        .replace(['\n', '\r'], " ")
}

/// What a sweep's step was: the capacity, beyond the limits, or past the point where
/// throughput grew; empty for a step on the way up.
fn step_mark(sweep: &SweepSummary, step: &SweepStep) -> &'static str {
    if Some(step.step) == sweep.capacity {
        "capacity"
    } else if !step.limits_held {
        "limits failed"
    } else if !step.grew {
        "no longer grows"
    } else {
        ""
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

    /// The cells of every table row, and the text of every paragraph, list item and heading, as
    /// GitHub's kind of renderer reads `markdown` (raw HTML counted apart: there must be none).
    fn rendered(markdown: &str) -> (Vec<Vec<Vec<String>>>, Vec<String>, usize) {
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
        let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
        let (mut tables, mut blocks, mut html) = (Vec::new(), Vec::new(), 0);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut row: Vec<String> = Vec::new();
        let mut current = String::new();
        for event in Parser::new_ext(markdown, options) {
            match event {
                Event::Start(Tag::TableRow | Tag::TableHead) => row.clear(),
                Event::End(TagEnd::TableRow | TagEnd::TableHead) => rows.push(row.clone()),
                Event::End(TagEnd::Table) => tables.push(std::mem::take(&mut rows)),
                Event::Start(_) => current.clear(),
                Event::End(TagEnd::TableCell) => row.push(std::mem::take(&mut current)),
                Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item) => {
                    blocks.push(std::mem::take(&mut current));
                }
                Event::Text(t) | Event::Code(t) => current.push_str(&t),
                Event::SoftBreak => current.push(' '),
                Event::Html(_) | Event::InlineHtml(_) => html += 1,
                _ => {}
            }
        }
        (tables, blocks, html)
    }

    #[test]
    fn a_name_with_markup_characters_is_shown_as_written() {
        let name = "a<b>&\"c' ]]> |x| `tick` *no* _em_ [l](u) ~s~ $m$ \\";
        let mut result = fixtures::result();
        let spec = &mut result.specs[0];
        let summary = spec.summary.as_mut().unwrap();
        let metrics = summary.requests.remove("emit-new").unwrap();
        summary.requests.insert(name.into(), metrics);
        spec.checks[1].scope = name.into();
        spec.notes.push(format!("a note naming {name}"));
        let cost = summary.cost.as_mut().unwrap();
        let counted = cost.by_request.remove("emit-new").unwrap();
        cost.by_request.insert(name.into(), counted);
        let before = spec.baseline_requests.remove("emit-new").unwrap();
        spec.baseline_requests.insert(name.into(), before);
        spec.cost[1].request = name.into();
        let markdown = fixtures::render(write, &result);
        let (tables, blocks, html) = rendered(&markdown);
        assert_eq!(html, 0, "nothing is taken as HTML:\n{markdown}");
        // The checks, each request against the baseline, the instructions, the functions that
        // moved, the profile's functions and the sweep.
        assert_eq!(tables.len(), 6, "{markdown}");
        assert_eq!(tables[1][1][0], name, "{:?}", tables[1]);
        assert_eq!(tables[2][2][0], name, "{:?}", tables[2]);
        assert_eq!(
            tables[3][1][0], "demo_service::extra_work",
            "{:?}",
            tables[3]
        );
        assert_eq!(
            tables[4][2][0], "<hyper::proto::h1::role::Server as Http1Transaction>::parse",
            "{:?}",
            tables[4]
        );
        for rows in &tables {
            assert!(
                rows.iter().all(|r| r.len() == rows[0].len()),
                "every row has its header's cells: {rows:?}\n{markdown}"
            );
        }
        let checks = &tables[0];
        assert_eq!((checks.len(), checks[0].len()), (5, 6), "{checks:?}");
        assert_eq!(checks[2][0], format!("{name} p90 max"), "{checks:?}");
        for shown in [
            format!("error in {name}: "),
            format!("2 failed in {name} took"),
            format!("a note naming {name}"),
            format!("Where {name}'s instructions went (self, per request):"),
        ] {
            assert!(
                blocks.iter().any(|b| b.contains(&shown)),
                "`{shown}` not in {blocks:#?}"
            );
        }
    }

    #[test]
    fn code_spans_and_fences_outgrow_the_backticks_inside() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(fence("x"), "```");
        assert_eq!(fence("a ```` b"), "`````");
        assert_eq!(mermaid("a\"#`b"), "a#quot;#35;#96;b");
    }
}
