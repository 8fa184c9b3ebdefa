#!/usr/bin/env python3
"""Is loadgate's generator the bottleneck? wrk, oha and loadgate, side by side.

Starts nginx (one worker, a 3-byte body, 127.0.0.1 only), then runs wrk, oha and loadgate's
generator against it in turn, interleaved over ROUNDS rounds, each with CONNECTIONS connections for
SECONDS seconds. Prints per tool the median of: requests/s, p50, p99, the generator's CPU time per
request (user + system from the OS's accounting of the process) and its peak RSS; then loadgate's
ratios to wrk and oha, and loadgate's open model at a few target rates.

Installs what is missing: nginx-light and wrk from Debian (apt-get), oha with cargo install.
Bounded: every tool runs for SECONDS, every process is stopped at the end, traffic stays on
loopback.

    scripts/bench-generator.py [--rounds 3] [--seconds 10] [--connections 50]
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


def ensure_tools():
    missing = [pkg for tool, pkg in (("nginx", "nginx-light"), ("wrk", "wrk")) if not shutil.which(tool)]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not shutil.which("oha"):
        subprocess.run(["cargo", "install", "oha", "--locked"], check=True)
    subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(work: Path, port: int):
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
}}
""")
    nginx = subprocess.Popen(["nginx", "-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "error.log")])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return nginx
        except OSError:
            time.sleep(0.05)
    nginx.kill()
    sys.exit("nginx did not start: " + (work / "error.log").read_text())


def measured(cmd, timeout):
    """Runs cmd; returns (stdout, CPU seconds, peak RSS in MiB) from the OS's accounting of that
    one process (wait4), killing it after `timeout` seconds."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        if code not in (0, 4):
            sys.exit(f"{cmd[0]} failed ({code}):\n{stdout}\n{err.read()}")
    return stdout, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def micros(value, unit):
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def run_wrk(url, args):
    out, cpu, rss = measured(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", url],
                             args.seconds + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p = {q: micros(*re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()) for q in ("50", "99")}
    return {"rps": rps, "requests": total, "p50": p["50"], "p99": p["99"], "cpu": cpu, "rss": rss}


def run_oha(url, args):
    out, cpu, rss = measured(["oha", "-z", f"{args.seconds}s", "-c", str(args.connections), "--no-tui",
                              "--output-format", "json", url], args.seconds + 30)
    data = json.loads(out)
    requests = sum(data["statusCodeDistribution"].values())
    return {"rps": data["summary"]["requestsPerSec"], "requests": requests,
            "p50": data["latencyPercentiles"]["p50"] * 1e6, "p99": data["latencyPercentiles"]["p99"] * 1e6,
            "cpu": cpu, "rss": rss}


def run_loadgate(url, args, work, load):
    spec = work / "bench.toml"
    spec.write_text(f'name = "bench"\n[load]\n{load}\nduration = "{args.seconds}s"\n'
                    '[[request]]\nname = "ok"\npath = "/"\n')
    _, cpu, rss = measured([str(ROOT / "target/release/xtask"), "loadtest", "--no-build", "--target", url,
                            "--baselines", str(work / "baselines"), "--out", str(work / "out"), str(spec)],
                           args.seconds + 60)
    summary = json.loads((work / "out/summary.json").read_text())["specs"][0]["summary"]
    total = summary["total"]
    return {"rps": total["rps"], "requests": total["requests"], "p50": total["latency_us"]["p50"],
            "p99": total["latency_us"]["p99"], "cpu": cpu, "rss": rss, "schedule": summary.get("schedule")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rates", default="5000,10000,20000", help="open-model target rates")
    args = parser.parse_args()
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="loadgate-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    nginx = start_nginx(work, port)
    try:
        closed = f'model = "closed"\nusers = {args.connections}'
        tools = {"wrk": lambda: run_wrk(url, args), "oha": lambda: run_oha(url, args),
                 "loadgate": lambda: run_loadgate(url, args, work, closed)}
        results = {name: [] for name in tools}
        for round_ in range(1, args.rounds + 1):
            for name, run in tools.items():
                result = run()
                results[name].append(result)
                print(f"round {round_} {name:9} {result['rps']:10.0f} req/s", file=sys.stderr)
        median = {name: {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99", "rss")}
                  | {"cpu_us": statistics.median(r["cpu"] / r["requests"] * 1e6 for r in runs)}
                  for name, runs in results.items()}
        print(f"\nclosed model, {args.connections} connections, {args.seconds} s, median of {args.rounds} "
              f"interleaved rounds, nginx (1 worker) on 127.0.0.1")
        print(f"{'tool':9} {'req/s':>10} {'p50':>9} {'p99':>9} {'CPU/req':>9} {'peak RSS':>9}")
        for name, m in median.items():
            print(f"{name:9} {m['rps']:10.0f} {m['p50']:8.0f}µs {m['p99']:8.0f}µs {m['cpu_us']:7.2f}µs "
                  f"{m['rss']:6.1f}MiB")
        lg = median["loadgate"]
        for other in ("wrk", "oha"):
            o = median[other]
            print(f"loadgate / {other}: requests/s ×{lg['rps'] / o['rps']:.2f}, CPU per request "
                  f"×{lg['cpu_us'] / o['cpu_us']:.2f}, p50 ×{lg['p50'] / o['p50']:.2f}")

        print("\nopen model (loadgate), target rate vs achieved")
        for rate in (float(r) for r in args.rates.split(",")):
            result = run_loadgate(url, args, work, f'model = "open"\nrate = {rate}\nmax_in_flight = 10000')
            s = result["schedule"]
            print(f"target {rate:8.0f}  completed {result['rps']:9.1f} req/s ({(result['rps'] / rate - 1) * 100:+.2f}%)"
                  f"  late {s['late_fraction'] * 100:5.2f}%  max late {s['max_late_us'] / 1000:.1f}ms")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
