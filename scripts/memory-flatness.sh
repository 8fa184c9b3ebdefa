#!/usr/bin/env bash
# Does the generator's memory stay flat however long a run lasts?
#
# Runs scripts/full-speed.toml (32 users, no think time, 60 s against the demo service on
# 127.0.0.1) and samples the gate process's resident memory (VmRSS) every second. Prints the
# RSS after 10 s and at the end and the growth between them; exits 1 when it is 10 % or more.
#
#   scripts/memory-flatness.sh [DURATION_SECONDS]    (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}

cargo build --release --workspace --bins --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

target/release/xtask loadtest --no-build --duration "${duration}s" \
  --baselines "$work/baselines" --out "$work/out" scripts/full-speed.toml >"$work/console.txt" 2>&1 &
gate=$!

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$gate/status" 2>/dev/null || true; }
: >"$work/samples"
for ((second = 1; ; second++)); do
  sleep 1
  rss=$(rss_kib)
  [[ -z "$rss" ]] && break
  echo "$second $rss" >>"$work/samples"
done
wait "$gate" || { cat "$work/console.txt"; echo "the run failed" >&2; exit 1; }

grep -E '^  (total|request)' "$work/console.txt"
awk -v duration="$duration" '
  { rss[$1] = $2; last = $1 }
  $1 <= duration && $2 > peak { peak = $2 }
  END {
    start = rss[10]; end = rss[(duration < last ? duration : last)]
    growth = (end - start) / start * 100
    printf "generator RSS: %.1f MiB after 10 s, %.1f MiB at %d s, peak %.1f MiB: growth %+.1f %%\n",
      start / 1024, end / 1024, (duration < last ? duration : last), peak / 1024, growth
    exit (growth < 10 ? 0 : 1)
  }' "$work/samples"
