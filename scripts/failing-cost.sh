#!/usr/bin/env bash
# What do failed requests cost the generator? Runs one full-speed closed-model spec (32 users,
# no think time, GET /) against demo services started here on 127.0.0.1, in four cases:
#   healthy   every answer a 200 that passes
#   status    --fail-rate 1: every answer a 500, an unexpected status
#   expect    a 200 whose body fails `expect = { body_contains = … }`
#   dropped   --drop-rate 1: every connection closed without an answer (an I/O error; the
#             generator reconnects for each request, so this case also pays a connect)
# Interleaved over ROUNDS rounds of DURATION each; prints each run's requests/s and the
# generator's CPU per request (summary.json `generator.cpu_per_request_us`), then per case the
# median CPU per request and the median of the per-round ratios case / healthy.
#
#
#   scripts/failing-cost.sh [ROUNDS] [DURATION_SECONDS]    (default 3 rounds of 8 s)
#   OTHER=path/to/xtask scripts/failing-cost.sh …
# OTHER also measures every case with another build of the gate (a copy of an earlier
# target/release/xtask), in the same rounds, as `case@other`: before and after a change.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-8}
cases=(healthy status expect dropped)
if [[ -n "${OTHER:-}" ]]; then
  cases+=(healthy@other status@other expect@other dropped@other)
fi

cargo build --release --workspace --bins --quiet
work=$(mktemp -d)
services=()
trap 'kill "${services[@]}" 2>/dev/null; rm -rf "$work"' EXIT

start_service() { # name, flags… → sets url_<name>
  local name=$1 url=""
  shift
  target/release/demo-service --port 0 "$@" >"$work/$name.log" 2>&1 &
  services+=($!)
  for _ in $(seq 50); do
    url=$(sed -n 's/^demo-service listening on //p' "$work/$name.log")
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { cat "$work/$name.log"; exit 1; }
  printf -v "url_$name" '%s' "$url"
}
start_service healthy
start_service failing --fail-rate 1
start_service dropping --drop-rate 1

spec() { # name, extra request lines
  cat >"$work/$1.toml" <<SPEC
name = "$1"
[load]
users = 32
warmup = "1s"
duration = "${duration}s"
[[request]]
name = "home"
path = "/"
$2
SPEC
}
spec healthy ''
spec status ''
spec expect 'expect = { body_contains = "not in the answer" }'
spec dropped ''

url_of() { # case → the service it runs against
  case ${1%@other} in
    healthy | expect) echo "$url_healthy" ;;
    status) echo "$url_failing" ;;
    dropped) echo "$url_dropping" ;;
  esac
}

measure() { # case → "requests/s failures generator-CPU-µs-per-request"
  local code=0 xtask=target/release/xtask
  [[ $1 == *@other ]] && xtask=$OTHER
  "$xtask" loadtest --no-build --target "$(url_of "$1")" --baselines "$work/baselines" \
    --out "$work/out-$1" "$work/${1%@other}.toml" >"$work/$1.console" 2>&1 || code=$?
  # 1 is a failed gate, expected when every request fails; anything else is a broken run.
  ((code <= 1)) || { cat "$work/$1.console"; exit 1; }
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["specs"][0]["summary"]; print(s["total"]["rps"], s["total"]["failures"], s["generator"]["cpu_per_request_us"])' \
    "$work/out-$1/summary.json"
}

declare -A cpu
for ((round = 1; round <= rounds; round++)); do
  line="round $round:"
  for case in "${cases[@]}"; do
    read -r rps failures cpu_us <<<"$(measure "$case")"
    cpu[$case,$round]=$cpu_us
    line+=$(printf ' %s %.0f req/s (%s failed) %.2f µs/req;' "$case" "$rps" "$failures" "$cpu_us")
  done
  echo "$line"
done

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for case in "${cases[@]}"; do
  values=() ratios=()
  healthy=healthy${case#"${case%@other}"} # the healthy case of the same build
  for ((round = 1; round <= rounds; round++)); do
    values+=("${cpu[$case,$round]}")
    ratios+=("$(python3 -c "print(f'{${cpu[$case,$round]} / ${cpu[$healthy,$round]}:.3f}')")")
  done
  printf '%-14s median %.2f µs/req, median ratio to %s %s\n' "$case" \
    "$(printf '%s\n' "${values[@]}" | median)" "$healthy" "$(printf '%s\n' "${ratios[@]}" | median)"
done
echo "goal: status and expect ≤ 1.20 × healthy"
