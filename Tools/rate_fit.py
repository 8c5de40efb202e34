#!/usr/bin/env python3
"""Refits the syllable counter's constants (ActivityParameters in SpeechActivity.swift) on the `tune` split.

1. Runs `attune analyze FILE` with ATTUNE_SYLLABLE_FEATURES=1 on every file of the rate_eval corpus
   (rate_eval_corpus.py; audio cached in out/rate_eval). SpeechActivityAnalyzer then writes to stderr one `F` line
   per frame (index, gate, voiced, band gate, voicing seen, raw / raw / 5-tap / 9-tap nucleus envelopes) and one
   `SYLFEAT` line per segment (first and last frame, duration, frames, voiced frames, rate, strong and weak counts
   of the three detectors). The dump is cached in --cache (out/rate_fit/frames.pkl); --refresh reruns attune.
2. Replays the nucleus detectors and the per-segment choice in Python (checked against the binary: the script
   prints how many files' counts differ for the built-in constants; it must be 0), and grid-searches the few
   constants: sharp prominence, smooth prominence and spacing, the fast/slow rate thresholds, the weak-peak
   threshold and weight, and the periodicity gate (threshold 9 = tracker's voicing only) and its reach. Tune only on the tune split: the objective is the worst MAPE over
   the required groups (synthetic EN/VI clean and telephone, rate bands, real read speech) plus half the mean
   MAPE over all groups, so no single group dominates. The test split is printed for information only.
3. Prints the best few settings with per-group MAPE (tune/test, signed test error in brackets).

The pitch tracker's voicing gates the nuclei, so refit after pitch changes.

Examples:
  swift build -c release --product attune --scratch-path .build-rate-fit
  Tools/rate_fit.py --attune .build-rate-fit/release/attune --refresh
  Tools/rate_fit.py --attune .build-rate-fit/release/attune --top 10
"""
import argparse
import itertools
import json
import math
import os
import pickle
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rate_eval_corpus  # noqa: E402

REPO = os.path.dirname(HERE)
# Columns of an F line after the tag: 0 frame, 1 gates (-1 outside speech), 2 voiced, 3 band gate, 4 voicing seen,
# 5 raw envelope, 6 sharp detector's envelope (raw), 7 5-tap, 8 9-tap, 9 F0 (Hz, 0 unvoiced), 10 voicing strength,
# 11 energy (dBFS), 12 recent peak of the 5-tap envelope.
RAW, E5, E9 = 5, 7, 8
# Constants as built into SpeechActivity.swift: (envelope, prominence dB, minimum spacing frames) per detector.
CURRENT = dict(regimes=((RAW, 1.5, 5), (E5, 2.0, 5), (E9, 3.0, 10)), fast=5.5, slow=5.0, weak_db=0.75, ww=0.5, reach=3,
               periodicity=0.5)


def dump(attune, path):
    env = dict(os.environ, ATTUNE_SYLLABLE_FEATURES="1")
    proc = subprocess.run([attune, "analyze", path], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"attune analyze {path} failed ({proc.returncode}): {proc.stderr.strip()}")
    frames, segs = [], []
    for line in proc.stderr.splitlines():
        if line.startswith("F "):
            frames.append([float(x) for x in line.split()[1:]])
        elif line.startswith("SYLFEAT "):
            segs.append([float(x) for x in line.split()[1:]])
    summary = sum(json.loads(l)["syllables"] for l in proc.stdout.splitlines() if '"summary"' in l)
    return np.array(frames).reshape(-1, 13), np.array(segs).reshape(-1, 12), summary


def peaks(env, gate, window=20):
    """(frame, two-sided prominence, level) of every local maximum at a gated frame, as NucleusDetector sees them."""
    n = len(env)
    out = []
    for k in np.nonzero(gate)[0]:
        if k == 0 or k >= n - 1:
            continue
        e = env[k]
        if not (e > env[k - 1] and e >= env[k + 1]):
            continue
        left = e
        i = k - 1
        while i >= max(0, k - window) and env[i] <= e:
            left = min(left, env[i])
            i -= 1
        right = e
        i = k + 1
        while i <= min(n - 1, k + window) and env[i] <= e:
            right = min(right, env[i])
            i += 1
        out.append((k, e - max(left, right), e))
    return out


def count(pk, prom, min_frames, weak_db, state):
    """NucleusDetector.consider over one segment's peaks; `state` carries last/lastLevel/lastWeak across segments."""
    strong = weak = 0
    last, level, last_weak = state
    for k, p, e in pk:
        if p < prom:
            if p >= weak_db and k - last >= min_frames and k - last_weak >= min_frames:
                weak += 1
                last_weak = k
            continue
        if k - last_weak < min_frames and last_weak > last:
            weak -= 1
            last_weak = -10**9
        if k - last < min_frames:
            if e > level:
                last, level = k, e
        else:
            strong += 1
            last, level = k, e
    state[:] = [last, level, last_weak]
    return strong, weak


