//! The baselines' history (`judge::history`) → `history.html`, a chart per spec and metric over
//! the commits (short hash, date and subject on hover; the last run's value beside them when
//! there is one), and `history.md`, a table of the commits per spec, newest first. Both
//! self-contained, written like every report.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::judge::history::{History, METRICS, Point, SpecHistory};
use crate::judge::verdict::GateResult;
use crate::metric::{Metric, Scope};
use crate::report::html::fill;
use crate::report::markdown::text;
use crate::support::files::write_atomic;

/// Writes `history.html` and `history.md` into `out_dir`; answers their paths.
pub fn write_files(
    history: &History,
    current: Option<&GateResult>,
    out_dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let (html, md) = (out_dir.join("history.html"), out_dir.join("history.md"));
    write_atomic(&html, page(history, current).as_bytes())?;
    let mut markdown = Vec::new();
    write_markdown(&mut markdown, history, current)?;
    write_atomic(&md, &markdown)?;
    Ok(vec![html, md])
}

/// The metrics some version of `spec` has, in [`METRICS`] order.
fn metrics_of(spec: &SpecHistory) -> Vec<Metric> {
    METRICS
        .into_iter()
        .filter(|m| spec.points.iter().any(|p| value(p, *m).is_some()))
        .collect()
}

fn value(point: &Point, metric: Metric) -> Option<f64> {
    point
        .values
        .iter()
        .find_map(|(m, v)| (*m == metric).then_some(*v))
}

/// The last run's value of `metric` for `spec`, when it ran that spec.
fn current_value(current: Option<&GateResult>, spec: &str, metric: Metric) -> Option<f64> {
    current?
        .specs
        .iter()
        .find(|s| s.name == spec)?
        .summary
        .as_ref()?
        .value(metric, &Scope::Total)
}

/// A value in the unit a chart's axis shows, and that unit.
fn shown(metric: Metric, value: f64) -> (f64, &'static str) {
    match metric {
        Metric::P50 | Metric::P90 | Metric::P99 => (value / 1000.0, "ms"),
        Metric::ErrorRate => (value * 100.0, "%"),
        Metric::Rps => (value, "requests/s"),
        Metric::Capacity => (value, "steps (users or requests/s)"),
        Metric::ServiceCpuPerRequest => (value, "µs of CPU per request"),
        Metric::ServiceRssPeak | Metric::ServiceRssGrowth => (value / 1_048_576.0, "MiB"),
        Metric::Instructions => (value, "instructions per request"),
        Metric::FirstMessageP50
        | Metric::FirstMessageP90
        | Metric::FirstMessageP99
        | Metric::MessageGapP50
        | Metric::MessageGapP90
        | Metric::MessageGapP99 => (value / 1000.0, "ms"),
    }
}

fn page(history: &History, current: Option<&GateResult>) -> String {
    let specs: Vec<Value> = history
        .specs
        .iter()
        .map(|spec| {
            let charts: Vec<Value> = metrics_of(spec)
                .into_iter()
                .map(|metric| {
                    let unit = shown(metric, 0.0).1;
                    json!({
                        "metric": metric.key(),
                        "unit": unit,
                        "values": spec.points.iter()
                            .map(|p| value(p, metric).map(|v| shown(metric, v).0))
                            .collect::<Vec<_>>(),
                        "current": current_value(current, &spec.spec, metric)
                            .map(|v| shown(metric, v).0),
                    })
                })
                .collect();
            json!({
                "spec": spec.spec,
                "skipped": spec.skipped,
                "commits": spec.points.iter()
                    .map(|p| json!({ "short": p.short, "date": p.date, "subject": p.subject }))
                    .collect::<Vec<_>>(),
                "charts": charts,
            })
        })
        .collect();
    fill(HISTORY_PAGE, &json!({ "dir": history.dir, "specs": specs }))
}

/// `history.md`: per spec, a row per commit (newest first) after the last run's, then the
/// commits that were skipped.
fn write_markdown(
    out: &mut dyn Write,
    history: &History,
    current: Option<&GateResult>,
) -> io::Result<()> {
    writeln!(
        out,
        "## loadgate: baseline history of {}\n",
        text(&history.dir)
    )?;
    for spec in &history.specs {
        let metrics = metrics_of(spec);
        writeln!(out, "### {}\n", text(&spec.spec))?;
        let keys: Vec<String> = metrics.iter().map(|m| text(m.key())).collect();
        writeln!(
            out,
            "| commit | date | subject | {} |\n|---|---|---|{}",
            keys.join(" | "),
            "---|".repeat(metrics.len())
        )?;
        let cell = |v: Option<f64>, m: Metric| v.map_or("—".to_owned(), |v| m.format(v));
        if metrics
            .iter()
            .any(|m| current_value(current, &spec.spec, *m).is_some())
        {
            let cells: Vec<String> = metrics
                .iter()
                .map(|m| cell(current_value(current, &spec.spec, *m), *m))
                .collect();
            writeln!(out, "| this run | | | {} |", cells.join(" | "))?;
        }
        for point in spec.points.iter().rev() {
            let cells: Vec<String> = metrics.iter().map(|m| cell(value(point, *m), *m)).collect();
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                point.short,
                text(&point.date),
                text(&point.subject),
                cells.join(" | ")
            )?;
        }
        writeln!(out)?;
        for skipped in &spec.skipped {
            writeln!(out, "- ⚠️ {}", text(skipped))?;
        }
        if !spec.skipped.is_empty() {
            writeln!(out)?;
        }
    }
    Ok(())
}

