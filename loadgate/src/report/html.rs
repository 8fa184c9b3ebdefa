//! `report.html`: one self-contained file (Chart.js inlined, no network) with, per spec,
//! requests/s and errors over time, p50/p90/p99 over time, the latency distribution against the
//! baseline, and the service's memory and CPU over time. The data is computed here from the
//! same `GateResult` as every other report and embedded as JSON; the page only draws it.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::judge::verdict::{GateResult, SpecResult};
use crate::run::record::{SeriesPoint, StreamPoint};
use crate::summary::{SweepStep, SweepSummary};
use crate::support::histogram::EncodedHistogram;

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
    write!(out, "{}", fill(PAGE, &data))
}

/// `page` with the shared head (styles, chart library) in place of its `/*HEAD*/`, and `data`
/// followed by the shared drawing helpers in place of its `/*DATA*/`: one file that needs no
/// network.
pub(crate) fn fill(page: &str, data: &Value) -> String {
    // `<` escaped: the JSON sits inside a <script> element.
    let data = data.to_string().replace('<', "\\u003c");
    let library = CHART_JS
        .trim_end()
        .trim_end_matches("//# sourceMappingURL=chart.umd.min.js.map");
    let data = format!(
        "<script id=\"data\" type=\"application/json\">{data}</script>\n<script>{HELPERS}</script>"
    );
    page.replace("/*HEAD*/", &HEAD.replace("/*CHART_JS*/", library))
        .replace("/*DATA*/", &data)
}

/// A sweep's curve: each step's throughput and percentiles (ms), the capacity step and the first
/// step beyond the limits.
fn sweep_data(sweep: &SweepSummary) -> Value {
    let steps = &sweep.steps;
    let ms = |pick: fn(&SweepStep) -> u64| -> Vec<f64> {
        steps.iter().map(|s| pick(s) as f64 / 1000.0).collect()
    };
    json!({
        "by": sweep.by,
        "steps": steps.iter().map(|s| s.step).collect::<Vec<_>>(),
        "rps": steps.iter().map(|s| s.rps).collect::<Vec<_>>(),
        "p50": ms(|s| s.latency_us.p50),
        "p90": ms(|s| s.latency_us.p90),
        "p99": ms(|s| s.latency_us.p99),
        "capacity": sweep.capacity,
        "first_failed": sweep.first_failed(),
    })
}

