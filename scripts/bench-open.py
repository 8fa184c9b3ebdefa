#!/usr/bin/env python3
"""How precise is the open model? loadgate's and oha's constant-rate latencies against nginx.

Starts nginx (one worker, a 3-byte body, 127.0.0.1 only), then, interleaved over ROUNDS rounds, at
each of RATES requests/s for SECONDS seconds (after a 1 s warmup for loadgate):

  loadgate  the open model (`model = "open"`, `rate`): its judged latency runs from each request's
            intended send time; summary.json also has the latency from the actual send
            (`schedule.uncorrected_latency_us`) and the send error itself (`schedule.send_error_us`,
            the write time minus the intended time);
  oha       `-q RATE --latency-correction` (judged from the intended time) and `-q RATE` alone
            (from the actual send), CONNECTIONS connections; oha does not report its send error.

Prints per rate and tool the median of: judged p50/p99, uncorrected p50/p99, send error p50/p99/max
(loadgate), judged p50 minus uncorrected p50, and the generator's CPU: loadgate's share of a core
over the judged window (summary.json, from the process's own accounting) and, for both, CPU time
per request from the OS's accounting of the whole process (wait4: start-up included) over every
request it sent (loadgate's warmup second too).

Each also runs with idle CPUs kept awake (`+awake`): loadgate with `--keep-cpus-awake`, oha while
this script holds the kernel's CPU latency limit at 0 µs the same way (/dev/cpu_dma_latency: root;
without write access to it, the +awake runs and figures are left out).

First, as the floor under a send error's tail, how late this machine's own wake-ups are: a thread
sleeping with 1 ns of timer slack, 500 sleeps of 5 ms and 2 000 of 500 µs, while the CPUs are idle,
while they are kept busy (by spinners at the lowest priority, SCHED_IDLE, for those 7 s only) and
while idle CPUs are kept awake. A virtual CPU that is idle halts, and waking it costs what its host
takes; kept awake, it polls instead.

Then the highest rate each holds, upwards by a quarter at a time from START (at most MAX_STEPS
runs each): held means completed within 1 % of the rate and, for loadgate, at most 1 % of the
sends late (10 ms or more) and no wait for a free connection.

Last, a table of what issue 33's done-means ask, each with its verdict: the highest rate held at or
above oha's (same run), and at DONE_RATE req/s CPU per request at or below oha's, judged minus
uncorrected p50 at most 20 µs and send error p99 at most 50 µs; with the load average during the
runs, since figures taken beside other work are noisy.

Installs what is missing (nginx-light from Debian, oha with cargo install) and builds the workspace.
Bounded: every run lasts SECONDS, nginx and every tool are stopped at the end, traffic stays on
127.0.0.1.

    scripts/bench-open.py [--rounds 3] [--seconds 5] [--rates 200,2000,20000] [--connections 50]
                          [--start 40000] [--no-ceiling] [--tools loadgate,oha,loadgate+awake,oha+awake]
"""

import argparse
import contextlib
import ctypes
import importlib.util
import os
import subprocess
import json
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_generator", Path(__file__).with_name("bench-generator.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

MAX_STEPS = 8
# The rate at which issue 33 compares the CPU per request and holds the precision figures.
DONE_RATE = 2000.0
# loadgate's warmup: sent and measured, not judged. Its requests count in loadgate's CPU per
# request as oha's (which has no warmup) all count in oha's.
WARMUP_S = 1.0


def run_loadgate(url, args, work, rate, flags=()):
    result = bench.run_loadgate(url, args, work, f'model = "open"\nrate = {rate}\nwarmup = "{WARMUP_S:g}s"\n'
                                                 f"max_in_flight = 10000", codes=(0, 1, 4), flags=flags)
    s = result["schedule"]
    summary = json.loads((work / "out/summary.json").read_text())["specs"][0]["summary"]
    generator = summary.get("generator") or {}
    return {"rps": result["rps"], "requests": result["requests"], "failures": result["failures"],
            "sent": result["requests"] + round(rate * WARMUP_S), "p50": result["p50"], "p99": result["p99"],
            "u50": s["uncorrected_latency_us"]["p50"], "u99": s["uncorrected_latency_us"]["p99"],
            "e50": s["send_error_us"]["p50"], "e99": s["send_error_us"]["p99"], "emax": s["send_error_us"]["max"],
            "cores": generator.get("cpu_utilisation", float("nan")), "cpu": result["cpu"],
            "held": abs(result["rps"] / rate - 1) <= 0.01 and s["late_fraction"] <= 0.01
            and s["in_flight_limit_hits"] == 0}


