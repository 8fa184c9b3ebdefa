#!/usr/bin/env python3
"""Does `loadgate init`'s per-request check, at --regression, name one endpoint of three 300 µs slower?

Issue 32's done-means 4. The spec is `loadgate init`'s template (its [load] and [gate] unedited,
[gate.request.home] at --regression, 20 % by default, where init writes 100 %) with the demo service in [service] and two more requests, each
with the `[gate.request.NAME]` table init's comment asks for (the same as home's). Every request
burns --cpu-ms of CPU (1 ms: a service answering in about a millisecond, as in the issue); the
slower service burns --extra-us more on /status only. A baseline is recorded once (no hog);
then, with a CPU hog beside the gate (`yes > /dev/null`, unless --no-hog), each of --runs rounds
runs the gate on the unchanged service and on the slower one. Prints every run, then: alarms on
the unchanged service (any exit but 0), slower runs that failed (exit 1) with `status p50
regression` among the failed checks, and whether the last slower run's console, summary.md and
report.html name `status` beside its baseline. Exits 1 unless every slower run failed naming it
and no unchanged run raised an alarm.

    scripts/per-request-gate.py [--runs 10] [--cpu-ms 1] [--extra-us 300] [--regression 20%] [--no-hog] [--hog-baseline] [--no-build]
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "loadgate" / "src" / "cli" / "init" / "spec.toml.in"
NAMES = {"home": "/", "status": "/status", "health": "/health"}
REGRESSION = "20%"


def write_spec(path):
    """init's spec with the demo service and three requests, each gated as init gates `home`."""
    template = TEMPLATE.read_text()
    written = template[template.index("[load]"):].replace("@BIN@", "mix")
    # init's per-request check, at the threshold under test.
    check = f'p50 = {{ regression = "{REGRESSION}" }}'
    written = written.replace('p50 = { regression = "100%" }\n# With [cost]: instructions', check + "\n# With [cost]: instructions")
    service = ROOT / "target" / "release" / "demo-service"
    extra = "".join(
        f'\n[[request]]\nname = "{name}"\npath = "{path}"\n\n[gate.request.{name}]\n{check}\n'
        for name, path in NAMES.items() if name != "home"
    )
    path.write_text(
        'name = "mix"\n\n[service]\n'
        f'command = ["{service}", "--port", "{{port}}"]\n'
        'ready = { http = "/health", timeout = "30s" }\n\n' + written + extra
    )


def gate(spec, cpu_ms, extra_us, work, extra=()):
    env = dict(os.environ, DEMO_SERVICE_CPU_PER_REQUEST=f"{cpu_ms * 1000:.0f}us")
    if extra_us:
        env["DEMO_SERVICE_CPU_FOR"] = f"/status={extra_us}us"
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    args = [str(ROOT / "target/release/xtask"), "loadtest", "--no-build",
            "--baselines", f"{work}/baselines", "--out", f"{work}/out", *extra, str(spec)]
    started = time.monotonic()
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    row = {"exit": run.returncode, "took": time.monotonic() - started, "failed": [],
           "stdout": run.stdout}
    try:
        result = json.loads((Path(work) / "out" / "summary.json").read_text())["specs"][0]
        row["p50"] = {name: m["latency_us"]["p50"] for name, m in result["summary"]["requests"].items()}
        row["total_p50"] = result["summary"]["total"]["latency_us"]["p50"]
        row["failed"] = [f'{c["scope"]} {c["metric"]} {c["kind"]}' for c in result["checks"]
                         if c["outcome"] != "pass"]
        row["summary_md"] = (Path(work) / "out" / "summary.md").read_text()
        row["report_html"] = (Path(work) / "out" / "report.html").read_text()
    except (OSError, KeyError, IndexError, ValueError) as err:
        row["error"] = f"{err}: {run.stderr[-400:]}"
    return row


def show(label, row, base):
    if "p50" not in row:
        print(f"{label}: exit {row['exit']} ({row.get('error', '')})", flush=True)
        return
    moved = ", ".join(f"{n} {row['p50'][n]} µs ({(row['p50'][n] / base['p50'][n] - 1) * 100:+.1f} %)"
                      for n in NAMES if n in row["p50"] and n in base.get("p50", {}))
    failed = "; ".join(row["failed"])
    print(f"{label}: exit {row['exit']}, total p50 {row['total_p50']} µs, {moved}, {row['took']:.1f} s"
          + (f" [{failed}]" if failed else ""), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cpu-ms", type=float, default=1.0, help="every request's CPU")
    parser.add_argument("--extra-us", type=int, default=300, help="/status's extra CPU when slower")
    parser.add_argument("--no-hog", action="store_true", help="no CPU hog beside the gate")
    parser.add_argument("--hog-baseline", action="store_true", help="the hog runs for the baseline too")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--regression", default="20%", help="each name's p50 threshold")
    opts = parser.parse_args()
    global REGRESSION
    REGRESSION = opts.regression

    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "xtask", "-p", "demo-service"],
                       cwd=ROOT, check=True)
    # SIGTERM unwinds like Ctrl-C, so the hog is always stopped with the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hog = None
    unchanged, slower = [], []
    try:
        with tempfile.TemporaryDirectory() as work:
            spec = Path(work) / "mix.toml"
            write_spec(spec)
            def start_hog():
                return None if opts.no_hog else subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
            if opts.hog_baseline:
                hog = start_hog()
            base = gate(spec, opts.cpu_ms, 0, work, ["--update-baselines"])
            show("baseline", base, base)
            if base["exit"] != 0:
                sys.exit("recording the baseline failed")
            hog = hog or start_hog()
            for i in range(opts.runs):
                unchanged.append(gate(spec, opts.cpu_ms, 0, work))
                show(f"run {i + 1} unchanged", unchanged[-1], base)
                slower.append(gate(spec, opts.cpu_ms, opts.extra_us, work))
                show(f"run {i + 1} /status +{opts.extra_us} µs", slower[-1], base)
    finally:
        if hog:
            hog.terminate()
            hog.wait()

    alarms = sum(r["exit"] != 0 for r in unchanged)
    caught = sum(r["exit"] == 1 and "status p50 regression" in r["failed"] for r in slower)
    total_moved = [r["total_p50"] / base["total_p50"] - 1 for r in slower if "total_p50" in r]
    status_moved = [r["p50"]["status"] / base["p50"]["status"] - 1 for r in slower if "p50" in r]
    last = slower[-1]
    named = {
        "console": "status" in last["stdout"] and "against the baseline:" in last["stdout"],
        "summary.md": "status p50 regression" in last.get("summary_md", ""),
        "report.html": "status p50 regression" in last.get("report_html", ""),
    }
    print(f"\nhog beside the gate: {'no' if opts.no_hog else 'yes'}; load average "
          f"{os.getloadavg()[0]:.1f}; baseline p50 {base['p50']} µs")
    print(f"unchanged: {alarms}/{len(unchanged)} raised an alarm")
    print(f"/status +{opts.extra_us} µs (its p50 {statistics.median(status_moved) * 100:+.1f} %, the "
          f"total's {statistics.median(total_moved) * 100:+.1f} %, medians): {caught}/{len(slower)} "
          "failed naming `status p50 regression`")
    print("named in the last slower run: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in named.items()))
    print("console of the last slower run:\n" + last["stdout"])
    sys.exit(0 if alarms == 0 and caught == len(slower) and all(named.values()) else 1)


if __name__ == "__main__":
    main()
