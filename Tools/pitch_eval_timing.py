#!/usr/bin/env python3
"""Whole-engine speed of `attune analyze` on 10 minutes of speech, at 8 kHz μ-law and 16 kHz.

The audio is EmoDB utterances (male and female, shuffled) concatenated to --minutes, written to a
temporary directory. Each binary analyses each file --runs times without --frames; the best wall time is
kept. With --baseline (a build whose PitchTracker is the trivial placeholder) the difference is the pitch
stage's own cost per frame.

Example:
  python3 Tools/pitch_eval_timing.py --attune .build-pitch-rel/release/attune \\
      --baseline /tmp/attune_placeholder/.build-rel/release/attune
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emodb_splits  # noqa: E402
import pitch_eval_synth as synth  # noqa: E402

# EmoDB lives in the workspace's shared/ folder, beside the repository (never inside it); ATTUNE_EMODB overrides.
EMODB = emodb_splits.EMODB


def make_audio(minutes, workdir, seed):
    rng = np.random.default_rng(seed)
    pieces, total = [], 0
    sources = synth.pick_sources(EMODB, 400, rng)
    while total < minutes * 60 * 16000:
        for s in sources:
            x = synth.load_16k(s["path"])
            pieces.append(x)
            total += len(x)
            if total >= minutes * 60 * 16000:
                break
    x16 = np.concatenate(pieces)[: minutes * 60 * 16000]
    x16 = x16 / np.abs(x16).max() * 0.8
    wide = os.path.join(workdir, "speech16k.wav")
    sf.write(wide, x16, 16000, subtype="PCM_16")
    x8, _ = synth.telephone(x16, rng)
    narrow = os.path.join(workdir, "speech8k_ulaw.wav")
    sf.write(narrow, x8, 8000, subtype="ULAW")
    return [("8 kHz μ-law", narrow), ("16 kHz", wide)]


def best_time(binary, path, runs):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([binary, "analyze", path], check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", required=True, help="release attune binary to time")
    ap.add_argument("--baseline", help="release attune binary built with the placeholder PitchTracker")
    ap.add_argument("--minutes", type=int, default=10, help="audio length (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="runs per file, best kept (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="pitch_timing_")
    files = make_audio(args.minutes, workdir, args.seed)
    frames = args.minutes * 60 * 100
    print("%-12s %12s %12s %14s %14s" % ("audio", "attune s", "× real time", "µs / frame", "pitch µs/frame"))
    for name, path in files:
        t = best_time(args.attune, path, args.runs)
        pitch = ""
        if args.baseline:
            b = best_time(args.baseline, path, args.runs)
            pitch = "%.2f" % ((t - b) / frames * 1e6)
        print("%-12s %12.3f %12.0f %14.2f %14s" % (name, t, args.minutes * 60 / t, t / frames * 1e6, pitch))


if __name__ == "__main__":
    main()
