"""Builds the evaluation corpus for rate_eval.py: synthetic speech (espeak-ng, flite) at several rates and voices,
clean and telephone-band, plus real read speech from pocketsphinx-testdata and, when present, EmoDB.

Every item is a dict: path, truth (syllables of the spoken text), groups (names it is reported under), split
('tune' or 'test'), text. Audio is cached in the work directory and rebuilt only when missing.
"""
import csv
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

import emodb_splits

HERE = os.path.dirname(os.path.abspath(__file__))
SENTENCES = os.path.join(HERE, "rate_eval_sentences.txt")
CMUDICT = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
PS_DATA = "/usr/share/pocketsphinx/test/data"


EMODB = emodb_splits.EMODB

# espeak-ng words per minute and flite duration stretch for each rate band (two settings per band, alternated by sentence).
ESPEAK_RATES = {"slow": (80, 110), "normal": (160, 185), "fast": (240, 290), "very fast": (360, 450)}
FLITE_STRETCH = {"slow": (1.8, 1.45), "normal": (1.0, 1.1), "fast": (0.75, 0.8), "very fast": (0.5, 0.6)}
ESPEAK_EN_VOICES = ["en-us", "en", "en+f3", "en+m3", "en-us+f2", "en+m7"]
ESPEAK_VI_VOICES = ["vi", "vi-vn-x-central", "vi-vn-x-south", "vi+f3"]
# Held-out corpus (--heldout): other sentences, voices and rates inside the same bands, never used to choose a setting
# (gains, thresholds). The nucleus network's training (rate_train_corpus.py) did hear vi+m4, vi-vn-x-south+f2 and all
# four flite voices, though never these sentences; its English espeak voices are unheard.
HELDOUT_SENTENCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rate_eval_heldout_sentences.txt")
HELDOUT_ESPEAK_RATES = {"slow": (95,), "normal": (175,), "fast": (265,), "very fast": (400,)}
HELDOUT_FLITE_STRETCH = {"slow": (1.6,), "normal": (1.05,), "fast": (0.7,), "very fast": (0.55,)}
HELDOUT_ESPEAK_EN_VOICES = ["en-gb-x-rp", "en+f1", "en-us+m1", "en+f4", "en-gb-scotland", "en-us+f5"]
HELDOUT_ESPEAK_VI_VOICES = ["vi+m1", "vi-vn-x-central+f4", "vi-vn-x-south+f2", "vi+m4"]
HELDOUT_FLITE_VOICES = ["kal16", "slt", "rms", "awb"]

