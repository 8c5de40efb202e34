#!/usr/bin/env python3
"""Measures the resamplers the engine could use for the conversions it makes (anything wider than 8 kHz -> 16 kHz):
libsamplerate's five converters and libsoxr's quality recipes. It calls the same C libraries through ctypes,
one channel, in the engine's 4096-frame blocks, so the quality figures carry over exactly and the speed figures
rank the candidates (the Python loop adds the same per-block cost to every row; `attune bench --stages FILE`
gives the engine's own resample_us per 10 ms frame).

Columns:
  Msamples/s   input samples converted per second of CPU (best of 3 runs over 60 s of noise; shared machines are noisy)
  x realtime   the same, as multiples of real time for one channel at the input rate
  pass3k8 dB   worst gain error of tones from 60 Hz to 3.8 kHz (F0, its harmonics and the band levels)
  pass7k dB    worst gain error of tones from 60 Hz to 7 kHz (what the broadband energy sees)
  alias dB     the loudest alias a tone above the 8 kHz output Nyquist (8.1 kHz up to the input Nyquist, every
               700 Hz) leaves anywhere in 0-8 kHz, relative to the tone; lower is better, about -136 is float32's floor

Usage: Tools/resampler_tradeoff.py [--seconds N] [--rates 44100,48000,22050,11025] [--only soxr|src]
Writes nothing; prints one table row per (input rate, converter).
"""
import argparse
import ctypes
import ctypes.util
import statistics
import time

import numpy as np

CONVERTERS = {"SINC_BEST": 0, "SINC_MEDIUM": 1, "SINC_FASTEST": 2, "ZERO_ORDER_HOLD": 3, "LINEAR": 4}
# libsoxr's recipes (soxr.h): QQ cubic interpolation, LQ/MQ 16-bit, HQ 20-bit (what Resampler uses), VHQ 28-bit.
SOXR_RECIPES = {"QQ": 0, "LQ": 1, "MQ": 2, "HQ": 4, "VHQ": 6}


class SRCData(ctypes.Structure):
    _fields_ = [("data_in", ctypes.POINTER(ctypes.c_float)), ("data_out", ctypes.POINTER(ctypes.c_float)),
                ("input_frames", ctypes.c_long), ("output_frames", ctypes.c_long),
                ("input_frames_used", ctypes.c_long), ("output_frames_gen", ctypes.c_long),
                ("end_of_input", ctypes.c_int), ("src_ratio", ctypes.c_double)]


def load():
    name = ctypes.util.find_library("samplerate") or "libsamplerate.so.0"
    lib = ctypes.CDLL(name)
    lib.src_new.restype = ctypes.c_void_p
    lib.src_new.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.src_process.argtypes = [ctypes.c_void_p, ctypes.POINTER(SRCData)]
    lib.src_delete.argtypes = [ctypes.c_void_p]
    lib.src_delete.restype = ctypes.c_void_p
    return lib


def convert(lib, x, rate_in, rate_out, converter, block=4096):
    """Streams x through one converter in blocks, like Resampler.process, flushing at the end."""
    err = ctypes.c_int(0)
    state = lib.src_new(converter, 1, ctypes.byref(err))
    assert state, f"src_new failed: {err.value}"
    ratio = rate_out / rate_in
    out_cap = int(block * ratio) + 64
    out_buf = np.zeros(out_cap, dtype=np.float32)
    pieces = []
    x = np.ascontiguousarray(x, dtype=np.float32)
    fptr = ctypes.POINTER(ctypes.c_float)
    pos = 0
    n = len(x)
    while True:
        end = pos >= n
        chunk = x[pos:pos + block] if not end else np.zeros(1, dtype=np.float32)
        offset = 0
        count = len(chunk) if not end else 0
        while True:
            d = SRCData(chunk[offset:].ctypes.data_as(fptr), out_buf.ctypes.data_as(fptr), count - offset, out_cap,
                        0, 0, 1 if end else 0, ratio)
            e = lib.src_process(state, ctypes.byref(d))
            assert e == 0, f"src_process failed: {e}"
            offset += d.input_frames_used
            if d.output_frames_gen:
                pieces.append(out_buf[:d.output_frames_gen].copy())
            if offset < count:
                continue
            if end and d.output_frames_gen > 0:
                continue
            break
        if end:
            break
        pos += block
    lib.src_delete(state)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


class SoxrQuality(ctypes.Structure):
    _fields_ = [("precision", ctypes.c_double), ("phase_response", ctypes.c_double),
                ("passband_end", ctypes.c_double), ("stopband_begin", ctypes.c_double),
                ("e", ctypes.c_void_p), ("flags", ctypes.c_ulong)]


class SoxrRuntime(ctypes.Structure):
    _fields_ = [("log2_min_dft_size", ctypes.c_uint), ("log2_large_dft_size", ctypes.c_uint),
                ("coef_size_kbytes", ctypes.c_uint), ("num_threads", ctypes.c_uint),
                ("e", ctypes.c_void_p), ("flags", ctypes.c_ulong)]


