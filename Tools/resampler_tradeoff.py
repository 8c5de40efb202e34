#!/usr/bin/env python3
"""Measures libsamplerate's converters for the conversions the engine makes (anything -> 16 kHz or 8 kHz):
speed, passband flatness and alias rejection. It calls the same C library `Resampler` wraps (via ctypes),
one channel, in the engine's 4096-frame blocks, so the numbers carry over (the Swift wrapper adds one
function call per block).

Columns:
  Msamples/s   input samples converted per second of CPU (median of 3 runs over 60 s of noise)
  x realtime   the same, as multiples of real time for one channel at the input rate
  pass dB      worst gain error of tones at 100, 1000, 3400 and 6000 Hz (0.8 x the 8 kHz output Nyquist)
  alias dB     level of the alias a full-scale tone 1 kHz above the output Nyquist leaves in the output
               (relative to the tone; lower is better)

Usage: Tools/resampler_tradeoff.py [--seconds N] [--rates 44100,48000,22050,11025]
Writes nothing; prints one table row per (input rate, converter).
"""
import argparse
import ctypes
import ctypes.util
import statistics
import time

import numpy as np

CONVERTERS = {"SINC_BEST": 0, "SINC_MEDIUM": 1, "SINC_FASTEST": 2, "ZERO_ORDER_HOLD": 3, "LINEAR": 4}


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


def tone_gain_db(y, hz, rate):
    """Amplitude of the `hz` component of the steady middle of y, in dB re amplitude 1."""
    mid = y[len(y) // 4: 3 * len(y) // 4]
    t = np.arange(len(mid)) / rate
    w = np.hanning(len(mid))
    c = np.sum(mid * w * np.exp(-2j * np.pi * hz * t)) / (np.sum(w) / 2)
    return 20 * np.log10(max(abs(c), 1e-12))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60, help="seconds of audio for the speed test (default 60)")
    ap.add_argument("--rates", default="44100,48000,22050,11025", help="input rates, converted to 16 kHz")
    args = ap.parse_args()
    lib = load()
    rng = np.random.default_rng(1)
    out_rate = 16000
    print(f"{'in Hz':>6} {'converter':<16} {'Msamples/s':>10} {'x realtime':>10} {'pass dB':>8} {'alias dB':>9}")
    for rate_in in [int(r) for r in args.rates.split(",")]:
        noise = (rng.standard_normal(int(args.seconds * rate_in)) * 0.1).astype(np.float32)
        t = np.arange(rate_in * 2) / rate_in
        for name, conv in CONVERTERS.items():
            times = []
            for _ in range(3):
                t0 = time.process_time()
                convert(lib, noise, rate_in, out_rate, conv)
                times.append(time.process_time() - t0)
            speed = len(noise) / statistics.median(times)
            worst = 0.0
            for hz in (100, 1000, 3400, 6000):
                if hz < rate_in / 2:
                    g = tone_gain_db(convert(lib, np.sin(2 * np.pi * hz * t), rate_in, out_rate, conv), hz, out_rate)
                    worst = max(worst, abs(g))
            alias_hz = None
            above = out_rate / 2 + 1000
            if above < rate_in / 2:
                y = convert(lib, np.sin(2 * np.pi * above * t), rate_in, out_rate, conv)
                alias_hz = out_rate - above
                alias = tone_gain_db(y, alias_hz, out_rate)
            print(f"{rate_in:>6} {name:<16} {speed / 1e6:>10.1f} {speed / rate_in:>10.0f} {worst:>8.3f} "
                  f"{(f'{alias:9.1f}' if alias_hz else '      n/a')}")


if __name__ == "__main__":
    main()
