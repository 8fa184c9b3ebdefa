#!/usr/bin/env python3
"""Does loadgate's generator keep up over TLS and HTTP/2? h2load, wrk and loadgate, side by side.

Makes a CA and a server certificate for 127.0.0.1 and localhost with the `openssl` CLI (EC P-256,
valid one day, in a temporary directory), starts nginx (one worker, a 3-byte body, 127.0.0.1
only) with a TLS listener (HTTP/2 by ALPN, HTTP/1.1 too) and a plain one, then runs, interleaved
over ROUNDS rounds of SECONDS each:

  h2    HTTP/2 over TLS: h2load (-t2, -c CONNECTIONS, -m STREAMS) against loadgate with
        users = CONNECTIONS × STREAMS, http = "2", streams_per_connection = STREAMS: the same
        connections carrying the same streams;
  h2c   the same over plain TCP, HTTP/2 by prior knowledge (a listener of its own);
  https HTTP/1.1 over TLS: wrk (-t2) against loadgate, H1_CONNECTIONS connections;
  http  plain HTTP/1.1, the same: checks that adding TLS did not slow the plain path.

loadgate runs the closed model without think time and trusts the CA by `[tls] ca`; wrk and h2load
verify no certificate. Then, once per round, loadgate alone at RSS_CONNECTIONS connections × STREAMS
streams over TLS: its peak RSS, against RSS_LIMIT (1.5 × what it took before issue 33's changes). Prints per row and tool the median of: requests/s, p50, the generator's
CPU time per request (user + system from the OS's accounting of the process) and its peak RSS;
then loadgate's ratios, and last a table of what issue 33's done-means ask (requests/s ≥ 1.0× the
peer's, CPU per request ≤ 1.0×) with the load average during the runs: figures taken beside other
work are noisy, ratios from interleaved rounds less so. h2load prints no percentiles, only min/max/mean/sd of "time for request":
its p50 column is that mean, marked so. A run with failures (loadgate's summary.json, wrk's socket
errors and non-2xx answers, h2load's failed/errored/timed-out requests) is printed as such and
left out of the medians.

nginx keeps every connection for the whole run (keepalive_requests 1000000): each tool does its
TLS handshakes once per connection, and the rows measure the steady state. Debian 12's nginx
(1.22) predates `http2 on;`, so HTTP/2 is switched on with `listen ... ssl http2` there.

Installs what is missing: nginx-light (its build has the ssl and http2 modules), wrk and
nghttp2-client (h2load) from Debian (apt-get). Bounded: every tool runs for SECONDS, nginx and
every tool are stopped at the end, also on error; traffic stays on 127.0.0.1.

    scripts/bench-tls.py [--rounds 3] [--seconds 5] [--connections 10] [--streams 10] [--h1-connections 50]
                         [--rows h2,h2c,https,http] [--rss-connections 100] [--rss-limit 66]
"""

import argparse
import importlib.util
import json
import os
import re
import statistics
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_generator", Path(__file__).with_name("bench-generator.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

# h2load and wrk alike: two threads (fewer when there are fewer connections).
THREADS = 2
# loadgate exits 1 when its default error-rate check fails: the run is still measured, and its
# failures reported from summary.json.
LOADGATE_CODES = (0, 1, 4)
MEAN_NOTE = "h2load prints no percentiles: its p50 is the mean of its \"time for request\" (min/max/mean/sd)"


def openssl(work, *args):
    done = subprocess.run(["openssl", *args], cwd=work, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"openssl {args[0]} failed:\n{done.stderr}")


