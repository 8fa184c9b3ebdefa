//! `report.html`: one self-contained file (Chart.js inlined, no network) with, per spec,
//! requests/s and errors over time, p50/p90/p99 over time, the latency distribution against the
//! baseline, and the service's memory and CPU over time. The data is computed here from the
//! same `GateResult` as every other report and embedded as JSON; the page only draws it.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::judge::verdict::{GateResult, SpecResult};
use crate::summary::decode_histogram;

const CHART_JS: &str = include_str!("../../assets/chart.js/chart.umd.min.js");

/// Service readings (100 ms apart) over which the CPU chart averages.
const CPU_WINDOW: usize = 10;

/// The percentiles of the distribution chart: the body, then the tail in nines.
const QUANTILES: [(&str, f64); 11] = [
    ("min", 0.0),
    ("p25", 0.25),
    ("p50", 0.5),
    ("p75", 0.75),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.5", 0.995),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
    ("max", 1.0),
];

pub fn write(out: &mut dyn Write, result: &GateResult) -> io::Result<()> {
    let data = json!({
        "verdict": result.verdict.label(),
        "recorded_at": result.provenance.recorded_at,
        "git": result.provenance.git_revision,
        "specs": result.specs.iter().map(spec_data).collect::<Vec<_>>(),
    });
    // `<` escaped: the JSON sits inside a <script> element.
    let data = data.to_string().replace('<', "\\u003c");
    let library = CHART_JS
        .trim_end()
        .trim_end_matches("//# sourceMappingURL=chart.umd.min.js.map");
    write!(
        out,
        "{}",
        PAGE.replace("/*CHART_JS*/", library)
            .replace("/*DATA*/", &data)
    )
}

