"""Synthetic speech with a known F0 contour, for Tools/pitch_eval.py.

An EmoDB utterance gives the contour (Praat AC, cleaned of octave jumps and blips, scaled by a factor that
depends on the voice group) and the loudness envelope; a band-limited harmonic source with a -12 dB/octave
tilt, jitter and shimmer follows the contour through four moving vowel formants; unvoiced stretches get
fricative-like noise shaped by the original's envelope (silent where the original was silent).

Voice groups (VOICES): `normal` (any speaker, contour x0.85-1.2, 0.5 % slow jitter, 4 % shimmer);
`low` (male contours x0.5-0.7, clipped to 55 Hz: 55-100 Hz voices, with 2 % period-to-period jitter,
12 % shimmer and creaky stretches where every other period is weaker and later); `high` (female contours
x1.3-1.7, clipped to 450 Hz); `breathy` (any speaker, x0.85-1.2, aspiration noise 6-12 dB below the
harmonics, a steeper tilt, and one or two stretches per file attenuated by 15-25 dB but still voiced).
The truth is the contour itself: jitter moves single periods, never the contour.
"""

import csv
import os
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from scipy import signal

import emodb_splits

FS = 16000
HOP = 160
VOWELS = [  # F1, F2, F3, F4 (Hz), adult average
    (730, 1090, 2440, 3400), (530, 1840, 2480, 3500), (270, 2290, 3010, 3700),
    (570, 840, 2410, 3300), (300, 870, 2240, 3300), (660, 1720, 2410, 3400), (490, 1350, 2500, 3500),
]
BANDWIDTHS = (80, 100, 140, 200)


VOICES = ("normal", "low", "high", "breathy")


@dataclass
class Item:
    name: str
    voice: str
    scale: float
    x: np.ndarray        # 16 kHz speech
    truth: np.ndarray    # F0 per 10 ms frame, 0 = unvoiced
    voiced: np.ndarray   # bool per frame


