#!/usr/bin/env bash
# Can the open model keep its rate? For each target rate (default 200 1000 5000 10000), runs a
# 10 s open-model load against the demo service on 127.0.0.1 and prints the rate sent, the rate
# of completed requests, late sends and the verdict (4 = the schedule was not kept).
#
#   scripts/open-model-rates.sh [RATE…]
set -euo pipefail
cd "$(dirname "$0")/.."
rates=("$@")
[[ ${#rates[@]} -gt 0 ]] || rates=(200 1000 5000 10000)

cargo build --release --workspace --bins --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%8s  %10s  %10s  %8s  %6s  %10s  %4s\n' target sent/s done/s "vs target" late "max late" exit
for rate in "${rates[@]}"; do
  cat >"$work/rate.toml" <<SPEC
name = "rate"
[service]
command = ["target/release/demo-service", "--port", "{port}"]
ready = { http = "/health", timeout = "30s" }
[load]
model = "open"
rate = $rate.0
warmup = "1s"
duration = "10s"
[[request]]
name = "home"
path = "/"
SPEC
  code=0
  target/release/xtask loadtest --no-build --baselines "$work/baselines" --out "$work/out" "$work/rate.toml" \
    >"$work/console.txt" 2>&1 || code=$?
  python3 - "$work/out/summary.json" "$code" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))["specs"][0]["summary"]
s = summary["schedule"]
print(f'{s["target_rps"]:8.0f}  {s["achieved_rps"]:10.1f}  {summary["total"]["rps"]:10.1f}  '
      f'{(summary["total"]["rps"] / s["target_rps"] - 1) * 100:+7.2f}%  {s["late_fraction"] * 100:5.2f}%  '
      f'{s["max_late_us"] / 1000:8.2f}ms  {sys.argv[2]:>4}')
PY
done
