#!/usr/bin/env python3
"""NATS JetStream publishing benchmark (issue 11 "Throughput"): how many records per second one attuned node
publishes with acks while it analyses its calls, the CPU that publishing adds per call, and whether it costs
dropped samples at a few hundred calls.

For each N of --sweep it runs the same load twice on a fresh nats-server -js (temp store, loopback port):
  off  attuned without NATS (the Unix socket only, no subscriber);
  on   attuned with --nats and [nats] frames = true (every record, 100 frames per second per channel, goes to
       JetStream and is acknowledged), or with --no-frames the default frames = false (segments, events,
       call_start/call_end: what a CRM or dashboard consumes);
each with N calls of the bundled 30 s stereo 8 kHz call replayed at real-time pace (file:...?speed=1), started
over --stagger seconds. Over a steady window of --duration seconds it reads the daemon's CPU (utime+stime of
/proc/PID/stat) and nats-server's, and from control.sock `stats` the records published to NATS (acked), still
buffered, dropped for NATS, and samples_dropped. Added CPU per call = (cpu_on - cpu_off) / N.

--burst M also measures the peak: M calls at ?speed=max with frames, records acked per second while they run.

Run (release build first: swift build -c release --scratch-path .build-release --product attuned):
    python3 Tools/nats_bench.py --attuned .build-release/release/attuned --sweep 50,200,300 --duration 20
Figures depend on what else the machine runs (its load average is printed with every row).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
AUDIO = os.path.join(ROOT, "Samples", "call-8k-mulaw.wav")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def command(run_dir, obj, timeout=30):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(os.path.join(run_dir, "control.sock"))
    s.sendall((json.dumps(obj) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nats_bench: timed out waiting for {what}")


def start_nats(tmp):
    port = free_port()
    store = tempfile.mkdtemp(dir=tmp, prefix="js")
    log = open(os.path.join(tmp, f"nats-{port}.log"), "w")
    server = shutil.which("nats-server") or "/usr/sbin/nats-server"
    p = subprocess.Popen([server, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store], stdout=log, stderr=log)
    wait_for(lambda: socket.create_connection(("127.0.0.1", port), 0.2).close() is None, 20, "nats-server")
    return p, f"nats://127.0.0.1:{port}"


def start_daemon(args, tmp, nats_url, tag):
    run_dir = tempfile.mkdtemp(dir=tmp, prefix=tag)
    cfg = os.path.join(run_dir, "attune.toml")
    with open(cfg, "w") as f:
        f.write("log_level = \"warning\"\nmax_calls = 100000\n")
        if nats_url:
            frames = "false" if args.no_frames else "true"
            f.write(f"[nats]\nurl = \"{nats_url}\"\nframes = {frames}\nbuffer_records = {args.buffer}\n")
    argv = [args.attuned, "--config", cfg, "--run-dir", run_dir, "--node", "bench"]
    log = open(os.path.join(run_dir, "attuned.log"), "w")
    p = subprocess.Popen(argv, stdout=log, stderr=log)
    wait_for(lambda: command(run_dir, {"cmd": "list"}, 1)["ok"], 30, "attuned")
    if nats_url:
        wait_for(lambda: command(run_dir, {"cmd": "stats"})["nats"]["connected"], 30, "attuned to connect to NATS")
    return p, run_dir


def loadavg():
    return os.getloadavg()[0]


def run(args, n, with_nats, speed="1", window=None):
    tmp = tempfile.mkdtemp(prefix="nats-bench-")
    nats, url = start_nats(tmp)
    daemon, run_dir = start_daemon(args, tmp, url if with_nats else None, "on" if with_nats else "off")
    try:
        load = loadavg()
        burst = speed != "1"
        if burst:
            # The burst is measured from before the first start to the last ack.
            s0 = command(run_dir, {"cmd": "stats"})
            c0, k0, t0 = cpu_seconds(daemon.pid), cpu_seconds(nats.pid), time.time()
        for i in range(n):
            r = command(run_dir, {"cmd": "start", "call": f"b{i}", "source": f"file:{AUDIO}?speed={speed}"})
            if not r.get("ok"):
                raise SystemExit(f"nats_bench: start b{i}: {r}")
            time.sleep(0 if burst else args.stagger / max(1, n))
        if not burst:
            time.sleep(args.warmup)
            s0 = command(run_dir, {"cmd": "stats"})
            c0, k0, t0 = cpu_seconds(daemon.pid), cpu_seconds(nats.pid), time.time()
        if speed == "1":
            time.sleep(window or args.duration)
        else:
            wait_for(lambda: command(run_dir, {"cmd": "stats"})["calls_active"] == 0, 600, "the burst to end")
        s1 = command(run_dir, {"cmd": "stats"})
        c1, k1, t1 = cpu_seconds(daemon.pid), cpu_seconds(nats.pid), time.time()
        if with_nats and speed != "1":
            # The peak counts until everything is acked, not only until the calls ended.
            wait_for(lambda: command(run_dir, {"cmd": "stats"})["nats"]["buffered"] == 0, 600, "the buffers to drain")
            s1 = command(run_dir, {"cmd": "stats"})
            c1, k1, t1 = cpu_seconds(daemon.pid), cpu_seconds(nats.pid), time.time()
        secs = t1 - t0
        row = {
            "calls": n, "nats": with_nats, "speed": speed, "seconds": round(secs, 1), "load": round(load, 1),
            "attuned_cpu_pct": round(100 * (c1 - c0) / secs, 1),
            "nats_server_cpu_pct": round(100 * (k1 - k0) / secs, 1),
            "frames_to_nats": with_nats and not args.no_frames,
            "records_per_s": round((s1["records_published"] - s0["records_published"]) / secs),
            "samples_dropped": s1["samples_dropped"] - s0["samples_dropped"],
        }
        if with_nats:
            a, b = s0["nats"], s1["nats"]
            row.update({
                "acked_per_s": round((b["published"] - a["published"]) / secs),
                "nats_buffered_end": b["buffered"], "nats_dropped": b["dropped"] - a["dropped"],
                "nats_retries": b["retries"] - a["retries"],
            })
        return row
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        nats.kill()
        nats.wait()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--attuned", default=os.path.join(ROOT, ".build-release/release/attuned"))
    ap.add_argument("--sweep", default="50,200,300", help="comma-separated N (concurrent real-time calls)")
    ap.add_argument("--duration", type=float, default=20, help="steady-window seconds (the call is 30 s long)")
    ap.add_argument("--stagger", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--buffer", type=int, default=10000, help="[nats] buffer_records")
    ap.add_argument("--burst", type=int, default=0, help="also M calls at speed=max with frames (peak acked records/s)")
    ap.add_argument("--no-frames", action="store_true",
                    help="publish without frame records (the default [nats] setting): segments, events, call_start/end only")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", help="write the rows here too")
    args = ap.parse_args()
    rows = []
    print(f"{'N':>5} {'nats':>5} {'load':>5} {'attuned%':>9} {'nats-srv%':>9} {'records/s':>9} {'acked/s':>8} "
          f"{'buffered':>8} {'dropped':>7} {'samples_dropped':>15} {'added%/call':>11}", flush=True)
    for n in [int(x) for x in args.sweep.split(",") if x]:
        off = run(args, n, False)
        on = run(args, n, True)
        added = round((on["attuned_cpu_pct"] - off["attuned_cpu_pct"]) / n, 3)
        on["added_cpu_pct_per_call"] = added
        for r in (off, on):
            rows.append(r)
            print(f"{r['calls']:>5} {('on' if r['nats'] else 'off'):>5} {r['load']:>5} {r['attuned_cpu_pct']:>9} "
                  f"{r['nats_server_cpu_pct']:>9} {r['records_per_s']:>9} {r.get('acked_per_s', '-'):>8} "
                  f"{r.get('nats_buffered_end', '-'):>8} {r.get('nats_dropped', '-'):>7} {r['samples_dropped']:>15} "
                  f"{(added if r['nats'] else ''):>11}", flush=True)
    if args.burst:
        r = run(args, args.burst, True, speed="max")
        rows.append(r)
        print(f"burst: {args.burst} calls at speed=max with frames: {r['acked_per_s']} records/s acked over "
              f"{r['seconds']} s (attuned {r['attuned_cpu_pct']}% CPU, nats-server {r['nats_server_cpu_pct']}%, "
              f"load {r['load']}), dropped for NATS {r['nats_dropped']}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