def oha(url, args, rate, correct):
    cmd = ["oha", "-z", f"{args.seconds}s", "-q", str(rate), "-c", str(args.connections), "--no-tui",
           "--output-format", "json", *(["--latency-correction"] if correct else []), url]
    out, cpu, _ = bench.measured(cmd, args.seconds + 30)
    data = json.loads(out)
    requests = sum(data["statusCodeDistribution"].values())
    p = data["latencyPercentiles"]
    return {"rps": data["summary"]["requestsPerSec"], "requests": requests, "cpu": cpu,
            "p50": p["p50"] * 1e6, "p99": p["p99"] * 1e6,
            "failures": sum(data.get("errorDistribution", {}).values())}


def run_oha(url, args, rate):
    judged, plain = oha(url, args, rate, True), oha(url, args, rate, False)
    return {"rps": judged["rps"], "requests": judged["requests"], "failures": judged["failures"],
            "sent": judged["requests"], "p50": judged["p50"], "p99": judged["p99"], "u50": plain["p50"], "u99": plain["p99"],
            "e50": float("nan"), "e99": float("nan"), "emax": float("nan"), "cores": float("nan"),
            "cpu": judged["cpu"], "held": abs(judged["rps"] / rate - 1) <= 0.01}


AWAKE_ALLOWED = os.access("/dev/cpu_dma_latency", os.W_OK)


@contextlib.contextmanager
def cpus_awake():
    """Holds the kernel's CPU latency request at 0 µs: idle CPUs poll instead of halting."""
    fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
    try:
        os.write(fd, struct.pack("i", 0))
        yield
    finally:
        os.close(fd)


def run_oha_awake(url, args, rate):
    with cpus_awake():
        return run_oha(url, args, rate)


TOOLS = {"loadgate": lambda url, args, work, rate: run_loadgate(url, args, work, rate),
         "oha": lambda url, args, work, rate: run_oha(url, args, rate),
         "loadgate+awake": lambda url, args, work, rate: run_loadgate(url, args, work, rate,
                                                                      ("--keep-cpus-awake",)),
         "oha+awake": lambda url, args, work, rate: run_oha_awake(url, args, rate)}
KEYS = ("p50", "p99", "u50", "u99", "e50", "e99", "emax", "cores")


def medians(runs):
    """The median of each figure over the runs, CPU per request and judged − uncorrected p50 too."""
    m = {key: statistics.median(r[key] for r in runs) for key in KEYS}
    m["cpu_us"] = statistics.median(r["cpu"] / max(r["sent"], 1) * 1e6 for r in runs)
    m["gap"] = statistics.median(r["p50"] - r["u50"] for r in runs)
    return m


def done_means(results, highest, loads):
    """Issue 33's open-model done-means, each figure with its verdict."""
    print(f"\ndone means (load average during the runs {min(loads):.2f} to {max(loads):.2f})")
    verdict = lambda ok: "met" if ok else "NOT met"
    lg, oha_ = highest.get("loadgate"), highest.get("oha")
    if lg is not None or oha_ is not None:
        ok = lg is not None and (oha_ is None or lg >= oha_)
        print(f"highest rate held: loadgate {lg or 0:.0f}, oha {oha_ or 0:.0f} req/s: ≥ oha's {verdict(ok)}")
    by_tool = results.get(DONE_RATE)
    if not by_tool or "loadgate" not in by_tool:
        print(f"(no runs at {DONE_RATE:.0f} req/s: pass it in --rates for the rest)")
        return
    m = medians(by_tool["loadgate"])
    if "oha" in by_tool:
        o = medians(by_tool["oha"])
        ratio = m["cpu_us"] / o["cpu_us"]
        print(f"CPU per request at {DONE_RATE:.0f} req/s: loadgate {m['cpu_us']:.1f} µs, oha {o['cpu_us']:.1f} µs, "
              f"×{ratio:.2f}: ≤ 1.0× {verdict(ratio <= 1)}")
    print(f"judged − uncorrected p50 at {DONE_RATE:.0f} req/s: {m['gap']:.0f} µs: ≤ 20 µs {verdict(m['gap'] <= 20)}")
    print(f"send error p99 at {DONE_RATE:.0f} req/s: {m['e99']:.0f} µs: ≤ 50 µs {verdict(m['e99'] <= 50)}")


def print_rows(results):
    print(f"{'rate':>7} {'tool':14} {'judged p50':>10} {'p99':>7} {'uncorr p50':>10} {'p99':>7} "
          f"{'judged-uncorr':>13} {'send err p50':>12} {'p99':>6} {'max':>6} {'cores':>6} {'CPU/req':>8}")
    for rate, by_tool in results.items():
        for tool, runs in by_tool.items():
            m = medians(runs)
            cpu_us, gap = m["cpu_us"], m["gap"]
            print(f"{rate:7.0f} {tool:14} {m['p50']:8.0f}µs {m['p99']:5.0f}µs {m['u50']:8.0f}µs {m['u99']:5.0f}µs "
                  f"{gap:11.0f}µs {m['e50']:10.0f}µs {m['e99']:4.0f}µs {m['emax']:4.0f}µs {m['cores']:6.3f} "
                  f"{cpu_us:6.1f}µs")


