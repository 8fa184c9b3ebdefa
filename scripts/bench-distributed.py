#!/usr/bin/env python3
"""How do shard processes add up on one machine, and how long does `loadtest merge` take?

Starts nginx (one worker, a 3-byte body, 127.0.0.1 only), then, interleaved over ROUNDS rounds:
1, 2 and 3 shard processes (`--shard I/N`, one `--start-at` a few seconds ahead) of one closed-model
spec at full speed (USERS users without think time, striped over the shards, SECONDS after a 1 s
warmup), each set merged with `loadtest merge`. Prints per N the median of: the merged
requests/s and p50, the shards' CPU time per request (user + system of every shard process, from
the OS's accounting) and the merge's wall time; then the merge of N = 3 alone (wall, CPU, peak
RSS). These are "one machine, N processes" figures: the shards and nginx share its cores.

Last, the merge of SYNTHETIC shard files of a MINUTES-minute spec (100 and 30 by default). One
shard is run for real: shard 1 of SYNTHETIC, owning 1 of SYNTHETIC users of that spec, for
SECONDS (`--duration`), against the same nginx. Its file is then written SYNTHETIC times as shards
1..SYNTHETIC of SYNTHETIC, each with the `--duration` override dropped (so the merge plans the
MINUTES-minute spec, whose hash the file already carries), the judged window set to MINUTES
minutes, and the per-second series cycled out to MINUTES × 60 points (t = 1, 2, …). Every
histogram is a real one from that run, and the merge decodes and adds as many as a real run of
that length would hand it (one per second per shard, plus the totals); but the totals hold only
SECONDS of requests, so the merged figures of that run mean nothing: only the merge's time and
memory are reported.

Installs nginx-light from Debian (apt-get) when missing and builds the workspace's binaries
(release). Bounded: every shard has a timeout, nginx is stopped at the end, also on error;
traffic stays on 127.0.0.1.

    scripts/bench-distributed.py [--rounds 3] [--seconds 10] [--users 48] [--shards 1,2,3]
                                 [--synthetic 100] [--minutes 30]
"""

import argparse
import copy
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_generator", Path(__file__).with_name("bench-generator.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

XTASK = str(bench.ROOT / "target/release/xtask")
# The shards' start: far enough ahead for N processes to start and plan on a busy machine.
START_AHEAD_S = 4
# A merge is judged like a run: 1 (a failed check) and 4 (inconclusive) still merged everything.
MERGE_CODES = (0, 1, 4)


def write_spec(work: Path, name: str, users: int, duration: str, warmup: str) -> Path:
    spec = work / f"{name}.toml"
    spec.write_text(f'name = "{name}"\n\n[load]\nmodel = "closed"\nusers = {users}\nwarmup = "{warmup}"\n'
                    f'duration = "{duration}"\n\n[[request]]\nname = "ok"\npath = "/"\n')
    return spec


def start_at() -> str:
    return f"@{int(time.time()) + START_AHEAD_S}"


def run_shards(n, url, spec, out, args, which=None, extra=()):
    """Shards `which` (default all) of n in parallel, with `extra` arguments; answers their CPU
    seconds, summed. Exits if one fails."""
    shutil.rmtree(out, ignore_errors=True)
    at = start_at()
    shards = list(which or range(1, n + 1))
    logs, procs = [], []
    try:
        for i in shards:
            log = tempfile.TemporaryFile("w+")
            logs.append(log)
            procs.append(subprocess.Popen(
                [XTASK, "loadtest", "--no-build", "--allow-large-load", "--target", url, "--shard", f"{i}/{n}",
                 "--start-at", at, "--baselines", str(out / "baselines"), "--out", str(out), *extra, str(spec)],
                stdout=log, stderr=subprocess.STDOUT, text=True))
        cpu, deadline = 0.0, time.monotonic() + START_AHEAD_S + args.seconds + 60
        pending = {proc.pid: k for k, proc in enumerate(procs)}
        while pending:
            for pid in list(pending):
                done, status, usage = os.wait4(pid, os.WNOHANG)
                if not done:
                    continue
                k = pending.pop(pid)
                procs[k].returncode = os.waitstatus_to_exitcode(status)
                cpu += usage.ru_utime + usage.ru_stime
                if procs[k].returncode != 0:
                    logs[k].seek(0)
                    sys.exit(f"shard {shards[k]}/{n} failed ({procs[k].returncode}):\n{logs[k].read()}")
            if pending and time.monotonic() > deadline:
                sys.exit(f"shards still running {args.seconds + 60} s after their start")
            time.sleep(0.05)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
    return cpu


def merge(shards: Path, out: Path):
    """`loadtest merge` of the files in `shards`: (summary.json's first spec, wall s, CPU s, peak RSS MiB)."""
    began = time.monotonic()
    _, cpu, rss = bench.measured([XTASK, "loadtest", "merge", "--baselines", str(out / "baselines"),
                                  "--out", str(out), str(shards)], 600, MERGE_CODES)
    wall = time.monotonic() - began
    return json.loads((out / "summary.json").read_text())["specs"][0], wall, cpu, rss