fn spec_data(spec: &SpecResult) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    let checks: Vec<Value> = spec
        .checks
        .iter()
        .map(|c| json!({ "name": c.name(), "outcome": c.outcome, "message": c.message }))
        .collect();
    let Some(summary) = &spec.summary else {
        return json!({
            "name": spec.name,
            "verdict": spec.verdict.label(),
            "reason": spec.reason,
            "log_tail": spec.service_failure.as_ref().map(|f| &f.log_tail),
            "checks": checks,
        });
    };
    let series = &summary.series;
    let service = &summary.service_series;
    // CPU in cores: the CPU time the service used over the last second of readings, per second
    // (a 100 ms difference is mostly the kernel's 10 ms accounting steps).
    let cores: Vec<Option<f64>> = (0..service.len())
        .map(|i| {
            let (from, to) = (&service[i.saturating_sub(CPU_WINDOW)], &service[i]);
            let dt = to.t.0 - from.t.0;
            (dt > 0.0).then(|| ((to.cpu_seconds - from.cpu_seconds) / dt).max(0.0))
        })
        .collect();
    let distribution = |histogram: &str| {
        decode_histogram(histogram).ok().map(|h| {
            QUANTILES
                .iter()
                .map(|(_, q)| ms(h.value_at_quantile(*q)))
                .collect::<Vec<_>>()
        })
    };
    json!({
        "name": spec.name,
        "verdict": spec.verdict.label(),
        "reason": spec.reason,
        "log_tail": spec.service_failure.as_ref().map(|f| &f.log_tail),
        "load": summary.load.describe(),
        "checks": checks,
        "flows": crate::report::flows(summary).map(|(name, flow, steps)| json!({
            "line": crate::report::flow_line(name, flow),
            "steps": steps.iter().map(|(step, m)| crate::report::step_line(step, m)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "series": {
            "t": series.iter().map(|p| p.t.0).collect::<Vec<_>>(),
            "requests": series.iter().map(|p| p.requests).collect::<Vec<_>>(),
            "errors": series.iter().map(|p| p.errors).collect::<Vec<_>>(),
            "p50": series.iter().map(|p| ms(p.p50_us)).collect::<Vec<_>>(),
            "p90": series.iter().map(|p| ms(p.p90_us)).collect::<Vec<_>>(),
            "p99": series.iter().map(|p| ms(p.p99_us)).collect::<Vec<_>>(),
            "warmup": summary.load.warmup_seconds.0,
        },
        "distribution": {
            "labels": QUANTILES.iter().map(|(label, _)| *label).collect::<Vec<_>>(),
            "current": distribution(&summary.total.histogram),
            "baseline": spec.baseline_total.as_ref().and_then(|b| distribution(&b.histogram)),
        },
        "service": {
            "t": service.iter().map(|p| p.t.0).collect::<Vec<_>>(),
            "rss_mib": service.iter().map(|p| p.rss_bytes as f64 / 1048576.0).collect::<Vec<_>>(),
            "cores": cores,
        },
    })
}

/// The page: styles, the inlined library, the data, and the code that draws one section per
/// spec. It marks `<body data-charts=N>` when done, and `data-errors` if a script failed, so a
/// headless browser can tell.
const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loadgate report</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; color: #1f2328; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
  .PASS { color: #1a7f37; } .FAIL, .SERVICE.FAILED { color: #cf222e; } .INCONCLUSIVE { color: #9a6700; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1rem; }
  .chart { position: relative; height: 260px; }
  table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .15rem .6rem; text-align: left; border-bottom: 1px solid #eaeef2; }
  .muted { color: #59636e; } pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; }
</style>
<script>
  window.addEventListener("error", function (e) {
    document.body.dataset.errors = (document.body.dataset.errors || "") + e.message + "\n";
  });
</script>
<script>/*CHART_JS*/</script>
</head>
<body>
<h1>loadgate: <span id="verdict"></span></h1>
<p class="muted" id="provenance"></p>
<div id="specs"></div>
<script id="data" type="application/json">/*DATA*/</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var colors = { p50: "#0969da", p90: "#bf8700", p99: "#cf222e", rps: "#1a7f37", errors: "#cf222e",
                 baseline: "#8c959f", rss: "#8250df", cpu: "#0969da" };
  var charts = 0;
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function chart(parent, title, config) {
    var box = el("div", { "class": "chart" });
    var canvas = el("canvas", { "aria-label": title, role: "img" });
    box.appendChild(canvas);
    parent.appendChild(box);
    config.options = Object.assign({ animation: false, maintainAspectRatio: false, parsing: true,
      plugins: { title: { display: true, text: title } } }, config.options || {});
    new Chart(canvas, config);
    charts += 1;
  }
  function xy(xs, ys) { return xs.map(function (x, i) { return { x: x, y: ys[i] }; }); }
  function line(label, xs, ys, color, extra) {
    return Object.assign({ label: label, data: xy(xs, ys), borderColor: color, backgroundColor: color,
      pointRadius: 0, borderWidth: 1.5, tension: 0.1 }, extra || {});
  }
  function seconds(title) { return { type: "linear", title: { display: true, text: title || "seconds since the load started" } }; }

  document.getElementById("verdict").textContent = data.verdict;
  document.getElementById("verdict").className = data.verdict;
  document.getElementById("provenance").textContent =
    "recorded " + data.recorded_at + (data.git ? " · git " + data.git : "");
  var root = document.getElementById("specs");
  data.specs.forEach(function (spec) {
    var section = el("section");
    var h2 = el("h2", {}, spec.name + " — ");
    h2.appendChild(el("span", { "class": spec.verdict }, spec.verdict));
    section.appendChild(h2);
    if (spec.load) section.appendChild(el("p", { "class": "muted" }, spec.load));
    if (spec.reason) section.appendChild(el("p", {}, spec.reason));
    if (spec.log_tail) section.appendChild(el("pre", {}, spec.log_tail));
    if (spec.checks.length) {
      var table = el("table");
      spec.checks.forEach(function (c) {
        var row = el("tr");
        var mark = { fail: ["✗", "FAIL"], pass: ["✓", "PASS"], inconclusive: ["?", "INCONCLUSIVE"] }[c.outcome] || ["·", "muted"];
        row.appendChild(el("td", { "class": mark[1] }, mark[0]));
        row.appendChild(el("td", {}, c.name));
        row.appendChild(el("td", {}, c.message));
        table.appendChild(row);
      });
      section.appendChild(table);
    }
    (spec.flows || []).forEach(function (f) {
      section.appendChild(el("p", {}, f.line));
      var list = el("ul", { "class": "muted" });
      f.steps.forEach(function (step) { list.appendChild(el("li", {}, step)); });
      section.appendChild(list);
    });
    var grid = el("div", { "class": "grid" });
    section.appendChild(grid);
    root.appendChild(section);
    var s = spec.series;
    if (s && s.t.length) {
      chart(grid, "requests/s and errors/s", { type: "line", data: { datasets: [
          line("requests/s", s.t, s.requests, colors.rps),
          line("errors/s", s.t, s.errors, colors.errors, { yAxisID: "errors" })] },
        options: { scales: { x: seconds(), y: { beginAtZero: true, title: { display: true, text: "requests/s" } },
          errors: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "errors/s" } } } } });
      chart(grid, "latency over time (ms)", { type: "line", data: { datasets: [
          line("p50", s.t, s.p50, colors.p50), line("p90", s.t, s.p90, colors.p90), line("p99", s.t, s.p99, colors.p99)] },
        options: { scales: { x: seconds(), y: { beginAtZero: true, title: { display: true, text: "ms" } } } } });
    }
    var d = spec.distribution;
    if (d && d.current) {
      var datasets = [{ label: "this run", data: d.current, borderColor: colors.p50, backgroundColor: colors.p50, pointRadius: 3 }];
      if (d.baseline) datasets.push({ label: "baseline", data: d.baseline, borderColor: colors.baseline,
        backgroundColor: colors.baseline, borderDash: [6, 4], pointRadius: 3 });
      chart(grid, "latency distribution" + (d.baseline ? " against the baseline" : " (no baseline)"), {
        type: "line", data: { labels: d.labels, datasets: datasets },
        options: { scales: { y: { type: "logarithmic", title: { display: true, text: "ms (log)" } },
          x: { title: { display: true, text: "percentile" } } } } });
    }
    var m = spec.service;
    if (m && m.t.length) {
      chart(grid, "service memory and CPU", { type: "line", data: { datasets: [
          line("RSS (MiB)", m.t, m.rss_mib, colors.rss),
          line("CPU (cores)", m.t, m.cores, colors.cpu, { yAxisID: "cores", spanGaps: true })] },
        options: { scales: { x: seconds(), y: { beginAtZero: true, title: { display: true, text: "MiB" } },
          cores: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "cores" } } } } });
    }
  });
  document.body.dataset.charts = String(charts);
})();
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn the_page_is_self_contained_and_carries_every_chart_s_data() {
        let page = fixtures::render(write, &fixtures::result());
        assert!(page.contains("Chart.js v4.6.1"), "the library is inlined");
        assert!(!page.contains("sourceMappingURL"));
        for external in ["src=\"http", "href=\"http", "<link "] {
            assert!(!page.contains(external), "no network: {external}");
        }
        let start = page
            .find(r#"<script id="data" type="application/json">"#)
            .unwrap();
        let json = &page[start..];
        let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
        let data: Value = serde_json::from_str(json).unwrap();
        let badges = &data["specs"][0];
        assert_eq!(badges["name"], "badges");
        assert_eq!(
            badges["distribution"]["labels"].as_array().unwrap().len(),
            QUANTILES.len()
        );
        assert_eq!(badges["service"]["t"].as_array().unwrap().len(), 1);
        // The crashed spec has no summary: a section with its reason, no charts.
        assert_eq!(data["specs"][1]["verdict"], "SERVICE FAILED");
        assert!(data["specs"][1].get("series").is_none());
    }

    #[test]
    fn text_cannot_close_the_data_script() {
        let mut result = fixtures::result();
        result.specs[1].reason = Some("</script><script>alert(1)</script>".into());
        let page = fixtures::render(write, &result);
        assert!(!page.contains("</script><script>alert(1)"));
        assert!(page.contains(r"\u003c/script>\u003cscript>alert(1)"));
    }
}
