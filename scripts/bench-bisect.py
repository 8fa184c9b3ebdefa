#!/usr/bin/env python3
"""Does `loadtest bisect` name the right commit, every time, and how long does it take?

Generates a git repository (a Cargo package with nothing to build, so a commit builds in a
second) whose commits start the demo service through their own serve.sh: GOOD, then --commits
commits, the --culprit-th of which doubles the extra work of `/` (`--work /=R` becomes
`/=2R`). Then runs `cargo xtask loadtest bisect HEAD~N HEAD` --runs times per mode:

  cost     the spec has [cost]: each commit is decided by its instructions under Callgrind
  latency  no [cost]: each commit runs in paired ABBA rounds against GOOD, judged on p50

and prints, per mode, how often the culprit was named, a wrong commit was named (never
allowed), or the bisection was undecided (exit 4), with the time per bisection and per step.
With --hog a busy process runs beside it (a noisy neighbour).

    scripts/bench-bisect.py [--runs 10] [--modes cost latency] [--hog] [--no-build]
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
RELEASE = ROOT / "target" / "release"


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=b@e",
                    *args], check=True, capture_output=True)


def repository(repo, mode, commits, culprit, rounds):
    """GOOD and `commits` commits after it; commit `culprit` doubles `/`'s extra work."""
    (repo / "loadspec").mkdir(parents=True)
    (repo / "src").mkdir()
    if mode == "cost":
        gate = ('[cost]\nrequests = 200\nwarmup_requests = 10\n\n'
                '[gate]\ninstructions = { regression = "1%" }\n')
        load = 'users = 1\nwarmup = "0s"\nduration = "200ms"'
    else:
        gate = '[gate]\np50 = { regression = "25%", noise_floor = "100us" }\n'
        load = 'users = 2\nwarmup = "200ms"\nduration = "1s"'
    (repo / "loadspec" / "bisected.toml").write_text(
        'name = "bisected"\n[service]\ncommand = ["sh", "serve.sh", "{port}"]\n'
        'ready = { http = "/health", timeout = "60s" }\n'
        f'[load]\n{load}\n[[request]]\nname = "home"\npath = "/"\n{gate}')
    (repo / "Cargo.toml").write_text(
        '[package]\nname = "bisected"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n')
    (repo / "src" / "lib.rs").write_text("")
    (repo / ".gitignore").write_text("target/\nout*/\n*.sqlite*\n")

    def serve(work):
        (repo / "serve.sh").write_text(
            f'exec {RELEASE / "demo-service"} --port "$1" --db demo.sqlite --work /={work}\n')

    serve(rounds)
    (repo / "notes.txt").write_text("GOOD\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "good")
    shas = []
    for n in range(1, commits + 1):
        if n == culprit:
            serve(2 * rounds)
        with open(repo / "notes.txt", "a") as notes:
            notes.write(f"{n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"commit {n}")
        shas.append(subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                                   capture_output=True, text=True).stdout.strip())
    return shas


def bisect(repo, out, commits):
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    args = [str(RELEASE / "xtask"), "--root", str(repo), "loadtest", "bisect",
            f"HEAD~{commits}", "HEAD", "bisected", "--out", str(out)]
    started = time.monotonic()
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    took = time.monotonic() - started
    report = None
    try:
        report = json.loads((out / "bisect.json").read_text())
    except (OSError, ValueError):
        pass
    return run, took, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--modes", nargs="*", default=["cost", "latency"])
    parser.add_argument("--commits", type=int, default=12)
    parser.add_argument("--culprit", type=int, default=8)
    parser.add_argument("--cost-rounds", type=int, default=20000,
                        help="`/`'s extra work before the culprit, with [cost] (4 instructions a round)")
    parser.add_argument("--latency-rounds", type=int, default=200000,
                        help="`/`'s extra work before the culprit, without [cost]")
    parser.add_argument("--hog", action="store_true", help="a busy process beside the bisection")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    opts = parser.parse_args()

    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"],
                       cwd=ROOT, check=True)
    # SIGTERM unwinds like Ctrl-C, so the hog below is always stopped with the benchmark.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hog = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if opts.hog else None
    try:
        for mode in opts.modes:
            with tempfile.TemporaryDirectory(prefix="bench-bisect-") as tmp:
                repo = Path(tmp) / "repo"
                rounds = opts.cost_rounds if mode == "cost" else opts.latency_rounds
                shas = repository(repo, mode, opts.commits, opts.culprit, rounds)
                culprit = shas[opts.culprit - 1]
                named = wrong = undecided = other = 0
                times, step_times, steps = [], [], []
                for i in range(opts.runs):
                    out = repo / f"out-{i}"
                    run, took, report = bisect(repo, out, opts.commits)
                    first = None
                    if report and "first_bad" in report["found"]:
                        first = report["commits"][report["found"]["first_bad"]]
                    if run.returncode == 0 and first == culprit:
                        named += 1
                    elif run.returncode == 0:
                        wrong += 1
                    elif run.returncode == 4:
                        undecided += 1
                    else:
                        other += 1
                    times.append(took)
                    if report:
                        measured = [s for s in report["steps"] if s["seconds"] > 0]
                        steps.append(len(report["steps"]))
                        step_times += [s["seconds"] for s in measured]
                    verdict = (first or "-")[:12]
                    print(f"{mode} run {i + 1}: exit {run.returncode}, {verdict}, {took:.1f} s",
                          flush=True)
                    if opts.verbose or run.returncode not in (0, 4):
                        print(run.stdout, run.stderr, sep="\n")
                mean = sum(times) / len(times)
                per_step = sum(step_times) / len(step_times) if step_times else 0
                print(f"{mode}{' with a CPU hog' if hog else ''}: culprit named {named}/{opts.runs}, "
                      f"wrong commit named {wrong}, undecided {undecided}, other exits {other}; "
                      f"{mean:.1f} s per bisection (min {min(times):.1f}, max {max(times):.1f}), "
                      f"{sum(steps) / max(len(steps), 1):.1f} steps (GOOD and BAD included), "
                      f"{per_step:.1f} s per step between them", flush=True)
    finally:
        if hog:
            hog.kill()


if __name__ == "__main__":
    main()
