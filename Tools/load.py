#!/usr/bin/env python3
"""Load test of the live daemon: N concurrent 8 kHz stereo calls replayed at real-time pace, one subscriber
reading every record (frames included). Answers issue 8's "Load" question: the largest N with zero dropped
samples and p99 processing lag <= 50 ms, with CPU and RSS per call.

What it does, for each N:
  1. starts `attuned` (the release binary, --attuned) in a fresh temp run dir, with a generated attune.toml
     (paced_block_ms from --block-ms, log level warning);
  2. connects one subscriber to events.sock with {"subscribe": {"frames": true}}; a reader thread only
     recv_into()s (up to 4 MiB at a time) straight into memory allocated before the run, noting each chunk's
     CLOCK_MONOTONIC arrival time, so the Python side costs the 2-core machine as little as possible (its CPU
     is reported);
  3. starts N calls through control.sock, `file:AUDIO` at speed 1 (real-time pace), staggered evenly over
     --stagger seconds so the capture threads do not all tick together;
  4. lets them run for --duration seconds; samples the daemon's CPU (utime+stime of /proc/PID/stat), RSS
     (VmRSS), thread count and the CPU of each thread (/proc/PID/task/*/stat, grouped by thread name) at
     the start and the end of the steady window (from all calls started + --warmup seconds to the end);
  5. asks control.sock for `stats` (samples_dropped, subscriber_records_dropped), stops the daemon
     (always: try/finally), then parses what the reader received.

Lag, per frame record (steady window only):
  zero   = arrival of the call's `call_start` record on our socket, taken as the moment its capture thread
           started pacing. Bias: the engine marks call_start before it spawns the capture thread and the
           record thread publishes it within ~2 ms, so zero is within a few ms of the true start -- but if
           the bus is already backed up when call_start goes out, zero is late and every lag of that call
           reads low by that much. The table's `cs-skew` column shows (call_start arrival - start command
           sent) p50/max so the bias is visible; it is an upper bound of it.
  D      = the engine's fixed look-ahead, ChannelAnalyzer.fixedDelaySamples = (PitchTracker.latency 35 +
           SpeechActivityAnalyzer.lookAhead 16) * hop 80 + framer reach 200 = 4,280 samples = 535.0 ms at
           8 kHz (README "Fixed delay"); --calibrate measures it as the minimum of arrival - (zero + t) on one
           quiet call and prints both.
  The frame centred on t needs the stream up to sample c + D (c = t * rate). Paced replay delivers audio
  in blocks of --block-ms: that sample reaches the engine when its block is delivered, at
  zero + ceil((c + D) / B) * B / rate (B = block frames). So
      lag      = arrival - (zero + delivery time of the block holding sample c + D - 1)     <- "processing lag"
      lag_wall = arrival - (zero + t + D)     (adds the wait for the rest of the block: 0 .. block_ms)
  p50/p95/p99/max of `lag` in ms is the figure the issue judges (<= 50 ms at p99); lag_wall p99 is shown too.

Drops: `gap` records with what=samples on the socket, and `samples_dropped` of the stats reply; both must be
zero for N to hold. `gap` with what=records (our subscriber fell behind) and subscriber_records_dropped are
shown too: records lost to the subscriber make the lag figures incomplete.

Run (release build first: swift build -c release --product attuned --product attune):
    python3 Tools/load.py --attuned .build/release/attuned -n 200 --duration 40
    python3 Tools/load.py --attuned .build/release/attuned --sweep 100,200,400,700,1000
    python3 Tools/load.py --attuned .build/release/attuned --calibrate
Every row carries the machine's load average (uptime) at its start: numbers taken while other work runs on
the machine are pessimistic. Only Unix sockets are used; the daemon is killed on any exit.
"""

import argparse
import json
import mmap
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

