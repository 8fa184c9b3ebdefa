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
# median and the median of the per-round ratios case / healthy. Goal (issue 15): status and
# expect within 1.20 × healthy.
#
#   scripts/failing-cost.sh [ROUNDS] [DURATION_SECONDS]    (default 3 rounds of 8 s)
#
# OTHER=/abs/path/to/xtask also measures every case with another build of the gate (a copy of
# an earlier target/release/xtask) in the same rounds, as `case@other`: before and after.
#
# CALLGRIND=1 counts instructions instead of CPU time, which a busy machine does not disturb:
# each run goes under valgrind's callgrind (8 users, and no `dropped` case), and the figure is
# the user-space instructions per request spent in the closed-model user's exchange (build,
# send, classify, record; not the kernel's share of the I/O).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-8}
callgrind=${CALLGRIND:-}
users=32
cases=(healthy status expect dropped)
unit=µs/req
if [[ -n "$callgrind" ]]; then
  users=8 cases=(healthy status expect) unit=Ir/req
fi
if [[ -n "${OTHER:-}" ]]; then
  cases+=("${cases[@]/%/@other}")
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
users = $users
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

measure() { # case → "requests/s failures cost-per-request"
  local code=0 gate=(target/release/xtask) out="$work/out-$1"
  [[ $1 == *@other ]] && gate=("$OTHER")
  [[ -n "$callgrind" ]] && gate=(valgrind --tool=callgrind "--callgrind-out-file=$work/$1.callgrind" "${gate[@]}")
  "${gate[@]}" loadtest --no-build --target "$(url_of "$1")" --baselines "$work/baselines" \
    --out "$out" "$work/${1%@other}.toml" >"$work/$1.console" 2>&1 || code=$?
  # 1 is a failed gate, expected when every request fails; anything else is a broken run.
  ((code <= 1)) || { cat "$work/$1.console"; exit 1; }
  local exchange=0
  if [[ -n "$callgrind" ]]; then
    # The inclusive cost of the user's exchange future (named `run::exchange` in older builds).
    exchange=$(callgrind_annotate --inclusive=yes "$work/$1.callgrind" |
      sed -n -E 's/^ *([0-9,]+) .*:loadgate::run::(exchange::)?exchange::\{\{closure\}\} \[.*/\1/p' |
      head -1 | tr -d ,)
  fi
  python3 - "$out/summary.json" "$exchange" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))["specs"][0]["summary"]
total, exchange = summary["total"], int(sys.argv[2])
# callgrind counts the whole run, warmup included; CPU per request is over the judged window.
everything = total["requests"] + summary["warmup"]["requests"]
cost = exchange / everything if exchange else summary["generator"]["cpu_per_request_us"]
print(total["rps"], total["failures"], cost)
PY
}

declare -A cost
for ((round = 1; round <= rounds; round++)); do
  echo "round $round:"
  for case in "${cases[@]}"; do
    read -r rps failures per_request <<<"$(measure "$case")"
    cost[$case,$round]=$per_request
    printf '  %-14s %6.0f req/s (%s failed) %8.2f %s\n' "$case" "$rps" "$failures" "$per_request" "$unit"
  done
done

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for case in "${cases[@]}"; do
  values=() ratios=()
  healthy=healthy${case#"${case%@other}"} # the healthy case of the same build
  for ((round = 1; round <= rounds; round++)); do
    values+=("${cost[$case,$round]}")
    ratios+=("$(python3 -c "print(f'{${cost[$case,$round]} / ${cost[$healthy,$round]}:.3f}')")")
  done
  printf '%-14s median %8.2f %s, median ratio to %s %s\n' "$case" \
    "$(printf '%s\n' "${values[@]}" | median)" "$unit" "$healthy" \
    "$(printf '%s\n' "${ratios[@]}" | median)"
done
echo "goal: status and expect ≤ 1.20 × healthy"