fn spec_data(spec: &SpecResult) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    let checks: Vec<Value> = spec
        .checks
        .iter()
        .map(|c| json!({ "name": c.name(), "outcome": c.outcome, "message": c.message }))
        .collect();
    // What every spec shows, measured or not: who, the verdict and why, the service's log tail,
    // the notes.
    let mut data = json!({
        "name": spec.name,
        "verdict": spec.verdict.label(),
        "reason": spec.reason,
        "log_tail": spec.service_failure.as_ref().map(|f| &f.log_tail),
        "log_file": spec.service_failure.as_ref().map(|f| &f.log_file),
        "checks": checks,
        "notes": spec.notes,
    });
    let Some(summary) = &spec.summary else {
        return data;
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
    let distribution = |histogram: &EncodedHistogram| {
        histogram.decode().ok().map(|h| {
            QUANTILES
                .iter()
                .map(|(_, q)| ms(h.value_at_quantile(*q)))
                .collect::<Vec<_>>()
        })
    };
    let measured = json!({
        "load": summary.load.describe(),
        "flows": crate::report::rows::flows(summary).map(|(name, flow, steps)| json!({
            "line": crate::report::rows::flow_line(name, flow),
            "steps": steps.iter().map(|(step, m)| crate::report::rows::step_line(step, m)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "series": {
            "t": series.iter().map(|p| p.t.0).collect::<Vec<_>>(),
            "requests": series.iter().map(|p| p.requests).collect::<Vec<_>>(),
            "errors": series.iter().map(|p| p.errors).collect::<Vec<_>>(),
            "p50": series.iter().map(|p| ms(p.p50_us)).collect::<Vec<_>>(),
            "p90": series.iter().map(|p| ms(p.p90_us)).collect::<Vec<_>>(),
            "p99": series.iter().map(|p| ms(p.p99_us)).collect::<Vec<_>>(),
            // Streams' message times per second; null in a second without an answered stream.
            "first_message": stream_series(series, |s| [s.first_message_p50_us, s.first_message_p90_us, s.first_message_p99_us]),
            "message_gap": stream_series(series, |s| [s.message_gap_p50_us, s.message_gap_p90_us, s.message_gap_p99_us]),
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
        "sweep": summary.sweep.as_ref().map(sweep_data),
        "baseline_sweep": spec.baseline_sweep.as_ref().map(sweep_data),
        "pairs": spec.pairs,
        "cost": cost_data(spec),
        "against_baseline": crate::report::rows::request_changes(spec),
        "profile": profile_data(spec),
    });
    if let (Some(all), Value::Object(more)) = (data.as_object_mut(), measured) {
        all.extend(more);
    }
    data
}

/// Streams' p50, p90 and p99 (ms) of `pick` per second, as three lines; `null` without any
/// answered stream in the run.
fn stream_series(series: &[SeriesPoint], pick: fn(&StreamPoint) -> [u64; 3]) -> Value {
    if series.iter().all(|p| p.stream.is_none()) {
        return Value::Null;
    }
    let line = |i: usize| {
        (series.iter())
            .map(|p| p.stream.as_ref().map(|s| pick(s)[i] as f64 / 1000.0))
            .collect::<Vec<_>>()
    };
    json!({ "p50": line(0), "p90": line(1), "p99": line(2) })
}

/// `[cost]`: the instruction table and each moved name's function table, as the reports word
/// them; `null` without `[cost]`.
fn cost_data(spec: &SpecResult) -> Value {
    let rows = crate::report::rows::cost_rows(spec);
    if rows.is_empty() {
        return Value::Null;
    }
    let functions: Vec<Value> = (spec.cost.iter())
        .map(|change| (change, crate::report::rows::function_rows(change)))
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(change, rows)| json!({ "request": change.request, "rows": rows }))
        .collect();
    json!({ "requests": rows, "functions": functions })
}

/// `--profile`: the table of functions as the other reports word it, and the flame graphs
/// (SVG documents without their XML prolog, each drawn in a frame of its own so that their
/// scripts and ids do not meet); `null` without a profile.
fn profile_data(spec: &SpecResult) -> Value {
    let Some(profile) = &spec.profile else {
        return Value::Null;
    };
    let document = |svg: &Option<String>| {
        svg.as_deref()
            .map(|svg| svg.find("<svg").map_or(svg, |at| &svg[at..]).to_owned())
    };
    json!({
        "heading": crate::report::rows::profile_heading(profile),
        "rows": crate::report::rows::profile_rows(profile),
        "flame": document(&profile.flame_svg),
        "diff": document(&profile.diff_svg),
        "compared_with": profile.compared_with,
    })
}

/// Every page's head up to its title: styles, its error catcher (a failed script marks
/// `<body data-errors>`) and the chart library.
const HEAD: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; color: #1f2328; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
  .PASS { color: #1a7f37; } .FAIL, .SERVICE.FAILED { color: #cf222e; } .INCONCLUSIVE { color: #9a6700; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1rem; }
  .chart { position: relative; height: 260px; }
  table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .15rem .6rem; text-align: left; border-bottom: 1px solid #eaeef2; }
  .muted { color: #59636e; } pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; }
  iframe.flame { width: 100%; height: 480px; border: 1px solid #d0d7de; }
  table.cost td.num { text-align: right; font-variant-numeric: tabular-nums; } table.cost td:first-child { font-family: ui-monospace, monospace; word-break: break-all; }
</style>
<script>
  window.addEventListener("error", function (e) {
    document.body.dataset.errors = (document.body.dataset.errors || "") + e.message + "\n";
  });
</script>
<script>/*CHART_JS*/</script>
"##;

/// What every page's drawing shares, as `window.loadgate`: making elements, one chart in a box
/// (its canvas labelled with its title and marked `data-points` with its first dataset's drawn
/// points, for a headless browser to read), line datasets, and the `marks` plugin that shades
/// bands (the warmup, an interval) and draws vertical and horizontal rules (capacity, no change).
const HELPERS: &str = r##"
(function () {
  "use strict";
  var colors = { p50: "#0969da", p90: "#bf8700", p99: "#cf222e", rps: "#1a7f37", errors: "#cf222e",
                 baseline: "#8c959f", rss: "#8250df", cpu: "#0969da" };
  var charts = 0;
  Chart.register({ id: "marks", defaults: {}, beforeDatasetsDraw: function (c, args, o) {
    var x = c.scales.x, y = c.scales.y, area = c.chartArea, ctx = c.ctx;
    ctx.save();
    ctx.font = "11px system-ui, sans-serif";
    (o.bands || []).forEach(function (b) {
      var from = Math.max(x.getPixelForValue(b.from), area.left), to = Math.min(x.getPixelForValue(b.to), area.right);
      if (!(to > from)) return;
      ctx.fillStyle = "rgba(140,149,159,0.2)";
      ctx.fillRect(from, area.top, to - from, area.bottom - area.top);
      ctx.fillStyle = "#59636e";
      ctx.fillText(b.label, from + 4, area.bottom - 6);
    });
    (o.lines || []).forEach(function (l, i) {
      var px = x.getPixelForValue(l.at);
      if (!(px >= area.left && px <= area.right)) return;
      ctx.strokeStyle = l.color; ctx.fillStyle = l.color; ctx.lineWidth = 1.5; ctx.setLineDash([5, 3]);
      ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
      ctx.setLineDash([]);
      var text = l.label, w = ctx.measureText(text).width;
      ctx.fillText(text, px + 4 + w > area.right ? px - 4 - w : px + 4, area.top + 12 + 14 * i);
    });
    (o.hbands || []).forEach(function (b) {
      var top = Math.max(y.getPixelForValue(b.to), area.top), bottom = Math.min(y.getPixelForValue(b.from), area.bottom);
      if (!(bottom > top)) return;
      ctx.fillStyle = "rgba(9,105,218,0.12)";
      ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      ctx.fillStyle = "#59636e";
      ctx.fillText(b.label, area.left + 4, top - 3);
    });
    (o.hlines || []).forEach(function (l) {
      var py = y.getPixelForValue(l.at);
      if (!(py >= area.top && py <= area.bottom)) return;
      ctx.strokeStyle = l.color; ctx.setLineDash([5, 3]);
      ctx.beginPath(); ctx.moveTo(area.left, py); ctx.lineTo(area.right, py); ctx.stroke();
    });
    ctx.restore();
  } });
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function chart(parent, title, config, marks) {
    var box = el("div", { "class": "chart" });
    var canvas = el("canvas", { "aria-label": title, role: "img" });
    box.appendChild(canvas);
    parent.appendChild(box);
    var options = config.options || {};
    options.plugins = Object.assign({ title: { display: true, text: title }, marks: marks || {} }, options.plugins || {});
    config.options = Object.assign({ animation: false, maintainAspectRatio: false, parsing: true }, options);
    var drawn = new Chart(canvas, config);
    canvas.setAttribute("data-points", String(drawn.getDatasetMeta(0).data.length));
    charts += 1;
  }
  function xy(xs, ys) { return xs.map(function (x, i) { return { x: x, y: ys[i] }; }); }
  function line(label, xs, ys, color, extra) {
    return Object.assign({ label: label, data: xy(xs, ys), borderColor: color, backgroundColor: color,
      pointRadius: 0, borderWidth: 1.5, tension: 0.1 }, extra || {});
  }
  // From zero, so the warmup at the start is in view.
  function seconds(title) { return { type: "linear", min: 0, title: { display: true, text: title || "seconds since the load started" } }; }
  window.loadgate = { colors: colors, el: el, chart: chart, line: line, seconds: seconds,
    count: function () { return charts; } };
})();
"##;

/// The page: styles, the inlined library, the data, and the code that draws one section per
/// spec. It marks `<body data-charts=N>` when done, and `data-errors` if a script failed, so a
/// headless browser can tell.
const PAGE: &str = r##"/*HEAD*/
<title>loadgate report</title>
</head>
<body>
<h1>loadgate: <span id="verdict"></span></h1>
<p class="muted" id="provenance"></p>
<div id="specs"></div>
/*DATA*/
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var h = window.loadgate, el = h.el, chart = h.chart, line = h.line, seconds = h.seconds, colors = h.colors;
  // The warmup, shaded on every chart over time: measured, never judged.
  function warmup(s) { return s.warmup > 0 ? { bands: [{ from: 0, to: s.warmup, label: "warmup" }] } : {}; }
  function capacity(grid, c, base) {
    var unit = c.by === "users" ? "users" : "requests/s offered";
    var datasets = [line("requests/s", c.steps, c.rps, colors.rps, { pointRadius: 4 }),
      line("p50", c.steps, c.p50, colors.p50, { yAxisID: "ms", pointRadius: 3 }),
      line("p90", c.steps, c.p90, colors.p90, { yAxisID: "ms", pointRadius: 3 }),
      line("p99", c.steps, c.p99, colors.p99, { yAxisID: "ms", pointRadius: 3 })];
    if (base) datasets.push(
      line("baseline requests/s", base.steps, base.rps, colors.baseline, { borderDash: [6, 4], pointRadius: 3 }),
      line("baseline p90", base.steps, base.p90, colors.baseline, { yAxisID: "ms", borderDash: [2, 3], pointRadius: 2 }));
    var lines = [];
    if (c.capacity !== null) lines.push({ at: c.capacity, label: "capacity: " + c.capacity + " " + c.by, color: colors.rps });
    if (c.first_failed !== null) lines.push({ at: c.first_failed, label: "limits failed: " + c.first_failed, color: colors.errors });
    if (base && base.capacity !== null) lines.push({ at: base.capacity, label: "baseline capacity: " + base.capacity, color: colors.baseline });
    var log = c.steps.length > 2 && c.steps[0] > 0;
    chart(grid, "capacity curve: requests/s and latency by " + c.by + (base ? " against the baseline" : ""), {
      type: "line", data: { datasets: datasets },
      options: { scales: { x: { type: log ? "logarithmic" : "linear", title: { display: true, text: unit } },
        y: { beginAtZero: true, title: { display: true, text: "requests/s" } },
        ms: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "ms" } } } } },
      { lines: lines });
  }
  // A chart per judged metric: each pair's ratio in the order the pairs ran, the 90 % interval of
  // their median as a band, the median and no change (1) as rules.
  function pairs(grid, list) {
    list.forEach(function (p) {
      var order = p.ratios.map(function (_, i) { return i + 1; });
      chart(grid, "A/B pairs: " + p.metric + ", candidate / base (median " + p.median.toFixed(3) + ", a change of " + ((p.median - 1) * 100 >= 0 ? "+" : "") + ((p.median - 1) * 100).toFixed(1) + "%)", {
        type: "line", data: { datasets: [line("one pair", order, p.ratios, colors.p50, { showLine: false, pointRadius: 5 })] },
        options: { scales: { x: { type: "linear", min: 0, max: order.length + 1, ticks: { stepSize: 1 },
            title: { display: true, text: "pair, in the order they ran" } },
          y: { suggestedMin: Math.min(0.9, p.low), suggestedMax: Math.max(1.1, p.high),
            title: { display: true, text: "candidate / base (1 = no change)" } } } } },
        { hbands: [{ from: p.low, to: p.high, label: "90% interval of the median" }],
          hlines: [{ at: 1, color: colors.baseline }, { at: p.median, color: colors.p99 }] });
    });
  }

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
    if (spec.log_tail) {
      // A --target service has no log of ours: its tail is empty and has no file.
      if (spec.log_file) section.appendChild(el("p", { "class": "muted" }, "the last lines of " + spec.log_file + ":"));
      section.appendChild(el("pre", {}, spec.log_tail));
    }
    spec.notes.forEach(function (note) {
      section.appendChild(el("p", { "class": "muted" }, "note: " + note));
    });
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
    // Instructions per request (Callgrind), then where they went for each name that moved.
    function rows(head, list) {
      var table = el("table", { "class": "cost" });
      [head].concat(list).forEach(function (cells, i) {
        var row = el("tr");
        cells.forEach(function (cell, j) {
          row.appendChild(el(i ? "td" : "th", j ? { "class": "num" } : {}, cell));
        });
        table.appendChild(row);
      });
      return table;
    }
    if (spec.against_baseline && spec.against_baseline.length) {
      section.appendChild(el("p", {}, "Each request against the baseline:"));
      section.appendChild(rows(["request", "p50", "p90"], spec.against_baseline));
    }
    if (spec.cost) {
      section.appendChild(el("p", {}, "Instructions per request (Callgrind):"));
      section.appendChild(rows(["request", "baseline", "now", "change"], spec.cost.requests));
      spec.cost.functions.forEach(function (f) {
        section.appendChild(el("p", {}, "Where " + f.request + "'s instructions went (self, per request):"));
        section.appendChild(rows(["function", "baseline", "now", "change"], f.rows));
      });
    }
    // The service's profile (perf): the functions whose share moved, then the flame graphs,
    // each a whole SVG document in its own frame, sized to its picture once drawn.
    if (spec.profile) {
      var p = spec.profile;
      section.appendChild(el("p", {}, p.heading.charAt(0).toUpperCase() + p.heading.slice(1) + ":"));
      section.appendChild(rows(["function", "before", "now", "change"], p.rows));
      [["diff", "Differential flame graph against " + p.compared_with + " (red: a larger share than before; click a frame to zoom, Ctrl+F to search):"],
       ["flame", "Flame graph of the service's samples (click a frame to zoom, Ctrl+F to search):"]].forEach(function (kind) {
        if (!p[kind[0]]) return;
        section.appendChild(el("p", {}, kind[1]));
        var frame = el("iframe", { "class": "flame", "data-profile": kind[0], title: kind[1] });
        frame.addEventListener("load", function () {
          var svg = frame.contentDocument && frame.contentDocument.querySelector("svg");
          if (svg && svg.getAttribute("height")) frame.style.height = (parseFloat(svg.getAttribute("height")) + 8) + "px";
          // For a headless browser to read: the frames the picture drew.
          frame.dataset.frames = svg ? svg.querySelectorAll("rect").length : 0;
        });
        frame.srcdoc = "<!DOCTYPE html><html><body style=\"margin:0\">" + p[kind[0]] + "</body></html>";
        section.appendChild(frame);
      });
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
          errors: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "errors/s" } } } } },
        warmup(s));
      chart(grid, "latency over time (ms)", { type: "line", data: { datasets: [
          line("p50", s.t, s.p50, colors.p50), line("p90", s.t, s.p90, colors.p90), line("p99", s.t, s.p99, colors.p99)] },
        options: { scales: { x: seconds(), y: { beginAtZero: true, title: { display: true, text: "ms" } } } } },
        warmup(s));
      // Streams: time to the first message and the gaps between messages, second by second.
      [["first_message", "time to first message over time (ms)"], ["message_gap", "gaps between messages over time (ms)"]].forEach(function (kind) {
        var m = s[kind[0]];
        if (!m) return;
        chart(grid, kind[1], { type: "line", data: { datasets: [
            line("p50", s.t, m.p50, colors.p50, { spanGaps: true }), line("p90", s.t, m.p90, colors.p90, { spanGaps: true }),
            line("p99", s.t, m.p99, colors.p99, { spanGaps: true })] },
          options: { scales: { x: seconds(), y: { beginAtZero: true, title: { display: true, text: "ms" } } } } },
          warmup(s));
      });
    }
    if (spec.sweep) capacity(grid, spec.sweep, spec.baseline_sweep);
    if (spec.pairs && spec.pairs.length) pairs(grid, spec.pairs);
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
          cores: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "cores" } } } } },
        warmup(s || { warmup: 0 }));
    }
  });
  document.body.dataset.charts = String(h.count());
})();
</script>
</body>
</html>
"##;

