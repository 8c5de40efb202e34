#!/usr/bin/env python3
"""Does the syllable count's error move with the speaker's emotion? Per-emotion signed error and MAPE on EmoDB,
for one or two attune binaries side by side (before / after a change), on the held-out and the fit speakers.

The emotion layer compares a caller's rate with their own baseline, so a count that reads an angry or a bored voice
lower than the same speaker's neutral voice invents a rate change. What this tool checks is therefore the signed
error per emotion (target: within ±5 % for every emotion, issue 10) and its spread across emotions, beside the MAPE.

Split (fixed by speaker before any result was looked at, and the same as rate_eval_corpus.EMODB_TUNE_SPEAKERS):
  fit      03 08 10 13 15   may be used to train or tune anything (the nucleus model's fine-tuning sees them)
  held-out 09 11 12 14 16   never used to fit anything; the figure to quote
Each half has 3 male and 2 female speakers or the reverse. A third table, "strict held-out", takes only speakers 12 14 16,
the ones no evaluation tool tuned on (the pitch and emotion tools split EmoDB otherwise; emodb_splits.STRICT_HELD_OUT):
the figure that holds for the emotion events built on this count. The emotion layer will later run EmoDB
leave-one-speaker-out, so as little as possible is fitted on EmoDB at all.

Truth: EmoDB's ten sentences have published texts; their syllables are hand counts, word by word, in
rate_eval_corpus.EMODB_SYLLABLES (Duden syllabification, diphthongs one nucleus, -en/-el endings one syllable). The
shared copy cut 412 of the 535 files at 2.0 s mid-sentence (labels.csv says which); only the 123 whole files are
used, because how much of the sentence a cut file holds is not known. Sad keeps 3 files (all fit, none held-out),
disgust 3 (1 fit, 2 held-out): rows with fewer than rate_eval.EMODB_MIN_FILES (4) files are printed but not judged.

Beside each signed error: a 95 % bootstrap interval over the row's files (with 6-13 files a row, a 5-point miss can
be noise; files of one speaker are not independent, so the interval is if anything too narrow). Under each table:
each emotion's signed error minus that of the same speaker's neutral reading of the same sentence, which takes out
what the speaker and sentence do to the count (German schwa syllables that every reading reduces) and leaves what
the emotion does: the part the emotion layer, comparing a caller with their own neutral baseline, would read as a
rate change.

Examples:
  Tools/rate_eval_emotion.py --after .build-release/release/attune --before /tmp/attune-main
  Tools/rate_eval_emotion.py --before-rev main      # builds main in a detached worktree under out/ first
  Tools/rate_eval_emotion.py --csv out/emotion.csv
"""
import argparse
import csv
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import emodb_splits  # noqa: E402
import rate_eval_corpus  # noqa: E402
from rate_eval import EMODB_MIN_FILES, attune_syllables, build_attune  # noqa: E402

REPO = os.path.dirname(HERE)
# Unstressed schwa syllables of each sentence (-e, -en, -el, -er, ge-, be-), the ones a speaker may reduce to a
# syllabic consonant or drop: Lap-pen | ab-ge-ben | Heu-te a-bend könn-te sa-gen | schwar-ze be-fin-det o-ben ne-ben |
# sie-ben Stun-den | Tü-ten un-ter ste-hen | ha-ben ge-ra-de hoch-ge-tra-gen ge-hen wie-der run-ter |
# Wo-chen-en-den im-mer Hau-se ge-fah-ren ha-be be-sucht | e-ben weg-brin-gen trin-ken ge-hen | im-mer hin-le-gen.
# The diagnosis below divides each emotion's missing syllables by them.
EMODB_SCHWA = {"a01": 1, "a02": 2, "a04": 4, "a05": 5, "a07": 2, "b01": 3, "b02": 8, "b03": 8, "b09": 4, "b10": 2}
SPLITS = (("held-out", rate_eval_corpus.EMODB_TEST_SPEAKERS), ("fit", rate_eval_corpus.EMODB_TUNE_SPEAKERS),
          ("strict held-out", tuple(sorted(emodb_splits.STRICT_HELD_OUT))))
