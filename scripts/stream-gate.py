#!/usr/bin/env python3
"""Does the stream gate (first_message_p50, message_gap_p50) stay quiet on an unchanged stream
service and catch a slower one, beside a CPU hog?

The service is tests/e2e/stream_service.py (aiohttp, from target/ci-tools/python, where
`cargo xtask test` installs it): ten messages per stream, the first after 50 ms, then 20 ms
apart. The spec is the e2e test's: 4 users for 2 s, `first_message_p50 = { regression = "50%",
noise_floor = "30ms" }`, `message_gap_p50 = { regression = "50%", noise_floor = "10ms" }`. A
baseline is recorded once (quiet); then, with `yes > /dev/null` beside the gate (unless
--no-hog), each of --runs rounds runs the unchanged service, one with 40 ms gaps and one with
the first message at 100 ms. Prints every run and the counts: alarms on the unchanged service
(any exit but 0), and detections (exit 1 with the named check failed). Exits 1 unless every
unchanged run passed and every slower one was caught.

    scripts/stream-gate.py [--runs 5] [--protocol sse|ws] [--no-hog] [--xtask target/debug/xtask]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "tests" / "e2e" / "stream_service.py"
PYTHONPATH = ROOT / "target" / "ci-tools" / "python"
REQUESTS = {
    "sse": '[[request]]\nname = "s"\npath = "/sse"\nstream = "sse"\ntimeout = "5s"\n',
    "ws": '[[request]]\nname = "s"\npath = "/ws"\n'
    'websocket = { send = "hello ${seq}", messages = 10 }\ntimeout = "5s"\n',
}


def write_spec(root, protocol, first_ms, gap_ms):
    (root / "loadspec" / "streams.toml").write_text(
        'name = "streams"\n\n[service]\n'
        f'command = ["python3", "{SERVICE}", "--port", "{{port}}", '
        f'"--first-ms", "{first_ms}", "--gap-ms", "{gap_ms}"]\n'
        f'env = {{ PYTHONPATH = "{PYTHONPATH}" }}\n'
        'ready = { http = "/health", timeout = "30s" }\n\n'
        '[load]\nmodel = "closed"\nusers = 4\nwarmup = "300ms"\nduration = "2s"\n\n'
        + REQUESTS[protocol]
        + '\n[gate]\nfirst_message_p50 = { regression = "50%", noise_floor = "30ms" }\n'
        'message_gap_p50 = { regression = "50%", noise_floor = "10ms" }\n'
    )


def gate(xtask, root, protocol, timing, *more):
    """One run: its exit code, the failed checks' metrics, and first/gap p50 (ms)."""
    write_spec(root, protocol, *timing)
    run = subprocess.run(
        [str(xtask), "loadtest", "--no-build", "--root", str(root), "--baselines",
         str(root / "baselines"), "--out", str(root / "out"), *more],
        capture_output=True, text=True, cwd=root,
    )
    summary = json.loads((root / "out" / "summary.json").read_text())
    spec = summary["specs"][0]
    failed = sorted({c["metric"] for c in spec["checks"] if c["outcome"] == "fail"})
    stream = (spec.get("summary") or {}).get("total", {}).get("stream") or {}
    first = stream.get("first_message_us", {}).get("p50", 0) / 1000
    gap = stream.get("message_gap_us", {}).get("p50", 0) / 1000
    return run.returncode, failed, first, gap


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--protocol", choices=sorted(REQUESTS), default="sse")
    parser.add_argument("--no-hog", action="store_true")
    parser.add_argument("--xtask", default=str(ROOT / "target" / "debug" / "xtask"))
    args = parser.parse_args()
    if not (PYTHONPATH / "aiohttp").exists():
        sys.exit(f"{PYTHONPATH} has no aiohttp: run `cargo xtask test` once (it installs it)")
    with tempfile.TemporaryDirectory(prefix="stream-gate-") as tmp:
        root = Path(tmp)
        for sub in ["loadspec", "baselines", "out"]:
            (root / sub).mkdir()
        (root / "Cargo.toml").write_text("")
        code, _, first, gap = gate(args.xtask, root, args.protocol, (50, 20), "--update-baselines")
        print(f"baseline: exit {code}, first message p50 {first:.2f} ms, gap p50 {gap:.2f} ms")
        if code != 0:
            sys.exit("the baseline run failed")
        hog = None if args.no_hog else subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
        cases = [("unchanged", (50, 20), None), ("gaps 40 ms", (50, 40), "message_gap_p50"),
                 ("first at 100 ms", (100, 20), "first_message_p50")]
        counts = {name: 0 for name, _, _ in cases}
        try:
            for i in range(args.runs):
                for name, timing, metric in cases:
                    code, failed, first, gap = gate(args.xtask, root, args.protocol, timing)
                    print(f"run {i + 1} {name}: exit {code}, failed {failed or '-'}, "
                          f"first p50 {first:.2f} ms, gap p50 {gap:.2f} ms")
                    if metric is None:
                        counts[name] += code != 0
                    else:
                        counts[name] += code == 1 and metric in failed
        finally:
            if hog:
                hog.terminate()
                hog.wait()
    print(f"{args.protocol}, {'no hog' if args.no_hog else 'beside yes'}, load average "
          f"{os.getloadavg()[0]:.1f}: unchanged alarms {counts['unchanged']}/{args.runs}, "
          f"40 ms gaps caught {counts['gaps 40 ms']}/{args.runs}, "
          f"first at 100 ms caught {counts['first at 100 ms']}/{args.runs}")
    ok = counts["unchanged"] == 0 and counts["gaps 40 ms"] == counts["first at 100 ms"] == args.runs
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
