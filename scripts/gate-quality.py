#!/usr/bin/env python3
"""How often does the gate cry wolf, and how often does it catch a real slowdown?

Runs the gate on scripts/gate-quality.toml (the demo service answering after a fixed delay,
judged on p90 with a +10 % threshold) K times with the service unchanged and K times with its
delay scaled by each slowdown factor, interleaved, optionally with a CPU hog beside them (a
noisy neighbour). By default each gate run is the A/B of pull requests (`--against HEAD`: the
base side's service keeps the delay, this side's gets the scaled one, 5 paired rounds); with
--stored, a baseline is recorded once and every run compares with it (5 rounds each). Prints,
per condition, how many runs failed (exit 1: a false alarm on the unchanged service, a detection
on a slower one), were inconclusive (exit 4) or passed, and the time per gate run.

    scripts/gate-quality.py [--runs 20] [--slowdowns 1.1 1.2] [--delay-ms 5] [--hog] [--stored]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "scripts" / "gate-quality.toml"


def gate(base_ms, candidate_ms, baselines, out, extra):
    env = dict(os.environ, BASE_DELAY=f"{base_ms:.3f}ms", CANDIDATE_DELAY=f"{candidate_ms:.3f}ms")
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    args = [str(ROOT / "target/release/xtask"), "loadtest", "--no-build",
            "--baselines", baselines, "--out", out, *extra, str(SPEC)]
    started = time.monotonic()
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    check = ""
    try:
        summary = json.loads((Path(out) / "summary.json").read_text())
        checks = summary["specs"][0]["checks"]
        check = next((c["message"] for c in checks if c["kind"] == "regression"), "")
    except (OSError, KeyError, IndexError, ValueError):
        pass
    return run.returncode, took, check


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--slowdowns", type=float, nargs="*", default=[1.1, 1.2])
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--hog", action="store_true", help="a busy process beside the gate")
    parser.add_argument("--stored", action="store_true", help="compare with a stored baseline, not A/B")
    parser.add_argument("--verbose", action="store_true")
    opts = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)
    # SIGTERM unwinds like Ctrl-C, so the hog below is always stopped with the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if opts.hog else None
    try:
        with tempfile.TemporaryDirectory() as work:
            baselines, out = f"{work}/baselines", f"{work}/out"
            delay = opts.delay_ms
            if opts.stored:
                code, _, _ = gate(delay, delay, baselines, out, ["--update-baselines"])
                if code != 0:
                    sys.exit(f"recording the baseline failed (exit {code})")
            extra = [] if opts.stored else ["--against", "HEAD"]
            conditions = [1.0] + opts.slowdowns
            results = {c: [] for c in conditions}
            for i in range(opts.runs):
                for factor in conditions:
                    code, took, check = gate(delay, delay * factor, baselines, out, extra)
                    results[factor].append((code, took))
                    if opts.verbose:
                        print(f"run {i + 1} ×{factor:.2f}: exit {code} in {took:.1f}s: {check}", flush=True)
    finally:
        if hog:
            hog.kill()

    mode = "against a stored baseline, 5 rounds" if opts.stored else "A/B against HEAD, 5 paired rounds"
    print(f"\n{opts.runs} gate runs per condition, p90 threshold +10%, {mode}, delay {opts.delay_ms} ms"
          f"{', with a CPU hog' if opts.hog else ''}:")
    print(f"{'condition':<22} {'failed (exit 1)':>16} {'inconclusive (4)':>17} {'passed':>7} {'median s/run':>13}")
    for factor, runs in results.items():
        failed = sum(1 for c, _ in runs if c == 1)
        inconclusive = sum(1 for c, _ in runs if c == 4)
        passed = sum(1 for c, _ in runs if c == 0)
        mean = sorted(t for _, t in runs)[len(runs) // 2]
        label = "unchanged" if factor == 1.0 else f"delay ×{factor:.2f}"
        what = "false alarms" if factor == 1.0 else "detections"
        print(f"{label:<22} {failed:>3}/{len(runs)} {what:<11} {inconclusive:>10}/{len(runs)} "
              f"{passed:>4}/{len(runs)} {mean:>12.1f}")


if __name__ == "__main__":
    main()