# EmoDB's ten German sentences (Burkhardt et al. 2005, the texts as published with the corpus), syllables counted
# by hand: one syllable per vowel nucleus of the standard (Duden) syllabification, diphthongs (ei, au, eu) one
# nucleus, unstressed -en/-el endings counted as a syllable even where the actor reduces them to a syllabic
# consonant ("Lappen" = Lap-pen, 2). The per-word breakdown is the comment; the sum is the count.
EMODB_SYLLABLES = {
    "a01": 8,   # Der(1) Lap-pen(2) liegt(1) auf(1) dem(1) Eis-schrank(2).
    "a02": 9,   # Das(1) will(1) sie(1) am(1) Mitt-woch(2) ab-ge-ben(3).
    "a04": 11,  # Heu-te(2) a-bend(2) könn-te(2) ich(1) es(1) ihm(1) sa-gen(2).
    "a05": 18,  # Das(1) schwar-ze(2) Stück(1) Pa-pier(2) be-fin-det(3) sich(1) da(1) o-ben(2) ne-ben(2) dem(1) Holz-stück(2).
    "a07": 10,  # In(1) sie-ben(2) Stun-den(2) wird(1) es(1) so-weit(2) sein(1).
    "b01": 15,  # Was(1) sind(1) denn(1) das(1) für(1) Tü-ten(2), die(1) da(1) un-ter(2) dem(1) Tisch(1) ste-hen(2)?
    "b02": 20,  # Sie(1) ha-ben(2) es(1) ge-ra-de(3) hoch-ge-tra-gen(4) und(1) jetzt(1) ge-hen(2) sie(1) wie-der(2) run-ter(2).
    "b03": 24,  # An(1) den(1) Wo-chen-en-den(4) bin(1) ich(1) jetzt(1) im-mer(2) nach(1) Hau-se(2) ge-fah-ren(3) und(1)
                # ha-be(2) Ag-nes(2) be-sucht(2).
    "b09": 17,  # Ich(1) will(1) das(1) e-ben(2) weg-brin-gen(3) und(1) dann(1) mit(1) Karl(1) was(1) trin-ken(2) ge-hen(2).
    "b10": 14,  # Die(1) wird(1) auf(1) dem(1) Platz(1) sein(1), wo(1) wir(1) sie(1) im-mer(2) hin-le-gen(3).
}
# EmoDB speakers split in halves (emodb_splits.RATE_TUNE, RATE_TEST): the tune half may be used to calibrate or
# train anything, the test half never.
EMODB_TUNE_SPEAKERS = tuple(sorted(emodb_splits.RATE_TUNE))
EMODB_TEST_SPEAKERS = tuple(sorted(emodb_splits.RATE_TEST))
# Emotion names in report order (labels.csv spelling -> EmoDB's letter: W angry, F happy, A fearful, L boredom,
# T sad, E disgust, N neutral).
EMODB_EMOTIONS = ("angry", "happy", "fearful", "boredom", "sad", "disgust", "neutral")
# Other real speech installed with the evaluation dependencies whose words are known from the file name: the ALSA
# channel-test voice ("Front Center", ...) and one TIDIGITS utterance from pocketsphinx-testdata ("2934z" = two nine
# three four zero). A few syllables each, so one syllable off is 30-50 %: reported, no target.
ALSA_SOUNDS = "/usr/share/sounds/alsa"
TIDIGITS = {"dhd.2934z.raw": "two nine three four zero"}

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n):
    """English words for 0 <= n < 1,000,000."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    return number_words(n // 1000) + ["thousand"] + (number_words(n % 1000) if n % 1000 else [])


_cmu = None
VOWEL_PHONES = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def cmudict():
    global _cmu
    if _cmu is None:
        _cmu = {}
        with open(CMUDICT, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if not parts or "(" in parts[0]:
                    continue  # keep the first pronunciation only
                # This copy has no stress digits, so count vowel phones by name.
                _cmu[parts[0].lower()] = sum(1 for p in parts[1:] if p.rstrip("012") in VOWEL_PHONES)
    return _cmu


def guess_syllables(word):
    groups = re.findall(r"[aeiouy]+", word)
    n = len(groups)
    if word.endswith("e") and n > 1 and not word.endswith("le"):
        n -= 1
    return max(1, n)


def english_syllables(text, unknown=None):
    """Syllables of English text: vowel phones (ARPAbet vowels) of the CMU dictionary's first pronunciation; numbers spelled out."""
    d = cmudict()
    total = 0
    for tok in re.findall(r"[A-Za-z']+|\d+", text):
        words = number_words(int(tok)) if tok.isdigit() else [tok.lower()]
        for w in words:
            if w in d:
                total += d[w]
            elif w.strip("'") in d:
                total += d[w.strip("'")]
            else:
                if unknown is not None:
                    unknown.add(w)
                total += guess_syllables(w)
    return total


def vietnamese_syllables(text):
    """One syllable per written word."""
    return len(re.findall(r"\w+", text))


def read_sentences(path=SENTENCES):
    by_lang = {"en": [], "vi": []}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            lang, text = line.split("|", 1)
            by_lang[lang].append(text)
    return by_lang


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def to_telephone(src, dst):
    """8 kHz μ-law, 300–3400 Hz: the narrow band of a phone call. Without dither (-D): sox dithers a reduction in
    bit depth with a random seed by default, so every regeneration of the corpus differed and its figures with it."""
    run(["sox", "-D", src, "-r", "8000", "-c", "1", "-e", "u-law", dst, "sinc", "300-3400"])


def add_noise(src, dst, snr_db, seed):
    """Adds pink-ish stationary noise at `snr_db` relative to the speech's active power."""
    x, sr = sf.read(src, dtype="float64")
    if x.ndim > 1:
        x = x[:, 0]
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(len(x) + 4096)
    # Crude pink: sum of first-order low-passes at a few corner frequencies.
    pink = np.zeros_like(white)
    for a in (0.99, 0.95, 0.8):
        y = lfilter([1 - a], [1, -a], white)
        pink += y / np.std(y)
    pink = pink[4096:]
    frame = int(0.02 * sr)
    n = len(x) // frame
    p = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    active = p[p > p.max() * 10 ** (-30 / 10)]
    speech_power = active.mean() if len(active) else 1e-10
    noise = pink / np.sqrt((pink ** 2).mean()) * np.sqrt(speech_power / 10 ** (snr_db / 10))
    y = x + noise
    peak = np.abs(y).max()
    if peak > 0.99:
        y *= 0.99 / peak
    sf.write(dst, y, sr, subtype="PCM_16")


