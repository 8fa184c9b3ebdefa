#!/usr/bin/env bash
# What `--profile` costs the service it samples: perf at 99 Hz with DWARF call graphs.
#
# Runs the demo service at two loads, each ROUNDS times without and with --profile, interleaved
# (off, on, on, off, …, so a drift of the machine weighs on both alike): a paced load
# (scripts/cpu-gate.toml: 4 users with think time, the service burning 1 ms of CPU per request,
# where the latency tells) and full speed (scripts/full-speed.toml: 32 users, no think time,
# where the throughput tells). Prints each run's requests/s, p50, p99 and the service's CPU per
# request, then the median of each with --profile over without. Target: within 5 %.
#
#   scripts/profile-overhead.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
seconds=${2:-10}

command -v perf >/dev/null || { echo "perf is not on PATH (Debian: apt-get install linux-perf)" >&2; exit 2; }
cargo build --release --workspace --bins --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # SPEC PROFILE(on|off) → "rps p50_us p99_us cpu_us_per_request samples"
  local flag=()
  [[ $2 == on ]] && flag=(--profile)
  DEMO_SERVICE_CPU_PER_REQUEST=${CPU:-0s} target/release/xtask loadtest --no-build \
    --baselines "$work/baselines" --out "$work/out" --warmup 1s --duration "${seconds}s" \
    "${flag[@]}" "$1" >"$work/console.txt" 2>&1 || true
  python3 - "$work/out/summary.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))["specs"][0]
total, service = spec["summary"]["total"], spec["summary"]["service"]
samples = (spec.get("profile") or {}).get("samples", 0)
print(f'{total["rps"]:.1f} {total["latency_us"]["p50"]} {total["latency_us"]["p99"]} '
      f'{service["cpu_per_request_us"]:.1f} {samples}')
PY
}

for workload in paced full-speed; do
  case $workload in
    paced) spec=scripts/cpu-gate.toml; export CPU=1ms ;;
    full-speed) spec=scripts/full-speed.toml; export CPU=0s ;;
  esac
  echo "== $workload ($spec), $rounds rounds of ${seconds}s each way"
  : >"$work/off.txt"; : >"$work/on.txt"
  for ((i = 1; i <= rounds; i++)); do
    order=(off on); ((i % 2 == 0)) && order=(on off)
    for mode in "${order[@]}"; do
      line=$(run "$spec" "$mode")
      echo "$line" >>"$work/$mode.txt"
      echo "round $i $mode: req/s p50µs p99µs cpuµs/req samples = $line"
    done
  done
  python3 - "$work/off.txt" "$work/on.txt" <<'PY'
import statistics, sys
off, on = ([list(map(float, l.split())) for l in open(f)] for f in sys.argv[1:])
names = ["requests/s", "p50", "p99", "service CPU/request"]
for i, name in enumerate(names):
    a, b = statistics.median(r[i] for r in off), statistics.median(r[i] for r in on)
    print(f"  {name:<20} off {a:>10.1f}  on {b:>10.1f}  on/off {b / a:.3f}")
print(f"  samples per run with --profile: median {statistics.median(r[4] for r in on):.0f}")
PY
done