RATE = 8000
CODE_LOOKAHEAD_SAMPLES = (35 + 16) * 80 + 200  # ChannelAnalyzer.fixedDelaySamples at 8 kHz
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The reader pauses this long after a read that found less than SPOOL_BATCH_BYTES waiting, so it wakes about a
# thousand times a second instead of once per daemon write: the CPU it saves is the daemon's on a 2-core machine.
# A line can be stamped up to the pause late, so lags read high by at most 1 ms, never low.
SPOOL_PAUSE_S = 0.001
SPOOL_BATCH_BYTES = 256 << 10
SPOOL_READ_BYTES = 4 << 20

FRAME_RE = re.compile(rb'"type":"frame","v":1,"call":"([^"]+)","channel":\d+,"role":"[a-z]+","t":([0-9.]+)')
START_RE = re.compile(rb'"type":"call_start","v":1,"call":"([^"]+)"')
GAP_RE = re.compile(rb'\{"type":"gap"[^\n]*')


# ---------------------------------------------------------------------------------------------- audio

def make_audio(path, seconds):
    """A speech-like stereo 8 kHz WAV: espeak-ng English voice on channel 0 (the agent), another voice and
    pitch on channel 1 (the customer), with pauses, looped to at least `seconds`."""
    if os.path.exists(path):
        return path
    tmp = tempfile.mkdtemp(prefix="attune-load-audio-")
    try:
        texts = [
            "Thank you for calling, my name is Anna. How can I help you today? "
            "I can see your account here. Let me check the last invoice for you. "
            "Yes, the charge was applied on the third. I understand, I will open a ticket right now.",
            "Hi, yes. I was charged twice this month and nobody answered my email. "
            "This is the third time I am calling about it. I want it fixed today, please. "
            "Okay. And how long will that take? Fine, thank you.",
        ]
        chans = []
        for i, (text, voice, pitch) in enumerate(zip(texts, ["en-us", "en+f3"], ["45", "70"])):
            raw = os.path.join(tmp, f"c{i}.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-p", pitch, "-s", "160", "-g", "8", "-w", raw, text],
                           check=True, capture_output=True)
            mono = os.path.join(tmp, f"m{i}.wav")
            # Channel 1 starts 1.5 s later so the two sides overlap only partly, like a conversation.
            pad = ["pad", "0", "1"] if i == 0 else ["pad", "1.5", "0"]
            subprocess.run(["sox", "-D", raw, "-r", str(RATE), "-c", "1", "-b", "16", mono, *pad], check=True,
                           capture_output=True)
            chans.append(mono)
        lens = [float(subprocess.run(["soxi", "-D", c], check=True, capture_output=True, text=True).stdout)
                for c in chans]
        longest = max(lens)
        fixed = []
        for c, ln in zip(chans, lens):
            f = c + ".fix.wav"
            subprocess.run(["sox", "-D", c, f, "pad", "0", f"{longest - ln:.3f}"], check=True, capture_output=True)
            fixed.append(f)
        base = os.path.join(tmp, "base.wav")
        subprocess.run(["sox", "-D", "-M", *fixed, base], check=True, capture_output=True)
        repeats = max(0, int(seconds / longest + 0.999) - 1)
        out_tmp = path + ".tmp.wav"
        subprocess.run(["sox", "-D", base, out_tmp, "repeat", str(repeats)], check=True, capture_output=True)
        os.replace(out_tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


# ---------------------------------------------------------------------------------------------- /proc

def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_io(pid):
    """(read syscalls, write syscalls) of pid so far, from /proc/PID/io."""
    vals = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            vals[k] = int(v)
    return vals.get("syscr", 0), vals.get("syscw", 0)


def thread_ticks(pid):
    """{tid: (name, nanoseconds on CPU)} for every thread of pid, from /proc/PID/task/TID/schedstat (exact; the
    clock-tick counts of task/TID/stat truncate per thread, which loses most of a thousand capture threads' time)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[tid] = (name, ns)
    return out


def thread_group(name):
    if name.startswith("attune-dsp"):
        return name
    if name == "attune-records":
        return name
    if name.startswith("NIO-"):
        return "NIO event loops"
    if name == "attune-capture":
        return "capture threads (attune-capture)"
    if name == "attuned":
        return "main (attuned)"
    if "qos" in name:
        return "dispatch (" + name + ")"
    return "other (" + name + ")"


def per_thread_cpu(before, after, seconds):
    groups = {}
    counts = {}
    for tid, (name, ticks) in after.items():
        start = before.get(tid, (name, 0))[1] if tid in before else 0
        # Threads born inside the window count from zero (capture threads of late calls); ones that died are lost.
        g = thread_group(name)
        groups[g] = groups.get(g, 0) + (ticks - start)
        counts[g] = counts.get(g, 0) + 1
    return {g: (100.0 * t / 1e9 / seconds, counts[g]) for g, t in groups.items()}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------------------------------------- sockets

def wait_for(path, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                return s
            except OSError:
                s.close()
        time.sleep(0.05)
    raise SystemExit(f"load.py: {path} did not appear within {timeout} s")


class Control:
    """One connection to control.sock; one JSON reply line per command."""

    def __init__(self, path):
        self.sock = wait_for(path, 20)
        self.sock.settimeout(30)
        self.buf = b""

    def cmd(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("load.py: control.sock closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.sock.close()


class Spooler(threading.Thread):
    """Reads the subscriber socket as fast as it can, straight into memory: `recv_into` writes each chunk into
    the next free bytes of an anonymous mapping, and its (arrival_ns, offset, length) goes in a list.

    An earlier version appended every chunk to a spool file: that copied each byte a second time (into the page
    cache) and had the kernel write about 40 MB/s back to disk at N = 1,000, CPU taken from the daemon on a 2-core
    machine. The mapping is allocated up front (--spool-mb; MAP_POPULATE, so no page faults while reading) and
    grows by whole regions if a run needs more."""

    REGION = 256 << 20

    def __init__(self, sock, megabytes):
        super().__init__(daemon=True)
        self.sock = sock
        self.regions = [self._region(max(self.REGION, megabytes << 20))]
        self.chunks = []          # (arrival_ns, region index, offset, length)
        self.stop_flag = False
        self.bytes = 0
        self.cpu_start = None
        self.cpu = 0.0

    @staticmethod
    def _region(size):
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
        return mmap.mmap(-1, size, flags=flags)

    def run(self):
        self.cpu_start = time.thread_time()
        sock = self.sock
        sock.settimeout(0.2)
        now = time.monotonic_ns
        chunks = self.chunks
        index = 0
        region = self.regions[0]
        view = memoryview(region)
        offset = 0
        while not self.stop_flag:
            if len(region) - offset < SPOOL_READ_BYTES:
                view.release()
                region = self._region(self.REGION)
                self.regions.append(region)
                index += 1
                view = memoryview(region)
                offset = 0
            try:
                n = sock.recv_into(view[offset:offset + SPOOL_READ_BYTES])
            except socket.timeout:
                continue
            except OSError:
                break
            t = now()
            if not n:
                break
            chunks.append((t, index, offset, n))
            offset += n
            self.bytes += n
            if n < SPOOL_BATCH_BYTES:
                time.sleep(SPOOL_PAUSE_S)
        view.release()
        self.cpu = time.thread_time() - self.cpu_start

    def lines(self):
        """Yields (arrival_ns, complete lines bytes) per chunk, re-joining lines split across chunks (a line is
        stamped with the arrival of the chunk that completed it)."""
        rest = b""
        for t, index, offset, n in self.chunks:
            data = rest + self.regions[index][offset:offset + n]
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            yield t, data[:cut]

    def save(self, path):
        """Writes what was received to `path` as NDJSON (for --keep)."""
        with open(path, "wb") as f:
            for _, lines in self.lines():
                f.write(lines)


# ---------------------------------------------------------------------------------------------- one run

def spool_estimate_mb(args, n):
    """Memory for everything the subscriber will receive: about 200 bytes per frame record, 100 frames a second per
    channel, over the whole run, with a third to spare."""
    seconds = args.stagger + args.warmup + args.duration + 10
    return int(n * 2 * 100 * 200 * seconds * 4 / 3) >> 20


def percentile(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def run_once(args, n, audio, lookahead_samples):
    run_dir = tempfile.mkdtemp(prefix=f"attune-load-{n}-")
    spool = os.path.join(run_dir, "records.ndjson")
    cfg = os.path.join(run_dir, "attune.toml")
    with open(cfg, "w") as f:
        f.write(f'run_dir = "{run_dir}"\nlog_level = "warning"\npaced_block_ms = {args.block_ms}\n'
                f"max_calls = {max(4096, n + 10)}\n")
        if args.workers:
            f.write(f"workers = {args.workers}\n")
        if args.ring_seconds:
            f.write(f"ring_seconds = {args.ring_seconds}\n")
    try:
        return measure(args, n, audio, lookahead_samples, run_dir, spool, cfg)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def measure(args, n, audio, lookahead_samples, run_dir, spool, cfg):
    block = RATE * args.block_ms // 1000
    row = {"n": n, "load": loadavg(), "engine_lag_every": args.engine_lag_every}
    log = open(os.path.join(run_dir, "attuned.log"), "w")
    daemon = subprocess.Popen([args.attuned, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    spooler = None
    ctl = None
    try:
        sub = wait_for(os.path.join(run_dir, "events.sock"), 20)
        sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sub.sendall(b'{"subscribe": {"frames": true}}\n')
        spooler = Spooler(sub, args.spool_mb or spool_estimate_mb(args, n))
        spooler.start()
        ctl = Control(os.path.join(run_dir, "control.sock"))
        sent = {}
        t_begin = time.monotonic()
        for i in range(n):
            due = t_begin + args.stagger * i / max(1, n)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            cid = f"c{i}"
            sent[cid] = time.monotonic_ns()
            reply = ctl.cmd({"cmd": "start", "call": cid, "source": f"file:{audio}", "roles": ["agent", "customer"]})
            if not reply.get("ok"):
                raise SystemExit(f"load.py: start {cid} refused: {reply}")
        started_all = time.monotonic()
        row["start_s"] = started_all - t_begin
        time.sleep(args.warmup)
        w0 = time.monotonic()
        w0_ns = time.monotonic_ns()
        cpu0 = proc_cpu_ticks(daemon.pid)
        io0 = proc_io(daemon.pid)
        thr0 = thread_ticks(daemon.pid)
        rss = []
        threads = []
        end = w0 + args.duration
        engine_lags = []
        tick = 0
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            rss.append(proc_status(daemon.pid, "VmRSS"))
            threads.append(proc_status(daemon.pid, "Threads"))
            tick += 1
            if args.engine_lag_every and tick % args.engine_lag_every == 0 and time.monotonic() < end - 1:
                # The engine's own backlog per call (audio captured but not yet analysed, `list`'s lag_s): tells
                # a DSP worker behind from a subscriber (this tool) behind, which the record lag cannot.
                try:
                    engine_lags.extend(c.get("lag_s", 0) for c in ctl.cmd({"cmd": "list"}).get("calls", []))
                except (OSError, SystemExit):
                    engine_lags.append(float("inf"))
            if daemon.poll() is not None:
                raise SystemExit(f"load.py: attuned exited with {daemon.returncode}; see {run_dir}/attuned.log")
        w1 = time.monotonic()
        w1_ns = time.monotonic_ns()
        cpu1 = proc_cpu_ticks(daemon.pid)
        io1 = proc_io(daemon.pid)
        thr1 = thread_ticks(daemon.pid)
        # An overloaded daemon may answer late or not at all (the control socket shares the bus's event loop):
        # that is a result, not a crash of the tool.
        try:
            stats = ctl.cmd({"cmd": "stats"})
            calls = ctl.cmd({"cmd": "list"}).get("calls", [])
        except (OSError, SystemExit) as e:
            stats = {"error": f"control.sock did not answer stats/list within 30 s ({e.__class__.__name__})"}
            calls = []
            row["note"] = stats["error"]
        secs = w1 - w0
        row["cpu_pct"] = 100.0 * (cpu1 - cpu0) / CLK_TCK / secs
        row["read_syscalls_per_s"] = (io1[0] - io0[0]) / secs
        row["write_syscalls_per_s"] = (io1[1] - io0[1]) / secs
        engine_lags.sort()
        row["engine_lag_ms"] = (1000 * percentile(engine_lags, 99), 1000 * engine_lags[-1]) if engine_lags else None
        row["rss_mb"] = max(rss) / 1024.0
        row["threads"] = max(threads)
        row["threads_by_name"] = per_thread_cpu(thr0, thr1, secs)
        row["stats"] = stats
        row["calls_running"] = len(calls) if calls else (n if "error" in stats else 0)
        row["late_lag_s_max"] = max((c.get("lag_s", 0) for c in calls), default=0)
    finally:
        if spooler:
            spooler.stop_flag = True
        if ctl:
            ctl.close()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        log.close()
        if spooler:
            spooler.join(5)
    row["reader_cpu_pct"] = 100.0 * spooler.cpu / max(1e-9, (w1 - t_begin))
    row["reader_kb_per_read"] = spooler.bytes / 1024.0 / max(1, len(spooler.chunks))
    if args.keep:
        spooler.save(spool)

    # Parse what the subscriber received.
    zero = {}
    lags = []
    by_second = {}   # steady-window second -> lags of the frames that arrived in it
    walls = []
    lows = []
    records = 0
    gaps_samples = 0
    gaps_records = 0
    rate = float(RATE)
    for t_ns, lines in spooler.lines():
        in_window = w0_ns <= t_ns <= w1_ns
        if in_window:
            records += lines.count(b"\n")
        if b'"call_start"' in lines:
            for m in START_RE.finditer(lines):
                zero[m.group(1).decode()] = t_ns
        if b'"type":"gap"' in lines:
            for m in GAP_RE.finditer(lines):
                g = json.loads(m.group(0))
                if g.get("what") == "samples":
                    gaps_samples += 1
                else:
                    gaps_records += 1
        if not in_window and not args.calibrate_run:
            continue
        for call, t in FRAME_RE.findall(lines):
            z = zero.get(call.decode())
            if z is None:
                continue
            c = round(float(t) * rate)
            since = (t_ns - z) / 1e9
            need = c + lookahead_samples
            delivered = ((need - 1) // block + 1) * block / rate
            lags.append(since - delivered)
            by_second.setdefault((t_ns - w0_ns) // 1_000_000_000, []).append(since - delivered)
            walls.append(since - need / rate)
            lows.append(since - c / rate)
    lags.sort()
    walls.sort()
    row["frames"] = len(lags)
    row["records_per_s"] = records / secs
    row["lag"] = [1000 * percentile(lags, p) for p in (50, 95, 99, 100)]
    row["timeline"] = []
    for second in sorted(by_second):
        v = sorted(by_second[second])
        row["timeline"].append((second, len(v), 1000 * percentile(v, 50), 1000 * percentile(v, 99), 1000 * v[-1]))
    row["lag_wall_p99"] = 1000 * percentile(walls, 99)
    row["lookahead_min_ms"] = 1000 * min(lows) if lows else float("nan")
    skew = sorted((zero[c] - sent[c]) / 1e6 for c in sent if c in zero)
    row["cs_skew"] = (percentile(skew, 50), skew[-1] if skew else float("nan"))
    row["calls_seen"] = len(zero)
    row["gaps_samples"] = gaps_samples
    row["gaps_records"] = gaps_records
    row["dropped"] = int(row["stats"].get("samples_dropped", -1))
    row["sub_dropped"] = int(row["stats"].get("subscriber_records_dropped", -1))
    row["holds"] = (row["dropped"] == 0 and gaps_samples == 0 and row["lag"][2] <= args.p99_ms
                    and row["calls_running"] == n and len(lags) > 0)
    if args.keep:
        row["run_dir"] = run_dir
    return row


HEADER = ("{:>5} {:>6} {:>6} {:>6} {:>7} {:>8} {:>5} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>9} {:>5} {:>14}  {}"
          .format("N", "p50", "p95", "p99", "max", "wall99", "drops", "gaps", "subdrp", "cpu%", "cpu/c", "rssMB",
                  "kB/c", "thr", "rec/s", "rdr%", "cs-skew ms", "load (1/5/15 min)  holds"))


def fmt_row(r):
    l = r["lag"]
    return ("{:>5} {:>6.1f} {:>6.1f} {:>6.1f} {:>7.1f} {:>8.1f} {:>5} {:>5} {:>6} {:>6.1f} {:>6.3f} {:>6.1f} {:>6.0f} {:>8} "
            "{:>9.0f} {:>5.1f} {:>6.1f}/{:<7.1f}  {}  {}".format(
                r["n"], l[0], l[1], l[2], l[3], r["lag_wall_p99"], r["dropped"], r["gaps_samples"], r["sub_dropped"],
                r["cpu_pct"], r["cpu_pct"] / r["n"], r["rss_mb"], r["rss_mb"] * 1024 / r["n"], r["threads"],
                r["records_per_s"], r["reader_cpu_pct"], r["cs_skew"][0], r["cs_skew"][1], r["load"],
                "yes" if r["holds"] else "NO"))


def print_threads(r):
    if r.get("engine_lag_ms"):
        p99, mx = r["engine_lag_ms"]
        print(f"  N={r['n']}: the engine's own backlog (list lag_s, captured - analysed, sampled every "
              f"{r['engine_lag_every']} s over all calls): p99 {p99:.0f} ms, max {mx:.0f} ms (includes up to one block)")
    print(f"  per-thread CPU at N={r['n']} (% of one core over the steady window, threads alive at its end; "
          f"daemon syscalls/s: read {r['read_syscalls_per_s']:.0f}, write {r['write_syscalls_per_s']:.0f}):")
    for g, (pct, count) in sorted(r["threads_by_name"].items(), key=lambda kv: -kv[1][0]):
        print(f"    {g:<28} {pct:7.1f} %  ({count} thread{'s' if count != 1 else ''})")
    print(f"  this tool's reader: {r['reader_cpu_pct']:.1f} % of one core, {r['reader_kb_per_read']:.0f} kB per read")


def print_timeline(r):
    """Lag per second of the steady window: a tail spread over every second is a pipeline without headroom; one
    confined to a few seconds is a burst (a stall, another process), which the per-run percentiles cannot tell."""
    print(f"  lag by second at N={r['n']} (frames arrived in that second of the steady window), ms:")
    for second, count, p50, p99, mx in r["timeline"]:
        print(f"    {second:4d} s  {count:7d} frames  p50 {p50:7.1f}  p99 {p99:7.1f}  max {mx:7.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attuned", default=".build/release/attuned", help="the daemon binary (release build)")
    ap.add_argument("-n", "--calls", type=int, default=100, help="concurrent calls (stereo: 2 channels each)")
    ap.add_argument("--sweep", help="comma-separated N values, one run and one table row each")
    ap.add_argument("--duration", type=float, default=30, help="steady-window seconds per run (default 30)")
    ap.add_argument("--stagger", type=float, default=2.0, help="seconds over which the calls are started")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds after the last start before measuring")
    ap.add_argument("--block-ms", type=int, default=20, help="paced_block_ms for the replay (default 20)")
    ap.add_argument("--workers", type=int, help="DSP workers (default: the daemon's, one per core)")
    ap.add_argument("--ring-seconds", type=float, help="ring_seconds (default: the daemon's, 2)")
    ap.add_argument("--p99-ms", type=float, default=50.0, help="lag budget at p99 for N to hold (default 50)")
    ap.add_argument("--audio", help="stereo 8 kHz WAV to replay (default: generated with espeak-ng, cached)")
    ap.add_argument("--calibrate", action="store_true",
                    help="one quiet call: measure the fixed look-ahead as min(arrival - (zero + t)) and exit")
    ap.add_argument("--lookahead-ms", type=float,
                    help="override the look-ahead subtracted (default: the code's 535.0 ms = 4,280 samples)")
    ap.add_argument("--engine-lag-every", type=int, default=5,
                    help="ask `list` for every call's backlog every this many seconds (0: never; default 5)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run dirs (log, and records.ndjson: every line the subscriber received) for inspection")
    ap.add_argument("--timeline", action="store_true", help="also print the lag percentiles of each second")
    ap.add_argument("--spool-mb", type=int,
                    help="memory the subscriber receives into, allocated before the run (default: estimated from N)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    args.calibrate_run = False
    if not os.access(args.attuned, os.X_OK):
        raise SystemExit(f"load.py: {args.attuned} is not an executable (build: swift build -c release --product attuned)")
    audio = args.audio or make_audio(os.path.join(tempfile.gettempdir(), "attune-load-speech-8k-stereo.wav"),
                                     max(60.0, args.stagger + args.warmup + args.duration + 5))
    lookahead = CODE_LOOKAHEAD_SAMPLES if args.lookahead_ms is None else round(args.lookahead_ms * RATE / 1000)
    print(f"attuned: {args.attuned}   audio: {audio}   block {args.block_ms} ms   "
          f"look-ahead subtracted: {1000 * lookahead / RATE:.1f} ms (code: {1000 * CODE_LOOKAHEAD_SAMPLES / RATE:.1f} ms)")
    print(f"machine: {os.cpu_count()} cores, load average now {loadavg()} (figures taken under load are pessimistic)")
    if args.calibrate:
        args.calibrate_run = True
        r = run_once(args, 1, audio, lookahead)
        print(f"fixed look-ahead measured on one call: min(arrival - (zero + t)) = {r['lookahead_min_ms']:.1f} ms "
              f"(code: {1000 * CODE_LOOKAHEAD_SAMPLES / RATE:.1f} ms; the difference is the call_start bias and the "
              f"block wait, 0..{args.block_ms} ms); lag p50 {r['lag'][0]:.1f} ms, max {r['lag'][3]:.1f} ms")
        return
    ns = [int(x) for x in args.sweep.split(",")] if args.sweep else [args.calls]
    print("lag = arrival - (call_start arrival + delivery of the block completing sample t + look-ahead), ms, steady "
          f"window of {args.duration:.0f} s; wall99 = p99 of arrival - (zero + t + look-ahead)")
    print("drops = stats samples_dropped, gaps = gap records what=samples, subdrp = records dropped for our subscriber;"
          " cpu% of one core (daemon), cpu/c per call; rdr% = this tool's reader thread")
    print(HEADER)
    rows = []
    for n in ns:
        try:
            r = run_once(args, n, audio, lookahead)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - one failed N must not end the sweep
            print(f"{n:>5}  FAILED: {e}   load {loadavg()}", flush=True)
            continue
        rows.append(r)
        print(fmt_row(r) + (f"   ({r['note']})" if r.get("note") else ""), flush=True)
    best = max((r["n"] for r in rows if r["holds"]), default=None)
    print()
    print(f"largest N that holds (zero dropped samples, p99 lag <= {args.p99_ms:.0f} ms): "
          f"{best if best is not None else 'none of ' + ','.join(map(str, ns))}   (goal: 1000)")
    for r in rows:
        print_threads(r)
        if args.timeline:
            print_timeline(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=str)


if __name__ == "__main__":
    main()
