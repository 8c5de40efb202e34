#!/usr/bin/env bash
# Runs the accuracy and speed comparisons named below on a release build, one after the other,
# and leaves their tables in out/evaluation-<date>.txt. Takes roughly 15–30 minutes on 2 cores.
#   Tools/evaluate_all.sh            all of them
#   Tools/evaluate_all.sh speed      only the named ones (pitch, pitch-real, rate, rate-heldout, speed, wideband, memory,
#                                    emotion: Tools/emotion_eval.py on EmoDB as recorded, then with --condition tel)
#   Tools/evaluate_all.sh load soak  the daemon's load sweep and 10,000-call soak (optional, never in the default set;
#                                    load takes ~10 minutes, soak ~5-20; run them on a quiet machine)
set -euo pipefail
. "$(dirname "$0")/usage.sh"
known=" pitch pitch-real rate rate-heldout speed wideband memory emotion load soak "
unknown="(pitch, pitch-real, rate, rate-heldout, speed, wideband, memory, emotion, load, soak)"
# Names are checked before anything is installed or built: a typo or --help costs nothing.
for name in "$@"; do
    if [[ "$name" == -h || "$name" == --help ]]; then
        usage
        exit 0
    fi
    if [[ "$known" != *" $name "* ]]; then
        echo "unknown evaluation '$name' $unknown" >&2
        exit 64
    fi
done
cd "$(dirname "$0")/.."
Tools/setup --eval
swift build -c release --product attune >/dev/null
attune="$(swift build -c release --show-bin-path)/attune"
attuned="$(swift build -c release --show-bin-path)/attuned"
if [[ " $* " == *" load "* || " $* " == *" soak "* ]]; then swift build -c release --product attuned >/dev/null; fi
mkdir -p out
log="out/evaluation-$(date +%Y%m%d-%H%M%S).txt"
which=("$@")
[[ ${#which[@]} -eq 0 ]] && which=(pitch pitch-real rate rate-heldout speed wideband memory emotion)
status=0
run() {
    echo "== $name: $*" | tee -a "$log"
    "$@" 2>&1 | tee -a "$log" || status=1
}
for name in "${which[@]}"; do
    case "$name" in
        pitch)  cmd=(python3 Tools/pitch_eval.py --attune "$attune" --seed 2026) ;;
        pitch-real) cmd=(python3 Tools/pitch_eval_real.py --attune "$attune" --split test --by-group) ;;
        rate)   cmd=(python3 Tools/rate_eval.py --attune "$attune" --split test) ;;
        rate-heldout) cmd=(python3 Tools/rate_eval.py --heldout --attune "$attune") ;;
        speed)  cmd=(python3 Tools/speed_compare.py --attune "$attune") ;;
        wideband) cmd=(python3 Tools/wideband_check.py --attune "$attune") ;;
        memory) cmd=(python3 Tools/memory_check.py --attune "$attune") ;;
        load)   cmd=(python3 Tools/load.py --attuned "$attuned" --sweep 100,200,400,700,1000) ;;
        soak)   cmd=(python3 Tools/soak.py --attuned "$attuned") ;;
        emotion) cmd=(python3 Tools/emotion_eval.py --attune "$attune") ;;
        *) echo "unknown evaluation '$name' $unknown" >&2; exit 64 ;;
    esac
    run "${cmd[@]}"
    # The emotion events once more on the telephone line a call center's tap delivers.
    if [[ "$name" == emotion ]]; then run "${cmd[@]}" --condition tel; fi
done
echo "tables saved in $log"
exit $status
