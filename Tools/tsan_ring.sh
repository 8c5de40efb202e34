#!/bin/sh
# Runs every cross-thread hand-off's tests under ThreadSanitizer: the SPSC rings (two-thread stress tests,
# with and without overflow) and the call session's live path (capture thread -> rings -> DSP worker pool ->
# output queue -> record side), and the fleet link's (record thread -> per-call buffers -> publisher thread ->
# libnats' ack and error-handler threads; control requests -> tasks -> replies), against a real nats-server.
# Usage: Tools/tsan_ring.sh [extra swift test arguments]
# Builds into .build-tsan (git-ignored); the first run compiles the whole package with TSan (a few minutes).
# Exit status is swift test's: 0 when every selected test passes and TSan reports no race.
set -eu
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
cd "$(dirname "$0")/.."
# halt_on_error makes any race fail the run instead of only printing a report; Tools/tsan.supp lists the reports
# about the Swift runtime that are not races (each with its reason). The daemon the end-to-end tests start inherits
# both, so a path that works from any directory is passed.
TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 suppressions=$(pwd)/Tools/tsan.supp}" exec swift test --sanitize=thread --filter 'RingBuffer|CallSession|Capture|ALSA|LiveEngine|FleetHandOff' --scratch-path .build-tsan "$@"
