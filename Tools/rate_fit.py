#!/usr/bin/env python3
"""Refits the syllable counter's constants (ActivityParameters in SpeechActivity.swift) on the `tune` split.

1. Runs `attune analyze FILE` with ATTUNE_SYLLABLE_FEATURES=1 on every file of the rate_eval corpus
   (rate_eval_corpus.py; audio cached in out/rate_eval). SpeechActivityAnalyzer then writes to stderr one `F` line
   per frame (index, gate, voiced, band gate, voicing seen, raw / raw / 5-tap / 9-tap nucleus envelopes) and one
   `SYLFEAT` line per segment (first and last frame, duration, frames, voiced frames, rate, strong and weak counts
   of the three detectors). The dump is cached in --cache (out/rate_fit/frames.pkl); --refresh reruns attune.
2. Replays the nucleus detectors and the per-segment blend in Python (checked against the binary: the script
   prints how many files' counts differ for the built-in constants; it must be 0).
3. --fit-blend: fits SyllableBlend's weights (six counts: strong and weak peaks of the sharp, middle and smooth
   detectors, with weights linear between rate knots) by ridge regression of the true count on the tune split,
   pulled towards a hard switch between detectors, and prints them as a Swift literal with per-group MAPE on the
   tune and test splits and, with --heldout, on the held-out corpus (rate_eval.py --heldout).
4. --grid: searches the detector constants (sharp prominence, smooth prominence and spacing, weak-peak threshold,
   periodicity gate and reach), fitting a blend for each. Tune only on the tune split: the objective is the worst
   MAPE over the required groups (synthetic EN/VI clean and telephone, rate bands, real read speech) plus half the
   mean MAPE over all groups, so no single group dominates.

The pitch tracker's voicing gates the nuclei, so refit after pitch changes.

Examples:
  swift build -c release --product attune --scratch-path .build-rate-fit
  Tools/rate_fit.py --attune .build-rate-fit/release/attune --refresh
  Tools/rate_fit.py --attune .build-rate-fit/release/attune --fit-blend --heldout
  Tools/rate_fit.py --attune .build-rate-fit/release/attune --grid --top 5
"""
import argparse
import itertools
import json
import math
import os
import pickle
import re
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
CURRENT = dict(regimes=((RAW, 1.5, 5), (E5, 2.0, 5), (E9, 3.0, 10)), weak_db=0.75, reach=3, periodicity=0.5)
# SyllableBlend's rate knots and weights (per count: sharp, middle, smooth strong; then weak; one weight per knot),
# read from the Swift source so the replay can never drift from the binary.
SWIFT_SOURCE = os.path.join(REPO, "Sources", "AttuneDSP", "Activity", "SpeechActivity.swift")


def swift_blend():
    with open(SWIFT_SOURCE, encoding="utf-8") as f:
        text = f.read()
    body = text[text.index("struct SyllableBlend"):]
    knots = re.search(r"var knots: \[Double\] = \[([^\]]*)\]", body).group(1)
    rows = re.search(r"var weights: \[\[Double\]\] = \[(.*?)\n    \]", body, re.S).group(1)
    weights = [[float(x) for x in row.split(",")] for row in re.findall(r"\[([^\]]*)\]", rows)]
    return np.array([float(x) for x in knots.split(",")]), np.array(weights)


KNOTS, BLEND = swift_blend()
# The blend's prior: the hard switch it replaced (sharp above 5.5 syl/s, smooth below 5.0, weak peaks worth half).
PRIOR_FAST, PRIOR_SLOW = 5.5, 5.0
RIDGE = 0.1

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

    def segment_counts(self, path, regimes, weak_db, reach, periodicity):
        """Per segment: the middle detector's recent rate and the six counts, as SpeechActivityAnalyzer has them."""
        F, S, _ = self.data[path]
        segpk = self.segment_peaks(reach, periodicity)[path]
        states = [[-10**9, 0.0, -10**9] for _ in range(3)]
        rate_nuclei = rate_seconds = 0.0
        out = []
        for si, s in enumerate(S):
            for st in states:
                st[2] = -10**9  # openSegment forgets the last weak peak
            counts = [count(segpk[si][col], prom, mf, weak_db, states[d]) for d, (col, prom, mf) in enumerate(regimes)]
            decay = math.exp(-s[2] / 5)
            rate_nuclei = rate_nuclei * decay + counts[1][0]
            rate_seconds = rate_seconds * decay + s[2]
            rate = rate_nuclei / rate_seconds if rate_seconds > 0 else 0
            out.append((rate, np.array([c[0] for c in counts] + [c[1] for c in counts], dtype=float)))
        return out