SIGNED_TARGET, MAPE_TARGET = 5.0, 10.0


def emodb_items():
    """Whole EmoDB files with their hand-counted syllables, emotion and speaker."""
    return rate_eval_corpus.emodb_whole_files(emodb_splits.labels_csv(rate_eval_corpus.EMODB))


def build_rev(rev, jobs):
    """attune built from git revision `rev` in a detached worktree under out/ (kept, so a rerun reuses the build)."""
    tree = os.path.join(REPO, "out", f"before-{rev.replace('/', '_')}")
    if not os.path.isdir(tree):
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, rev], check=True, stdout=sys.stderr)
    scratch = os.path.join(tree, ".build-release")
    print(f"building attune at {rev} (release, {scratch}) ...", file=sys.stderr)
    subprocess.run(["swift", "build", "-c", "release", "--product", "attune", "--scratch-path", scratch, "-j", str(jobs)],
                   cwd=tree, check=True, stdout=sys.stderr)
    return os.path.join(scratch, "release", "attune")


def signed_error(row, key):
    """The file's count by binary `key` against its hand count, in % (negative: counted low)."""
    return (row[key] - row["truth"]) / row["truth"] * 100


def stats(rows, key):
    errs = [signed_error(r, key) for r in rows]
    if not errs:
        return float("nan"), float("nan")
    return sum(errs) / len(errs), sum(abs(e) for e in errs) / len(errs)


def signed_interval(rows, key, draws=2000):
    """95 % percentile bootstrap interval of the mean signed error (%), files resampled within the row (fixed seed,
    so reruns print the same). Files of one speaker are not independent, so the true interval is wider still."""
    errs = np.array([signed_error(r, key) for r in rows])
    means = np.random.default_rng(2026).choice(errs, size=(draws, len(errs))).mean(axis=1)
    return np.percentile(means, 2.5), np.percentile(means, 97.5)


