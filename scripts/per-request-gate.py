#!/usr/bin/env python3
"""Does `loadgate init`'s default gate name and fail one endpoint of three made 300 µs slower?

Issue 32's done-means 4. The spec is `loadgate init`'s template as init writes it where valgrind
is installed: its [load], [gate] and [cost] unedited (with --no-cost, as written without valgrind:
[cost] and the instructions checks commented out; with --regression, each name's p50 threshold
changed from init's 100 %), the demo service in [service], and two more requests, each with the
`[gate.request.NAME]` table init's comment asks for (the same as home's).

Every request does --cpu-ms of CPU work (1 ms: a service answering in about a millisecond, as in
the issue), as a fixed number of rounds of the demo's `--work` loop, measured here in rounds per
µs from two short runs, so it is the same work natively and under Valgrind; the slower service
does --extra-us more on /status only. With --burn, the work is the demo's clock-bound burn
instead (DEMO_SERVICE_CPU_PER_REQUEST and --cpu-for): the same native time, but under Valgrind a
burn that stops on the clock runs a fraction of its native work, so instructions barely see it.

A baseline is recorded once (beside the hog with --hog-baseline); then, with a CPU hog beside the
gate (`yes > /dev/null`, unless --no-hog), each of --runs rounds runs the gate on the unchanged
service and on the slower one. Prints every run, then: alarms on the unchanged service (any exit
but 0) and the checks that raised them, slower runs that failed (exit 1) with a `status` check
among the failed ones (and which), and whether the last slower run's console, summary.md and
report.html name `status`. Exits 1 unless every slower run failed naming it and no unchanged run
raised an alarm.

    scripts/per-request-gate.py [--runs 10] [--cpu-ms 1] [--extra-us 300] [--no-cost] [--cost-requests N]
                                [--regression 20%] [--burn] [--no-hog] [--hog-baseline] [--no-build]
"""
import argparse
import collections
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


def write_spec(path, cost, regression, cost_requests):
    """init's spec with the demo service and three requests, each gated as init gates `home`."""
    template = TEMPLATE.read_text()
    written = (template[template.index("[load]"):].replace("@BIN@", "mix")
               .replace("@COST_NOTE@", "").replace("@C@", "" if cost else "# "))
    if cost_requests:
        written = written.replace("\nrequests = 1000\n", f"\nrequests = {cost_requests}\n")
    home = written[written.index("[gate.request.home]\n") + len("[gate.request.home]\n"):]
    if regression:
        # The total's p50 stays init's; each name's is the one under test.
        home = home.replace('p50 = { regression = "100%" }', f'p50 = {{ regression = "{regression}" }}')
        written = written[:written.index("[gate.request.home]\n")] + "[gate.request.home]\n" + home
    service = ROOT / "target" / "release" / "demo-service"
    extra = "".join(
        f'\n[[request]]\nname = "{name}"\npath = "{path}"\n\n[gate.request.{name}]\n{home}'
        for name, path in NAMES.items() if name != "home"
    )
    path.write_text(
        'name = "mix"\n\n[service]\n'
        f'command = ["{service}", "--port", "{{port}}"]\n'
        'ready = { http = "/health", timeout = "30s" }\n\n' + written + extra
    )


def service_env(cpu_us, extra_us, rounds_per_us):
    """The demo's per-request work: `--work` rounds on every path (None: the clock-bound burn)."""
    if rounds_per_us is None:
        env = {"DEMO_SERVICE_CPU_PER_REQUEST": f"{cpu_us:.0f}us"}
        if extra_us:
            env["DEMO_SERVICE_CPU_FOR"] = f"/status={extra_us}us"
        return env
    rounds = {path: round(cpu_us * rounds_per_us) for path in NAMES.values()}
    rounds["/status"] += round(extra_us * rounds_per_us)
    return {"DEMO_SERVICE_WORK": ",".join(f"{path}={n}" for path, n in rounds.items() if n)}


def gate(spec, service, work, extra=()):
    env = dict(os.environ, **service)
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
        row["cpu_us"] = (result["summary"].get("service") or {}).get("cpu_per_request_us")
        cost = result["summary"].get("cost")
        if cost:
            row["instructions"] = {n: c["instructions"] for n, c in cost["by_request"].items()}
        row["failed"] = [f'{c["scope"]} {c["metric"]} {c["kind"]}' for c in result["checks"]
                         if c["outcome"] not in ("pass", "no_baseline")]
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
    counted = ""
    if "instructions" in row and "instructions" in base:
        counted = ", instructions " + ", ".join(
            f"{n} {row['instructions'][n]:.0f} ({(row['instructions'][n] / base['instructions'][n] - 1) * 100:+.2f} %)"
            for n in NAMES if n in row["instructions"] and n in base["instructions"])
    print(f"{label}: exit {row['exit']}, total p50 {row['total_p50']} µs, {moved}{counted}, {row['took']:.1f} s"
          + (f" [{failed}]" if failed else ""), flush=True)


