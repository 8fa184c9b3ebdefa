#!/usr/bin/env python3
"""Does `loadgate init`'s gate, as written, see a fast service get three times slower?

Issue 31's done-means 1 and 2. The spec is `loadgate init`'s template (its [load], [[request]]
and [gate], unedited) with the demo service in [service], burning --cpu-ms of CPU per request
(0.1 ms: a ~100 µs service). A baseline is recorded once (quiet unless --hog-baseline); then,
with a CPU hog beside the gate (`yes > /dev/null`, unless --no-hog), each of --runs rounds runs
the gate on the unchanged service, on one burning enough more CPU per request for --factor times
the baseline's p50 (×3: twice the baseline p50 more), and, with
--ticks, the unchanged service again with its CPU read in clock ticks (the old source, through a
test seam) for comparison. Prints every run, then: alarms on the unchanged service (any exit
but 0), ×3 runs that failed (exit 1), and the service CPU per request's coefficient of
variation over the unchanged runs, from the clock and from the ticks. Exits 1 unless the
unchanged runs all passed and the slower ones all failed.

    scripts/fast-service-gate.py [--runs 10] [--cpu-ms 0.1] [--factor 3] [--ticks] [--no-hog]
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


def write_spec(path):
    """init's spec with the demo service: everything from [load] on exactly as init writes it."""
    template = TEMPLATE.read_text()
    written = template[template.index("[load]"):].replace("@BIN@", "fast")
    service = ROOT / "target" / "release" / "demo-service"
    path.write_text(
        'name = "fast"\n\n[service]\n'
        f'command = ["{service}", "--port", "{{port}}"]\n'
        'ready = { http = "/health", timeout = "30s" }\n\n' + written
    )


def gate(spec, cpu_ms, work, extra=(), env_extra=None):
    env = dict(os.environ, DEMO_SERVICE_CPU_PER_REQUEST=f"{cpu_ms * 1000:.0f}us", **(env_extra or {}))
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    args = [str(ROOT / "target/release/xtask"), "loadtest", "--no-build",
            "--baselines", f"{work}/baselines", "--out", f"{work}/out", *extra, str(spec)]
    started = time.monotonic()
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    row = {"exit": run.returncode, "took": took, "failed": []}
    try:
        summary = json.loads((Path(work) / "out" / "summary.json").read_text())
        spec_result = summary["specs"][0]
        latency = spec_result["summary"]["total"]["latency_us"]
        service = spec_result["summary"].get("service") or {}
        row.update(p50=latency["p50"], p90=latency["p90"], p99=latency["p99"],
                   cpu=service.get("cpu_per_request_us"), clock=service.get("cpu_clock", "-"),
                   rps=spec_result["summary"]["total"]["rps"])
        row["failed"] = [c["message"] for c in spec_result["checks"] if c["outcome"] != "pass"]
    except (OSError, KeyError, IndexError, ValueError) as err:
        row["error"] = f"{err}: {run.stderr[-400:]}"
    return row


def show(label, row):
    if "p50" not in row:
        print(f"{label}: exit {row['exit']} ({row.get('error', '')})", flush=True)
        return
    failed = "; ".join(row["failed"])
    print(f"{label}: exit {row['exit']}, p50 {row['p50']} µs, p90 {row['p90']} µs, p99 {row['p99']} µs, "
          f"{row['rps']:.0f} req/s, service CPU {row['cpu']} µs/req ({row['clock']}), {row['took']:.1f} s"
          + (f" [{failed}]" if failed else ""), flush=True)


def spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return "n/a"
    mean = statistics.mean(values)
    return (f"mean {mean:.2f} µs, min {min(values):.2f}, max {max(values):.2f}, "
            f"CV {statistics.stdev(values) / mean * 100:.1f} % over {len(values)} runs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cpu-ms", type=float, default=0.1, help="the service's CPU per request")
    parser.add_argument("--factor", type=float, default=3.0, help="the slower service's p50, times")
    parser.add_argument("--ticks", action="store_true", help="also read unchanged runs in ticks")
    parser.add_argument("--no-hog", action="store_true", help="no CPU hog beside the gate")
    parser.add_argument("--hog-baseline", action="store_true", help="the hog runs for the baseline too")
    parser.add_argument("--no-build", action="store_true")
    opts = parser.parse_args()

    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)
    # SIGTERM unwinds like Ctrl-C, so the hog is always stopped with the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hog = None
    unchanged, slower, ticks = [], [], []

    def start_hog():
        return None if opts.no_hog else subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)

    try:
        with tempfile.TemporaryDirectory() as work:
            spec = Path(work) / "fast.toml"
            write_spec(spec)
            if opts.hog_baseline:
                hog = start_hog()
            base = gate(spec, opts.cpu_ms, work, ["--update-baselines"])
            show(f"baseline ({opts.cpu_ms} ms CPU/request)", base)
            if base["exit"] != 0:
                sys.exit("recording the baseline failed")
            hog = hog or start_hog()
            # The extra CPU turns into as much extra latency: (factor - 1) × the baseline's p50.
            slower_ms = opts.cpu_ms + (opts.factor - 1) * base["p50"] / 1000
            for i in range(opts.runs):
                unchanged.append(gate(spec, opts.cpu_ms, work))
                show(f"run {i + 1} unchanged", unchanged[-1])
                slower.append(gate(spec, slower_ms, work))
                show(f"run {i + 1} ×{opts.factor:g} p50 ({slower_ms:.3f} ms CPU)", slower[-1])
                if opts.ticks:
                    seam = {"LOADGATE_TEST_SEAMS": "1", "LOADGATE_TEST_CPU_TICKS": "1"}
                    ticks.append(gate(spec, opts.cpu_ms, work, env_extra=seam))
                    show(f"run {i + 1} unchanged, ticks", ticks[-1])
    finally:
        if hog:
            hog.terminate()
            hog.wait()

    alarms = sum(r["exit"] != 0 for r in unchanged)
    caught = sum(r["exit"] == 1 for r in slower)
    ratios = [s["p50"] / base["p50"] for s in slower if "p50" in s]
    print(f"\nhog beside the gate: {'no' if opts.no_hog else 'yes'}; baseline p50 {base['p50']} µs")
    print(f"unchanged: {alarms}/{len(unchanged)} raised an alarm")
    print(f"×{opts.factor:g} p50 (measured ×{statistics.median(ratios):.2f}, median): "
          f"{caught}/{len(slower)} failed")
    print(f"service CPU per request, clock: {spread([r.get('cpu') for r in unchanged])}")
    if ticks:
        print(f"service CPU per request, ticks: {spread([r.get('cpu') for r in ticks])}")
    sys.exit(0 if alarms == 0 and caught == len(slower) else 1)


if __name__ == "__main__":
    main()
