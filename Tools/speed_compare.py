#!/usr/bin/env python3
"""Times Attune, Praat, openSMILE and SPTK's RAPT side by side on the same 10-minute recordings.

Each tool does its own full job on one core, timed the way it is used:
  attune     `attune bench FILE` — the whole engine (resampling, framing, FFT, pitch, levels, voice
             activity, syllable nuclei, segments, records) on audio already decoded into memory, best of N.
  praat      parselmouth, in-process: Sound.to_pitch_ac (10 ms step, 50–500 Hz) + Sound.to_intensity (50 Hz).
  opensmile  the Python package, in-process: eGeMAPSv02 low-level descriptors (its own fixed pitch settings).
  rapt       `sptk pitch -a 0` (RAPT, 10 ms step, 50–500 Hz) on raw float samples, wall time of the process.
The test audio is espeak-ng speech (several voices and rates, with pauses) concatenated to the length asked,
written as 16 kHz PCM, as 8 kHz μ-law telephone audio (300–3400 Hz band) and, resampled by sox, as 44.1 and
48 kHz PCM (wide-band input, which Attune resamples to its 16 kHz analysis rate).
With --baseline another attune binary (e.g. a build of the previous commit) is timed in the same run, so that
before and after see the same machine load.

Targets checked: Attune ≥ 2,000× real time on 8 kHz and ≥ 1,000× elsewhere, ≥ 3× Praat (≥ 5× at 44.1 and 48 kHz),
≥ 25× openSMILE, faster than RAPT.

Usage: Tools/speed_compare.py [--minutes 10] [--runs 3] [--attune PATH] [--baseline PATH] [--keep DIR]
Needs: espeak-ng, sox, sptk (Debian); praat-parselmouth, opensmile, numpy, soundfile (pip).
"""
import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

SENTENCES = [
    "I have been waiting for forty minutes and nobody has called me back about the refund.",
    "Could you please check the status of my order, the number is four five seven two.",
    "Thank you, that is exactly what I needed, you have been very helpful today.",
    "No, that is not what I asked for. I want to cancel the whole contract right now.",
    "Let me see, I think it was on Tuesday, or maybe Wednesday morning, I am not sure.",
    "The connection keeps dropping every evening between seven and nine o'clock.",
]
VOICES = ["en-us", "en+m3", "en+f3", "en+f2"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build_attune(repo):
    run(["swift", "build", "-c", "release", "--product", "attune"], cwd=repo, stdout=subprocess.DEVNULL)
    out = run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=repo, capture_output=True, text=True).stdout.strip()
    return os.path.join(out, "attune")


def make_speech(workdir, minutes):
    """espeak-ng utterances separated by pauses, concatenated to `minutes` of 16 kHz mono float."""
    pieces, total, i = [], 0.0, 0
    target = minutes * 60.0
    cache = {}
    while total < target:
        key = i % (len(SENTENCES) * len(VOICES))
        if key not in cache:
            wav = os.path.join(workdir, f"u{key}.wav")
            voice = VOICES[key % len(VOICES)]
            rate = 140 + 25 * (key % 5)
            run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", wav, SENTENCES[key % len(SENTENCES)]])
            x, sr = sf.read(wav, dtype="float32")
            n16 = int(round(len(x) * 16000 / sr))
            cache[key] = np.interp(np.linspace(0, len(x) - 1, n16), np.arange(len(x)), x).astype(np.float32)
        pieces.append(cache[key])
        pieces.append(np.zeros(int(16000 * (0.3 + 0.2 * (i % 4))), dtype=np.float32))
        total += (len(cache[key]) + len(pieces[-1])) / 16000
        i += 1
    x = np.concatenate(pieces)[: int(target * 16000)]
    rng = np.random.default_rng(1)
    x = x + rng.normal(0, 1e-3, len(x)).astype(np.float32)
    return 0.5 * x / np.max(np.abs(x))


def add_common_args(ap, baseline_help):
    """--attune, --baseline and --keep, shared with Tools/wideband_check.py."""
    ap.add_argument("--attune", help="attune binary (default: build it in release)")
    ap.add_argument("--baseline", help=baseline_help)
    ap.add_argument("--keep", help="keep the test audio in this directory")


