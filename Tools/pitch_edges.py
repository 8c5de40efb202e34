#!/usr/bin/env python3
"""Where a pitch tracker's voicing errors on real speech sit: at the first and last frames of voiced runs or inside
them, for attune against SPTK RAPT, on the 8 kHz μ-law telephone version of real EmoDB speech (or on the clean
16 kHz original with --condition clean).

Reference: Praat and RAPT on the clean 16 kHz audio (Tools/pitch_eval_real.py's two-tracker consensus: voiced
where both are voiced within 5 %, unvoiced where both are unvoiced, the rest left out; with --voicing-reference,
voiced where both are voiced whatever their values, which keeps more of the runs' edges). RAPT is part of that
reference, so its figures here are flattered; attune is not. The question this tool answers is not "how good"
(pitch_eval_real.py does that) but "where": a tracker that starts its voiced runs late and ends them late has
as many misses as one that drops frames inside runs, and needs a different fix.

Files: every whole and cut EmoDB file of the chosen speakers (the 4-per-speaker subset of pitch_eval_real.py is
too small for edge statistics). Only the tune speakers of pitch_eval_real.py (03 10 male, 08 09 13 female) may
be used while changing the tracker; --speakers test exists to report a finished change, never to tune it.

Prints per sex: miss and false-voicing rates of attune and RAPT over the kept frames; for the voiced runs of the
reference (5 frames or longer), how often each tracker misses the run's first, second, last and second-to-last
frame, and how often it is voiced one and two frames outside the run; and for attune's missed first frames, its
reported voicing (periodicity) quantiles against those of the first frames it did voice.

Example (the figures in Tools/results/2026-12-01-session9.md):
  python3 Tools/pitch_edges.py --attune .build-eval/release/attune --cache /tmp/pitch_edges
"""

import argparse
import concurrent.futures
import csv
import os
import sys

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emodb_splits  # noqa: E402
import pitch_eval as pe  # noqa: E402
import pitch_eval_real as per  # noqa: E402
import pitch_eval_synth as synth  # noqa: E402

SPEAKERS = {"tune": per.SPLITS["tune"]["emodb"], "test": per.SPLITS["test"]["emodb"]}


def analyse_file(row, args):
    name = row["file"][:-4]
    stem, x16, n, clean, cached = per.clean_copy(name, os.path.join(pe.EMODB, row["file"]), args.cache)
    praat = cached("praat", lambda: pe.run_praat(x16, 16000, n))
    rapt_clean = cached("rapt", lambda: pe.run_rapt(x16, 16000, n, args.cache))
    ref, kept, _ = per.consensus([praat, rapt_clean], voicing_only=args.voicing_reference)
    if args.condition == "clean":
        path, rapt = clean, rapt_clean
    else:
        path = stem + "_tel.wav"
        if not os.path.exists(path):
            rng = np.random.default_rng([11, sum(map(ord, name))])
            y, fs = synth.telephone(x16, rng, voiced=ref > 0)
            sf.write(path, y, fs, subtype="ULAW")
        y, fs = sf.read(path, dtype="float64")
        rapt = cached("tel_rapt", lambda: pe.run_rapt(y, fs, n, args.cache))
    f0, voicing = pe.run_attune(args.attune, path, n, voicing=True)
    return row["gender"], ref, kept, f0, voicing, rapt


def runs(voiced):
    """(first, last) frame of each voiced run."""
    d = np.diff(np.concatenate([[0], voiced.astype(int), [0]]))
    return zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0] - 1)


def report(sex, results):
    kept_n = miss_a = miss_r = fv_a = fv_r = 0
    edges = {k: [0, 0] for k in ("first", "second", "second-last", "last", "before -1", "before -2", "after +1", "after +2")}
    run_count = 0
    missed_first, voiced_first = [], []
    for ref, kept, f0, voicing, rapt in results:
        voiced = (ref > 0) & kept
        kept_n += kept.sum()
        miss_a += (voiced & (f0 <= 0)).sum()
        miss_r += (voiced & (rapt <= 0)).sum()
        fv_a += (kept & (ref <= 0) & (f0 > 0)).sum()
        fv_r += (kept & (ref <= 0) & (rapt > 0)).sum()
        for s, e in runs(ref > 0):
            if e - s < 4 or s < 2 or e + 2 >= len(ref) or not (kept[s] and kept[e]):
                continue
            run_count += 1
            for key, k, want_voiced in (("first", s, True), ("second", s + 1, True), ("second-last", e - 1, True),
                                        ("last", e, True), ("before -1", s - 1, False), ("before -2", s - 2, False),
                                        ("after +1", e + 1, False), ("after +2", e + 2, False)):
                # Inside the run: share missed; outside it: share voiced.
                edges[key][0] += (f0[k] <= 0) if want_voiced else (f0[k] > 0)
                edges[key][1] += (rapt[k] <= 0) if want_voiced else (rapt[k] > 0)
            (missed_first if f0[s] <= 0 else voiced_first).append(voicing[s])
    print("%s: %d files, %d kept frames, %d voiced runs" % (sex, len(results), kept_n, run_count))
    print("  miss / false voicing, %% of kept frames: attune %.2f / %.2f, RAPT %.2f / %.2f"
          % (100 * miss_a / kept_n, 100 * fv_a / kept_n, 100 * miss_r / kept_n, 100 * fv_r / kept_n))
    print("  run edges, attune / RAPT: " + ", ".join(
        "%s %s %.2f / %.2f" % (k, "missed" if k in ("first", "second", "second-last", "last") else "voiced",
                               v[0] / run_count, v[1] / run_count) for k, v in edges.items()))
    q = [0.1, 0.25, 0.5, 0.75, 0.9]
    print("  attune's voicing at first frames it missed (%d), quantiles 10/25/50/75/90: %s; at those it voiced (%d): %s"
          % (len(missed_first), np.round(np.quantile(missed_first, q), 2), len(voiced_first),
             np.round(np.quantile(voiced_first, q), 2)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", required=True, help="attune binary (release build)")
    ap.add_argument("--speakers", default="tune", choices=["tune", "test"],
                    help="EmoDB speakers (default tune; test only to report a finished change)")
    ap.add_argument("--condition", default="tel", choices=["tel", "clean"])
    ap.add_argument("--cache", default=os.path.join("out", "pitch_edges"), help="degraded audio and reference tracks")
    ap.add_argument("--voicing-reference", action="store_true",
                    help="voiced where Praat and RAPT both are, whatever their values (pitch_eval_real.py's 'Praat+RAPT "
                         "voicing'), which keeps the run edges a value consensus drops")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    with open(emodb_splits.labels_csv(pe.EMODB)) as f:
        rows = [r for r in csv.DictReader(f) if r["speaker"] in SPEAKERS[args.speakers]]
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda r: analyse_file(r, args), rows))
    print("pitch_edges: %s speakers (%s), condition %s, reference Praat+RAPT %s on clean 16 kHz"
          % (args.speakers, " ".join(sorted(SPEAKERS[args.speakers])), args.condition,
             "voicing" if args.voicing_reference else "consensus"))
    for sex in ("male", "female"):
        mine = [r[1:] for r in results if r[0] == sex]
        if mine:
            report(sex, mine)


if __name__ == "__main__":
    main()