def knot_weights(rate):
    """Linear interpolation weights over KNOTS (nearest knot outside them), as SyllableBlend.syllables does."""
    r = min(max(rate, KNOTS[0]), KNOTS[-1])
    i = 0
    while i < len(KNOTS) - 2 and r >= KNOTS[i + 1]:
        i += 1
    a = (r - KNOTS[i]) / (KNOTS[i + 1] - KNOTS[i])
    w = np.zeros(len(KNOTS))
    w[i], w[i + 1] = 1 - a, a
    return w


def blend_count(segments, blend):
    soft = sum(max(0.0, float(c @ blend @ knot_weights(rate))) for rate, c in segments)
    return math.floor(soft + 0.5)  # Swift's .rounded(): halves away from zero


def fit_blend(items, segcounts, ridge=RIDGE):
    """Ridge regression of the true count on the knot-weighted counts over the tune split, each group weighted
    equally, relative error (rows divided by the truth), pulled towards the hard switch it replaced."""
    tune = [it for it in items if it["split"] == "tune"]
    per_group = defaultdict(int)
    for it in tune:
        per_group[it["groups"][0]] += 1
    rows, weights = [], []
    for it in tune:
        x = sum(np.outer(c, knot_weights(rate)).ravel() for rate, c in segcounts[it["path"]]) if segcounts[it["path"]] \
            else np.zeros(6 * len(KNOTS))
        rows.append(x / it["truth"])
        weights.append(1 / per_group[it["groups"][0]])
    w = np.sqrt(np.array(weights) / np.mean(weights))
    prior = np.zeros((6, len(KNOTS)))
    for j, r in enumerate(KNOTS):
        d = 0 if r > PRIOR_FAST else 2 if r < PRIOR_SLOW else 1
        prior[d, j], prior[3 + d, j] = 1, 0.5
    # At every knot the three strong weights add up to 1: where the detectors agree (clear syllables) the blend
    # counts exactly what they count, and only their disagreements and the weak peaks are weighed.
    agree = np.zeros((len(KNOTS), prior.size))
    for j in range(len(KNOTS)):
        agree[j, [d * len(KNOTS) + j for d in range(3)]] = 1
    a = np.vstack([np.array(rows) * w[:, None], math.sqrt(ridge) * np.eye(prior.size), 1e3 * agree])
    b = np.concatenate([w, math.sqrt(ridge) * prior.ravel(), 1e3 * np.ones(len(KNOTS))])
    return np.linalg.lstsq(a, b, rcond=None)[0].reshape(6, len(KNOTS)).round(3)


def load_dump(attune, paths, cache, refresh, jobs):
    if os.path.exists(cache) and not refresh:
        with open(cache, "rb") as f:
            data = pickle.load(f)
        if set(paths) <= set(data):
            return data
    print(f"running attune on {len(paths)} files ...", file=sys.stderr)
    with ThreadPoolExecutor(jobs) as ex:
        data = dict(zip(paths, ex.map(lambda p: dump(attune, p), paths)))
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "wb") as f:
        pickle.dump(data, f)
    return data

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


def show(label, table, heldout=None):
    print(label)
    for g in sorted(table["tune"]):
        a, b = table["tune"][g], table["test"].get(g, (float("nan"), float("nan")))
        line = f"    {g:34s} tune {a[0]:5.1f}%   test {b[0]:5.1f}% ({b[1]:+5.1f}%)"
        if heldout and g in heldout:
            line += f"   held-out {heldout[g][0]:5.1f}% ({heldout[g][1]:+5.1f}%)"
        print(line)
    for sp in ("tune", "test"):
        print(f"    worst required group, {sp}: {max(m for g, (m, _) in table[sp].items() if CORE(g)):.1f}%")
    if heldout:
        print(f"    worst required group, held-out: {max(m for g, (m, _) in heldout.items() if CORE(g)):.1f}%")


