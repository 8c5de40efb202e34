#!/usr/bin/env python3
"""Emotion events on real acted speech (EmoDB), built as issue 9 asks: for each speaker, a call made of their
neutral utterances (the baseline, in file-name order, leaving out the test utterance when it is neutral) followed by
one test utterance. Runs the built `attune analyze --roles customer` on every call and reports

  * per emotion: how often a high-arousal negative event (frustration) starts inside the test utterance;
  * the unweighted average recall of angry (should fire) vs neutral (should not);
  * false events per hour of neutral baseline speech (events starting before the test utterance), and how many
    speakers they come from (a speaker's calls share one baseline, so one false event repeats in most of them);
  * what else fires (urgency, hesitation, ...).

Splits, fixed before any result was looked at (Tools/emodb_splits.py): speakers 03 08 09 10 11 are the FIT split
(the only ones any setting may be tuned on, with --tune), speakers 12 13 14 15 16 the TEST split, whose figures are
the ones to quote. The pitch tracker and the syllable counter, which the events are built on, were tuned on other
halves (pitch on 13, rate on 13 and 15), so only speakers 12 14 16 are held out by every tool: their row
(emodb_splits.STRICT_HELD_OUT) is printed beside TEST. --tune also reports leave-one-speaker-out: each speaker
judged with the threshold the other nine would have chosen.

--condition takes the calls through what a call center's tap delivers instead of EmoDB's studio audio: `tel` is the
telephone line of the pitch evaluations (8 kHz, 300-3400 Hz band-pass, μ-law; pitch_eval_synth.telephone),
`telnoise` the same with pink noise at 10 dB SNR, `amr` and `amrlow` the telephone line through AMR-NB at 12.2 and
4.75 kbit/s (a mobile call). Since session 25 the settings are chosen on the FIT speakers in clean, tel and
telnoise at once (FusionSettings.minimumVoicedShare, rateScale); amr and amrlow were never looked at for a choice.

Without --attune it builds attune (release, into --scratch-path, default .build-release) as rate_eval.py and
rate_eval_emotion.py do.

usage: Tools/emotion_eval.py [--attune PATH] [--emodb DIR] [--settings 'arousalOn=0.5,...'] [--tune] [--jobs N]
                             [--condition clean|tel|telnoise|amr|amrlow]
"""
import argparse, csv, json, os, subprocess, sys, tempfile, collections
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emodb_splits  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Per user: /tmp is shared, and another user's calls could be stale or not writable.
WORKDIR = os.path.join(tempfile.gettempdir(), f"attune-emodb-calls-{os.getuid()}")
FIT, TEST = emodb_splits.EMOTION_FIT, emodb_splits.EMOTION_TEST
HIGH_AROUSAL_NEGATIVE = {"frustration"}


def build_calls(emodb, workdir):
    """The calls (see above) as WAV files in `workdir`; a call older than any of its EmoDB files is made again."""
    import pitch_eval_synth as synth
    with open(emodb_splits.labels_csv(emodb)) as f:
        rows = list(csv.DictReader(f))
    by_speaker = collections.defaultdict(list)
    for r in rows:
        by_speaker[r["speaker"]].append(r)
    calls = []
    for spk, items in sorted(by_speaker.items()):
        neutrals = sorted(r["file"] for r in items if r["emotion"] == "neutral")
        for r in sorted(items, key=lambda r: r["file"]):
            base = [n for n in neutrals if n != r["file"]]
            out = os.path.join(workdir, r["file"])
            sources = [os.path.join(emodb, n) for n in base + [r["file"]]]
            if synth.out_of_date(out, *sources):
                synth.write_atomically(out, lambda tmp: subprocess.run(["sox", "-D"] + sources + [tmp], check=True))
            calls.append(dict(file=r["file"], speaker=spk, emotion=r["emotion"], path=out,
                              test_start=2.0 * len(base), baseline_s=2.0 * len(base)))
    return calls


CONDITIONS = ("clean", "tel", "telnoise", "amr", "amrlow")