def against_neutral(rows, key):
    """Per emotion, the signed error of each file minus that of the same speaker's neutral reading of the same
    sentence (the mean of them if several), in points: how much the emotion alone moves the count, with speaker and
    sentence (a German schwa the speaker always reduces, a voice the model reads low) taken out. {emotion: [points]}"""
    neutral = {}
    for r in rows:
        if r["emotion"] == "neutral":
            neutral.setdefault((r["speaker"], r["text"]), []).append(signed_error(r, key))
    out = {}
    for r in rows:
        base = neutral.get((r["speaker"], r["text"]))
        if r["emotion"] != "neutral" and base:
            out.setdefault(r["emotion"], []).append(signed_error(r, key) - sum(base) / len(base))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--after", help="attune binary to evaluate (default: build this tree, release, .build-release)")
    ap.add_argument("--before", help="a second binary to show beside it (e.g. main's)")
    ap.add_argument("--before-rev", help="build the second binary from this git revision in a worktree under out/")
    ap.add_argument("--scratch-path", default=os.path.join(REPO, ".build-release"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--csv", help="per-file counts to this CSV")
    args = ap.parse_args()

    binaries = []
    if args.before_rev:
        binaries.append(("before", build_rev(args.before_rev, args.jobs)))
    elif args.before:
        binaries.append(("before", args.before))
    binaries.append(("after", args.after or build_attune(args.scratch_path)))
    items = emodb_items()
    for name, binary in binaries:
        with ThreadPoolExecutor(args.jobs) as ex:
            for it, n in zip(items, ex.map(lambda it: attune_syllables(binary, it["path"]), items)):
                it[name] = n

    names = [n for n, _ in binaries]
    for name, binary in binaries:
        print(f"{name}: {binary}")
    verdict = {}
    for split, speakers in SPLITS:
        rows = [it for it in items if it["speaker"] in speakers]
        print(f"\nEmoDB {split} speakers ({' '.join(speakers)}), {len(rows)} whole files; signed error / MAPE (%)")
        head = f"{'emotion':10s} {'files':>5s}" + "".join(f" | {n + ' signed':>13s} {'95% interval':>15s} {'MAPE':>6s}"
                                                        for n in names)
        print(head)
        print("-" * len(head))
        signed = {n: [] for n in names}
        for emotion in rate_eval_corpus.EMODB_EMOTIONS + ("all",):
            group = rows if emotion == "all" else [r for r in rows if r["emotion"] == emotion]
            if not group:
                continue
            line = f"{emotion:10s} {len(group):5d}"
            for n in names:
                s, m = stats(group, n)
                lo, hi = signed_interval(group, n)
                line += f" | {s:+12.1f}% {'[' + f'{lo:+.1f}, {hi:+.1f}' + ']':>15s} {m:5.1f}%"
                if emotion != "all":
                    signed[n].append((emotion, s, m, len(group)))
            if emotion == "all":
                print("-" * len(head))
            print(line)
        for n in names:
            # Emotions with fewer than 4 files (sad, disgust) are shown but one syllable moves them 10 %: the verdict
            # and the spread are over the others.
            judged = [(e, s, m) for e, s, m, k in signed[n] if k >= EMODB_MIN_FILES]
            if not judged:
                print(f"{n}: no emotion has >= {EMODB_MIN_FILES} files, nothing to judge")
                continue
            spread = max(s for _, s, _ in judged) - min(s for _, s, _ in judged)
            bad = [e for e, s, m in judged if abs(s) > SIGNED_TARGET or m > MAPE_TARGET]
            verdict[(split, n)] = bad
            print(f"{n}: signed error from {min(s for _, s, _ in judged):+.1f}% to {max(s for _, s, _ in judged):+.1f}% "
                  f"(spread {spread:.1f} points, emotions with >= {EMODB_MIN_FILES} files); |signed| <= {SIGNED_TARGET:g}% and "
                  f"MAPE <= {MAPE_TARGET:g}%: " + ("met" if not bad else "missed by " + ", ".join(bad)))
            paired = against_neutral(rows, n)
            print(f"{n}: against the same speaker's neutral reading of the same sentence (points; pairs): " +
                  ", ".join(f"{e} {sum(v) / len(v):+.1f} ({len(v)})" for e in rate_eval_corpus.EMODB_EMOTIONS
                            if (v := paired.get(e))))
    # Where the missing syllables are: per sentence against its schwa syllables, and per emotion the syllables
    # missing per schwa syllable (all files, both halves: a description of the data, nothing is fitted on it).
    for n in names:
        print(f"\n{n}: syllables missed (count - truth) per sentence, all speakers")
        for text in sorted({it["text"] for it in items}):
            group = [it for it in items if it["text"] == text]
            miss = sum(it[n] - it["truth"] for it in group) / len(group)
            print(f"  {text}: {len(group):3d} files, {rate_eval_corpus.EMODB_SYLLABLES[text]:2d} syllables of which "
                  f"{EMODB_SCHWA[text]} schwa, {miss:+.2f} per file")
        per = []
        for emotion in rate_eval_corpus.EMODB_EMOTIONS:
            group = [it for it in items if it["emotion"] == emotion]
            if group:
                per.append(f"{emotion} {sum(it[n] - it['truth'] for it in group) / sum(EMODB_SCHWA[it['text']] for it in group):+.2f}")
        print("  per schwa syllable, by emotion: " + ", ".join(per))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file", "speaker", "emotion", "text", "truth"] + names)
            for it in items:
                w.writerow([it["file"], it["speaker"], it["emotion"], it["text"], it["truth"]] + [it[n] for n in names])


if __name__ == "__main__":
    main()