def rounds_per_us(spec, work):
    """The demo's `--work` rounds per µs of service CPU here: two short runs without [cost]."""
    cpu = []
    for rounds in (0, 1_000_000):
        service = {"DEMO_SERVICE_WORK": ",".join(f"{path}={rounds}" for path in NAMES.values())} if rounds else {}
        row = gate(spec, service, work, ["--no-cost", "--duration", "3s"])
        if row.get("cpu_us") is None:
            sys.exit(f"measuring the demo's work loop failed: {row.get('error', row['exit'])}")
        cpu.append(row["cpu_us"])
    per_us = 1_000_000 / (cpu[1] - cpu[0])
    print(f"work loop: {cpu[0]:.1f} µs/request without, {cpu[1]:.1f} µs with 1e6 rounds: "
          f"{per_us:.0f} rounds per µs", flush=True)
    return per_us


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cpu-ms", type=float, default=1.0, help="every request's CPU")
    parser.add_argument("--extra-us", type=int, default=300, help="/status's extra CPU when slower")
    parser.add_argument("--no-cost", action="store_true",
                        help="init's spec as written without valgrind: [cost] commented out")
    parser.add_argument("--burn", action="store_true",
                        help="clock-bound burn (CPU_PER_REQUEST, --cpu-for) instead of --work rounds")
    parser.add_argument("--cost-requests", type=int,
                        help="[cost] requests per name (default: init's 1000; each takes ~70 ms under Valgrind at 1 ms)")
    parser.add_argument("--rounds-per-us", type=float, help="the demo's --work rounds per µs (measured when omitted)")
    parser.add_argument("--no-hog", action="store_true", help="no CPU hog beside the gate")
    parser.add_argument("--hog-baseline", action="store_true", help="the hog runs for the baseline too")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--regression", help="each name's p50 threshold (default: init's, 100%%)")
    opts = parser.parse_args()

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
            write_spec(spec, not opts.no_cost, opts.regression, opts.cost_requests)
            per_us = None if opts.burn else opts.rounds_per_us or rounds_per_us(spec, work)
            unchanged_service = service_env(opts.cpu_ms * 1000, 0, per_us)
            slower_service = service_env(opts.cpu_ms * 1000, opts.extra_us, per_us)
            print(f"unchanged: {unchanged_service}\nslower: {slower_service}", flush=True)
            def start_hog():
                return None if opts.no_hog else subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
            if opts.hog_baseline:
                hog = start_hog()
            base = gate(spec, unchanged_service, work, ["--update-baselines"])
            show("baseline", base, base)
            if base["exit"] != 0:
                sys.exit("recording the baseline failed")
            hog = hog or start_hog()
            for i in range(opts.runs):
                unchanged.append(gate(spec, unchanged_service, work))
                show(f"run {i + 1} unchanged", unchanged[-1], base)
                slower.append(gate(spec, slower_service, work))
                show(f"run {i + 1} /status +{opts.extra_us} µs", slower[-1], base)
    finally:
        if hog:
            hog.terminate()
            hog.wait()

    alarms = sum(r["exit"] != 0 for r in unchanged)
    alarmed_by = collections.Counter(c for r in unchanged for c in r["failed"])
    caught = sum(r["exit"] == 1 and any(c.startswith("status ") for c in r["failed"]) for r in slower)
    caught_by = collections.Counter(c for r in slower for c in r["failed"] if c.startswith("status "))
    total_moved = [r["total_p50"] / base["total_p50"] - 1 for r in slower if "total_p50" in r]
    status_moved = [r["p50"]["status"] / base["p50"]["status"] - 1 for r in slower if "p50" in r]
    last = slower[-1]
    named = {
        "console": "status" in last["stdout"] and "against the baseline:" in last["stdout"],
        "summary.md": any(c in last.get("summary_md", "") for c in last["failed"] if c.startswith("status ")),
        "report.html": any(c in last.get("report_html", "") for c in last["failed"] if c.startswith("status ")),
    }
    print(f"\nhog beside the gate: {'no' if opts.no_hog else 'yes'} (baseline: "
          f"{'with' if opts.hog_baseline else 'without'}); [cost]: "
          f"{'no' if opts.no_cost else f'yes, {opts.cost_requests or 1000} requests per name'}; "
          f"work: {'clock-bound burn' if opts.burn else f'{per_us:.0f} --work rounds per µs'}; "
          f"load average {os.getloadavg()[0]:.1f}; baseline p50 {base['p50']} µs"
          + (f", instructions {base['instructions']}" if "instructions" in base else ""))
    print(f"unchanged: {alarms}/{len(unchanged)} raised an alarm {dict(alarmed_by)}")
    instr_moved = [r["instructions"]["status"] / base["instructions"]["status"] - 1
                   for r in slower if "instructions" in r and "instructions" in base]
    print(f"/status +{opts.extra_us} µs (its p50 {statistics.median(status_moved) * 100:+.1f} %, the "
          f"total's {statistics.median(total_moved) * 100:+.1f} %"
          + (f", its instructions {statistics.median(instr_moved) * 100:+.1f} %" if instr_moved else "")
          + f", medians): {caught}/{len(slower)} failed naming `status` {dict(caught_by)}")
    print("named in the last slower run: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in named.items()))
    print("console of the last slower run:\n" + last["stdout"])
    sys.exit(0 if alarms == 0 and caught == len(slower) and all(named.values()) else 1)


if __name__ == "__main__":
    main()