class Replay:
    def __init__(self, data):
        self.data = data
        self._peaks = {}

    def segment_peaks(self, reach, periodicity):
        if (reach, periodicity) not in self._peaks:
            from scipy.ndimage import maximum_filter1d
            table = {}
            for path, (F, S, _) in self.data.items():
                periodic = (F[:, 2] == 1) | (F[:, 10] >= periodicity)
                voiced = maximum_filter1d(periodic.astype(np.uint8), 2 * reach + 1) > 0
                gate = (F[:, 1] >= 0) & (F[:, 3] == 1) & ((F[:, 4] == 0) | voiced)
                per_env = {c: peaks(F[:, c], gate) for c in (RAW, E5, E9)}
                table[path] = [{c: [x for x in pk if int(s[0]) <= x[0] <= int(s[1])] for c, pk in per_env.items()}
                               for s in S]
            self._peaks[(reach, periodicity)] = table
        return self._peaks[(reach, periodicity)]

    def file_count(self, path, regimes, fast, slow, weak_db, ww, reach, periodicity):
        F, S, _ = self.data[path]
        segpk = self.segment_peaks(reach, periodicity)[path]
        states = [[-10**9, 0.0, -10**9] for _ in range(3)]
        rate_nuclei = rate_seconds = soft = 0.0
        for si, s in enumerate(S):
            for st in states:
                st[2] = -10**9  # openSegment forgets the last weak peak
            counts = [count(segpk[si][col], prom, mf, weak_db, states[d]) for d, (col, prom, mf) in enumerate(regimes)]
            decay = math.exp(-s[2] / 5)
            rate_nuclei = rate_nuclei * decay + counts[1][0]
            rate_seconds = rate_seconds * decay + s[2]
            rate = rate_nuclei / rate_seconds if rate_seconds > 0 else 0
            strong, weak = counts[0] if rate > fast else counts[2] if rate < slow else counts[1]
            soft += strong + ww * weak
        return math.floor(soft + 0.5)  # Swift's .rounded(): halves away from zero


CORE = lambda g: "noise" not in g and "EmoDB" not in g  # noqa: E731  (the groups the requirement names)


def score(items, counts):
    groups = {"tune": defaultdict(list), "test": defaultdict(list)}
    for it in items:
        e = (counts[it["path"]] - it["truth"]) / it["truth"]
        for g in it["groups"]:
            groups[it["split"]][g].append(e)
    table = {sp: {g: (np.mean(np.abs(v)) * 100, np.mean(v) * 100) for g, v in gs.items()} for sp, gs in groups.items()}
    tune = table["tune"]
    worst = max(m for g, (m, _) in tune.items() if CORE(g))
    mean = float(np.mean([m for m, _ in tune.values()]))
    return worst + 0.5 * mean, table


def show(label, table):
    print(label)
    for g in sorted(table["tune"]):
        a, b = table["tune"][g], table["test"].get(g, (float("nan"), float("nan")))
        print(f"    {g:34s} tune {a[0]:5.1f}%   test {b[0]:5.1f}% ({b[1]:+5.1f}%)")
    for sp in ("tune", "test"):
        print(f"    worst required group, {sp}: {max(m for g, (m, _) in table[sp].items() if CORE(g)):.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", required=True, help="attune binary (release build of this tree)")
    ap.add_argument("--workdir", default=os.path.join(REPO, "out", "rate_eval"), help="audio cache")
    ap.add_argument("--cache", default=os.path.join(REPO, "out", "rate_fit", "frames.pkl"), help="dump cache")
    ap.add_argument("--refresh", action="store_true", help="rerun attune even when the dump is cached")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--top", type=int, default=5, help="settings to print")
    ap.add_argument("--no-grid", action="store_true", help="only check the replay and show the built-in constants")
    args = ap.parse_args()

    items, _ = rate_eval_corpus.build(args.workdir, include_noisy=True, jobs=args.jobs)
    paths = sorted({it["path"] for it in items})
    if os.path.exists(args.cache) and not args.refresh:
        with open(args.cache, "rb") as f:
            data = pickle.load(f)
    else:
        print(f"running attune on {len(paths)} files ...", file=sys.stderr)
        with ThreadPoolExecutor(args.jobs) as ex:
            data = dict(zip(paths, ex.map(lambda p: dump(args.attune, p), paths)))
        os.makedirs(os.path.dirname(args.cache), exist_ok=True)
        with open(args.cache, "wb") as f:
            pickle.dump(data, f)
    replay = Replay(data)

    current = {p: replay.file_count(p, **CURRENT) for p in paths}
    mismatch = sum(1 for p in paths if current[p] != data[p][2])
    print(f"replay vs binary with the built-in constants: {mismatch} of {len(paths)} files differ "
          f"(0 expected unless the binary has other constants)")
    _, table = score(items, current)
    show("built-in constants:", table)

    if args.no_grid:
        return
    grid = itertools.product((1.5, 2.0), ((3.0, 10), (3.0, 8)), (5.0, 5.5, 6.0), (4.0, 4.5, 5.0),
                             ((0.75, 0.5), (1.0, 0.5)), (2, 3, 4), (0.45, 0.5, 0.55, 9.0))
    results = []
    for sharp, (smooth, smooth_frames), fast, slow, (weak_db, ww), reach, periodicity in grid:
        if slow > fast:
            continue
        cfg = dict(regimes=((RAW, sharp, 5), (E5, 2.0, 5), (E9, smooth, smooth_frames)), fast=fast, slow=slow,
                   weak_db=weak_db, ww=ww, reach=reach, periodicity=periodicity)
        obj, table = score(items, {p: replay.file_count(p, **cfg) for p in paths})
        results.append((obj, cfg, table))
    results.sort(key=lambda r: r[0])
    for obj, cfg, table in results[: args.top]:
        show(f"objective {obj:.2f}: {cfg}", table)


if __name__ == "__main__":
    main()
