#!/usr/bin/env python3
"""Is there a per-utterance measure that predicts the syllable count's error on EmoDB within an emotion? If one did,
a gain on it could take the emotion out of the rate (issue 10: EmoDB boredom -27 % signed). Session 24's check.

For each whole EmoDB file (the 123 rate_eval_emotion.py uses; truth from rate_eval_corpus.EMODB_SYLLABLES), it dumps
the nucleus model's inputs (ATTUNE_SYLLABLE_FEATURES=1, as rate_train.py does), and over the speech frames computes:
the level's spread (lvstd) and frame-to-frame change (lvmod) in dB, the model's density peaks (dmax, ddepth), the
measured rate, and the mean of each of the 11 model inputs (0-7 band shape, 8 level against the reference,
9 voicing strength, 10 voiced). It prints each measure's correlation with the signed error, plain and within emotion
(each emotion's mean removed from both), per half: fit 03 08 10 13 15 first, then held-out 09 11 12 14 16.

A measure is of use only if its within-emotion correlation is strong on the fit half and holds, same sign, on the
held-out half. The held-out half is read here only to refuse a choice, never to make one.

Example:
  Tools/rate_emotion_features.py --attune .build-eval/release/attune
"""
import argparse
import csv
import os
import pickle
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import emodb_splits  # noqa: E402
import rate_eval_corpus as rc  # noqa: E402
import rate_train as rt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", required=True)
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(HERE), "out", "rate_emotion_features.pkl"))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    items = []
    with open(emodb_splits.labels_csv(rc.EMODB)) as f:
        for row in csv.DictReader(f):
            if "truncated" in row["note"] or row["text_id"] not in rc.EMODB_SYLLABLES:
                continue
            items.append(dict(path=os.path.join(rc.EMODB, row["file"]), truth=rc.EMODB_SYLLABLES[row["text_id"]],
                              emo=row["emotion"], spk=row["file"][:2]))
    if os.path.exists(args.cache):
        data = pickle.load(open(args.cache, "rb"))
    else:
        data = rt.dump_all(args.attune, [it["path"] for it in items], args.jobs)
        os.makedirs(os.path.dirname(args.cache), exist_ok=True)
        pickle.dump(data, open(args.cache, "wb"))
    P, _, _ = rt.load_swift_weights()
    for it in items:
        inputs, speech, segments, syllables, level = data[it["path"]]
        d = rt.densities(P, inputs)
        duration = sum(s[2] for s in segments)
        it["err"] = (syllables - it["truth"]) / it["truth"]
        it["lvstd"] = float(np.std(level[speech]))
        it["lvmod"] = float(np.mean(np.abs(np.diff(level)[speech[1:]])))
        it["dmax"] = float(np.percentile(d[speech], 95))
        it["ddepth"] = float(np.percentile(d[speech], 95) - np.percentile(d[speech], 20))
        it["rate_meas"] = syllables / duration
        for k in range(inputs.shape[1]):
            it[f"in{k}"] = float(np.mean(inputs[speech, k]))
    measures = ["lvstd", "lvmod", "dmax", "ddepth", "rate_meas"] + [f"in{k}" for k in range(11)]
    fit = set(rc.EMODB_TUNE_SPEAKERS)
    for half, rows in (("fit", [r for r in items if r["spk"] in fit]), ("held-out", [r for r in items if r["spk"] not in fit])):
        e = np.array([r["err"] for r in rows])
        emotions = sorted({r["emo"] for r in rows})
        print(f"{half}: {len(rows)} files")
        print(f"  {'measure':10s} {'corr':>6s} {'within':>7s}   means by emotion")
        for m in measures:
            x = np.array([r[m] for r in rows])
            xw, ew = x.copy(), e.copy()
            for emo in emotions:
                sel = np.array([r["emo"] == emo for r in rows])
                xw[sel] -= xw[sel].mean()
                ew[sel] -= ew[sel].mean()
            means = " ".join(f"{emo[:4]}={x[[r['emo'] == emo for r in rows]].mean():.3f}" for emo in emotions)
            print(f"  {m:10s} {np.corrcoef(x, e)[0, 1]:+6.2f} {np.corrcoef(xw, ew)[0, 1]:+7.2f}   {means}")


if __name__ == "__main__":
    main()
