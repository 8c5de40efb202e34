#!/usr/bin/env python3
"""Word error rate of the built-in recogniser (`attune analyze --asr pocketsphinx`).

Runs the built `attune` on
  * the pocketsphinx test recordings that come with reference transcripts (Debian's pocketsphinx-testdata:
    librivox/*.wav with librivox/transcription, cards/*.wav with cards/cards.transcription, goforward.raw,
    whose words "go forward ten meters" are the ones pocketsphinx's own tests expect), as they are (16 kHz) and
    turned into telephone audio (300-3400 Hz, 8 kHz mu-law, with sox);
  * the bundled call Samples/call-8k-mulaw.wav, per channel; its reference is the text Tools/make_samples.sh
    speaks with espeak-ng (read from that script's turn list, so the two cannot drift apart);
  * a few sentences with the cue words a supervisor cares about, synthesised by espeak-ng and by two flite voices
    (awb, slt) as telephone audio, counting how many cue words come out (a cue-word recall, beside the WER).
Words are lower-cased and stripped of punctuation on both sides; WER = (substitutions + deletions + insertions)
/ reference words, from a word-level Levenshtein alignment. The hypothesis is what the recogniser produced
(ATTUNE_ASR_TRACE lines); segment records never carry its words (they are evidence for events only).

Usage: Tools/asr_wer.py [--attune PATH] [--compare-rates]
  --compare-rates  also decodes every 8 kHz input with the 8 kHz front end (ATTUNE_ASR_NARROWBAND_RATE=8000)
                   instead of upsampling to 16 kHz, and prints both.
Needs: a built attune (swift build), sox, espeak-ng, pocketsphinx-en-us and pocketsphinx-testdata (Tools/setup --eval).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = "/usr/share/pocketsphinx/test/data"
CUE_SENTENCES = [
    ("I want to cancel my account today.", ["cancel"]),
    ("I need a refund for this month.", ["refund"]),
    ("Let me speak to your manager right now.", ["manager"]),
    ("This is ridiculous, I will cancel and ask for a refund.", ["cancel", "refund"]),
    ("I want to make a complaint about the service.", ["complaint"]),
    ("Please cancel the order and refund my money.", ["cancel", "refund"]),
]

VOICES = [
    ("espeak-ng en-us", lambda text, out: ["espeak-ng", "-v", "en-us", "-s", "160", "-w", out, text]),
    ("flite awb", lambda text, out: ["flite", "-voice", "awb", "-t", text, "-o", out]),
    ("flite slt", lambda text, out: ["flite", "-voice", "slt", "-t", text, "-o", out]),
]


def words(text):
    return [w for w in re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split() if w.strip("'")]


def edit_distance(ref, hyp):
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)]


def recognise(attune, path, narrowband_rate, extra=()):
    """Runs attune analyze --asr on path; returns {channel: recognised words}."""
    env = dict(os.environ, ATTUNE_ASR_TRACE="1")
    if narrowband_rate == 8000:
        env["ATTUNE_ASR_NARROWBAND_RATE"] = "8000"
    else:
        env.pop("ATTUNE_ASR_NARROWBAND_RATE", None)
    run = subprocess.run([attune, "analyze", path, "--asr", "pocketsphinx", *extra], env=env,
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"asr_wer: attune analyze {path} failed ({run.returncode}): {run.stderr.strip()}")
    out = {}
    for line in run.stderr.splitlines():
        if line.startswith("{"):
            u = json.loads(line)
            out.setdefault(u["channel"], []).extend(w["w"] for w in u["words"])
    return out


def telephone(src, dst):
    subprocess.run(["sox", "-D", "-V1", src, "-r", "8000", "-e", "mu-law", "-c", "1", dst, "sinc", "300-3400"], check=True)


def call_reference():
    """Channel -> reference words, from the turn list in Tools/make_samples.sh."""
    text = open(os.path.join(ROOT, "Tools", "make_samples.sh"), encoding="utf-8").read()
    turns = text.split("<<'TURNS'\n", 1)[1].split("\nTURNS", 1)[0]
    ref = {}
    for line in turns.splitlines():
        ch, _level, _gap, spoken = line.split("|", 3)
        ref.setdefault(int(ch), []).extend(words(spoken))
    return ref


def cases(tmp):
    """(name, audio path, {channel: reference words}, is 8 kHz)."""
    out = []
    lib = os.path.join(TESTDATA, "librivox")
    for line in open(os.path.join(lib, "transcription"), encoding="utf-8"):
        m = re.match(r"<s>(.*)</s>\s*\((.*)\)", line.strip())
        out.append((m.group(2)[-4:], os.path.join(lib, m.group(2) + ".wav"), {0: words(m.group(1))}, False))
    cards = os.path.join(TESTDATA, "cards")
    for line in open(os.path.join(cards, "cards.transcription"), encoding="utf-8"):
        m = re.match(r"<s>(.*)</s>\s*\((.*)\)", line.strip())
        out.append(("cards-" + m.group(2), os.path.join(cards, m.group(2) + ".wav"), {0: words(m.group(1))}, False))
    goforward = os.path.join(tmp, "goforward.wav")
    subprocess.run(["sox", "-D", "-V1", "-t", "s16", "-r", "16000", "-c", "1", os.path.join(TESTDATA, "goforward.raw"),
                    goforward], check=True)
    out.append(("goforward", goforward, {0: words("go forward ten meters")}, False))
    telephoned = []
    for name, path, ref, _ in out:
        dst = os.path.join(tmp, name + "-8k.wav")
        telephone(path, dst)
        telephoned.append((name + " @8k", dst, ref, True))
    out += telephoned
    call = os.path.join(ROOT, "Samples", "call-8k-mulaw.wav")
    out.append(("call-8k-mulaw", call, call_reference(), True))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attune", default=os.path.join(ROOT, ".build", "debug", "attune"))
    parser.add_argument("--compare-rates", action="store_true")
    args = parser.parse_args()
    if not os.access(args.attune, os.X_OK):
        sys.exit(f"asr_wer: {args.attune} is not executable; run swift build first or give --attune")
    rates = [16000, 8000] if args.compare_rates else [16000]
    with tempfile.TemporaryDirectory() as tmp:
        all_cases = cases(tmp)
        for rate in rates:
            label = "8 kHz input upsampled to 16 kHz" if rate == 16000 else "8 kHz input decoded at 8 kHz (-upperf 3500)"
            print(f"\n== {label} (16 kHz input is always decoded at 16 kHz) ==")
            print(f"{'file':<22} {'ch':>2} {'ref':>4} {'WER':>6}  hypothesis")
            totals = {"16k": [0, 0], "8k": [0, 0]}
            for name, path, refs, narrow in all_cases:
                if rate == 8000 and not narrow:
                    continue
                got = recognise(args.attune, path, rate)
                for ch, ref in sorted(refs.items()):
                    hyp = got.get(ch, [])
                    e = edit_distance(ref, hyp)
                    t = totals["8k" if narrow else "16k"]
                    t[0] += len(ref); t[1] += e
                    print(f"{name:<22} {ch:>2} {len(ref):>4} {e / len(ref):>6.1%}  {' '.join(hyp)}")
            for key, (n, e) in totals.items():
                if n:
                    print(f"{'overall ' + key:<22} {'':>2} {n:>4} {e / n:>6.1%}")
            for voice, synth in VOICES:
                found = wanted = 0
                for i, (sentence, cues) in enumerate(CUE_SENTENCES):
                    wav = os.path.join(tmp, f"cue{i}.wav")
                    subprocess.run(synth(sentence, wav + ".raw.wav"), check=True, capture_output=True)
                    telephone(wav + ".raw.wav", wav)
                    hyp = recognise(args.attune, wav, rate).get(0, [])
                    hit = [c for c in cues if c in hyp]
                    found += len(hit); wanted += len(cues)
                    print(f"{voice} cue {i}: {len(hit)}/{len(cues)} {cues}  <- {' '.join(hyp)}")
                print(f"cue words found, {voice} telephone sentences: {found}/{wanted}")


if __name__ == "__main__":
    main()
