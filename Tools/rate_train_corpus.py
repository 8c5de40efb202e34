"""Training corpus for the syllable-nucleus model (Tools/rate_train.py): generated text, synthesised by espeak-ng
and flite, with each vowel's time span as the synthesiser itself reports it.

Nothing here overlaps the evaluation corpus (rate_eval_corpus.py): English sentences are random word sequences
(frequent function words mixed with words drawn from the CMU dictionary), Vietnamese ones random well-formed
syllables with random tones, so no evaluation sentence is ever heard in training. espeak-ng voices are accent and
variant combinations, at any rate from 80 to 500 words per minute; some are also evaluation voices (en, en-us,
en-us+f2, vi, vi-vn-x-central and vi-vn-x-south of the evaluation corpus; vi+m4 and vi-vn-x-south+f2 of the held-out
one), so the evaluation's voices are not all unheard, only its sentences and exact rates; flite uses its five
voices (it has no others) with random duration stretch (0.4-1.9) and pitch. Each utterance is kept clean and in
one derived condition (8 kHz μ-law telephone band, 10 dB pink noise, or both), like the evaluation's groups.

Vowel spans: espeak-ng's phoneme events through its C library (libespeak-ng, called with ctypes, IPA names, sample
positions; utterances where espeak-ng switched language to read an unknown word are dropped), flite's
`-psdur` phone end times.
"""
import ctypes
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rate_eval_corpus as rc  # noqa: E402