/// The data a page embeds, as the page's script reads it.
#[cfg(test)]
pub(crate) fn page_data(page: &str) -> Value {
    let start = page
        .find(r#"<script id="data" type="application/json">"#)
        .unwrap();
    let json = &page[start..];
    let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
    serde_json::from_str(json).unwrap()
}

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
        let data = page_data(&page);
        let badges = &data["specs"][0];
        assert_eq!(badges["name"], "badges");
        assert_eq!(
            badges["distribution"]["labels"].as_array().unwrap().len(),
            QUANTILES.len()
        );
        assert_eq!(badges["service"]["t"].as_array().unwrap().len(), 1);
        // The capacity curve, one point per step, against the baseline's; the A/B pairs.
        assert_eq!(badges["sweep"]["steps"], json!([2.0, 4.0, 8.0, 16.0]));
        assert_eq!(badges["sweep"]["p90"].as_array().unwrap().len(), 4);
        assert_eq!(
            (
                &badges["sweep"]["capacity"],
                &badges["sweep"]["first_failed"]
            ),
            (&json!(8.0), &json!(16.0))
        );
        assert_eq!(badges["baseline_sweep"]["rps"][0], json!(105.0));
        assert_eq!(badges["pairs"][0]["ratios"].as_array().unwrap().len(), 5);
        assert_eq!(data["specs"][1]["log_tail"], "error: address in use");
        assert_eq!(
            data["specs"][1]["log_file"],
            "target/loadtest/reads.service.log"
        );
        // The crashed spec has no summary: a section with its reason, no charts.
        assert_eq!(data["specs"][1]["verdict"], "SERVICE FAILED");
        assert!(data["specs"][1].get("series").is_none());
    }

    #[test]
    fn streams_message_times_are_charted_second_by_second() {
        let mut result = fixtures::result();
        let summary = result.specs[0].summary.as_mut().unwrap();
        let point = |stream| SeriesPoint {
            t: crate::support::units::Seconds(1.0),
            requests: 10,
            errors: 0,
            p50_us: 230_000,
            p90_us: 240_000,
            p99_us: 250_000,
            active: 4,
            stream,
        };
        let stream = StreamPoint {
            first_message_p50_us: 50_200,
            first_message_p90_us: 51_000,
            first_message_p99_us: 53_000,
            message_gap_p50_us: 20_100,
            message_gap_p90_us: 20_500,
            message_gap_p99_us: 22_000,
        };
        summary.series = vec![point(Some(stream)), point(None)];
        let data = page_data(&fixtures::render(write, &result));
        let series = &data["specs"][0]["series"];
        assert_eq!(series["first_message"]["p50"], json!([50.2, null]));
        assert_eq!(series["message_gap"]["p99"], json!([22.0, null]));
        summary_without_streams(&mut result);
        let data = page_data(&fixtures::render(write, &result));
        assert_eq!(data["specs"][0]["series"]["first_message"], Value::Null);
    }

    fn summary_without_streams(result: &mut GateResult) {
        let summary = result.specs[0].summary.as_mut().unwrap();
        summary.series.iter_mut().for_each(|p| p.stream = None);
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