def pick_sources(root, n, rng, voices=False, exclude=frozenset()):
    """n EmoDB files, alternating male and female, any speaker and emotion, none named in `exclude` (file names
    without .wav). The first k of n picks are the k picks (a subset is a prefix).

    With `voices`, file i belongs to voice group VOICES[i % 4]: `low` takes male contours, `high` female ones,
    the others alternate by their index within the group."""
    with open(emodb_splits.labels_csv(root)) as f:
        rows = [r for r in csv.DictReader(f) if r["file"][:-4] not in exclude]
    by_gender = {g: [r for r in rows if r["gender"] == g] for g in ("male", "female")}
    out = []
    for i in range(n):
        voice = VOICES[i % len(VOICES)] if voices else "normal"
        if voice == "low":
            gender = "male"
        elif voice == "high":
            gender = "female"
        else:
            gender = "male" if (i // len(VOICES) if voices else i) % 2 == 0 else "female"
        pool = by_gender[gender]
        r = pool[rng.integers(len(pool))]
        out.append({"path": os.path.join(root, r["file"]), "name": r["file"][:-4], "gender": r["gender"],
                    "voice": voice})
    return out


def load_16k(path):
    x, fs = sf.read(path, dtype="float64")
    if x.ndim > 1:
        x = x[:, 0]
    if fs != FS:
        g = np.gcd(fs, FS)
        x = signal.resample_poly(x, FS // g, fs // g)
    return x


def contour(x16, gender):
    import parselmouth
    floor, ceiling = (60, 300) if gender == "male" else (100, 500)
    p = parselmouth.Sound(x16, sampling_frequency=FS).to_pitch_ac(time_step=0.01, pitch_floor=floor,
                                                                    pitch_ceiling=ceiling)
    f = p.selected_array["frequency"]
    t = p.xs()
    n = len(x16) // HOP
    k = np.rint((np.arange(n) * 0.01 - t[0]) / 0.01).astype(int)
    f0 = np.where((k >= 0) & (k < len(f)), f[np.clip(k, 0, len(f) - 1)], 0.0)
    f0 = np.nan_to_num(f0)
    # Drop frames far from their voiced neighbourhood's median (octave errors of the measurement).
    for i in range(n):
        if f0[i] > 0:
            nb = f0[max(0, i - 5):i + 6]
            med = np.median(nb[nb > 0])
            if abs(np.log2(f0[i] / med)) > 0.3:
                f0[i] = 0
    # A jump of more than a quarter octave in 10 ms is a measurement error, not a voice: split the run there
    # and keep only pieces long enough to trust (a real voice never jumps like that, so neither may the truth).
    v = f0 > 0
    i = 0
    while i < n:
        if not v[i]:
            i += 1
            continue
        j = i
        while j < n and v[j]:
            j += 1
        cuts = [i] + [k for k in range(i + 1, j) if abs(np.log2(f0[k] / f0[k - 1])) > 0.25] + [j]
        if len(cuts) > 2:
            for a, b in zip(cuts[:-1], cuts[1:]):
                if b - a < 8:
                    f0[a:b] = 0
                else:
                    f0[a] = 0      # leave a gap where the jump was
        i = j
    # Voiced runs shorter than 50 ms are not a reliable truth.
    v = f0 > 0
    i = 0
    while i < n:
        if v[i]:
            j = i
            while j < n and v[j]:
                j += 1
            if j - i < 5:
                f0[i:j] = 0
            i = j
        else:
            i += 1
    return f0


def smooth_noise(rng, n, cutoff_hz, fs):
    w = rng.standard_normal(n + 2000)
    b, a = signal.butter(2, cutoff_hz / (fs / 2))
    y = signal.lfilter(b, a, w)[2000:]
    return y / (np.std(y) + 1e-12)


SCALES = {"normal": (0.85, 1.2, 480), "low": (0.5, 0.7, 480), "high": (1.3, 1.7, 450), "breathy": (0.85, 1.2, 480)}


def make_item(src, rng):
    voice = src.get("voice", "normal")
    x16 = load_16k(src["path"])
    f0 = contour(x16, src["gender"])
    lo_scale, hi_scale, top = SCALES[voice]
    scale = float(np.exp(rng.uniform(np.log(lo_scale), np.log(hi_scale))))
    f0 = np.where(f0 > 0, np.clip(f0 * scale, 55, top), 0.0)
    pad = int(rng.integers(15, 30))
    f0 = np.concatenate([np.zeros(pad), f0, np.zeros(pad)])
    orig = np.concatenate([np.zeros(pad * HOP), x16[:(len(f0) - 2 * pad) * HOP], np.zeros(pad * HOP)])
    n = len(f0)
    N = n * HOP
    voiced = f0 > 0

    # Per-sample F0: linear between frame centres inside voiced runs, held at run edges.
    centres = np.arange(n) * HOP
    frame_of = np.minimum(np.rint(np.arange(N) / HOP).astype(int), n - 1)
    vmask = voiced[frame_of]
    fv = np.interp(np.arange(N), centres[voiced], f0[voiced]) if voiced.any() else np.zeros(N)
    fv = fv * (1 + 0.005 * smooth_noise(rng, N, 60, FS))
    creak = np.zeros(N, dtype=bool)
    if voice == "low":
        # Period-to-period jitter: a rate error that changes about once a period (noise cut off near F0).
        fv = fv * (1 + 0.02 * smooth_noise(rng, N, 80, FS))
        # Creaky stretches (often phrase-final): 150-400 ms at the end of some voiced runs.
        edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a >= 20 and rng.random() < 0.6:
                length = min(b - a - 5, int(rng.integers(15, 41)))
                creak[(b - length) * HOP:b * HOP] = True
    phase = 2 * np.pi * np.cumsum(fv) / FS
    src_v = np.zeros(N)
    kmax = int(7600 / max(50.0, fv[vmask].min() if vmask.any() else 100))
    tilt = 2.4 if voice == "breathy" else 2.0
    if creak.any():
        # Creak: every other period comes a little late (phase lag) and weaker, the alternation that makes
        # a creaky voice look like a period-doubled one to an autocorrelation.
        cycle = np.floor(phase / (2 * np.pi)).astype(np.int64)
        odd = creak & (cycle % 2 == 1)
        phase = phase - np.where(odd, 2 * np.pi * 0.08, 0.0)
    for k in range(1, kmax + 1):
        fk = k * fv
        fade = np.clip((7600 - fk) / 400, 0, 1)
        src_v += fade * np.sin(k * phase) / k ** tilt
    shimmer = 0.12 if voice == "low" else 0.04
    src_v *= 1 + shimmer * smooth_noise(rng, N, 40 if voice != "low" else 80, FS)
    if creak.any():
        src_v *= np.where(creak & (np.floor(phase / (2 * np.pi)).astype(np.int64) % 2 == 1), 0.6, 1.0)
    if voice == "breathy":
        # Aspiration: noise 6-12 dB below the harmonics, gated by the glottal cycle's open phase.
        hnr = rng.uniform(6, 12)
        asp = signal.sosfilt(signal.butter(2, 500 / (FS / 2), btype="high", output="sos"), rng.standard_normal(N))
        asp *= 0.6 + 0.4 * np.cos(phase)
        src_v += asp * np.sqrt(np.mean(src_v[vmask] ** 2) / np.mean(asp ** 2) / 10 ** (hnr / 10)) if vmask.any() else 0

    # Fricative-like noise for the unvoiced stretches.
    lo = rng.uniform(1500, 3000)
    sos = signal.butter(4, [lo / (FS / 2), 7000 / (FS / 2)], btype="band", output="sos")
    src_u = signal.sosfilt(sos, rng.standard_normal(N))

    # Moving vowel formants: a new target every 100-250 ms, cosine glides between targets.
    fmt = np.zeros((n, 4))
    i = 0
    cur = np.array(VOWELS[rng.integers(len(VOWELS))], float) * rng.uniform(0.92, 1.12)
    while i < n:
        nxt = np.array(VOWELS[rng.integers(len(VOWELS))], float) * rng.uniform(0.92, 1.12)
        length = int(rng.integers(10, 26))
        w = 0.5 - 0.5 * np.cos(np.pi * np.arange(length) / length)
        seg = cur[None, :] * (1 - w[:, None]) + nxt[None, :] * w[:, None]
        fmt[i:i + length] = seg[:n - i]
        cur = nxt
        i += length
    y = np.zeros(N)
    zi = [np.zeros(2) for _ in range(4)]
    for k in range(n):
        blk = src_v[k * HOP:(k + 1) * HOP] * vmask[k * HOP:(k + 1) * HOP]
        for j in range(4):
            r = np.exp(-np.pi * BANDWIDTHS[j] / FS)
            c = 2 * r * np.cos(2 * np.pi * fmt[k, j] / FS)
            a = [1, -c, r * r]
            blk, zi[j] = signal.lfilter([1 - c + r * r], a, blk, zi=zi[j])
        y[k * HOP:(k + 1) * HOP] = blk

    # Loudness from the original: frame RMS, applied as a smooth gain to the voiced and unvoiced parts.
    env = np.sqrt(np.convolve(orig ** 2, np.ones(HOP * 3) / (HOP * 3), mode="same")[centres] + 1e-12)
    env = np.maximum(env, 1e-4 * env.max())

    def shaped(part, mask_frames):
        rms = np.sqrt(np.convolve(part ** 2, np.ones(HOP * 3) / (HOP * 3), mode="same")[centres] + 1e-12)
        g = np.where(mask_frames, env / rms, 0.0)
        g = np.convolve(g, [0.25, 0.5, 0.25], mode="same")
        return part * np.interp(np.arange(N), centres, g)

    if voice == "breathy":
        # Low-energy stretches, still voiced: one or two of 150-400 ms, 15-25 dB down (a trailing-off voice).
        for _ in range(int(rng.integers(1, 3))):
            length = int(rng.integers(15, 41))
            start = int(rng.integers(0, max(1, n - length)))
            dip = np.ones(n)
            dip[start:start + length] = 10 ** (-rng.uniform(15, 25) / 20)
            env = env * np.convolve(dip, np.ones(5) / 5, mode="same")
    ramp = np.convolve(vmask.astype(float), np.hanning(161) / np.hanning(161).sum(), mode="same")
    voiced_part = shaped(y, voiced) * ramp
    unvoiced_part = shaped(src_u, ~voiced) * (1 - ramp) * 0.7
    x = voiced_part + unvoiced_part
    x = x / (np.abs(x).max() + 1e-12) * rng.uniform(0.3, 0.8)
    return Item(name=src["name"], voice=voice, scale=scale, x=x, truth=f0, voiced=voiced)


def voiced_power(x, voiced, hop):
    n = min(len(voiced), len(x) // hop)
    idx = np.concatenate([np.arange(k * hop, (k + 1) * hop) for k in range(n) if voiced[k]] or [np.arange(len(x))])
    return np.mean(x[idx] ** 2)


def pink(rng, n):
    w = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(w))
    w[1:] /= np.sqrt(f[1:])
    w[0] = 0
    return np.fft.irfft(w, n)


def telephone(x16, rng, noise_db=None, voiced=None):
    """8 kHz, 300-3400 Hz band-pass, optionally pink noise at `noise_db` SNR; μ-law is applied when written."""
    x = signal.resample_poly(x16, 1, 2)
    sos = signal.butter(6, [300 / 4000, 3400 / 4000], btype="band", output="sos")
    x = signal.sosfilt(sos, x)
    if noise_db is not None:
        nz = signal.sosfilt(sos, pink(rng, len(x)))
        p = voiced_power(x, voiced, 80) if voiced is not None else np.mean(x ** 2)
        x = x + nz * np.sqrt(p / np.mean(nz ** 2) / 10 ** (noise_db / 10))
    x = x / (np.abs(x).max() + 1e-12) * 0.7
    return x, 8000


# AMR-NB, the narrow-band codec of GSM, UMTS and VoLTE calls, at two of its eight modes: 12.2 kbit/s (mode 7, the
# rate of a good cell) and 4.75 kbit/s (mode 0, what a weak cell falls back to). Coded from the telephone condition,
# so these conditions are the telephone line heard through a mobile call. sox's AMR-NB support comes with
# libsox-fmt-all, which Tools/setup installs.
AMR_MODES = {"amr": 7, "amrlow": 0}
# Samples at 8 kHz by which the encode-decode round trip delays the signal: 40 (5 ms) in both modes, by cross-
# correlation with the input on synthetic and real speech (39-40 on every file tried).
AMR_DELAY = 40


def out_of_date(path, *sources):
    """True when `path` is missing or older than any of `sources` (so a copy made from them must be made again)."""
    return not os.path.exists(path) or os.path.getmtime(path) < max(os.path.getmtime(s) for s in sources)


def write_atomically(path, write):
    """Calls write(tmp) with a temporary name beside `path` (same extension), then renames it to `path`: an
    interrupted run leaves no half file under the name a later run would reuse."""
    tmp = "%s.%d.part%s" % (path, os.getpid(), os.path.splitext(path)[1])
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def amr_nb(src, dst, mode):
    """Codes the 8 kHz file `src` with AMR-NB in `mode` (0-7) and decodes it into `dst` (16-bit WAV), aligned with
    `src`: the round trip's delay is cut from the start and as much silence added at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        coded, decoded = os.path.join(tmp, "x.amr-nb"), os.path.join(tmp, "x.wav")
        subprocess.run(["sox", "-D", src, "-C", str(mode), coded], check=True)
        subprocess.run(["sox", "-D", coded, "-e", "signed", "-b", "16", decoded], check=True)
        y, fs = sf.read(decoded, dtype="float64")
    if fs != 8000:
        raise RuntimeError("amr_nb %s: decoded at %d Hz, expected 8000" % (src, fs))
    write_atomically(dst, lambda tmp: sf.write(tmp, np.concatenate([y[AMR_DELAY:], np.zeros(AMR_DELAY)]), fs,
                                               subtype="PCM_16"))


def amr_condition(stem, condition):
    """The path of AMR-NB condition `condition` ("amr" or "amrlow") of the files named `stem`_<condition>.wav,
    coded from `stem`_tel.wav the first time it is asked for, and again when the telephone file is newer."""
    path = "%s_%s.wav" % (stem, condition)
    if out_of_date(path, stem + "_tel.wav"):
        amr_nb(stem + "_tel.wav", path, AMR_MODES[condition])
    return path


def condition(item, name, rng):
    if name == "clean":
        return item.x, FS
    if name == "noise":
        p = voiced_power(item.x, item.voiced, HOP)
        x = item.x + rng.standard_normal(len(item.x)) * np.sqrt(p / 10 ** 0.5)
        return x / max(1.0, np.abs(x).max() / 0.95), FS
    if name == "tel":
        return telephone(item.x, rng)
    if name == "telnoise":
        return telephone(item.x, rng, noise_db=10, voiced=item.voiced)
    raise ValueError(name)