def load_soxr():
    name = ctypes.util.find_library("soxr") or "libsoxr.so.0"
    lib = ctypes.CDLL(name)
    lib.soxr_quality_spec.restype = SoxrQuality
    lib.soxr_quality_spec.argtypes = [ctypes.c_ulong, ctypes.c_ulong]
    lib.soxr_runtime_spec.restype = SoxrRuntime
    lib.soxr_runtime_spec.argtypes = [ctypes.c_uint]
    lib.soxr_create.restype = ctypes.c_void_p
    lib.soxr_create.argtypes = [ctypes.c_double, ctypes.c_double, ctypes.c_uint, ctypes.POINTER(ctypes.c_char_p),
                                ctypes.c_void_p, ctypes.POINTER(SoxrQuality), ctypes.POINTER(SoxrRuntime)]
    lib.soxr_process.restype = ctypes.c_char_p
    lib.soxr_process.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
                                 ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.soxr_delete.argtypes = [ctypes.c_void_p]
    lib.soxr_delete.restype = None
    return lib


def convert_soxr(lib, x, rate_in, rate_out, recipe, block=4096):
    """Streams x through libsoxr in blocks, one thread, like Resampler.process, then drains it (nil input)."""
    err = ctypes.c_char_p()
    quality = lib.soxr_quality_spec(recipe, 0)
    runtime = lib.soxr_runtime_spec(1)
    state = lib.soxr_create(rate_in, rate_out, 1, ctypes.byref(err), None, ctypes.byref(quality), ctypes.byref(runtime))
    assert state and not err.value, f"soxr_create failed: {err.value}"
    out_buf = np.zeros(int(block * rate_out / rate_in) + 64, dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    used, made = ctypes.c_size_t(), ctypes.c_size_t()
    pieces = []
    for pos in range(0, len(x), block):
        chunk = x[pos:pos + block]
        offset = 0
        while offset < len(chunk):
            e = lib.soxr_process(state, chunk[offset:].ctypes.data, len(chunk) - offset, ctypes.byref(used),
                                 out_buf.ctypes.data, len(out_buf), ctypes.byref(made))
            assert not e, f"soxr_process failed: {e}"
            offset += used.value
            if made.value:
                pieces.append(out_buf[:made.value].copy())
    while True:
        e = lib.soxr_process(state, None, 0, None, out_buf.ctypes.data, len(out_buf), ctypes.byref(made))
        assert not e, f"soxr_process failed: {e}"
        if not made.value:
            break
        pieces.append(out_buf[:made.value].copy())
    lib.soxr_delete(state)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def tone_gain_db(y, hz, rate):
    """Amplitude of the `hz` component of the steady middle of y, in dB re amplitude 1."""
    mid = y[len(y) // 4: 3 * len(y) // 4]
    t = np.arange(len(mid)) / rate
    w = np.hanning(len(mid))
    c = np.sum(mid * w * np.exp(-2j * np.pi * hz * t)) / (np.sum(w) / 2)
    return 20 * np.log10(max(abs(c), 1e-12))


def measure(label, conv, rate_in, out_rate, noise):
    """Prints one row: speed on `noise`, pass-band errors and the worst alias, for `conv(x, rate_in, out_rate)`."""
    times = []
    for _ in range(3):
        t0 = time.process_time()
        conv(noise, rate_in, out_rate)
        times.append(time.process_time() - t0)
    speed = len(noise) / min(times)
    t = np.arange(rate_in) / rate_in
    pass38 = pass7 = 0.0
    for hz in (60, 200, 500, 1000, 2500, 3800, 5000, 6000, 7000):
        if hz < 0.45 * rate_in:
            g = abs(tone_gain_db(conv(0.5 * np.sin(2 * np.pi * hz * t), rate_in, out_rate), hz, out_rate) - 20 * np.log10(0.5))
            pass7 = max(pass7, g)
            if hz <= 3800:
                pass38 = max(pass38, g)
    alias = None
    hz = out_rate / 2 + 100
    while hz < 0.49 * rate_in:
        a = abs(hz - out_rate * round(hz / out_rate))
        y = conv(0.9 * np.sin(2 * np.pi * hz * t), rate_in, out_rate)
        level = tone_gain_db(y, a, out_rate) - 20 * np.log10(0.9)
        alias = level if alias is None else max(alias, level)
        hz += 700
    print(f"{rate_in:>6} {label:<18} {speed / 1e6:>10.1f} {speed / rate_in:>10.0f} {pass38:>10.4f} {pass7:>10.4f} "
          f"{(f'{alias:9.1f}' if alias is not None else '      n/a')}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60, help="seconds of audio for the speed test (default 60)")
    ap.add_argument("--rates", default="44100,48000,22050,11025", help="input rates, converted to 16 kHz")
    ap.add_argument("--only", choices=["soxr", "src"], help="measure only libsoxr or only libsamplerate")
    args = ap.parse_args()
    src = load() if args.only != "soxr" else None
    soxr = load_soxr() if args.only != "src" else None
    rng = np.random.default_rng(1)
    out_rate = 16000
    print(f"{'in Hz':>6} {'converter':<18} {'Msamples/s':>10} {'x realtime':>10} {'pass3k8 dB':>10} {'pass7k dB':>10} {'alias dB':>9}")
    for rate_in in [int(r) for r in args.rates.split(",")]:
        noise = (rng.standard_normal(int(args.seconds * rate_in)) * 0.1).astype(np.float32)
        if src:
            for name, c in CONVERTERS.items():
                measure(f"src {name}", lambda x, ri, ro, c=c: convert(src, x, ri, ro, c), rate_in, out_rate, noise)
        if soxr:
            for name, r in SOXR_RECIPES.items():
                label = f"soxr {name}" + (" (chosen)" if name == "HQ" else "")
                measure(label, lambda x, ri, ro, r=r: convert_soxr(soxr, x, ri, ro, r), rate_in, out_rate, noise)


if __name__ == "__main__":
    main()