def add_real_speech(workdir, items, tasks, unknown):
    """Adds the real recordings: read English from pocketsphinx-testdata and, when present, acted German from EmoDB."""
    # Real read speech: pocketsphinx test data with transcripts. Too few files to split (11), so both splits report
    # it and nothing is fitted on it (rate_train.fitted): it tests how the counter carries over to real speech.
    for sub in ("librivox", "cards"):
        tfile = os.path.join(PS_DATA, sub, "transcription" if sub == "librivox" else "cards.transcription")
        if not os.path.exists(tfile):
            continue
        with open(tfile) as f:
            for line in f:
                m = re.match(r"\s*(.*?)\s*\((\S+)\)\s*$", line)
                if not m:
                    continue
                text = m.group(1).replace("<s>", "").replace("</s>", "").strip()
                wav = os.path.join(PS_DATA, sub, m.group(2) + ".wav")
                if os.path.exists(wav):
                    truth = english_syllables(text, unknown)
                    for split in ("tune", "test"):
                        items.append(dict(path=wav, truth=truth, split=split, text=text, groups=["real read EN (pocketsphinx)"]))
                        items.append(dict(path=os.path.join(workdir, f"ps_{sub}_{m.group(2)}_tel.wav"), truth=truth, split=split,
                                          text=text, groups=["real read EN tel (pocketsphinx)"], derive=("tel", wav)))
    goforward = os.path.join(PS_DATA, "goforward.raw")
    if os.path.exists(goforward):
        wav = os.path.join(workdir, "ps_goforward.wav")
        tasks.append((["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", goforward, wav], wav))
        for split in ("tune", "test"):
            items.append(dict(path=wav, truth=english_syllables("go forward ten meters"), split=split,
                              text="go forward ten meters", groups=["real read EN (pocketsphinx)"]))

    # Short real words: the ALSA channel-test voice and a TIDIGITS digit string.
    if os.path.isdir(ALSA_SOUNDS):
        for name in sorted(os.listdir(ALSA_SOUNDS)):
            m = re.fullmatch(r"(Front|Rear|Side)_(Center|Left|Right)\.wav", name)
            if m:
                text = f"{m.group(1)} {m.group(2)}".lower()
                for split in ("tune", "test"):
                    items.append(dict(path=os.path.join(ALSA_SOUNDS, name), truth=english_syllables(text), split=split,
                                      text=text, groups=["real words EN (alsa, tidigits)"]))
    for raw, text in TIDIGITS.items():
        src = os.path.join(PS_DATA, "tidigits", raw)
        if os.path.exists(src):
            wav = os.path.join(workdir, "ps_tidigits_" + raw.replace(".raw", ".wav"))
            tasks.append((["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", src, wav], wav))
            for split in ("tune", "test"):
                items.append(dict(path=wav, truth=english_syllables(text), split=split, text=text,
                                  groups=["real words EN (alsa, tidigits)"]))

    # EmoDB: real acted German, split by speaker.
    labels = os.path.join(EMODB, "labels.csv")
    if os.path.exists(labels):
        for item in emodb_whole_files(labels):
            item.pop("file")
            items.append(dict(item, split="tune" if item["speaker"] in EMODB_TUNE_SPEAKERS else "test",
                              groups=["real acted DE (EmoDB)", f"EmoDB {item['emotion']}", f"EmoDB speaker {item['speaker']}"]))


def emodb_whole_files(labels):
    """EmoDB's files that hold the whole sentence, from its `labels` csv (412 of 535 were cut at 2 s mid-sentence, and
    how much of the text they hold is not known): path, file name, hand-counted syllables (truth), text id, emotion
    and speaker of each."""
    with open(labels) as f:
        return [dict(path=os.path.join(EMODB, row["file"]), file=row["file"], truth=EMODB_SYLLABLES[row["text_id"]],
                     text=row["text_id"], emotion=row["emotion"], speaker=row["speaker"])
                for row in csv.DictReader(f) if "truncated" not in row["note"] and row["text_id"] in EMODB_SYLLABLES]


