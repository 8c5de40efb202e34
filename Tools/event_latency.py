#!/usr/bin/env python3
"""How soon the live daemon tells a person about what it hears (issue 9: an event starts within 1.0 s of the end
of the speech that triggers it).

Builds EmoDB calls the way Tools/emotion_eval.py does (a speaker's neutral utterances, then one angry utterance),
starts a real `attuned`, plays N such calls at once in real time (`file:` sources) through its control socket and
subscribes to its event socket. For every `frustration` start it measures, on the wall clock:

  * speech-end latency: arrival of the event minus the moment the triggering utterance's speech ended in the
    replay (call_start arrival + the end of the call's last speech segment, as `attune analyze` finds it).
    Negative when the event arrived while the caller was still speaking.
  * pipeline delay: arrival minus the moment its own `t` (the decision's audio time) was played: the analysis'
    fixed delay plus the record path.

usage: Tools/event_latency.py [--attuned PATH] [--attune PATH] [--emodb DIR] [--calls N]
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time, threading, csv, statistics

sys.path.insert(0, os.path.dirname(__file__))
import emodb_splits  # noqa: E402
from emotion_eval import WORKDIR, build_calls  # noqa: E402


def last_speech_end(attune, path):
    out = subprocess.run([attune, "analyze", path, "--roles", "customer", "--no-events"], capture_output=True, text=True, check=True)
    ends = [json.loads(l)["end"] for l in out.stdout.splitlines() if '"type":"segment"' in l]
    return max(ends)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attuned", default=".build-release/release/attuned")
    ap.add_argument("--attune", default=".build-release/release/attune")
    ap.add_argument("--emodb", default=emodb_splits.EMODB)
    ap.add_argument("--calls", type=int, default=40)
    a = ap.parse_args()

    os.makedirs(WORKDIR, exist_ok=True)
    calls = [c for c in build_calls(a.emodb, WORKDIR) if c["emotion"] == "angry"][: a.calls]
    speech_end = {c["file"][:-4]: last_speech_end(a.attune, c["path"]) for c in calls}

    run = tempfile.mkdtemp(prefix="attune-latency-")
    daemon = subprocess.Popen([a.attuned, "--run-dir", run], stdout=subprocess.DEVNULL, stderr=open(run + "/attuned.log", "w"))
    try:
        for _ in range(100):
            if os.path.exists(run + "/control.sock") and os.path.exists(run + "/events.sock"):
                break
            time.sleep(0.1)
        events = socket.socket(socket.AF_UNIX)
        events.connect(run + "/events.sock")
        events.sendall(b'{"subscribe": {"types": ["call_start", "event", "call_end"]}}\n')
        started, arrivals, ended = {}, [], set()

        def reader():
            buf = b""
            while len(ended) < len(calls):
                chunk = events.recv(65536)
                if not chunk:
                    return
                now = time.monotonic()
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    r = json.loads(line)
                    if r.get("type") == "call_start":
                        started[r["call"]] = now
                    elif r.get("type") == "call_end":
                        ended.add(r["call"])
                    elif r.get("type") == "event" and r["state"] == "start":
                        arrivals.append((now, r))

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        control = socket.socket(socket.AF_UNIX)
        control.connect(run + "/control.sock")
        f = control.makefile("rwb")
        for c in calls:
            cmd = {"cmd": "start", "call": c["file"][:-4], "source": "file:" + c["path"], "roles": ["customer"]}
            f.write((json.dumps(cmd) + "\n").encode())
            f.flush()
            reply = json.loads(f.readline())
            if not reply.get("ok"):
                sys.exit(f"start refused: {reply}")
        t.join(timeout=120)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)

    to_speech_end, pipeline = [], []
    for now, r in arrivals:
        if r["kind"] != "frustration" or r["call"] not in started:
            continue
        t0 = started[r["call"]]
        to_speech_end.append(now - (t0 + speech_end[r["call"]]))
        pipeline.append(now - (t0 + r["t"]))
    n = len(to_speech_end)
    print(f"{len(calls)} angry EmoDB calls played at once in real time; {n} frustration events")
    if n:
        print(f"arrival after the end of the triggering speech: p50 {pct(to_speech_end, 50):+.3f} s, "
              f"p95 {pct(to_speech_end, 95):+.3f} s, max {max(to_speech_end):+.3f} s (goal: at most +1.0 s)")
        print(f"pipeline delay (arrival after its own t was played): p50 {pct(pipeline, 50):.3f} s, p95 {pct(pipeline, 95):.3f} s")


if __name__ == "__main__":
    main()