def make_certs(work: Path):
    """A CA, and a server certificate it signed for 127.0.0.1 and localhost: (ca, cert, key)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl(work, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=loadgate bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl(work, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (work / "server.ext").write_text("basicConstraints = critical,CA:FALSE\n"
                                     "keyUsage = critical,digitalSignature\n"
                                     "extendedKeyUsage = serverAuth\n"
                                     "subjectAltName = IP:127.0.0.1,DNS:localhost\n")
    openssl(work, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "server.ext", "-out", "server.pem")
    return work / "ca.pem", work / "server.pem", work / "server.key"


def tls_server(port, cert, key, h2c_port):
    """The http-block text of nginx's TLS server (HTTP/2 by ALPN beside HTTP/1.1) and of its h2c
    server (HTTP/2 by prior knowledge only)."""
    version = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", subprocess.run(["nginx", "-v"], capture_output=True,
                                                                       text=True).stderr)
    # `http2 on;` came with nginx 1.25.1, which deprecated `listen ... http2`.
    http2_on = tuple(map(int, version.groups())) >= (1, 25, 1)
    return f"""
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} ssl{"" if http2_on else " http2"} reuseport backlog=4096;
        {"http2 on;" if http2_on else ""}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{h2c_port}{"" if http2_on else " http2"} reuseport backlog=4096;
        {"http2 on;" if http2_on else ""}
        location / {{ return 200 "ok\\n"; }}
    }}"""


def run_h2load(url, args):
    threads = min(THREADS, args.connections)
    out, cpu, rss = bench.measured(["h2load", f"-t{threads}", f"-c{args.connections}", f"-m{args.streams}",
                                    f"-D{args.seconds}", url], args.seconds + 30)
    protocol = "h2" if url.startswith("https:") else "h2c"
    if not re.search(rf"^Application protocol: {protocol}$", out, re.M):
        sys.exit(f"h2load did not speak {protocol}:\n{out}")
    rps = float(re.search(r"^finished in [\d.]+\w+, ([\d.]+) req/s", out, re.M).group(1))
    counts = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                       r"(\d+) errored, (\d+) timeout", out, re.M).groups()
    _, _, done, _, failed, errored, timeout = map(int, counts)
    mean = re.search(r"^time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s", out, re.M).groups()
    # h2load's failed counts non-success statuses too; errored (no answer) is part of it.
    return {"rps": rps, "requests": done, "p50": bench.micros(*mean), "cpu": cpu, "rss": rss,
            "failures": failed, "errors": {"errored": errored, "timeout": timeout}}


def rows(args, work, ca, ports):
    """Per row asked for: its title and, per tool, a function running it once."""
    port, tls_port, h2c_port = ports
    tls_url, http_url = f"https://127.0.0.1:{tls_port}/", f"http://127.0.0.1:{port}/"
    h2c_url = f"http://127.0.0.1:{h2c_port}/"
    trust = f"[tls]\nca = {json.dumps(str(ca))}"
    h1 = f'model = "closed"\nusers = {args.h1_connections}'
    h2 = (f'model = "closed"\nusers = {args.connections * args.streams}\nhttp = "2"\n'
          f"streams_per_connection = {args.streams}")
    every = {
        "h2": (f"HTTP/2 over TLS, {args.connections} connections × {args.streams} streams, h2load -t{THREADS}", {
            "h2load": lambda: run_h2load(tls_url, args),
            "loadgate": lambda: bench.run_loadgate(tls_url, args, work, h2, trust, LOADGATE_CODES)}),
        "h2c": (f"HTTP/2 by prior knowledge (h2c), {args.connections} connections × {args.streams} streams, "
                f"h2load -t{THREADS}", {
            "h2load": lambda: run_h2load(h2c_url, args),
            "loadgate": lambda: bench.run_loadgate(h2c_url, args, work, h2, "", LOADGATE_CODES)}),
        "https": (f"HTTP/1.1 over TLS, {args.h1_connections} connections, wrk -t{THREADS}", {
            "wrk": lambda: bench.run_wrk(tls_url, args, args.h1_connections),
            "loadgate": lambda: bench.run_loadgate(tls_url, args, work, h1, trust, LOADGATE_CODES)}),
        "http": (f"plain HTTP/1.1, {args.h1_connections} connections, wrk -t{THREADS}", {
            "wrk": lambda: bench.run_wrk(http_url, args, args.h1_connections),
            "loadgate": lambda: bench.run_loadgate(http_url, args, work, h1, "", LOADGATE_CODES)}),
    }
    return {row: every[row] for row in args.rows}


def failed_note(result):
    if not result["failures"]:
        return ""
    kinds = ", ".join(f"{kind} {n}" for kind, n in result.get("errors", {}).items() if n)
    return f"  FAILURES {result['failures']}" + (f" ({kinds})" if kinds else "")


def report(title, runs, args):
    """Medians of the runs without failures, each tool's failed runs named, loadgate's ratios."""
    clean = {name: [r for r in rs if not r["failures"]] for name, rs in runs.items()}
    median = bench.median_table({name: rs for name, rs in clean.items() if rs}, keys=("rps", "p50", "rss"))
    print(f"\n{title}, {args.seconds} s, median of {args.rounds} interleaved rounds, nginx (1 worker) on 127.0.0.1")
    print(f"{'tool':9} {'req/s':>10} {'p50':>10} {'CPU/req':>9} {'peak RSS':>9}")
    for name, m in median.items():
        mark = "*" if name == "h2load" else " "
        print(f"{name:9} {m['rps']:10.0f} {m['p50']:8.0f}µs{mark} {m['cpu_us']:7.2f}µs {m['rss']:6.1f}MiB")
    for name, rs in runs.items():
        if len(clean[name]) < len(rs):
            print(f"{name}: {len(rs) - len(clean[name])} of {len(rs)} runs had failures and are left out:"
                  + "".join(f"\n  {failed_note(r).strip()}" for r in rs if r["failures"]))
    if "h2load" in median:
        print(f"* {MEAN_NOTE}")
    if "loadgate" not in median or len(median) < 2:
        print("no ratios: a tool had no run without failures")
        return
    lg = median["loadgate"]
    ratios = None
    for other in (name for name in median if name != "loadgate"):
        o = median[other]
        p50 = "p50 / h2load's mean" if other == "h2load" else "p50"
        ratios = (other, lg["rps"] / o["rps"], lg["cpu_us"] / o["cpu_us"])
        print(f"loadgate / {other}: requests/s ×{ratios[1]:.2f}, CPU per request "
              f"×{ratios[2]:.2f}, {p50} ×{lg['p50'] / o['p50']:.2f}")
    return ratios


def done_means(ratios, rss, args, loads):
    """What issue 33 asks of these rows, each figure with its verdict."""
    print(f"\ndone means (median of {args.rounds} interleaved rounds; load average during the runs "
          f"{min(loads):.2f} to {max(loads):.2f})")
    print(f"{'row':6} {'peer':7} {'req/s ≥ 1.0×':>13} {'CPU/req ≤ 1.0×':>15}")
    for row, got in ratios.items():
        if got is None:
            print(f"{row:6} no ratios (a tool had no run without failures)")
            continue
        other, rps, cpu = got
        print(f"{row:6} {other:7} {rps:11.2f}× {'met' if rps >= 1 else 'NOT'} {cpu:12.2f}× "
              f"{'met' if cpu <= 1 else 'NOT'}")
    if rss:
        peak = statistics.median(rss)
        print(f"peak RSS at {args.rss_connections} connections × {args.streams} streams (HTTP/2 over TLS): "
              f"{peak:.1f} MiB, limit {args.rss_limit:.1f} MiB: {'met' if peak <= args.rss_limit else 'NOT'}")


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10, help="HTTP/2 connections")
    parser.add_argument("--streams", type=int, default=10, help="HTTP/2 streams per connection")
    parser.add_argument("--h1-connections", type=int, default=50, help="HTTP/1.1 connections (https and http rows)")
    parser.add_argument("--rows", default="h2,h2c,https,http", type=lambda rows: rows.split(","),
                        help="which rows to run, of h2, h2c, https and http")
    parser.add_argument("--rss-connections", type=int, default=100,
                        help="HTTP/2 connections of the peak-RSS run (0: none)")
    # Measured on the 2-core development machine before issue 33's changes: 43.9 MiB.
    parser.add_argument("--rss-limit", type=float, default=1.5 * 43.9, help="MiB")
    args = parser.parse_args()
    if not args.rows or set(args.rows) - {"h2", "h2c", "https", "http"}:
        parser.error("--rows takes h2, h2c, https and http, comma-separated")
    bench.ensure_tools(apt=(("nginx", "nginx-light"), ("wrk", "wrk"), ("h2load", "nghttp2-client")), cargo=())
    work = Path(tempfile.mkdtemp(prefix="loadgate-bench-tls-"))
    nginx = None
    try:
        ca, cert, key = make_certs(work)
        port, tls_port, h2c_port = bench.free_port(), bench.free_port(), bench.free_port()
        nginx = bench.start_nginx(work, port, tls_server(tls_port, cert, key, h2c_port))
        bench.listening(nginx, tls_port, lambda: "nginx did not listen for TLS: " + (work / "error.log").read_text())
        bench.listening(nginx, h2c_port, lambda: "nginx did not listen for h2c: " + (work / "error.log").read_text())
        table = rows(args, work, ca, (port, tls_port, h2c_port))
        results = {row: {name: [] for name in tools} for row, (_, tools) in table.items()}
        rss, loads = [], []
        rss_load = (f'model = "closed"\nusers = {args.rss_connections * args.streams}\nhttp = "2"\n'
                    f"streams_per_connection = {args.streams}")
        trust = f"[tls]\nca = {json.dumps(str(ca))}"
        for round_ in range(1, args.rounds + 1):
            for row, (_, tools) in table.items():
                for name, run in tools.items():
                    result = run()
                    loads.append(os.getloadavg()[0])
                    results[row][name].append(result)
                    print(f"round {round_} {row:6} {name:9} {result['rps']:10.0f} req/s "
                          f"p50 {result['p50']:7.0f}µs{failed_note(result)} load {loads[-1]:.2f}",
                          file=sys.stderr, flush=True)
            if args.rss_connections:
                tls_url = f"https://127.0.0.1:{tls_port}/"
                rss.append(bench.run_loadgate(tls_url, args, work, rss_load, trust, LOADGATE_CODES)["rss"])
                print(f"round {round_} rss    loadgate {rss[-1]:.1f} MiB", file=sys.stderr, flush=True)
        ratios = {row: report(title, results[row], args) for row, (title, _) in table.items()}
        done_means(ratios, rss, args, loads)
    finally:
        if nginx is not None:
            stop(nginx)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
