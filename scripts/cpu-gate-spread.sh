#!/usr/bin/env bash
# How steady is service_cpu_per_request, and does it catch a 30 % costlier request?
#
# Records a baseline of scripts/cpu-gate.toml with the demo service burning 1 ms of CPU per
# request, runs it unchanged N times (default 10) and once at 1.3 ms, and prints the CPU per
# request and verdict of each run with the spread. Exits 1 unless every unchanged run passed and
# the costlier one failed.
#
#   scripts/cpu-gate-spread.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}

cargo build --release --workspace --bins --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gate() { # COST → prints "cpu_per_request_us exit_code"
  local code=0
  DEMO_SERVICE_CPU_PER_REQUEST=$1 target/release/xtask loadtest --no-build \
    --baselines "$work/baselines" --out "$work/out" "${@:2}" scripts/cpu-gate.toml >"$work/console.txt" 2>&1 || code=$?
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["specs"][0]["summary"]["service"]["cpu_per_request_us"], sys.argv[2])' \
    "$work/out/summary.json" "$code"
}

read -r base code < <(gate 1ms --update-baselines)
echo "baseline (1 ms/request): ${base} µs/request, exit ${code}"
failures=0
values=()
for ((i = 1; i <= runs; i++)); do
  read -r value code < <(gate 1ms)
  values+=("$value")
  echo "run $i (unchanged):      ${value} µs/request, exit ${code}"
  [[ $code == 0 ]] || failures=$((failures + 1))
done
read -r costlier code < <(gate 1.3ms)
echo "costlier (1.3 ms):       ${costlier} µs/request, exit ${code}"

python3 - "$base" "${values[@]}" <<'PY'
import statistics, sys
base, *runs = map(float, sys.argv[1:])
changes = [(v - base) / base * 100 for v in runs]
print(f"unchanged runs vs baseline: min {min(changes):+.1f} %, max {max(changes):+.1f} %, "
      f"stdev {statistics.stdev(runs) / statistics.mean(runs) * 100:.1f} % of the mean")
PY
echo "unchanged runs failing: ${failures}/${runs}; costlier run exit ${code} (1 expected)"
[[ $failures == 0 && $code == 1 ]]