def swift_literal(blend):
    rows = ",\n".join("        [" + ", ".join(f"{x:.3f}" for x in row) + "]" for row in blend)
    return f"    var weights: [[Double]] = [\n{rows},\n    ]"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", required=True, help="attune binary (release build of this tree)")
    ap.add_argument("--workdir", default=os.path.join(REPO, "out", "rate_eval"), help="audio cache")
    ap.add_argument("--cache", default=os.path.join(REPO, "out", "rate_fit", "frames.pkl"), help="dump cache")
    ap.add_argument("--refresh", action="store_true", help="rerun attune even when the dump is cached")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--fit-blend", action="store_true", help="fit SyllableBlend's weights on the tune split")
    ap.add_argument("--heldout", action="store_true", help="also score on the held-out corpus (rate_eval.py --heldout)")
    ap.add_argument("--grid", action="store_true", help="search the detector constants, fitting a blend for each")
    ap.add_argument("--top", type=int, default=5, help="settings to print with --grid")
    args = ap.parse_args()

    items, _ = rate_eval_corpus.build(args.workdir, include_noisy=True, jobs=args.jobs)
    paths = sorted({it["path"] for it in items})
    data = load_dump(args.attune, paths, args.cache, args.refresh, args.jobs)
    replay = Replay(data)
    held_items, held = [], None
    if args.heldout:
        held_items, _ = rate_eval_corpus.build(os.path.join(REPO, "out", "rate_eval_heldout"), jobs=args.jobs, heldout=True)
        held_paths = sorted({it["path"] for it in held_items})
        held = Replay(load_dump(args.attune, held_paths, args.cache.replace(".pkl", "_heldout.pkl"), args.refresh, args.jobs))

    def evaluate(cfg, blend):
        obj, table = score(items, {p: blend_count(replay.segment_counts(p, **cfg), blend) for p in paths})
        held_table = None
        if held:
            errs = defaultdict(list)
            for it in held_items:
                e = (blend_count(held.segment_counts(it["path"], **cfg), blend) - it["truth"]) / it["truth"]
                for g in it["groups"]:
                    errs[g].append(e)
            held_table = {g: (np.mean(np.abs(v)) * 100, np.mean(v) * 100) for g, v in errs.items()}
        return obj, table, held_table

    current = {p: blend_count(replay.segment_counts(p, **CURRENT), BLEND) for p in paths}
    mismatch = sum(1 for p in paths if current[p] != data[p][2])
    print(f"replay vs binary with the built-in constants: {mismatch} of {len(paths)} files differ "
          f"(0 expected unless the binary has other constants)")
    _, table, held_table = evaluate(CURRENT, BLEND)
    show("built-in constants:", table, held_table)

    if args.fit_blend:
        blend = fit_blend(items, {p: replay.segment_counts(p, **CURRENT) for p in paths})
        _, table, held_table = evaluate(CURRENT, blend)
        show("fitted blend (SyllableBlend.weights):\n" + swift_literal(blend), table, held_table)

    if not args.grid:
        return
    grid = itertools.product((1.5, 2.0), ((3.0, 10), (3.0, 8)), (0.75, 1.0), (2, 3, 4), (0.45, 0.5, 0.55, 9.0))
    results = []
    for sharp, (smooth, smooth_frames), weak_db, reach, periodicity in grid:
        cfg = dict(regimes=((RAW, sharp, 5), (E5, 2.0, 5), (E9, smooth, smooth_frames)), weak_db=weak_db, reach=reach,
                   periodicity=periodicity)
        blend = fit_blend(items, {p: replay.segment_counts(p, **cfg) for p in paths})
        obj, table, held_table = evaluate(cfg, blend)
        results.append((obj, cfg, blend, table, held_table))
    results.sort(key=lambda r: r[0])
    for obj, cfg, blend, table, held_table in results[: args.top]:
        show(f"objective {obj:.2f}: {cfg}\n" + swift_literal(blend), table, held_table)


if __name__ == "__main__":
    main()
