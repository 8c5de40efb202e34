#!/usr/bin/env python3
"""Shows that wide-band input gives the pitch, energy and rate figures of the same speech at 16 kHz.

The espeak-ng speech of Tools/speed_compare.py is written at 16 kHz and, resampled by sox, at 44.1 and 48 kHz.
`attune analyze --frames` runs on each; the wide-band runs are compared with the 16 kHz run frame by frame
(F0 in cents where both are voiced, voiced/unvoiced and speech/pause flags, energy_db above -60 dBFS) and by
their summaries (syllables, speech and articulation rate, median F0). With --baseline, a second attune binary
(e.g. the build before a resampler change) is run on the same files: its wide-band runs against its own 16 kHz
run, and against this binary's wide-band runs.

Energy moves a little on frames whose energy lies near 8 kHz (fricatives): sox's upsampling keeps 95 % of the
8 kHz band and the 16 kHz analysis resampler 91 %, so what lies above ~7.3 kHz is not in the wide-band runs.

Usage: Tools/wideband_check.py [--minutes 2] [--attune PATH] [--baseline PATH] [--keep DIR]
Needs: espeak-ng, sox (Debian); numpy, soundfile (pip). Exit status 1 when a wide-band run of this binary strays
from its 16 kHz run beyond the limits printed under the table.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed_compare import add_common_args, make_speech, prepared, resampled, run  # noqa: E402

# How far a wide-band run may stray from the 16 kHz run and still count as the same figures.
LIMITS = {"voiced_agree_pct": 99.5, "speech_agree_pct": 99.5, "f0_p99_cents": 5.0, "energy_p90_db": 0.2,
          "energy_p99_db": 1.0, "syllables_pct": 1.0, "rate_pct": 1.0}


def analyse(attune, path):
    out = run([attune, "analyze", path, "--frames"], capture_output=True, text=True).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    frames = sorted((r for r in records if r["type"] == "frame"), key=lambda r: (r["channel"], r["t"]))
    summary = [r for r in records if r["type"] == "summary"][0]
    return frames, summary


def compare(a, b):
    """Figures of run b against run a (frames and summaries)."""
    (fa, sa), (fb, sb) = a, b
    n = min(len(fa), len(fb))
    both = [(x["f0_hz"], y["f0_hz"]) for x, y in zip(fa[:n], fb[:n]) if x["f0_hz"] and y["f0_hz"]]
    cents = np.abs([1200 * np.log2(g / f) for f, g in both]) if both else np.zeros(1)
    loud = [abs(x["energy_db"] - y["energy_db"]) for x, y in zip(fa[:n], fb[:n])
            if max(x["energy_db"], y["energy_db"]) > -60]
    return {
        "frames": f"{len(fb)}/{len(fa)}",
        "voiced_agree_pct": 100 * np.mean([(x["f0_hz"] is None) == (y["f0_hz"] is None) for x, y in zip(fa[:n], fb[:n])]),
        "speech_agree_pct": 100 * np.mean([x["speech"] == y["speech"] for x, y in zip(fa[:n], fb[:n])]),
        "f0_p99_cents": float(np.percentile(cents, 99)),
        "f0_max_cents": float(np.max(cents)),
        "energy_p90_db": float(np.percentile(loud, 90)) if loud else 0.0,
        "energy_p99_db": float(np.percentile(loud, 99)) if loud else 0.0,
        "syllables_pct": 100 * abs(sb["syllables"] - sa["syllables"]) / max(sa["syllables"], 1),
        "rate_pct": 100 * max(abs(sb[k] - sa[k]) / max(sa[k], 1e-9) for k in ("speech_rate_sps", "articulation_rate_sps")),
        "syllables": f"{sb['syllables']}/{sa['syllables']}",
        "f0_median": f"{sb['f0_median_hz']}/{sa['f0_median_hz']}",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="length of the test speech (default 2)")
    add_common_args(ap, "a second attune binary, run on the same files for comparison")
    args = ap.parse_args()
    with prepared(args, "attune-wideband-") as (attune, work):
        base = os.path.join(work, "speech-16k.wav")
        sf.write(base, make_speech(work, args.minutes), 16000, subtype="PCM_16")
        reference = analyse(attune, base)
        baseline_reference = analyse(args.baseline, base) if args.baseline else None
        rows = []
        for rate in (44100, 48000):
            path = resampled(work, base, rate)
            wide = analyse(attune, path)
            rows.append((f"{rate / 1000:g} kHz vs 16 kHz", compare(reference, wide)))
            if args.baseline:
                old = analyse(args.baseline, path)
                rows.append(("  baseline, same", compare(baseline_reference, old)))
                rows.append((f"{rate / 1000:g} kHz vs baseline", compare(old, wide)))
        cols = ["frames", "voiced_agree_pct", "speech_agree_pct", "f0_p99_cents", "f0_max_cents", "energy_p90_db",
                "energy_p99_db", "syllables", "rate_pct", "f0_median"]
        print(f"\n{'run':<24}" + "".join(f"{c:>17}" for c in cols))
        ok = True
        for label, r in rows:
            print(f"{label:<24}" + "".join(f"{r[c]:>17.3f}" if isinstance(r[c], float) else f"{r[c]:>17}" for c in cols))
            if not label.endswith("vs 16 kHz"):
                continue  # the baseline rows are shown for comparison; the limits hold this binary to 16 kHz
            for k, limit in LIMITS.items():
                bad = r[k] < limit if k.endswith("agree_pct") else r[k] > limit
                if bad:
                    ok = False
                    print(f"  MOVED on {label}: {k} = {r[k]:.3f} (limit {limit})")
        print("\nlimits: " + ", ".join(f"{k} {'≥' if k.endswith('agree_pct') else '≤'} {v}" for k, v in LIMITS.items()))
        print("every wide-band run within the limits of the 16 kHz run" if ok
              else "some wide-band figures outside the limits")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