@contextlib.contextmanager
def prepared(args, prefix):
    """Yields the attune binary (built in release unless given) and a directory for the test audio, removed
    afterwards unless --keep named it."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    attune = args.attune or build_attune(repo)
    work = args.keep or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    try:
        yield attune, work
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def resampled(work, path, rate):
    """`path` resampled by sox (its default, high-quality linear-phase filter) to `rate` Hz. -D: sox would add random
    dither to the 16-bit output, so every run would write other bytes."""
    out = os.path.join(work, f"speech-{rate}.wav")
    run(["sox", "-D", path, "-r", str(rate), out])
    return out


def time_attune(attune, path, runs):
    out = run([attune, "bench", "--runs", str(runs), path], capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["wall_s"]


def time_praat(path, runs):
    import parselmouth
    snd = parselmouth.Sound(path)
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        snd.to_pitch_ac(time_step=0.01, pitch_floor=50.0, pitch_ceiling=500.0)
        snd.to_intensity(minimum_pitch=50.0, time_step=0.01)
        best = min(best, time.perf_counter() - t0)
    return best


def time_opensmile(path, runs):
    import opensmile
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    x, sr = sf.read(path, dtype="float32")
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        smile.process_signal(x, sr)
        best = min(best, time.perf_counter() - t0)
    return best


def time_rapt(path, runs, workdir):
    x, sr = sf.read(path, dtype="float32")
    raw = os.path.join(workdir, os.path.basename(path) + ".f32")
    (x * 32768.0).astype("<f4").tofile(raw)
    hop = sr // 100
    best = float("inf")
    for _ in range(runs):
        with open(raw, "rb") as fin:
            t0 = time.perf_counter()
            run(["sptk", "pitch", "-a", "0", "-s", str(sr / 1000), "-p", str(hop), "-L", "50", "-H", "500", "-o", "1"],
                stdin=fin, stdout=subprocess.DEVNULL)
            best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the test recordings (default 10)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool; the fastest counts (default 3)")
    add_common_args(ap, "a second attune binary to time beside it (shown as 'before')")
    args = ap.parse_args()
    with prepared(args, "attune-speed-") as (attune, work):
        x16 = make_speech(work, args.minutes)
        wide = os.path.join(work, "speech-16k.wav")
        tel = os.path.join(work, "speech-8k-mulaw.wav")
        sf.write(wide, x16, 16000, subtype="PCM_16")
        # -D (no dither): sox dithers μ-law output with a random stream by default, so each copy would differ.
        run(["sox", "-D", wide, "-r", "8000", "-e", "u-law", tel, "sinc", "300-3400"])
        files = [("8 kHz μ-law", tel), ("16 kHz PCM", wide)]
        files += [(f"{rate / 1000:g} kHz PCM", resampled(work, wide, rate)) for rate in (44100, 48000)]
        seconds = args.minutes * 60
        rows = []
        for label, path in files:
            t = {"attune": time_attune(attune, path, args.runs)}
            if args.baseline:
                t["before"] = time_attune(args.baseline, path, args.runs)
            t.update(praat=time_praat(path, args.runs), opensmile=time_opensmile(path, args.runs),
                     rapt=time_rapt(path, args.runs, work))
            rows.append((label, t))
        print(f"\nSpeed on {args.minutes:g} min of speech, one core, best of {args.runs} (× real time; higher is faster)\n")
        before = f"{'before':>10} " if args.baseline else ""
        print(f"{'audio':<13} {before}{'attune':>10} {'praat':>10} {'opensmile':>10} {'rapt':>10}   "
              f"{'vs praat':>9} {'vs opensmile':>12} {'vs rapt':>8}")
        ok = True
        for label, t in rows:
            xr = {k: seconds / v for k, v in t.items()}
            before = f"{xr['before']:>9.0f}× " if args.baseline else ""
            print(f"{label:<13} {before}{xr['attune']:>9.0f}× {xr['praat']:>9.0f}× {xr['opensmile']:>9.0f}× {xr['rapt']:>9.0f}×   "
                  f"{t['praat'] / t['attune']:>8.1f}× {t['opensmile'] / t['attune']:>11.1f}× {t['rapt'] / t['attune']:>7.1f}×")
            need = 2000 if label.startswith("8 ") else 1000
            praat_factor = 5 if label.startswith(("44", "48")) else 3
            checks = [(xr["attune"] >= need, f"attune ≥ {need}× real time"),
                      (t["praat"] / t["attune"] >= praat_factor, f"≥ {praat_factor}× Praat"),
                      (t["opensmile"] / t["attune"] >= 25, "≥ 25× openSMILE"),
                      (t["rapt"] > t["attune"], "faster than RAPT")]
            for passed, what in checks:
                if not passed:
                    ok = False
                    print(f"  MISSED on {label}: {what}")
        print("\nall targets met" if ok else "\nsome targets missed")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
