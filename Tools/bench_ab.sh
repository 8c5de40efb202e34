#!/bin/sh
# Times two attune builds in turn on one file, so both see the same machine: on a shared host the speed swings by
# tens of percent within minutes, and a before/after taken minutes apart measures the host as much as the change.
# Runs `attune bench --runs 3 FILE` for A, then B, PAIRS times, and prints each build's best and median × real
# time per channel and B's gain over A (best against best, and the median of the per-pair ratios).
# Usage: Tools/bench_ab.sh A B [PAIRS (default 8)] [FILE (default Samples/call-8k-mulaw.wav)]
# Example: Tools/bench_ab.sh /tmp/attune.before .build/release/attune 8 /tmp/speech-48000.wav
set -eu
. "$(dirname "$0")/usage.sh"
check_args 2 "$@"
A=$1; B=$2; PAIRS=${3:-8}; FILE=${4:-$(dirname "$0")/../Samples/call-8k-mulaw.wav}
i=0
while [ "$i" -lt "$PAIRS" ]; do
    echo "A $("$A" bench --runs 3 "$FILE")"
    echo "B $("$B" bench --runs 3 "$FILE")"
    i=$((i + 1))
done | python3 -c '
import json, statistics, sys
runs = {"A": [], "B": []}
for line in sys.stdin:
    build, record = line.split(" ", 1)
    runs[build].append(json.loads(record)["x_realtime_per_channel"])
for build in "AB":
    print(f"{build}: best {max(runs[build]):,.0f}x, median {statistics.median(runs[build]):,.0f}x  ({len(runs[build])} runs)")
pairs = [b / a for a, b in zip(runs["A"], runs["B"])]
best = max(runs["B"]) / max(runs["A"])
print(f"B/A: best {best:.3f}, median of pairs {statistics.median(pairs):.3f}")
'
