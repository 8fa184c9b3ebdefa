#!/usr/bin/env python3
"""Is loadgate's generator the bottleneck? wrk, oha and loadgate, side by side.

Starts nginx (one worker, a 3-byte body, 127.0.0.1 only), then runs wrk, oha and loadgate's
generator against it in turn, interleaved over ROUNDS rounds, each with CONNECTIONS connections for
SECONDS seconds. Prints per tool the median of: requests/s, p50, p99, the generator's CPU time per
request (user + system from the OS's accounting of the process) and its peak RSS; then loadgate's
ratios to wrk and oha.

At full speed a closed model's latency follows its throughput (Little's law: p50 ~ connections /
requests/s), so a faster generator reports a lower p50 from the same server. Whether the three
measure latency alike is asked where they reach the same throughput: in the same rounds, each also
loads the demo service with a fixed 5 ms delay per answer (`--delay 5ms`), and their p50s are
compared. And over one connection to nginx, where each p50 is a round trip that includes the
tool's own work per request.

Last, loadgate's open model at a few target rates, then upwards by a quarter at a time (at most
MAX_STEPS runs) until a rate is not held: completed more than 1 % off the target, or more than 1 %
of the sends late. The highest rate held is reported.

Installs what is missing: nginx-light and wrk from Debian (apt-get), oha with cargo install.
Bounded: every tool runs for SECONDS, every process is stopped at the end, traffic stays on
loopback.

    scripts/bench-generator.py [--rounds 3] [--seconds 10] [--connections 50] [--rates 5000,10000,20000]
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_tools(apt=(("nginx", "nginx-light"), ("wrk", "wrk")), cargo=("oha",)):
    """Installs each missing (tool, Debian package) of `apt` and each missing tool of `cargo`, then
    builds the workspace's binaries (release)."""
    missing = [pkg for tool, pkg in apt if not shutil.which(tool)]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    for tool in cargo:
        if not shutil.which(tool):
            subprocess.run(["cargo", "install", tool, "--locked"], check=True)
    subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(work: Path, port: int, more: str = ""):
    """nginx on 127.0.0.1:`port`; `more` is added to its http block (directives, another server)."""
    (work / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work};
    proxy_temp_path {work};
    fastcgi_temp_path {work};
    uwsgi_temp_path {work};
    scgi_temp_path {work};
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ return 200 "ok\\n"; }}
    }}
{more}
}}
""")
    nginx = subprocess.Popen(["nginx", "-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "error.log")])
    return listening(nginx, port, lambda: "nginx did not start: " + (work / "error.log").read_text())


def start_demo(port: int):
    """The demo service, answering after a fixed delay: a server whose latency is known."""
    demo = subprocess.Popen([str(ROOT / "target/release/demo-service"), "--port", str(port), "--delay", "5ms"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return listening(demo, port, lambda: "the demo service did not start")


def listening(server, port, why):
    """Waits up to 5 s for `server` to accept on `port`; stops it and exits with why() if it does not."""
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    sys.exit(why())


def measured(cmd, timeout, codes=(0, 4)):
    """Runs cmd; returns (stdout, CPU seconds, peak RSS in MiB) from the OS's accounting of that
    one process (wait4), killing it after `timeout` seconds. Exits on an exit code not in `codes`."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                time.sleep(0.05)
        except BaseException:
            # Interrupted while it runs (Ctrl-C): no tool outlives the script.
            proc.kill()
            proc.wait()
            raise
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        if code not in codes:
            sys.exit(f"{cmd[0]} failed ({code}):\n{stdout}\n{err.read()}")
    return stdout, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def micros(value, unit):
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def run_wrk(url, args, connections):
    threads = min(2, connections)
    out, cpu, rss = measured(["wrk", f"-t{threads}", f"-c{connections}", f"-d{args.seconds}s", "--latency", url],
                             args.seconds + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p = {q: micros(*re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()) for q in ("50", "99")}
    # wrk counts socket errors and non-2xx/3xx answers apart from its requests.
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failures = sum(map(int, socket_errors.groups() if socket_errors else ()))
    failures += int(non_2xx.group(1)) if non_2xx else 0
    return {"rps": rps, "requests": total, "p50": p["50"], "p99": p["99"], "cpu": cpu, "rss": rss,
            "failures": failures}


def run_oha(url, args, connections):
    out, cpu, rss = measured(["oha", "-z", f"{args.seconds}s", "-c", str(connections), "--no-tui",
                              "--output-format", "json", url], args.seconds + 30)
    data = json.loads(out)
    requests = sum(data["statusCodeDistribution"].values())
    return {"rps": data["summary"]["requestsPerSec"], "requests": requests,
            "p50": data["latencyPercentiles"]["p50"] * 1e6, "p99": data["latencyPercentiles"]["p99"] * 1e6,
            "cpu": cpu, "rss": rss}


def run_loadgate(url, args, work, load, tables="", codes=(0, 4), flags=()):
    """loadgate's generator: `load` holds the [load] keys, `tables` more tables (e.g. [tls]), `flags`
    more command-line flags; an exit code not in `codes` ends the script (1, a failed check, is there
    when the run had failures)."""
    spec = work / "bench.toml"
    spec.write_text(f'name = "bench"\n[load]\n{load}\nduration = "{args.seconds}s"\n{tables}\n'
                    '[[request]]\nname = "ok"\npath = "/"\n')
    _, cpu, rss = measured([str(ROOT / "target/release/xtask"), "loadtest", "--no-build", "--allow-large-load",
                            "--target", url, *flags,
                            "--baselines", str(work / "baselines"), "--out", str(work / "out"), str(spec)],
                           args.seconds + 60, codes)
    summary = json.loads((work / "out/summary.json").read_text())["specs"][0]["summary"]
    total = summary["total"]
    return {"rps": total["rps"], "requests": total["requests"], "p50": total["latency_us"]["p50"],
            "p99": total["latency_us"]["p99"], "cpu": cpu, "rss": rss, "schedule": summary.get("schedule"),
            "failures": total["failures"], "errors": total["errors"]}


MAX_STEPS = 8


def median_table(results, keys=("rps", "p50", "p99", "rss")):
    return {name: {key: statistics.median(r[key] for r in runs) for key in keys}
            | {"cpu_us": statistics.median(r["cpu"] / r["requests"] * 1e6 for r in runs)}
            for name, runs in results.items()}


def print_table(median):
    print(f"{'tool':9} {'req/s':>10} {'p50':>9} {'p99':>9} {'CPU/req':>9} {'peak RSS':>9}")
    for name, m in median.items():
        print(f"{name:9} {m['rps']:10.0f} {m['p50']:8.0f}µs {m['p99']:8.0f}µs {m['cpu_us']:7.2f}µs "
              f"{m['rss']:6.1f}MiB")


def open_model(url, args, work, rate):
    result = run_loadgate(url, args, work, f'model = "open"\nrate = {rate}\nmax_in_flight = 10000')
    s = result["schedule"]
    shortfall = result["rps"] / rate - 1
    print(f"target {rate:8.0f}  completed {result['rps']:9.1f} req/s ({shortfall * 100:+.2f}%)"
          f"  late {s['late_fraction'] * 100:5.2f}%  max late {s['max_late_us'] / 1000:.1f}ms", flush=True)
    # Held: the rate completed within 1 %, and at most 1 % of the sends were late.
    return abs(shortfall) <= 0.01 and s["late_fraction"] <= 0.01


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rates", default="5000,10000,20000", help="open-model target rates")
    args = parser.parse_args()
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="loadgate-bench-"))
    port, demo_port = free_port(), free_port()
    url, demo_url = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{demo_port}/"
    nginx = start_nginx(work, port)
    demo = start_demo(demo_port)
    try:
        # (URL, connections): full speed, one connection at a time, and equal throughput.
        targets = {"nginx": (url, args.connections), "one": (url, 1), "delay": (demo_url, args.connections)}
        tools = {"wrk": lambda u, c: run_wrk(u, args, c), "oha": lambda u, c: run_oha(u, args, c),
                 "loadgate": lambda u, c: run_loadgate(u, args, work, f'model = "closed"\nusers = {c}')}
        results = {target: {name: [] for name in tools} for target in targets}
        for round_ in range(1, args.rounds + 1):
            for target, (target_url, connections) in targets.items():
                for name, run in tools.items():
                    result = run(target_url, connections)
                    results[target][name].append(result)
                    print(f"round {round_} {target:6} {name:9} {result['rps']:10.0f} req/s "
                          f"p50 {result['p50']:7.0f}µs", file=sys.stderr, flush=True)
        median = median_table(results["nginx"])
        print(f"\nclosed model, {args.connections} connections, {args.seconds} s, median of {args.rounds} "
              f"interleaved rounds, nginx (1 worker) on 127.0.0.1")
        print_table(median)
        lg = median["loadgate"]
        for other in ("wrk", "oha"):
            o = median[other]
            print(f"loadgate / {other}: requests/s ×{lg['rps'] / o['rps']:.2f}, CPU per request "
                  f"×{lg['cpu_us'] / o['cpu_us']:.2f}, p50 ×{lg['p50'] / o['p50']:.2f}")
        little = {name: args.connections / m["rps"] * 1e6 for name, m in median.items()}
        print("Little's law, connections / requests/s: " +
              ", ".join(f"{name} {us:.0f}µs" for name, us in little.items()))

        for target, title in (("delay", "equal throughput: the demo service with a 5 ms delay"),
                              ("one", "one connection: nginx, each tool waiting for every answer")):
            table = median_table(results[target])
            print(f"\nlatency agreement at {title}, same rounds")
            print_table(table)
            lg = table["loadgate"]
            for other in ("wrk", "oha"):
                print(f"loadgate / {other}: p50 ×{lg['p50'] / table[other]['p50']:.3f}, "
                      f"requests/s ×{lg['rps'] / table[other]['rps']:.3f}")

        print("\nopen model (loadgate) against nginx, target rate vs completed", flush=True)
        held = [rate for rate in (float(r) for r in args.rates.split(",")) if open_model(url, args, work, rate)]
        highest = max(held, default=None)
        rate = (highest or 1000.0) * 1.25
        for _ in range(MAX_STEPS):
            if not open_model(url, args, work, rate):
                break
            highest, rate = rate, rate * 1.25
        print(f"highest rate held within 1%: {highest:.0f} req/s" if highest else "no rate held within 1%")
    finally:
        for process in (nginx, demo):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
