#!/usr/bin/env python3
"""Do the thresholds `loadtest calibrate` proposes hold, and what do they catch?

Issue 31's done-means 3. For each shipped spec named (default: those that judge latency or CPU
relatively): `cargo xtask loadtest calibrate SPEC --runs K`, with a CPU hog beside it unless
--no-hog; the proposed `[gate]` lines replace the spec's own `[gate]` in a copy; a baseline is
recorded with that copy; then, interleaved, --runs unchanged gate runs (an alarm is any exit but
0) and --runs with the demo service slower by 20 % of the baseline's p90 (its
DEMO_SERVICE_CPU_PER_REQUEST knob: CPU burnt in every answer, precise to the microsecond where
a sleep would round to the timer's millisecond). Prints every run, which checks failed, and per
spec the counts. Nothing under baselines/ is touched.

    scripts/calibrate-check.py [SPEC ...] [--runs 10] [--calibrate-runs 10] [--change 0.2] [--no-hog]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XTASK = ROOT / "target" / "release" / "xtask"
SPECS = ["reads", "badges", "steady-rate", "h2", "session"]


def clean_env(extra=None):
    env = dict(os.environ, **(extra or {}))
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def proposed_gate(stdout, name):
    """The [gate] lines calibrate printed for spec NAME, unindented."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name} ("))
    gate = []
    for line in lines[start + 1:]:
        if not line.startswith("  ") and line.strip():
            break
        text = line.strip()
        if text.startswith("[gate") or gate:
            if not text:
                break
            gate.append(text)
    if not gate:
        sys.exit(f"calibrate proposed nothing for {name}:\n{stdout}")
    return gate


def with_gate(spec_text, gate):
    """The spec with its own [gate] tables (always last in the shipped specs) replaced."""
    lines = spec_text.splitlines()
    cut = next(i for i, line in enumerate(lines) if line.startswith("[gate"))
    while cut > 0 and lines[cut - 1].startswith("#"):
        cut -= 1
    return "\n".join(lines[:cut] + gate) + "\n"


def gate(spec, work, cpu_us, extra=()):
    env = clean_env({"DEMO_SERVICE_CPU_PER_REQUEST": f"{cpu_us:.0f}us"})
    args = [str(XTASK), "loadtest", "--no-build", "--no-cost", "--baselines", f"{work}/baselines",
            "--out", f"{work}/out", *extra, str(spec)]
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    row = {"exit": run.returncode, "failed": []}
    try:
        result = json.loads((Path(work) / "out" / "summary.json").read_text())["specs"][0]
        row["p90"] = result["summary"]["total"]["latency_us"]["p90"]
        row["cpu"] = (result["summary"].get("service") or {}).get("cpu_per_request_us")
        row["failed"] = [c["message"] for c in result["checks"] if c["outcome"] != "pass"]
    except (OSError, KeyError, IndexError, ValueError) as err:
        row["error"] = f"{err}: {run.stderr[-400:]}"
    return row


def show(label, row):
    figures = f"p90 {row.get('p90')} µs, service CPU {row.get('cpu')} µs/req"
    failed = "; ".join(row["failed"]) or row.get("error", "")
    print(f"  {label}: exit {row['exit']}, {figures}" + (f" [{failed}]" if failed else ""), flush=True)


def check_spec(name, opts, work):
    source = ROOT / "loadspec" / f"{name}.toml"
    calibrate = subprocess.run(
        [str(XTASK), "loadtest", "calibrate", "--no-build", "--runs", str(opts.calibrate_runs),
         "--out", f"{work}/calibrate", str(source)],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=3600)
    if calibrate.returncode != 0:
        sys.exit(f"calibrate {name} exited {calibrate.returncode}:\n{calibrate.stderr[-2000:]}")
    lines = proposed_gate(calibrate.stdout, name)
    print(f"{name}: calibrate ({opts.calibrate_runs} runs) proposed:\n    " + "\n    ".join(lines), flush=True)
    spec = Path(work) / f"{name}.toml"
    spec.write_text(with_gate(source.read_text(), lines))

    base = gate(spec, work, 0, ["--update-baselines"])
    show("baseline", base)
    if base["exit"] != 0 or "p90" not in base:
        sys.exit(f"recording {name}'s baseline failed")
    slower_us = opts.change * base["p90"]
    alarms = caught = by_p90 = 0
    for i in range(opts.runs):
        row = gate(spec, work, 0)
        show(f"run {i + 1} unchanged", row)
        alarms += row["exit"] != 0
        row = gate(spec, work, slower_us)
        show(f"run {i + 1} +{opts.change:.0%} p90 ({slower_us:.0f} µs CPU/answer)", row)
        caught += row["exit"] == 1
        by_p90 += any(message.startswith("p90 ") for message in row["failed"])
    return alarms, caught, by_p90


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=SPECS)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--calibrate-runs", type=int, default=10)
    parser.add_argument("--change", type=float, default=0.2, help="the slowdown, as a fraction of p90")
    parser.add_argument("--no-hog", action="store_true")
    parser.add_argument("--no-build", action="store_true")
    opts = parser.parse_args()

    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--bins"], cwd=ROOT, check=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hog = None if opts.no_hog else subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
    counts = {}
    try:
        for name in opts.specs:
            with tempfile.TemporaryDirectory() as work:
                counts[name] = check_spec(name, opts, work)
    finally:
        if hog:
            hog.terminate()
            hog.wait()
    print(f"\nhog beside calibrate and the gate: {'no' if opts.no_hog else 'yes'}")
    for name, (alarms, caught, by_p90) in counts.items():
        print(f"{name}: unchanged {alarms}/{opts.runs} raised an alarm; +{opts.change:.0%} p90 caught "
              f"{caught}/{opts.runs} ({by_p90} of them by the p90 check itself)")
    sys.exit(0 if all(alarms == 0 for alarms, _, _ in counts.values()) else 1)


if __name__ == "__main__":
    main()
