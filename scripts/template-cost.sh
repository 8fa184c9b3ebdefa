#!/usr/bin/env bash
# What does template expansion cost? Runs two specs that send the same shape of request to the
# demo service's /echo at full speed (32 users, no think time): one with fixed text, one whose
# body and header are templates (a data-file row, a UUID, a random int, a random string).
# Interleaved over ROUNDS rounds of DURATION each against one service started here on
# 127.0.0.1; prints each round's requests/s and the median ratio templated / fixed.
#
#   scripts/template-cost.sh [ROUNDS] [DURATION_SECONDS]    (default 3 rounds of 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-10}

cargo build --release --workspace --bins --quiet
work=$(mktemp -d)
target/release/demo-service --port 0 >"$work/service.log" 2>&1 &
service=$!
trap 'kill $service 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  url=$(sed -n 's/^demo-service listening on //p' "$work/service.log")
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { cat "$work/service.log"; exit 1; }

spec() { # name, headers, json
  cat >"$work/$1.toml" <<SPEC
name = "$1"
[load]
users = 32
warmup = "1s"
duration = "${duration}s"
[data]
file = "loadspec/data/messages.jsonl"
[[request]]
name = "echo"
method = "POST"
path = "/echo"
headers = $2
json = $3
SPEC
}
spec fixed '{ X-Request = "Kx7Qm2Pz9Lw4Rt8Yv1Nb6Hc3Jd5Fg0Sa" }' \
  '{ text = "Hi team, the build on main is green again. Thanks, Kim #4013", id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427", n = 482913 }'
spec templated '{ X-Request = "${random.string(32)}" }' \
  '{ text = "${row.text}", id = "${uuid}", n = "${random.int(1, 999999)}" }'

measure() { # name → "requests/s generator-CPU-µs-per-request"
  target/release/xtask loadtest --no-build --target "$url" --baselines "$work/baselines" \
    --out "$work/out-$1" "$work/$1.toml" >"$work/$1.console" 2>&1 || { cat "$work/$1.console"; exit 1; }
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["specs"][0]["summary"]; print(s["total"]["rps"], s["generator"]["cpu_per_request_us"])' \
    "$work/out-$1/summary.json"
}
ratios=()
for ((round = 1; round <= rounds; round++)); do
  read -r fixed fixed_cpu <<<"$(measure fixed)"
  read -r templated templated_cpu <<<"$(measure templated)"
  ratio=$(python3 -c "print(f'{$templated / $fixed:.3f}')")
  ratios+=("$ratio")
  printf 'round %d: fixed %.0f req/s (generator %.1f µs/req), templated %.0f req/s (%.1f µs/req), ratio %s\n' \
    "$round" "$fixed" "$fixed_cpu" "$templated" "$templated_cpu" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "median ratio templated / fixed: $median (goal: within 10 %, i.e. ≥ 0.90)"