def degrade(call, condition):
    """The call through `condition`, written beside the clean call and made again when the call is newer; the pink
    noise draws from a stream seeded by the file name, so a rerun makes the same copy."""
    if condition == "clean":
        return call
    import numpy as np
    import soundfile as sf
    import pitch_eval_synth as synth
    stem = call["path"][:-len(".wav")]
    line = "telnoise" if condition == "telnoise" else "tel"
    tel = f"{stem}_{line}.wav"
    if synth.out_of_date(tel, call["path"]):
        from math import gcd
        from scipy import signal
        x, fs = sf.read(call["path"], dtype="float64")
        if x.ndim > 1:
            x = x.mean(axis=1)
        # The telephone line starts from 16 kHz (this copy of EmoDB is 22.05 kHz).
        x = signal.resample_poly(x, 16000 // gcd(16000, fs), fs // gcd(16000, fs))
        rng = np.random.default_rng([12, sum(map(ord, call["file"]))])
        y, rate = synth.telephone(x, rng, noise_db=10 if line == "telnoise" else None)
        synth.write_atomically(tel, lambda tmp: sf.write(tmp, y, rate, subtype="ULAW"))
    path = synth.amr_condition(stem, condition) if condition in synth.AMR_MODES else tel
    return dict(call, path=path)


def run(attune, call, settings):
    env = dict(os.environ)
    if settings:
        env["ATTUNE_FUSION_SETTINGS"] = settings
    p = subprocess.run([attune, "analyze", call["path"], "--roles", "customer"], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"attune failed on {call['path']}: {p.stderr.strip()}")
    events = [json.loads(l) for l in p.stdout.splitlines() if '"type":"event"' in l]
    starts = [e for e in events if e["state"] == "start"]
    inside = [e for e in starts if e["start"] >= call["test_start"] - 0.3]
    before = [e for e in starts if e["start"] < call["test_start"] - 0.3]
    return dict(call, fired=sorted({e["kind"] for e in inside}), false=len(before),
                false_kinds=[e["kind"] for e in before])


def evaluate(attune, calls, settings, jobs):
    with ThreadPoolExecutor(jobs) as ex:
        return list(ex.map(lambda c: run(attune, c, settings), calls))


def summarise(results, speakers, label, out=print):
    rs = [r for r in results if r["speaker"] in speakers]
    if not rs:
        return None
    out(f"\n{label}: speakers {' '.join(sorted(speakers))}, {len(rs)} calls")
    per = collections.defaultdict(list)
    for r in rs:
        per[r["emotion"]].append(r)
    out(f"{'emotion':10} {'n':>4} {'frustration':>12}   other kinds that fired (share of calls)")
    for emo in ["angry", "neutral", "happy", "fearful", "disgust", "boredom", "sad"]:
        xs = per.get(emo, [])
        if not xs:
            continue
        hit = sum(1 for r in xs if HIGH_AROUSAL_NEGATIVE & set(r["fired"])) / len(xs)
        other = collections.Counter(k for r in xs for k in r["fired"] if k not in HIGH_AROUSAL_NEGATIVE)
        desc = ", ".join(f"{k} {v / len(xs):.2f}" for k, v in other.most_common())
        out(f"{emo:10} {len(xs):4d} {hit:12.3f}   {desc}")
    angry = per.get("angry", [])
    neutral = per.get("neutral", [])
    recall_a = sum(1 for r in angry if HIGH_AROUSAL_NEGATIVE & set(r["fired"])) / max(1, len(angry))
    recall_n = sum(1 for r in neutral if not (HIGH_AROUSAL_NEGATIVE & set(r["fired"]))) / max(1, len(neutral))
    uar = (recall_a + recall_n) / 2
    baseline_h = sum(r["baseline_s"] for r in rs) / 3600
    false = sum(r["false"] for r in rs)
    kinds = collections.Counter(k for r in rs for k in r["false_kinds"])
    # A speaker's calls share one neutral baseline, so one false event there repeats in nearly every call of theirs:
    # how many speakers it comes from says more than the hourly rate.
    firing = sorted({r["speaker"] for r in rs if r["false"]})
    speakers = len({r["speaker"] for r in rs})
    out(f"UAR angry vs neutral {uar:.3f} (recall angry {recall_a:.3f}, neutral {recall_n:.3f}); "
        f"false events in neutral baselines: {false} in {baseline_h:.2f} h = {false / baseline_h:.2f}/h {dict(kinds)}, "
        f"from {len(firing)} of {speakers} speakers{' (' + ' '.join(firing) + ')' if firing else ''}")
    return uar, false / baseline_h


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", help="attune binary (default: build release into --scratch-path)")
    ap.add_argument("--scratch-path", default=os.path.join(REPO, ".build-release"),
                    help="swift build scratch path when building attune")
    # As the other evaluation tools: $ATTUNE_EMODB, else the workspace's shared/ folder beside the repository.
    ap.add_argument("--emodb", default=emodb_splits.EMODB)
    ap.add_argument("--settings", default="")
    ap.add_argument("--workdir", default=WORKDIR, help=f"calls and their degraded copies (default {WORKDIR})")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tune", action="store_true", help="grid-search arousalOn on the FIT split only, then report TEST")
    ap.add_argument("--condition", choices=CONDITIONS, default="clean",
                    help="clean (EmoDB as recorded), tel, telnoise, amr or amrlow (see above)")
    a = ap.parse_args()
    if a.attune is None:
        from rate_eval import build_attune
        a.attune = build_attune(a.scratch_path)
    elif not os.access(a.attune, os.X_OK):
        sys.exit(f"attune not found: {a.attune} (build it with `swift build -c release --product attune`, "
                 "or leave out --attune to have this tool build it)")
    os.makedirs(a.workdir, exist_ok=True)
    calls = build_calls(a.emodb, a.workdir)
    with ThreadPoolExecutor(a.jobs) as ex:
        calls = list(ex.map(lambda c: degrade(c, a.condition), calls))
    settings = a.settings
    if a.tune:
        # Every grid value over every call once; the choices below only select among these runs.
        grid = [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9]
        runs = {}
        for on in grid:
            s = ",".join(x for x in [settings, f"arousalOn={on}"] if x)
            runs[on] = (s, evaluate(a.attune, calls, s, a.jobs))

        def choose(speakers):
            best = None
            for on in grid:
                uar, fph = summarise(runs[on][1], speakers, "", out=lambda *_: None)
                # Fewest false events first (the issue allows at most one per hour), then the highest UAR, then
                # the lowest threshold.
                key = (fph <= 1.0, uar, -on)
                if best is None or key > best[0]:
                    best = (key, on)
            return best[1]

        for on in grid:
            uar, fph = summarise(runs[on][1], FIT, "", out=lambda *_: None)
            print(f"tune arousalOn={on}: FIT UAR {uar:.3f}, false/h {fph:.2f}")
        chosen = choose(FIT)
        print(f"chosen on FIT: arousalOn={chosen}")
        # Leave one speaker out: each speaker judged with the threshold the other nine would choose.
        loso = []
        for spk in sorted(FIT | TEST):
            on = choose((FIT | TEST) - {spk})
            loso += [r for r in runs[on][1] if r["speaker"] == spk]
            print(f"LOSO speaker {spk}: arousalOn={on}")
        summarise(loso, FIT | TEST, "leave-one-speaker-out (each speaker with the threshold the other nine chose)")
        settings = runs[chosen][0]
    results = evaluate(a.attune, calls, settings, a.jobs)
    print(f"settings: {settings or 'defaults'}; condition: {a.condition}")
    summarise(results, FIT, "FIT split (tuning allowed)")
    summarise(results, TEST, "TEST split (report this)")
    strict = emodb_splits.STRICT_HELD_OUT
    summarise(results, strict, f"speakers held out by every tool ({' '.join(sorted(strict))})")
    summarise(results, FIT | TEST, "all speakers")


if __name__ == "__main__":
    main()