def wake_latency(busy):
    """p50 and p99 (µs) of how late a sleep ends, over 500 × 5 ms and 2 000 × 500 µs."""
    if busy == "awake":
        with cpus_awake():
            return wake_latency(False)
    spinners = []
    if busy:
        spin = ("import os, time\nos.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
                "end = time.monotonic() + 15\nwhile time.monotonic() < end: pass\n")
        spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 1)]
        time.sleep(0.3)
    try:
        ctypes.CDLL(None).prctl(29, ctypes.c_ulong(1), 0, 0, 0)  # PR_SET_TIMERSLACK, this thread
        late = []
        for count, gap_ns in ((500, 5_000_000), (2_000, 500_000)):
            target = time.perf_counter_ns()
            for _ in range(count):
                target += gap_ns
                time.sleep(max(target - time.perf_counter_ns(), 0) / 1e9)
                late.append((time.perf_counter_ns() - target) / 1e3)
        late.sort()
        return late[len(late) // 2], late[len(late) * 99 // 100]
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def highest_held(tool, url, args, work):
    rate, highest = args.start, None
    for _ in range(MAX_STEPS):
        result = TOOLS[tool](url, args, work, rate)
        print(f"  {tool:14} {rate:9.0f} req/s: completed {result['rps']:9.1f}, held {result['held']}",
              file=sys.stderr, flush=True)
        if not result["held"]:
            break
        highest, rate = rate, rate * 1.25
    return highest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rates", default="200,2000,20000")
    parser.add_argument("--connections", type=int, default=50, help="oha's connections")
    parser.add_argument("--start", type=float, default=40000, help="the first rate of the ceiling search")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the search for the highest rate held")
    parser.add_argument("--tools", default=",".join(TOOLS if AWAKE_ALLOWED else ("loadgate", "oha")),
                        help="which of them to run (the +awake ones need write access to /dev/cpu_dma_latency)")
    args = parser.parse_args()
    bench.ensure_tools(apt=(("nginx", "nginx-light"),))
    work = Path(tempfile.mkdtemp(prefix="loadgate-bench-open-"))
    port = bench.free_port()
    url = f"http://127.0.0.1:{port}/"
    nginx = bench.start_nginx(work, port)
    try:
        idle, busy = wake_latency(False), wake_latency(True)
        awake = ""
        if AWAKE_ALLOWED:
            p50, p99 = wake_latency("awake")
            awake = f", idle CPUs kept awake p50 {p50:.0f}µs p99 {p99:.0f}µs"
        print(f"this machine's wake-ups (1 ns timer slack): idle CPUs p50 {idle[0]:.0f}µs p99 {idle[1]:.0f}µs, "
              f"busy CPUs p50 {busy[0]:.0f}µs p99 {busy[1]:.0f}µs{awake}", flush=True)
        rates = [float(r) for r in args.rates.split(",")]
        tools = {tool: TOOLS[tool] for tool in args.tools.split(",")}
        results = {rate: {tool: [] for tool in tools} for rate in rates}
        loads = []
        for round_ in range(1, args.rounds + 1):
            for rate in rates:
                for tool, run in tools.items():
                    r = run(url, args, work, rate)
                    loads.append(os.getloadavg()[0])
                    results[rate][tool].append(r)
                    print(f"round {round_} {rate:7.0f} {tool:14} judged p50 {r['p50']:6.0f}µs uncorrected p50 "
                          f"{r['u50']:6.0f}µs send error p99 {r['e99']:5.0f}µs {r['rps']:9.1f} req/s "
                          f"failures {r['failures']} load {loads[-1]:.2f}", file=sys.stderr, flush=True)
        print(f"\nopen model against nginx (1 worker) on 127.0.0.1, {args.seconds} s per run, median of "
              f"{args.rounds} interleaved rounds")
        print_rows(results)
        highest = {}
        if not args.no_ceiling:
            print("\nhighest rate held within 1 % (completed, and loadgate: ≤ 1 % late, no in-flight wait)")
            for tool in (tool for tool in ("loadgate", "oha") if tool in tools):
                highest[tool] = highest_held(tool, url, args, work)
                loads.append(os.getloadavg()[0])
                print(f"{tool:14} " + (f"{highest[tool]:.0f} req/s" if highest[tool] else
                                       f"below {args.start:.0f} req/s"), flush=True)
        done_means(results, highest, loads)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
