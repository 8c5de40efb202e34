#!/bin/sh
# Regenerates the small audio samples committed under Samples/ (total well under 1 MB), from text, with
# espeak-ng (speech synthesis) and sox (resampling, band-limiting, mixing, encoding). Nothing is downloaded.
#
#   Samples/hello-16k.wav          16 kHz mono 16-bit PCM WAV: one English sentence (espeak-ng en-us).
#   Samples/xin-chao-vi-16k.flac   16 kHz mono FLAC: one Vietnamese sentence (espeak-ng vi).
#   Samples/call-8k-mulaw.wav      8 kHz μ-law STEREO WAV, ~30 s, a synthetic support call:
#                                  channel 0 = agent (espeak-ng en-us, male, steady: 175 wpm, pitch 40, amplitude 100);
#                                  channel 1 = customer (espeak-ng en+f3, female) who gets annoyed turn by turn:
#                                  level 0→3 raises speed 165→210 wpm, pitch 50→80 and amplitude 90→180 (≈ +6 dB).
#                                  Turns alternate; each turn starts a fixed gap after the previous one ends —
#                                  positive gaps are pauses (one 2 s dead-air gap while the agent "checks"),
#                                  negative gaps are overlaps (the angry customer talks over the agent's last words).
#                                  Both channels are band-limited to the telephone band (300–3400 Hz) before μ-law.
#
# Usage: Tools/make_samples.sh [OUTDIR]     (default: the repository's Samples/)
# Deterministic: espeak-ng is deterministic for a given version and sox runs with -D (no dither), so a rerun with
# the same tool versions reproduces the files byte for byte. Intermediate files go to a temporary directory.
set -eu

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
for tool in espeak-ng sox soxi awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "make_samples.sh: $tool is not installed" >&2; exit 69; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/Samples}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
SOX="sox -D -V1"

# --- hello-16k.wav ------------------------------------------------------------------------------
espeak-ng -v en-us -s 160 -w "$WORK/hello.wav" "Hello, thank you for calling. How can I help you today?"
$SOX "$WORK/hello.wav" -r 16000 -b 16 -e signed-integer "$OUT/hello-16k.wav"

# --- xin-chao-vi-16k.flac ----------------------------------------------------------------------
espeak-ng -v vi -s 150 -w "$WORK/vi.wav" "Xin chào, tôi có thể giúp gì cho bạn hôm nay?"
$SOX "$WORK/vi.wav" -r 16000 -b 16 "$OUT/xin-chao-vi-16k.flac"

# --- call-8k-mulaw.wav -------------------------------------------------------------------------
# One line per turn: CHANNEL|LEVEL|GAP_SECONDS|TEXT. LEVEL is the customer's annoyance (ignored for the agent);
# GAP is measured from the end of the previous turn (negative = overlap).
cat > "$WORK/turns.txt" <<'TURNS'
0|0|0.40|Northwind support, this is Sam. How can I help?
1|0|0.50|Hi. My internet has been down since this morning.
0|0|0.40|Sorry to hear that. What is your account number?
1|1|0.30|Four five seven, two two one. I gave it already!
0|0|2.00|Thanks. There is an outage, a technician can come on Thursday.
1|2|-0.30|Thursday? That is three days! I work from home!
0|0|0.30|I understand. I can offer you a credit.
1|3|-0.40|I don't want a credit! Fix it today, or I am cancelling!
TURNS

# Per-channel timeline: end of the last turn on each channel, and of the last turn overall.
end0=0; end1=0; last=0; i=0
: > "$WORK/parts0.txt"; : > "$WORK/parts1.txt"
while IFS='|' read -r ch level gap text; do
    i=$((i + 1))
    if [ "$ch" = 0 ]; then
        espeak-ng -v en-us -s 175 -p 40 -a 100 -w "$WORK/raw$i.wav" "$text"
    else
        speed=$((165 + level * 15)); pitch=$((50 + level * 10)); amp=$((90 + level * 30))
        espeak-ng -v en+f3 -s "$speed" -p "$pitch" -a "$amp" -w "$WORK/raw$i.wav" "$text"
    fi
    $SOX "$WORK/raw$i.wav" -r 8000 -b 16 -e signed-integer "$WORK/turn$i.wav" sinc 300-3400
    dur=$(soxi -D "$WORK/turn$i.wav")
    if [ "$ch" = 0 ]; then chend=$end0; else chend=$end1; fi
    # A turn starts GAP after the previous turn, but never before its own channel is free.
    start=$(awk -v l="$last" -v g="$gap" -v c="$chend" 'BEGIN { s = l + g; if (s < c) s = c; printf "%.4f", s }')
    silence=$(awk -v s="$start" -v c="$chend" 'BEGIN { printf "%.4f", s - c }')
    $SOX -n -r 8000 -c 1 -b 16 -e signed-integer "$WORK/sil$i.wav" trim 0 "$silence"
    echo "$WORK/sil$i.wav $WORK/turn$i.wav" >> "$WORK/parts$ch.txt"
    newend=$(awk -v s="$start" -v d="$dur" 'BEGIN { printf "%.4f", s + d }')
    if [ "$ch" = 0 ]; then end0=$newend; else end1=$newend; fi
    last=$newend
    printf 'turn %2d  ch %s  level %s  %6.2f–%6.2f s  %s\n' "$i" "$ch" "$level" "$start" "$newend" "$text"
done < "$WORK/turns.txt"

# Both channels end together, with half a second of room tone (digital silence) after the last word.
total=$(awk -v a="$end0" -v b="$end1" 'BEGIN { m = a > b ? a : b; printf "%.4f", m + 0.5 }')
for ch in 0 1; do
    if [ "$ch" = 0 ]; then chend=$end0; else chend=$end1; fi
    tail=$(awk -v t="$total" -v c="$chend" 'BEGIN { printf "%.4f", t - c }')
    $SOX -n -r 8000 -c 1 -b 16 -e signed-integer "$WORK/tail$ch.wav" trim 0 "$tail"
    # shellcheck disable=SC2046 # the part list is word-split on purpose (paths come from mktemp, no spaces)
    $SOX $(cat "$WORK/parts$ch.txt") "$WORK/tail$ch.wav" "$WORK/ch$ch.wav"
done
$SOX -M "$WORK/ch0.wav" "$WORK/ch1.wav" -e u-law -b 8 "$OUT/call-8k-mulaw.wav"

for f in hello-16k.wav xin-chao-vi-16k.flac call-8k-mulaw.wav; do
    printf '%-24s %8d bytes  %s Hz  %s ch  %6.2f s\n' "$f" "$(wc -c < "$OUT/$f")" \
        "$(soxi -r "$OUT/$f")" "$(soxi -c "$OUT/$f")" "$(soxi -D "$OUT/$f")"
done