def build(workdir, include_noisy=True, jobs=2, heldout=False):
    """Makes (or reuses) every file and returns the list of items.

    With `heldout`, the corpus is the held-out one: its own sentences, voices and rates (split "heldout"), synthetic
    speech only (the real recordings are the same files either way)."""
    os.makedirs(workdir, exist_ok=True)
    sentences = read_sentences(HELDOUT_SENTENCES if heldout else SENTENCES)
    espeak_rates = HELDOUT_ESPEAK_RATES if heldout else ESPEAK_RATES
    flite_stretch = HELDOUT_FLITE_STRETCH if heldout else FLITE_STRETCH
    espeak_voices = (("en", HELDOUT_ESPEAK_EN_VOICES), ("vi", HELDOUT_ESPEAK_VI_VOICES)) if heldout else \
        (("en", ESPEAK_EN_VOICES), ("vi", ESPEAK_VI_VOICES))
    items = []
    tasks = []
    unknown = set()

    def split_of(i):
        return "heldout" if heldout else "tune" if i % 2 == 0 else "test"

    for lang, voices in espeak_voices:
        for i, text in enumerate(sentences[lang]):
            truth = english_syllables(text, unknown) if lang == "en" else vietnamese_syllables(text)
            for b, (band, speeds) in enumerate(espeak_rates.items()):
                voice = voices[(i + b) % len(voices)]
                speed = speeds[i % len(speeds)]
                base = os.path.join(workdir, f"espeak_{lang}_{i:02d}_{band.replace(' ', '')}")
                clean = base + ".wav"
                tasks.append((["espeak-ng", "-v", voice, "-s", str(speed), "-w", clean, text], clean))
                L = lang.upper()
                meta = dict(truth=truth, split=split_of(i), text=text, voice=voice, rate=speed)
                items.append(dict(meta, path=clean, groups=[f"espeak {L} clean", f"rate {band}"]))
                items.append(dict(meta, path=base + "_tel.wav", groups=[f"espeak {L} tel", f"rate {band}"],
                                  derive=("tel", clean)))
                if include_noisy and lang == "en":
                    items.append(dict(meta, path=base + "_n10.wav", groups=["espeak EN noise 10dB"],
                                      derive=("noise", clean, 10, i * 7 + b)))
                    items.append(dict(meta, path=base + "_n10_tel.wav", groups=["espeak EN tel noise 10dB"],
                                      derive=("tel", base + "_n10.wav")))

    flite_voices = [v for v in (HELDOUT_FLITE_VOICES if heldout else ("kal", "slt", "rms", "awb")) if v in subprocess.run(
        ["flite", "-lv"], capture_output=True, text=True).stdout.split()]
    for i, text in enumerate(sentences["en"]):
        truth = english_syllables(text, unknown)
        for b, (band, stretches) in enumerate(flite_stretch.items()):
            voice = flite_voices[(i + b) % len(flite_voices)]
            stretch = stretches[i % len(stretches)]
            base = os.path.join(workdir, f"flite_en_{i:02d}_{band.replace(' ', '')}")
            clean = base + ".wav"
            tasks.append((["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", text, clean], clean))
            meta = dict(truth=truth, split=split_of(i), text=text, voice=voice, rate=stretch)
            items.append(dict(meta, path=clean, groups=["flite EN clean", f"rate {band}"]))
            items.append(dict(meta, path=base + "_tel.wav", groups=["flite EN tel", f"rate {band}"], derive=("tel", clean)))

    if not heldout:  # the real recordings are the same files either way
        add_real_speech(workdir, items, tasks, unknown)

    def do_task(t):
        cmd, out = t
        if not os.path.exists(out):
            run(cmd)

    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(do_task, tasks))

    def do_derive(item):
        d = item.get("derive")
        if d is None or os.path.exists(item["path"]):
            return
        if d[0] == "tel":
            to_telephone(d[1], item["path"])
        elif d[0] == "noise":
            add_noise(d[1], item["path"], d[2], d[3])

    # Noise first: the noisy telephone files derive from noisy clean files.
    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(do_derive, [it for it in items if it.get("derive", ("",))[0] == "noise"]))
    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(do_derive, [it for it in items if it.get("derive", ("",))[0] == "tel"]))
    return items, sorted(unknown)
