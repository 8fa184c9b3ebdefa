#!/usr/bin/env python3
"""How exact is the cost gate, and what does it catch?

1. Spread: each shipped spec with [cost], run K times unchanged (`--duration 1s --warmup 0s`:
   the cost phase does not depend on the load); per request name, the median instructions per
   request and the spread (max - min) / median.
2. Gate quality: scripts/cost-gate.toml (the demo service's / and /status, judged only on
   instructions at +0.6 %): a baseline recorded once, then K runs with the service unchanged and
   K with `--work /=ROUNDS` (about 1 % more instructions in `/`), interleaved, optionally with a
   CPU hog beside them (`yes > /dev/null`). Counts how often the instruction checks failed in
   each condition (false alarms, detections), whether the function table named
   `demo_service::extra_work` first, and the time per gate run.

    scripts/cost-gate.py [--runs 20] [--spread-runs 10] [--rounds 20] [--hog] [--no-build]
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
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XTASK = ROOT / "target/release/xtask"


def gate(spec, work_dir, extra=(), env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "DEMO_SERVICE_WORK"):
        env.pop(name, None)
    env.update(env_extra or {})
    out = Path(work_dir) / "out"
    args = [str(XTASK), "loadtest", "--no-build", "--baselines", str(Path(work_dir) / "baselines"),
            "--out", str(out), *extra, str(spec)]
    started = time.monotonic()
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    took = time.monotonic() - started
    summary = json.loads((out / "summary.json").read_text())["specs"][0]
    return run.returncode, took, summary


def spread(runs):
    print(f"spread of instructions per request over {runs} unchanged runs of each shipped [cost] spec")
    for spec in sorted((ROOT / "loadspec").glob("*.toml")):
        if "cost" not in tomllib.loads(spec.read_text()):
            continue
        counts = {}
        with tempfile.TemporaryDirectory() as work:
            for _ in range(runs):
                code, _, summary = gate(spec, work, ["--duration", "1s", "--warmup", "0s"])
                cost = (summary.get("summary") or {}).get("cost")
                if cost is None:
                    sys.exit(f"{spec.name}: no instructions counted (exit {code}): {summary.get('reason')}")
                for name, request in cost["by_request"].items():
                    counts.setdefault(name, []).append(request["instructions"])
        for name, values in counts.items():
            median = statistics.median(values)
            print(f"  {spec.stem}/{name}: median {median:,.1f}, min {min(values):,.1f}, max {max(values):,.1f}, "
                  f"spread {(max(values) - min(values)) / median * 100:.3f} %")


def instruction_failures(summary):
    return [c for c in summary["checks"] if c["metric"] == "instructions" and c["outcome"] == "fail"]


def quality(runs, rounds, hog):
    spec = ROOT / "scripts/cost-gate.toml"
    costlier = {"DEMO_SERVICE_WORK": f"/={rounds}"}
    with tempfile.TemporaryDirectory() as work:
        code, _, summary = gate(spec, work, ["--update-baselines"])
        if code != 0:
            sys.exit(f"recording the baseline failed (exit {code})")
        home = summary["summary"]["cost"]["by_request"]["home"]["instructions"]
        results = {"unchanged": [], "costlier": []}
        for i in range(runs):
            for condition, env in (("unchanged", None), ("costlier", costlier)):
                code, took, summary = gate(spec, work, env_extra=env)
                failed = instruction_failures(summary)
                table = next((c for c in summary.get("cost", []) if c["request"] == "home"), {})
                first = (table.get("functions") or [{}])[0].get("function", "")
                now = summary["summary"]["cost"]["by_request"]["home"]["instructions"]
                results[condition].append((bool(failed), first == "demo_service::extra_work", took, now))
                print(f"  run {i + 1} {condition}: exit {code}, home {now:,.1f} ({(now - home) / home * 100:+.3f} %), "
                      f"{len(failed)} instruction checks failed, first function {first or '-'}, {took:.1f} s",
                      flush=True)
    print(f"gate quality, {'with' if hog else 'without'} a CPU hog, baseline home {home:,.1f} instructions, "
          f"costlier = --work /={rounds}:")
    for condition, rows in results.items():
        failed = sum(1 for r in rows if r[0])
        named = sum(1 for r in rows if r[1])
        took = statistics.median(r[2] for r in rows)
        change = statistics.median((r[3] - home) / home * 100 for r in rows)
        word = "false alarms" if condition == "unchanged" else "detections"
        print(f"  {condition}: {failed}/{len(rows)} {word}; extra_work first in {named}/{len(rows)} tables; "
              f"median change of home {change:+.3f} %; median {took:.1f} s per gate run")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--spread-runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20, help="--work /=ROUNDS of the costlier service")
    parser.add_argument("--hog", action="store_true", help="`yes > /dev/null` beside the gate")
    parser.add_argument("--no-build", action="store_true")
    opts = parser.parse_args()
    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)
    # SIGTERM unwinds like Ctrl-C, so the hog is always stopped with the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if opts.hog else None
    try:
        if opts.spread_runs:
            spread(opts.spread_runs)
        if opts.runs:
            quality(opts.runs, opts.rounds, opts.hog)
    finally:
        if hog:
            hog.kill()
            hog.wait()


if __name__ == "__main__":
    main()