def throughput(n, url, spec, work, args):
    """One round of n shards and their merge."""
    out = work / f"shards-{n}"
    cpu = run_shards(n, url, spec, out, args)
    merged, wall, merge_cpu, rss = merge(out / "shards", work / f"merged-{n}")
    total = merged["summary"]["total"]
    # The shards' CPU covers their warmup too.
    sent = total["requests"] + merged["summary"]["warmup"]["requests"]
    return {"rps": total["rps"], "p50": total["latency_us"]["p50"], "requests": total["requests"],
            "failures": total["failures"], "cpu_us": cpu / max(sent, 1) * 1e6,
            "merge_s": wall, "merge_cpu_s": merge_cpu, "merge_rss": rss}


def synthesize(url, work, args):
    """SYNTHETIC shard files of a MINUTES-minute spec from one real short shard (see the docstring)."""
    n, points = args.synthetic, args.minutes * 60
    spec = write_spec(work, "long", n, f"{args.minutes}m", "0s")
    real = work / "synthetic-real"
    run_shards(n, url, spec, real, args, which=[1], extra=("--duration", f"{args.seconds}s"))
    text = json.loads((real / "shards" / f"shard-1-of-{n}.json").read_text())
    text["overrides"].pop("duration_ms", None)
    for part in text["specs"][0]["parts"]:
        series = part["series"]
        if not series:
            sys.exit("the real shard recorded no series")
        part["series"] = [dict(series[k % len(series)], t=float(k + 1)) for k in range(points)]
        part["window_us"] = points * 1_000_000
    files = work / "synthetic"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir()
    for i in range(1, n + 1):
        shard = copy.deepcopy(text)
        shard["run"]["index"] = i
        (files / f"shard-{i}-of-{n}.json").write_text(json.dumps(shard))
    size = sum(f.stat().st_size for f in files.iterdir())
    return files, size


def report(results, args):
    print(f"\nclosed model, {args.users} users without think time striped over N shard processes, "
          f"{args.seconds} s, median of {args.rounds} interleaved rounds, nginx (1 worker) on 127.0.0.1, "
          f"one machine ({os.cpu_count()} cores)")
    print(f"{'shards':>6} {'req/s':>10} {'p50':>9} {'CPU/req':>9} {'merge':>8}  failures")
    for n, runs in results.items():
        m = {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "cpu_us", "merge_s")}
        failures = sum(r["failures"] for r in runs)
        print(f"{n:6} {m['rps']:10.0f} {m['p50']:7.0f}µs {m['cpu_us']:7.2f}µs {m['merge_s']:7.2f}s  {failures}")
    if 3 in results:
        runs = results[3]
        print(f"merge of N = 3: wall {statistics.median(r['merge_s'] for r in runs):.2f} s, CPU "
              f"{statistics.median(r['merge_cpu_s'] for r in runs):.2f} s, peak RSS "
              f"{statistics.median(r['merge_rss'] for r in runs):.1f} MiB (median of {len(runs)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=48, help="users of the spec, striped over the shards")
    parser.add_argument("--shards", default="1,2,3", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--synthetic", type=int, default=100, help="synthetic shard files to merge; 0: none")
    parser.add_argument("--minutes", type=int, default=30, help="the synthetic files' spec duration")
    args = parser.parse_args()
    bench.ensure_tools(apt=(("nginx", "nginx-light"),), cargo=())
    work = Path(tempfile.mkdtemp(prefix="loadgate-bench-distributed-"))
    port = bench.free_port()
    url = f"http://127.0.0.1:{port}/"
    nginx = bench.start_nginx(work, port)
    try:
        spec = write_spec(work, "spread", args.users, f"{args.seconds}s", "1s")
        results = {n: [] for n in args.shards}
        for round_ in range(1, args.rounds + 1):
            for n in args.shards:
                result = throughput(n, url, spec, work, args)
                results[n].append(result)
                print(f"round {round_} shards {n} {result['rps']:10.0f} req/s p50 {result['p50']:7.0f}µs "
                      f"merge {result['merge_s']:.2f}s failures {result['failures']}", file=sys.stderr, flush=True)
        report(results, args)
        if args.synthetic:
            files, size = synthesize(url, work, args)
            merges = [merge(files, work / "merged-synthetic") for _ in range(args.rounds)]
            points = len(merges[0][0]["summary"]["series"])
            if points != args.minutes * 60:
                sys.exit(f"the synthetic merge has {points} series points, not {args.minutes * 60}")
            runs = [m[1:] for m in merges]
            print(f"\nmerge of {args.synthetic} synthetic shard files of a {args.minutes}-minute spec "
                  f"({args.minutes * 60} series points each, {size / 2**20:.1f} MiB in all): wall "
                  f"{statistics.median(r[0] for r in runs):.2f} s, CPU {statistics.median(r[1] for r in runs):.2f} s, "
                  f"peak RSS {statistics.median(r[2] for r in runs):.1f} MiB (median of {len(runs)})")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