/// One section per spec, a line chart per metric over its commits (one point each), the last
/// run's value as a star after them.
const HISTORY_PAGE: &str = r##"/*HEAD*/
<title>loadgate baseline history</title>
</head>
<body>
<h1>loadgate: baseline history</h1>
<p class="muted" id="dir"></p>
<div id="specs"></div>
/*DATA*/
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var h = window.loadgate, el = h.el, colors = h.colors;
  document.getElementById("dir").textContent = "every committed version of " + data.dir + "/*.json, oldest first";
  var root = document.getElementById("specs");
  data.specs.forEach(function (spec) {
    var section = el("section");
    section.appendChild(el("h2", {}, spec.spec));
    if (spec.skipped.length) {
      var list = el("ul");
      spec.skipped.forEach(function (note) { list.appendChild(el("li", { "class": "INCONCLUSIVE" }, note)); });
      section.appendChild(list);
    }
    var grid = el("div", { "class": "grid" });
    section.appendChild(grid);
    root.appendChild(section);
    var labels = spec.commits.map(function (c) { return c.short; });
    spec.charts.forEach(function (c) {
      var datasets = [{ label: "committed baseline", data: c.values, borderColor: colors.p50,
        backgroundColor: colors.p50, pointRadius: 3, borderWidth: 1.5, spanGaps: true }];
      var shown = labels;
      if (c.current !== null) {
        shown = labels.concat(["this run"]);
        datasets.push({ label: "this run", data: labels.map(function () { return null; }).concat([c.current]),
          borderColor: colors.p99, backgroundColor: colors.p99, pointStyle: "star", pointRadius: 8, showLine: false });
      }
      h.chart(grid, spec.spec + ": " + c.metric + " (" + c.unit + ")", { type: "line",
        data: { labels: shown, datasets: datasets },
        options: { scales: { x: { title: { display: true, text: "commit" } }, y: { beginAtZero: true } },
          plugins: { tooltip: { callbacks: {
            title: function (items) {
              var commit = spec.commits[items[0].dataIndex];
              return commit ? commit.short + " · " + commit.date : "this run";
            },
            afterTitle: function (items) {
              var commit = spec.commits[items[0].dataIndex];
              return commit ? commit.subject : "";
            } } } } } });
    });
  });
  document.body.dataset.charts = String(h.count());
})();
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::history::Point;

    fn point(short: &str, p90_us: f64) -> Point {
        Point {
            short: short.into(),
            date: "2026-11-30T12:00:00+00:00".into(),
            subject: format!("a | subject <{short}>"),
            values: vec![(Metric::P90, p90_us), (Metric::Rps, 100.0)],
        }
    }

    fn history() -> History {
        History {
            dir: "baselines".into(),
            specs: vec![SpecHistory {
                spec: "reads".into(),
                points: vec![point("aaaaaaa", 2000.0), point("bbbbbbb", 2500.0)],
                skipped: vec!["commit ccccccc (2026-11-30) skipped: corrupt".into()],
            }],
        }
    }

    #[test]
    fn markdown_has_a_row_per_commit_newest_first_then_the_skipped() {
        let mut out = Vec::new();
        let mut current = crate::report::fixtures::result();
        current.specs[0].name = "reads".into();
        write_markdown(&mut out, &history(), Some(&current)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(rows[0], "| commit | date | subject | p90 | rps |", "{text}");
        assert!(
            rows[1].starts_with("| this run | | | 2.40ms | 400"),
            "{text}"
        );
        assert!(rows[2].starts_with("| bbbbbbb |") && rows[3].starts_with("| aaaaaaa |"));
        assert!(rows[2].contains("a \\| subject \\<bbbbbbb\\>"), "{text}");
        assert!(text.contains("- ⚠️ commit ccccccc"), "{text}");
    }

    #[test]
    fn the_page_carries_a_point_per_commit_and_the_current_value() {
        let page = page(&history(), None);
        assert!(page.contains("Chart.js v4.6.1") && !page.contains("src=\"http"));
        let data = crate::report::html::page_data(&page);
        let charts = &data["specs"][0]["charts"];
        assert_eq!(charts[0]["metric"], "p90");
        assert_eq!(charts[0]["values"], json!([2.0, 2.5]));
        assert_eq!(charts[0]["current"], Value::Null);
        assert_eq!(data["specs"][0]["commits"][1]["short"], "bbbbbbb");
    }
}