class _Event(ctypes.Structure):
    """espeak_EVENT of speak_lib.h."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


class Espeak:
    """espeak-ng in synchronous mode: audio and phoneme events (IPA) of one utterance at a time."""
    EVENT_PHONEME = 7

    def __init__(self):
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        self._audio, self._events = [], []
        callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
        self._callback = callback(self._collect)  # kept alive as long as the library may call it
        # AUDIO_OUTPUT_SYNCHRONOUS, default buffer, default data path, phoneme events with IPA names.
        self.sample_rate = self.lib.espeak_Initialize(2, 0, None, 0x0003)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, events):
        if wav and n > 0:
            self._audio.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != 0:
            if events[i].type == self.EVENT_PHONEME:
                self._events.append((events[i].sample, events[i].id.decode("utf-8", "replace")))
            i += 1
        return 0

    def synth(self, text, voice, wpm):
        """(int16 samples, [(start sample, IPA phoneme)]). Text inside [[ ]] is read as espeak-ng phoneme
        mnemonics."""
        self._audio.clear()
        self._events.clear()
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice}")
        self.lib.espeak_SetParameter(1, wpm, 0)  # espeakRATE, absolute
        data = text.encode("utf-8") + b"\0"
        # POS_CHARACTER; espeakCHARS_UTF8, with espeakPHONEMES only where the text holds mnemonics.
        self.lib.espeak_Synth(data, len(data), 0, 0, 0, 0x101 if "[[" in text else 1, None, None)
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._audio) if self._audio else np.zeros(0, np.int16)
        return audio, list(self._events)


FUNCTION_WORDS = ("the a an to of and in is it you that he was for on are as with his they I at be this have from "
                  "or one had by but not what all were we when your can said there use each which she do how their "
                  "if will up other about out many then them these so some her would make like him into time has "
                  "look two more go see no way could my than first been call who its now find long down day did get "
                  "come made may part").split()
VI_ONSETS = ["", "b", "c", "ch", "d", "đ", "g", "gi", "h", "kh", "l", "m", "n", "ng", "nh", "ph", "qu", "r", "s", "t",
             "th", "tr", "v", "x"]
VI_RIMES = ("a ai ao au ay an am ang anh at ac ach ăn ăm ăng ăt ăc âu ây ân âm âng ât e em en eo et ê ên êm êu ênh êch "
            "i ia in inh it ich iêu iên iêt o oi on ong ot oc oa oan oai ô ôi ôn ông ôt ôc ơ ơi ơn ơm ơt u ui un ung "
            "ut uc ua uôi uôn uông ư ưa ưi ưu ưng ươi ương ươc y uy uyên").split()
VI_TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # ngang, huyền, sắc, hỏi, ngã, nặng
VI_VOWELS = "aăâeêioôơuưy"
# Accents and variants. Their products include some evaluation voices (see the module docstring): the evaluation
# corpus's en, en-us, en-us+f2, vi, vi-vn-x-central, vi-vn-x-south and the held-out corpus's vi+m4, vi-vn-x-south+f2.
ESPEAK_VARIANTS = ["", "+m2", "+m4", "+m5", "+m6", "+m8", "+f2", "+Annie", "+Alicia", "+Andy", "+Steph", "+Mike"]
ESPEAK_EN = ["en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc", "en-us", "en"]
ESPEAK_VI = ["vi", "vi-vn-x-central", "vi-vn-x-south"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
# German (--german): espeak-ng reads every unstressed -en, -el, -em ending with a full schwa, while German speakers,
# most of all in lax or low-arousal speech, reduce it to a syllabic consonant ("sagn̩", "abgebm̩", "Mittl̩"). The
# generator reads random German text into espeak-ng's phoneme mnemonics and reduces each such ending after an
# obstruent with a per-utterance probability, so that syllabic consonants are nuclei in the training targets
# (espeak-ng reports them with U+0329). Content words come from Debian's wngerman list; the words of EmoDB's ten
# sentences (the rate evaluation's German) are left out.
GERMAN_WORDS = "/usr/share/dict/ngerman"
GERMAN_FUNCTION_WORDS = ("der die das und ist nicht ein eine zu den von mit sich des auf für im dem an auch als "
                         "nach wie aus bei noch nur oder aber vor zur bis mehr durch man über so zum kann schon "
                         "wenn habe haben hat er wir ihr was alle wieder meine seinen diesen jeden einen keinen "
                         "unsere müssen werden wollen sollen geben gegen unten hinten").split()
EMODB_WORDS = set("""der lappen liegt auf dem eisschrank das will sie am mittwoch abgeben heute abend könnte ich es ihm
    sagen schwarze stück papier befindet sich da oben neben holzstück in sieben stunden wird soweit sein was sind
    denn für tüten die unter tisch stehen haben gerade hochgetragen und jetzt gehen wieder runter an den
    wochenenden bin immer nach hause gefahren habe agnes besucht eben wegbringen dann mit karl trinken wo wir
    hinlegen platz""".split())
ESPEAK_DE = ["de", "de+m2", "de+m4", "de+f2", "de+f4", "de+Andy", "de+Annie", "de+Mike", "de+Steph"]
# espeak-ng's German consonant mnemonics, by where a reduced ending's nasal assimilates to.
_LABIAL, _VELAR = "pbfv", "kgxC"
_OBSTRUENT = set("pbtdkgfvszSZxC")


def reduce_schwa(phonemes, p, rng):
    """espeak-ng German phoneme mnemonics with each unstressed @n / @m / @l after an obstruent, and before a word
    end or a consonant, made a syllabic consonant with probability p (n after p/b/f/v becomes m, after k/g/x/C ŋ).
    Returns (mnemonics, number reduced)."""
    out, reduced, i = [], 0, 0
    while i < len(phonemes):
        c = phonemes[i]
        nxt = phonemes[i + 2] if i + 2 < len(phonemes) else " "
        if (c == "@" and i + 1 < len(phonemes) and phonemes[i + 1] in "nml" and out and out[-1] in _OBSTRUENT
                and (nxt in " _" or nxt in _OBSTRUENT or nxt in "nml") and rng.random() < p):
            nasal = phonemes[i + 1]
            if nasal == "n":
                nasal = "m" if out[-1] in _LABIAL else "N" if out[-1] in _VELAR else "n"
            out += [nasal, "-"]
            reduced += 1
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out), reduced


IPA_VOWELS = set("aeiouyæøœɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵɶʉʊʌʏᵻ")
FLITE_VOWELS = set("aa ae ah ao aw ax axr ay eh er ey ih iy ow oy uh uw".split())
CONDITIONS = ["tel", "tel", "n10", "n10_tel"]


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        cmu = rc.cmudict()
        self.content = sorted(w for w in cmu if re.fullmatch(r"[a-z]{3,12}", w) and 1 <= cmu[w] <= 4)
        self.espeak = Espeak()
        self.german_words = None  # read on first use

    def english(self):
        r = self.rng
        n = r.randint(4, 16)
        words = []
        for i in range(n):
            words.append(r.choice(FUNCTION_WORDS) if r.random() < 0.45 else r.choice(self.content))
            if i < n - 1 and r.random() < 0.08:
                words[-1] += ","
        s = " ".join(words)
        return s[0].upper() + s[1:] + r.choice("..?!")

    def german(self):
        r = self.rng
        if self.german_words is None:
            with open(GERMAN_WORDS, encoding="utf-8") as f:
                words = [w.strip() for w in f]
            vowel_groups = lambda w: len(re.findall(r"[aeiouäöüy]+", w.lower()))  # noqa: E731
            self.german_words = sorted(w for w in words if re.fullmatch(r"[A-Za-zäöüÄÖÜß]{3,12}", w)
                                       and 1 <= vowel_groups(w) <= 4 and w.lower() not in EMODB_WORDS)
        words = [r.choice(GERMAN_FUNCTION_WORDS) if r.random() < 0.45 else r.choice(self.german_words)
                 for _ in range(r.randint(4, 14))]
        return words[0][0].upper() + " ".join(words)[1:]

    def vietnamese_word(self):
        r = self.rng
        rime, tone = r.choice(VI_RIMES), r.choice(VI_TONES)
        vowels = [i for i, c in enumerate(rime) if c in VI_VOWELS]
        # The tone mark sits on the last vowel of a closed or circumflexed rime, else on the first.
        last = vowels[-1]
        on = last if len(vowels) > 1 and (rime[last] in "âêôơư" or len(rime) > len(vowels)) \
            and rime[:2] not in ("ai", "ao", "au", "ay", "oi", "ui", "ưi", "ưu", "ia", "ua", "ưa", "eo") else vowels[0]
        return unicodedata.normalize("NFC", r.choice(VI_ONSETS) + rime[:on + 1] + tone + rime[on + 1:])

    def vietnamese(self):
        r = self.rng
        words = [self.vietnamese_word() for _ in range(r.randint(5, 20))]
        for i in range(len(words) - 1):
            if r.random() < 0.08:
                words[i] += ","
        s = " ".join(words)
        return s[0].upper() + s[1:] + r.choice("..?")

    def espeak_item(self, path, lang):
        r = self.rng
        # The voice before the rate, as before German existed, so that --german 0 draws the same corpus.
        voice = r.choice(ESPEAK_DE) if lang == "de" else \
            r.choice(ESPEAK_EN if lang == "en" else ESPEAK_VI) + r.choice(ESPEAK_VARIANTS)
        wpm = int(round(np.exp(r.uniform(np.log(80), np.log(500)))))
        extra = {}
        if lang == "de":
            words = self.german()
            phonemes = subprocess.run(["espeak-ng", "-v", "de", "-q", "-x", words], capture_output=True, text=True,
                                      check=True).stdout.split()
            if any("(" in w for w in phonemes):
                return None  # a word read in another language
            reduction = r.random()
            mnemonics, reduced = reduce_schwa(" ".join(phonemes), reduction, r)
            text = f"[[{mnemonics}]]" + r.choice("..?")
            extra = dict(words=words, reduction=round(reduction, 3), reduced=reduced)
        else:
            text = self.english() if lang == "en" else self.vietnamese()
        audio, events = self.espeak.synth(text, voice, wpm)
        if any(p.startswith("(") for _, p in events):
            return None  # espeak-ng switched language for a word it did not know: the text is not what was said
        sr = self.espeak.sample_rate
        vowels = []
        for k, (start, phone) in enumerate(events):
            if phone and (any(c in IPA_VOWELS for c in phone) or "\u0329" in phone):
                end = next((events[m][0] for m in range(k + 1, len(events)) if events[m][0] > start), len(audio))
                vowels.append((start / sr, end / sr))
        sf.write(path, audio, sr, subtype="PCM_16")
        return dict(path=path, engine="espeak", lang=lang, voice=voice, rate=wpm, text=text, vowels=vowels, **extra)

    def flite_item(self, path):
        r = self.rng
        voice = r.choice(FLITE_VOICES)
        stretch = float(np.exp(r.uniform(np.log(0.4), np.log(1.9))))
        f0 = r.choice([None, None, 90, 110, 130, 160, 190, 220])
        text = self.english()
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}"]
        cmd += ["--setf", f"int_f0_target_mean={f0}"] if f0 else []
        out = subprocess.run(cmd + ["-t", text, "-psdur", "-o", path], capture_output=True, text=True, check=True).stdout
        previous, vowels = 0.0, []
        for token in out.split():
            phone, end = token.rsplit(":", 1)
            if phone in FLITE_VOWELS:
                vowels.append((previous, float(end)))
            previous = float(end)
        return dict(path=path, engine="flite", lang="en", voice=voice, rate=stretch, f0=f0, text=text, vowels=vowels)


def _derive(item):
    src, dst, condition = item["path"], item["derived"], item["condition"]
    if condition == "tel":
        rc.to_telephone(src, dst)
        return
    noisy = dst if condition == "n10" else dst[:-4] + "_noisy.wav"
    rc.add_noise(src, noisy, 10, seed=len(dst) * 7919 + sum(map(ord, dst)))
    if condition == "n10_tel":
        rc.to_telephone(noisy, dst)
        os.remove(noisy)


def build(workdir, count, seed, jobs=2, german=0.0):
    """Makes (or reuses) `count` utterances in `workdir`, the fraction `german` of them German with reduced endings
    (0 leaves the corpus exactly as it was before German existed); returns the items (clean `path`, `derived` path,
    `condition`, `vowels` as (start, end) seconds)."""
    index = os.path.join(workdir, "items.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            items = json.load(f)
        if len(items) and items[0].get("seed") == seed and items[0].get("count") == count \
                and items[0].get("german", 0.0) == german:
            return items
    os.makedirs(workdir, exist_ok=True)
    gen = Generator(seed)
    items = []
    for i in range(count):
        roll = gen.rng.random()
        if german and gen.rng.random() < german:
            item = gen.espeak_item(os.path.join(workdir, f"es_de_{i:05d}.wav"), "de")
        elif roll < 0.4:
            item = gen.espeak_item(os.path.join(workdir, f"es_en_{i:05d}.wav"), "en")
        elif roll < 0.7:
            item = gen.espeak_item(os.path.join(workdir, f"es_vi_{i:05d}.wav"), "vi")
        else:
            item = gen.flite_item(os.path.join(workdir, f"fl_en_{i:05d}.wav"))
        if item is None:
            continue
        item["condition"] = gen.rng.choice(CONDITIONS)
        item["derived"] = item["path"][:-4] + "_" + item["condition"] + ".wav"
        items.append(item)
    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(_derive, items))
    for item in items:
        item.update(seed=seed, count=count, german=german)
    with open(index, "w", encoding="utf-8") as f:
        json.dump(items, f, ensure_ascii=False)
    return items
