#!/usr/bin/env python3
"""Scripted two-channel calls (channel 0 agent, channel 1 customer) spoken by espeak-ng in English and Vietnamese,
with their transcripts, run through `attune analyze --roles agent,customer --transcript`; prints precision and
recall per event kind, and with --check exits 1 when any scripted event is missed or an emotion event starts
where none belongs (the test suite runs it that way).

Each scenario has a calm part (the caller's baseline) and then what should fire: an escalation with complaint words
(frustration within 1.5 s of its start, never in the calm part), "Vâng, được rồi" said tensely (incongruence),
fillers and "I don't understand" (hesitation), a falling voice and "thôi, bỏ đi" (disengagement), thanks
(satisfaction), the agent silent for 8 s (dead_air), both talking at once (talk_over).

Needs only espeak-ng, sox and Python's standard library.

usage: Tools/scripted_calls.py [--attune PATH] [--check] [--keep DIR]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, wave, collections

RATE = 8000
CALM_EN = ["Hello, I am calling about the bill I received last week.",
           "My account number is four five two, and the address is twelve Park Street.",
           "The charge on the second page is for a service I did not order.",
           "I looked at the statement again this morning.",
           "It says the payment was taken on the third of the month.",
           "I usually pay by card, not by transfer.",
           "Could you check what the second line is for?"]
CALM_VI = ["Xin chào, tôi gọi về hóa đơn tháng này.",
           "Số tài khoản của tôi là bốn năm hai.",
           "Địa chỉ là mười hai đường Lê Lợi, quận một.",
           "Tôi thấy có một khoản phí ở trang thứ hai.",
           "Tôi thường thanh toán bằng thẻ ngân hàng.",
           "Bạn kiểm tra giúp tôi dòng thứ hai là gì nhé.",
           "Tôi đã xem lại bảng kê sáng nay."]
AGENT_EN = ["Of course, let me look at that for you.", "I see, thank you for waiting."]
AGENT_VI = ["Dạ vâng, để em kiểm tra cho anh.", "Dạ, anh chờ em một chút nhé."]

CALM = dict(s=150, p=40, a=100)


def scenarios():
    """(name, lang, turns, expected[, allowed]): a turn is (channel, text, voice, gap before it in seconds; negative overlaps
    the previous turn); expected is [(kind, channel, turn index it belongs to, seconds after that turn's start
    within which the event must start)]; allowed names kinds that may also start without counting as false."""
    out = []

    def calm(lang):
        lines, agent = (CALM_EN, AGENT_EN) if lang == "en" else (CALM_VI, AGENT_VI)
        turns = []
        for i, line in enumerate(lines):
            turns.append((1, line, CALM, 0.4))
            if i in (2, 5):
                turns.append((0, agent[(i // 3) % 2], CALM, 0.5))
        return turns

    t = calm("en") + [(1, "This is ridiculous! I want to cancel my account and get a refund, right now!", dict(s=195, p=85, a=180), 0.3)]
    # "right now" in a raised, fast voice is urgency too.
    out.append(("en-escalation", "en", t, [("frustration", 1, len(t) - 1, 1.5), ("urgency", 1, len(t) - 1, 4.5)]))
    t = calm("vi") + [(1, "Vâng, được rồi.", dict(s=190, p=85, a=170), 0.4)]
    # A tense "fine" is a heated voice too: frustration may come with it.
    out.append(("vi-incongruence", "vi", t, [("incongruence", 1, len(t) - 1, 2.5)], {"frustration"}))
    t = calm("en") + [(1, "Um, uh, I don't understand. Um, what do you mean?", dict(s=120, p=40, a=90), 0.4)]
    out.append(("en-hesitation", "en", t, [("hesitation", 1, len(t) - 1, 5.0)]))
    t = calm("vi") + [(1, "Thôi.", dict(s=120, p=30, a=40), 2.5), (1, "Bỏ đi.", dict(s=110, p=30, a=35), 2.5)]
    # The agent says nothing through the caller's long pauses: slow_response is right there too.
    out.append(("vi-disengagement", "vi", t, [("disengagement", 1, len(t) - 2, 6.0), ("slow_response", 0, len(t) - 1, 0.0)]))
    t = calm("en") + [(1, "Thank you so much, that is perfect.", dict(s=160, p=50, a=110), 0.4)]
    out.append(("en-satisfaction", "en", t, [("satisfaction", 1, len(t) - 1, 3.5)]))
    t = calm("en")[:4] + [(1, "Could you tell me when the refund arrives?", CALM, 0.4), (0, "Yes, it arrives on Friday.", CALM, 8.0)]
    # The agent answers 8 s late: slow_response after 3 s and dead_air after 6 s of the silence, on the agent's channel.
    out.append(("en-dead-air", "en", t, [("slow_response", 0, len(t) - 1, 0.0), ("dead_air", 0, len(t) - 1, 0.0)]))
    t = calm("en")[:3] + [(1, "And the other thing is that the second charge was never explained to me at all.", CALM, 0.4),
                          (0, "Sorry, let me just explain what that charge is for.", CALM, -2.5)]
    out.append(("en-talk-over", "en", t, [("talk_over", 0, len(t) - 1, 2.0)]))
    return out


def speak(text, lang, voice, path):
    raw = path + ".raw.wav"
    v = "en-us" if lang == "en" else "vi"
    subprocess.run(["espeak-ng", "-v", v, "-s", str(voice["s"]), "-p", str(voice["p"]), "-a", str(voice["a"]), "-w", raw, text], check=True)
    subprocess.run(["sox", "-D", raw, "-r", str(RATE), "-c", "1", "-b", "16", path], check=True)
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


def build(name, lang, turns, work):
    placed = []
    t = 0.5
    last_end = 0.5
    for i, (ch, text, voice, gap) in enumerate(turns):
        path = os.path.join(work, f"{name}-{i}.wav")
        dur = speak(text, lang, voice, path)
        start = max(0.0, last_end + gap)
        placed.append((ch, text, start, start + dur, path))
        last_end = start + dur
    total = last_end + 2.0
    chans = []
    for ch in (0, 1):
        parts = [p for p in placed if p[0] == ch]
        out = os.path.join(work, f"{name}-ch{ch}.wav")
        if not parts:
            subprocess.run(["sox", "-D", "-n", "-r", str(RATE), "-c", "1", "-b", "16", out, "trim", "0", f"{total:.3f}"], check=True)
        else:
            padded = []
            for k, (_, _, start, _, path) in enumerate(parts):
                pp = os.path.join(work, f"{name}-ch{ch}-{k}.wav")
                subprocess.run(["sox", "-D", path, pp, "pad", f"{start:.3f}", "0"], check=True)
                padded.append(pp)
            silence = os.path.join(work, f"{name}-ch{ch}-len.wav")
            subprocess.run(["sox", "-D", "-n", "-r", str(RATE), "-c", "1", "-b", "16", silence, "trim", "0", f"{total:.3f}"], check=True)
            # sox -m needs two inputs at least; the silence of the full length gives every channel the same length.
            subprocess.run(["sox", "-D", "-m", "-v", "1", silence] + sum([["-v", "1", p] for p in padded], []) + [out], check=True)
        chans.append(out)
    call = os.path.join(work, f"{name}.wav")
    subprocess.run(["sox", "-D", "-M", chans[0], chans[1], call], check=True)
    transcript = os.path.join(work, f"{name}.ndjson")
    with open(transcript, "w") as f:
        for ch, text, start, end, _ in placed:
            f.write(json.dumps({"channel": ch, "start": round(start, 3), "end": round(end, 3), "text": text}, ensure_ascii=False) + "\n")
    return call, transcript, placed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", default=".build/debug/attune")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--keep")
    a = ap.parse_args()
    # The calls take about 55 MB; without --keep they go when the run ends, however it ends (the test suite runs
    # this on every `swift test`).
    work = a.keep or tempfile.mkdtemp(prefix="attune-scripted-")
    os.makedirs(work, exist_ok=True)
    try:
        judge(a, work)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def judge(a, work):
    """Builds every scenario's call in `work`, runs attune on it, prints the table; exits 1 with --check on a problem."""
    hits = collections.Counter()
    expected = collections.Counter()
    fired = collections.Counter()
    matched_starts = collections.Counter()
    problems = []
    for name, lang, turns, wants, *rest in scenarios():
        allowed = rest[0] if rest else set()
        call, transcript, placed = build(name, lang, turns, work)
        out = subprocess.run([a.attune, "analyze", call, "--roles", "agent,customer", "--transcript", transcript, "--lang", lang],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{name}: attune exited {out.returncode}: {out.stderr.strip()}")
        starts = [json.loads(l) for l in out.stdout.splitlines() if '"type":"event"' in l and '"state":"start"' in l]
        used = set()
        for kind, ch, turn, within in wants:
            expected[kind] += 1
            t0 = placed[turn][2]
            if kind in ("slow_response", "dead_air"):
                # Timed from the end of the customer's turn before the late answer.
                t0 = placed[turn - 1][3]
                within = (3.0 if kind == "slow_response" else 6.0) + 0.5
            ok = [e for e in starts if e["kind"] == kind and e["channel"] == ch and t0 - 0.3 <= e["t"] <= t0 + within]
            if ok:
                hits[kind] += 1
                used.update(id(e) for e in ok)
            else:
                problems.append(f"{name}: no {kind} on channel {ch} within {within:.1f} s of {t0:.2f} s; "
                                f"starts: {[(e['kind'], e['channel'], e['t']) for e in starts]}")
        for e in starts:
            fired[e["kind"]] += 1
            if id(e) in used:
                matched_starts[e["kind"]] += 1
            elif e["kind"] not in allowed:
                problems.append(f"{name}: unexpected {e['kind']} on channel {e['channel']} at {e['t']:.2f} s: {e['explanation']}")
    print(f"{'kind':15} {'scripted':>8} {'found':>6} {'recall':>7} {'starts':>7} {'precision':>9}")
    for kind in sorted(set(expected) | set(fired)):
        r = hits[kind] / expected[kind] if expected[kind] else float("nan")
        p = matched_starts[kind] / fired[kind] if fired[kind] else float("nan")
        print(f"{kind:15} {expected[kind]:8d} {hits[kind]:6d} {r:7.2f} {fired[kind]:7d} {p:9.2f}")
    for p in problems:
        print("  " + p)
    if a.check and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
