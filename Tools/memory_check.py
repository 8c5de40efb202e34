#!/usr/bin/env python3
"""Shows that `attune analyze` streams: its peak memory is the same for a 1-minute and a 2-hour file.

Makes two 8 kHz μ-law stereo files with sox (speech-like: tone bursts over noise, cheap to make at any
length), runs the release `attune analyze` on each in a fresh process and prints the peak resident set.
Usage: Tools/memory_check.py [--attune PATH] [--hours 2]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile


def peak_rss_kib(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attune", help="attune binary (default: build it in release)")
    ap.add_argument("--hours", type=float, default=2.0, help="length of the long file (default 2)")
    args = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    attune = args.attune
    if not attune:
        subprocess.run(["swift", "build", "-c", "release", "--product", "attune"], cwd=repo, check=True, stdout=subprocess.DEVNULL)
        attune = os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=repo, check=True,
                                             capture_output=True, text=True).stdout.strip(), "attune")
    with tempfile.TemporaryDirectory(prefix="attune-mem-") as work:
        rows = []
        for seconds in (60, int(args.hours * 3600)):
            path = os.path.join(work, f"long-{seconds}s.wav")
            # -D: no dither; -R: sox's noise and dither from a fixed seed, so every run writes the same bytes.
            subprocess.run(["sox", "-D", "-R", "-n", "-r", "8000", "-c", "2", "-e", "u-law", path,
                            "synth", str(seconds), "sine", "180-220", "pinknoise", "remix", "1,2", "1v0.3,2v0.7",
                            "tremolo", "4", "90", "gain", "-n", "-6"], check=True)
            # Each run in its own child process, so ru_maxrss of the children is that run's peak.
            code = ("import resource,subprocess,sys;subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);"
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            kib = int(subprocess.run([sys.executable, "-c", code, attune, "analyze", path], check=True,
                                     capture_output=True, text=True).stdout.strip())
            rows.append((seconds, os.path.getsize(path), kib))
        print(f"{'audio':>10} {'file MiB':>9} {'peak RSS MiB':>13}")
        for seconds, size, kib in rows:
            print(f"{seconds / 60:>8.0f} m {size / 2**20:>9.1f} {kib / 1024:>13.1f}")
        growth = rows[1][2] / rows[0][2]
        print(f"\npeak memory grows {growth:.2f}× for {rows[1][0] / rows[0][0]:.0f}× the audio")
        return 0 if growth < 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
