#!/usr/bin/env python3
"""Soak test of the live daemon (issue 8, "Soak"): 10,000 short calls started and ended through control.sock,
several at a time, with subscribers connecting and leaving all along; prints the daemon's RSS, open file
descriptors and threads every 1,000 calls and a verdict on whether they stay flat.

How:
  * `attuned` (release binary, --attuned) runs in a temp run dir; calls are `file:CLIP?speed=max` (a few
    seconds of generated two-voice speech, 8 kHz stereo), --parallel of them in flight at a time: a new one
    starts as soon as `stats` shows fewer running. Every --stop-every-th call is stopped with `stop` instead of
    running to its end, so both ends (`eof`, `stopped`) are exercised.
  * A churn thread keeps subscribers coming and going: every ~50 ms it opens one (alternately with and
    without frames, some filtered to one call), reads for 0-300 ms and closes it; every tenth one reads
    nothing at all before closing (a subscriber that never reads).
  * At every checkpoint (each 1,000 calls) starting pauses until every call has ended and the churned
    subscribers have closed, then the daemon's VmRSS, /proc/PID/fd count and thread count are taken, so the
    figures compare like with like.
Verdict: flat when, from the 1,000-call checkpoint (allocator warm) to the last, RSS grows by at most
--rss-tolerance-mb (default 8 MiB), file descriptors are back to exactly their 1,000-call value, and threads are
within +2 of it (libdispatch keeps or retires an idle worker thread or two on its own schedule; a leak of one
capture thread per call would show as thousands).

Run (release build first: swift build -c release --product attuned):
    python3 Tools/soak.py --attuned .build/release/attuned            # 10,000 calls
    python3 Tools/soak.py --attuned .build/release/attuned --calls 2000 --every 500
Exit status: 0 flat, 1 not flat, 2 the run failed. The daemon is always killed at the end; only Unix sockets
are used; --timeout bounds the run.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def make_clip(path, seconds):
    if os.path.exists(path):
        return path
    tmp = tempfile.mkdtemp(prefix="attune-soak-audio-")
    try:
        chans = []
        for i, (voice, text) in enumerate([("en-us", "Thank you for calling, how can I help you today?"),
                                           ("en+f3", "I was charged twice and I want it fixed.")]):
            raw = os.path.join(tmp, f"{i}.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-w", raw, text], check=True, capture_output=True)
            mono = os.path.join(tmp, f"m{i}.wav")
            subprocess.run(["sox", "-D", raw, "-r", "8000", "-c", "1", "-b", "16", mono, "pad", "0.2", "0",
                            "trim", "0", str(seconds), "pad", "0", str(seconds)], check=True, capture_output=True)
            cut = os.path.join(tmp, f"c{i}.wav")
            subprocess.run(["sox", "-D", mono, cut, "trim", "0", str(seconds)], check=True, capture_output=True)
            chans.append(cut)
        out = path + ".tmp.wav"
        subprocess.run(["sox", "-D", "-M", *chans, out], check=True, capture_output=True)
        os.replace(out, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def connect(path, timeout=20):
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                raise SystemExit(f"soak.py: cannot connect to {path}")
            time.sleep(0.05)


class Control:
    def __init__(self, path):
        self.sock = connect(path)
        self.sock.settimeout(60)
        self.buf = b""

    def cmd(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("control.sock closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


class Churn(threading.Thread):
    """Subscribers coming and going until stopped; `paused` holds it (with none open) for checkpoints."""

    def __init__(self, path, seed):
        super().__init__(daemon=True)
        self.path = path
        self.rng = random.Random(seed)
        self.stop_flag = False
        self.pause = threading.Event()
        self.idle = threading.Event()
        self.opened = 0
        self.bytes = 0

    def run(self):
        i = 0
        while not self.stop_flag:
            if self.pause.is_set():
                self.idle.set()
                time.sleep(0.02)
                continue
            self.idle.clear()
            i += 1
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self.opened += 1
                kind = i % 10
                if kind == 0:
                    time.sleep(self.rng.uniform(0, 0.3))          # never reads
                else:
                    if kind % 3 == 1:
                        s.sendall(b'{"subscribe": {"frames": true}}\n')
                    elif kind % 3 == 2:
                        s.sendall(b'{"subscribe": {"types": ["call_start", "call_end", "segment"]}}\n')
                    s.settimeout(0.05)
                    end = time.monotonic() + self.rng.uniform(0, 0.3)
                    while time.monotonic() < end:
                        try:
                            d = s.recv(1 << 20)
                            if not d:
                                break
                            self.bytes += len(d)
                        except socket.timeout:
                            pass
            except OSError:
                pass
            finally:
                s.close()
            time.sleep(self.rng.uniform(0, 0.05))
        self.idle.set()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attuned", default=".build/release/attuned", help="the daemon binary (release build)")
    ap.add_argument("--calls", type=int, default=10_000, help="calls in all (default 10,000)")
    ap.add_argument("--every", type=int, default=1_000, help="checkpoint every this many calls (default 1,000)")
    ap.add_argument("--parallel", type=int, default=8, help="calls in flight at a time (default 8)")
    ap.add_argument("--clip-seconds", type=float, default=3.0, help="length of each call's audio (default 3 s)")
    ap.add_argument("--stop-every", type=int, default=7, help="every n-th call is ended by `stop` (default 7)")
    ap.add_argument("--rss-tolerance-mb", type=float, default=8.0, help="allowed RSS growth after warm-up (MiB)")
    ap.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds (default 3600)")
    ap.add_argument("--keep", action="store_true", help="keep the run dir (daemon log)")
    args = ap.parse_args()
    if not os.access(args.attuned, os.X_OK):
        raise SystemExit(f"soak.py: {args.attuned} is not an executable (swift build -c release --product attuned)")
    clip = make_clip(os.path.join(tempfile.gettempdir(), f"attune-soak-clip-{args.clip_seconds:g}s.wav"),
                     args.clip_seconds)
    run_dir = tempfile.mkdtemp(prefix="attune-soak-")
    with open(os.path.join(run_dir, "attune.toml"), "w") as f:
        f.write(f'run_dir = "{run_dir}"\nlog_level = "warning"\n')
    log = open(os.path.join(run_dir, "attuned.log"), "w")
    print(f"attuned: {args.attuned}   clip: {clip} ({args.clip_seconds:g} s, speed=max)   {args.parallel} in flight, "
          f"every {args.stop_every}th stopped   load average {loadavg()}")
    daemon = subprocess.Popen([args.attuned, "--config", os.path.join(run_dir, "attune.toml")],
                              stdout=log, stderr=subprocess.STDOUT)
    churn = None
    rows = []
    failed = None
    t0 = time.monotonic()
    try:
        ctl = Control(os.path.join(run_dir, "control.sock"))
        churn = Churn(os.path.join(run_dir, "events.sock"), 8)

        def checkpoint(done):
            if churn.is_alive():
                churn.pause.set()
                churn.idle.wait(10)
            deadline = time.monotonic() + 60
            while True:
                st = ctl.cmd({"cmd": "stats"})
                if st.get("calls_active") == 0 and st.get("subscribers", 0) == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"calls or subscribers did not drain at checkpoint {done}: {st}")
                time.sleep(0.05)
            time.sleep(0.3)
            row = {"calls": done, "rss_kb": status(daemon.pid, "VmRSS"), "fds": fd_count(daemon.pid),
                   "threads": status(daemon.pid, "Threads"), "ended": int(st["calls_ended"]),
                   "dropped": int(st["samples_dropped"]), "subs": churn.opened,
                   "elapsed": time.monotonic() - t0, "load": loadavg()}
            rows.append(row)
            print("{:>7} {:>9.1f} {:>5} {:>7} {:>7} {:>7} {:>9} {:>8.0f}   {}".format(
                row["calls"], row["rss_kb"] / 1024, row["fds"], row["threads"], row["ended"], row["dropped"],
                row["subs"], row["elapsed"], row["load"]), flush=True)
            churn.pause.clear()

        print("{:>7} {:>9} {:>5} {:>7} {:>7} {:>7} {:>9} {:>8}   {}".format(
            "calls", "RSS MiB", "fds", "threads", "ended", "dropped", "subs", "elapsed", "load (1/5/15 min)"))
        checkpoint(0)
        churn.start()
        started = 0
        while started < args.calls:
            if time.monotonic() - t0 > args.timeout:
                raise RuntimeError(f"timeout after {started} calls")
            st = ctl.cmd({"cmd": "stats"})
            active = int(st["calls_active"])
            batch = min(args.parallel - active, args.calls - started,
                        args.every - started % args.every if started % args.every else args.every)
            for _ in range(max(0, batch)):
                cid = f"s{started}"
                r = ctl.cmd({"cmd": "start", "call": cid, "source": f"file:{clip}?speed=max"})
                if not r.get("ok"):
                    raise RuntimeError(f"start {cid}: {r}")
                if started % args.stop_every == args.stop_every - 1:
                    ctl.cmd({"cmd": "stop", "call": cid})     # may race its own end: either reply is fine
                started += 1
            if started % args.every == 0 and started and (not rows or rows[-1]["calls"] != started):
                checkpoint(started)
            elif batch <= 0:
                time.sleep(0.005)
    except Exception as e:  # noqa: BLE001 - any failure is reported and the daemon still killed
        failed = str(e)
    finally:
        if churn:
            churn.stop_flag = True
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        log.close()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    if failed:
        print(f"soak.py: FAILED: {failed}" + (f" (log in {run_dir})" if args.keep else ""))
        sys.exit(2)
    ref = next((r for r in rows if r["calls"] >= args.every), rows[0])
    last = rows[-1]
    growth = (last["rss_kb"] - ref["rss_kb"]) / 1024
    slope = growth / max(1, (last["calls"] - ref["calls"]) / 1000)
    flat = (growth <= args.rss_tolerance_mb and last["fds"] == ref["fds"] and last["threads"] - ref["threads"] <= 2
            and last["ended"] == last["calls"] and last["dropped"] == 0)
    print(f"from {ref['calls']} to {last['calls']} calls: RSS {growth:+.1f} MiB ({slope:+.2f} MiB per 1,000 calls; "
          f"tolerance +{args.rss_tolerance_mb:g} MiB), fds {last['fds'] - ref['fds']:+d} (tolerance 0), threads "
          f"{last['threads'] - ref['threads']:+d} (tolerance +2); every call ended: {last['ended'] == last['calls']}; "
          f"samples dropped (speed=max never drops): {last['dropped']}")
    print("verdict:", "FLAT" if flat else "NOT FLAT")
    sys.exit(0 if flat else 1)


if __name__ == "__main__":
    main()
