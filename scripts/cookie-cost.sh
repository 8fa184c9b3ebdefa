#!/usr/bin/env bash
# What does the per-user cookie jar cost the generator? Generator CPU per request (user + system
# from /proc of the loadgate process, as summary.json's `generator.cpu_per_request_us`) at full
# speed (32 users, no think time) against one demo service started here on 127.0.0.1, for two
# pairs of specs, interleaved over ROUNDS rounds of DURATION each:
#
#   unused:  GET / and /status (no answer sets a cookie), `cookies` on (the default) vs `false`:
#            what the jar costs a spec that never gets a cookie.
#   session: each user logs in (the answer sets `sid`), then GET /me, which needs the cookie:
#            the jar (on) vs the hand-written way without it (`cookies = false`, the Set-Cookie
#            header captured and sent back as a `Cookie` header).
#
# Prints each round's figures and the median ratio on / off per pair (goal: at most 1.10).
#
#   scripts/cookie-cost.sh [ROUNDS] [DURATION_SECONDS]    (default 3 rounds of 10 s)
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

spec() { # name, cookies, the rest
  cat >"$work/$1.toml" <<SPEC
name = "$1"
[load]
users = 32
warmup = "1s"
duration = "${duration}s"
[defaults]
cookies = $2
$3
[gate]
error_rate = { max = "0%" }
SPEC
}
unused='[[request]]
name = "home"
weight = 3
path = "/"
[[request]]
name = "status"
path = "/status"'
login='[[on_start]]
name = "login"
method = "POST"
path = "/login"
json = { user = "user-${user.id}" }'
spec unused-on true "$unused"
spec unused-off false "$unused"
spec session-on true "$login
[[request]]
name = \"me\"
path = \"/me\""
spec session-off false "$login
capture = { sid = \"header:Set-Cookie\" }
[[request]]
name = \"me\"
path = \"/me\"
headers = { Cookie = \"\${user.sid}\" }"

measure() { # name → generator CPU µs per request
  target/release/xtask loadtest --no-build --target "$url" --baselines "$work/baselines" \
    --out "$work/out-$1" "$work/$1.toml" >"$work/$1.console" 2>&1 || { cat "$work/$1.console"; exit 1; }
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["specs"][0]["summary"]; print(s["generator"]["cpu_per_request_us"], s["total"]["rps"])' \
    "$work/out-$1/summary.json"
}
declare -A ratios
for ((round = 1; round <= rounds; round++)); do
  for pair in unused session; do
    read -r on on_rps <<<"$(measure "$pair-on")"
    read -r off off_rps <<<"$(measure "$pair-off")"
    ratio=$(python3 -c "print(f'{$on / $off:.3f}')")
    ratios[$pair]+="$ratio "
    printf 'round %d %-8s cookies on %.1f µs/req (%.0f req/s), off %.1f µs/req (%.0f req/s), ratio %s\n' \
      "$round" "$pair" "$on" "$on_rps" "$off" "$off_rps" "$ratio"
  done
done
for pair in unused session; do
  median=$(printf '%s\n' ${ratios[$pair]} | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  echo "$pair: median generator CPU per request, cookies on / off: $median (goal: at most 1.10)"
done
