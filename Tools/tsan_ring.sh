#!/bin/sh
# Runs the SPSC ring buffer tests (including the two-thread stress test) under ThreadSanitizer.
# Usage: Tools/tsan_ring.sh [extra swift test arguments]
# Builds into .build-tsan (git-ignored); the first run compiles the whole package with TSan (a few minutes).
# Exit status is swift test's: 0 when every RingBuffer test passes and TSan reports no race.
set -eu
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
cd "$(dirname "$0")/.."
# halt_on_error makes any race fail the run instead of only printing a report.
TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}" exec swift test --sanitize=thread --filter RingBuffer --scratch-path .build-tsan "$@"
