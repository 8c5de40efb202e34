#!/usr/bin/env python3
"""Trains the syllable-nucleus model of attune's syllable counter and writes
Sources/AttuneDSP/Activity/NucleusModelWeights.swift.

1. Corpus: rate_train_corpus.py generates --count utterances (random text, never an evaluation sentence; espeak-ng
   and flite voices; clean plus one telephone or noisy copy each) with the synthesisers' own vowel spans.
2. Dump: `attune analyze FILE` with ATTUNE_SYLLABLE_FEATURES=1 writes, per frame, the model's exact inputs (`F`
   lines) and, per segment, its frames and duration (`SYLFEAT`), for every training file and every file of the
   evaluation corpus (rate_eval_corpus.py, and its held-out corpus for the report). The inputs do not depend on
   the weights, so one dump serves any training run. Cached in --cache; --refresh redoes it.
3. Train (PyTorch, CPU): the network of NucleusModel.swift. Targets per frame: a unit-mass Gaussian (σ = 20 ms)
   at each vowel's centre, which the density should trace; whether the frame is in a vowel (an auxiliary output,
   dropped on export); and per utterance, that the densities of its speech frames add up to its vowel count.
4. Gains: the count times a gain linear in the recent syllable rate (knots --knots), fitted by ridge regression
   of the true syllable counts on the `tune` split of the evaluation corpus (relative errors, groups weighted
   equally, pulled towards 1). Only the gains see evaluation audio, and only its tune split.
5. Writes the Swift file and prints per-group MAPE of the replayed counter on the tune and test splits and the
   held-out corpus. Rebuild attune and run Tools/rate_eval.py (and --heldout) for the official figures;
   `--check` replays the current weights and compares with the binary's own counts (must match).

Needs torch (`pip install torch --index-url https://download.pytorch.org/whl/cpu`) besides Tools/setup --eval.

Examples:
  swift build -c release --product attune --scratch-path .build-rate-fit
  Tools/rate_train.py --attune .build-rate-fit/release/attune            # dump (first time), train, write weights
  swift build -c release --product attune --scratch-path .build-rate-fit
  Tools/rate_train.py --attune .build-rate-fit/release/attune --check    # replay == binary
"""
import argparse
import json
import math
import os
import pickle
import re
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rate_eval_corpus  # noqa: E402
import rate_train_corpus  # noqa: E402
from rate_eval import required  # noqa: E402

REPO = os.path.dirname(HERE)
WEIGHTS = os.path.join(REPO, "Sources", "AttuneDSP", "Activity", "NucleusModelWeights.swift")
INPUTS = 11
TINY_WEIGHT = 1e-12  # exported as 0 (see export)


def dump(attune, path):
    """(inputs [frames × 11], speech flags [frames], segments [(first, last, duration)], attune's syllables)."""
    env = dict(os.environ, ATTUNE_SYLLABLE_FEATURES="1")
    proc = subprocess.run([attune, "analyze", path], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"attune analyze {path} failed ({proc.returncode}): {proc.stderr.strip()}")
    frames, segments = [], []
    for line in proc.stderr.splitlines():
        if line.startswith("F "):
            frames.append([float(x) for x in line.split()[1:]])
        elif line.startswith("SYLFEAT "):
            v = line.split()[1:]
            segments.append((int(v[0]), int(v[1]), float(v[2])))
    frames = np.array(frames, dtype=np.float32).reshape(-1, 2 + INPUTS)
    assert (frames[:, 0] == np.arange(len(frames))).all(), f"{path}: frames out of order"
    syllables = sum(json.loads(l)["syllables"] for l in proc.stdout.splitlines() if '"summary"' in l)
    return frames[:, 2:], frames[:, 1] > 0, segments, syllables


def dump_all(attune, paths, jobs):
    with ThreadPoolExecutor(jobs) as ex:
        return dict(zip(paths, ex.map(lambda p: dump(attune, p), paths)))


# --- the model, as NucleusModel.swift computes it ---

def make_net(torch, h1, taps1, dilation1, h2, taps2):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv1d(INPUTS, h1, taps1, dilation=dilation1, padding=dilation1 * (taps1 // 2))
            self.c2 = torch.nn.Conv1d(h1, h2, taps2, padding=taps2 // 2)
            self.out = torch.nn.Conv1d(h2, 2, 1)  # density, vowel logit (training aid only)

        def forward(self, x):
            o = self.out(torch.relu(self.c2(torch.relu(self.c1(x)))))
            return torch.nn.functional.softplus(o[:, 0]), o[:, 1]
    net = Net()
    with torch.no_grad():
        net.out.bias[0] = -3.0  # start near zero density, or the count loss explodes
    return net


def densities(torch, net, inputs):
    with torch.no_grad():
        d, _ = net(torch.tensor(inputs.T[None].copy()))
    return d[0].numpy().astype(np.float64)


def segment_sums(dens, segments, speech):
    """Density summed over each segment's speech frames, as SpeechActivityAnalyzer accumulates it."""
    return [float(dens[a:b + 1][speech[a:b + 1]].sum()) for a, b, _ in segments]


def knot_weights(knots, rate):
    r = min(max(rate, knots[0]), knots[-1])
    i = 0
    while i < len(knots) - 2 and r >= knots[i + 1]:
        i += 1
    a = (r - knots[i]) / (knots[i + 1] - knots[i])
    w = np.zeros(len(knots))
    w[i], w[i + 1] = 1 - a, a
    return w


def gain_rows(knots, sums, segments, memory=5.0):
    """Per segment: knot weights of the recent rate times the segment's density sum (rate recurrence of closeSegment)."""
    nuclei = seconds = 0.0
    row = np.zeros(len(knots))
    for s, (_, _, duration) in zip(sums, segments):
        decay = math.exp(-duration / memory)
        nuclei = nuclei * decay + s
        seconds = seconds * decay + duration
        rate = nuclei / seconds if seconds > 0 else 0
        row += s * knot_weights(knots, rate)
    return row


def swift_round(x):
    return math.floor(x + 0.5)  # .rounded() for non-negative x


def train(torch, data, items, args):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    sequences = []
    for it in items:
        for path in (it["path"], it["derived"]):
            inputs, speech, _, _ = data[path]
            n = len(inputs)
            t = np.arange(n)
            target = np.zeros(n, np.float32)
            vowel = np.zeros(n, np.float32)
            for s, e in it["vowels"]:
                w = np.exp(-0.5 * ((t - (s + e) / 2 / 0.01) / 2.0) ** 2)
                if w.sum() > 0:
                    target += (w / w.sum()).astype(np.float32)
                vowel[(t * 0.01 >= s) & (t * 0.01 < e)] = 1
            sequences.append((inputs, speech.astype(np.float32), target, vowel, float(len(it["vowels"]))))
    sequences.sort(key=lambda s: len(s[0]))
    batches = []
    for i in range(0, len(sequences), 32):
        chunk = sequences[i:i + 32]
        L = max(len(s[0]) for s in chunk)
        pad = lambda a: np.pad(a, [(0, L - len(a))] + [(0, 0)] * (a.ndim - 1))  # noqa: E731
        X = torch.tensor(np.stack([pad(s[0]) for s in chunk])).transpose(1, 2).contiguous()
        G, D, V = (torch.tensor(np.stack([pad(s[j]) for s in chunk])) for j in (1, 2, 3))
        M = torch.tensor(np.stack([pad(np.ones(len(s[0]), np.float32)) for s in chunk]))
        T = torch.tensor([max(1.0, s[4]) for s in chunk])
        batches.append((X, G, D, V, M, T))
    net = make_net(torch, args.hidden1, args.taps1, args.dilation1, args.hidden2, args.taps2)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    for epoch in range(args.epochs):
        total = 0.0
        for b in np.random.permutation(len(batches)):
            X, G, D, V, M, T = batches[b]
            d, logit = net(X)
            count = (d * G).sum(1)
            loss = 100 * (((d - D) ** 2) * M).sum() / M.sum() \
                + 0.3 * (torch.nn.functional.binary_cross_entropy_with_logits(logit, V, reduction="none") * M).sum() / M.sum() \
                + (((count - T) / T) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        sched.step()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(batches):.4f}", file=sys.stderr, flush=True)
    return net


def fit_gains(knots, rows, truths, groups, ridge):
    per_group = defaultdict(int)
    for g in groups:
        per_group[g] += 1
    w = np.sqrt(np.array([1 / per_group[g] for g in groups]))
    w /= np.sqrt(np.mean(w ** 2))
    A = np.array(rows) / np.array(truths)[:, None] * w[:, None]
    b = w.copy()
    reg = math.sqrt(ridge) * np.eye(len(knots))
    return np.linalg.lstsq(np.vstack([A, reg]), np.concatenate([b, math.sqrt(ridge) * np.ones(len(knots))]), rcond=None)[0]


def export(net, args, knots, gains, path):
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    fmt = lambda v: ", ".join(f"{float(x):.7g}" for x in v)  # noqa: E731
    # Weight decay leaves the weights of dead units at 1e-40 and the like: subnormal floats, which x86 multiplies
    # through a slow microcode path on every frame. Their contribution is below anything a count can show.
    sd = {k: np.where(np.abs(v) < TINY_WEIGHT, 0, v) for k, v in sd.items()}

    def array(name, values):
        rows = "".join(f"        {fmt(values[i:i + 8])},\n" for i in range(0, len(values), 8))
        return f"    static let {name}: [Float] = [\n{rows}    ]\n"
    text = f"""// Generated by Tools/rate_train.py (seed {args.seed}, {args.count} utterances, {args.epochs} epochs). Do not edit.

/// Weights of ``NucleusModel`` and the rate-dependent gain of its count (see ``SpeechActivityAnalyzer``).
enum NucleusModelWeights {{
    static let hidden1 = {args.hidden1}
    static let taps1 = {args.taps1}
    static let dilation1 = {args.dilation1}
    static let hidden2 = {args.hidden2}
    static let taps2 = {args.taps2}
    /// Syllables per second where ``gains`` hold exactly, ascending.
    static let gainKnots: [Double] = [{fmt(knots)}]
    static let gains: [Double] = [{fmt(gains)}]
    static let outputBias: Float = {float(sd['out.bias'][0]):.7g}
    /// `[tap][input][unit]`.
{array('conv1', np.transpose(sd['c1.weight'], (2, 1, 0)).ravel())}{array('bias1', sd['c1.bias'])}    /// `[tap][unit of layer 1][unit]`.
{array('conv2', np.transpose(sd['c2.weight'], (2, 1, 0)).ravel())}{array('bias2', sd['c2.bias'])}{array('output', sd['out.weight'][0, :, 0])}}}
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def load_swift_weights(torch):
    """The network and gains as NucleusModelWeights.swift has them."""
    text = open(WEIGHTS, encoding="utf-8").read()
    ints = {k: int(re.search(rf"static let {k} = (\d+)", text).group(1)) for k in ("hidden1", "taps1", "dilation1", "hidden2", "taps2")}
    arrays = {k: np.array([float(x) for x in re.search(rf"static let {k}: \[(?:Float|Double)\] = \[(.*?)\]", text, re.S).group(1).replace("\n", " ").split(",") if x.strip()])
              for k in ("gainKnots", "gains", "conv1", "bias1", "conv2", "bias2", "output")}
    bias = float(re.search(r"outputBias: Float = (\S+)", text).group(1))
    net = make_net(torch, ints["hidden1"], ints["taps1"], ints["dilation1"], ints["hidden2"], ints["taps2"])
    sd = net.state_dict()
    sd["c1.weight"] = torch.tensor(arrays["conv1"].reshape(ints["taps1"], INPUTS, ints["hidden1"]).transpose(2, 1, 0).copy(), dtype=torch.float32)
    sd["c1.bias"] = torch.tensor(arrays["bias1"], dtype=torch.float32)
    sd["c2.weight"] = torch.tensor(arrays["conv2"].reshape(ints["taps2"], ints["hidden1"], ints["hidden2"]).transpose(2, 1, 0).copy(), dtype=torch.float32)
    sd["c2.bias"] = torch.tensor(arrays["bias2"], dtype=torch.float32)
    sd["out.weight"][0, :, 0] = torch.tensor(arrays["output"], dtype=torch.float32)
    sd["out.bias"][0] = bias
    net.load_state_dict(sd)
    return net, arrays["gainKnots"], arrays["gains"]


def report(label, items, counts):
    groups = defaultdict(list)
    for it in items:
        e = (counts[it["path"]] - it["truth"]) / it["truth"]
        for g in it["groups"]:
            groups[g].append(e)
    print(f"\n{label}")
    for g in sorted(groups):
        v = np.array(groups[g])
        print(f"  {g:34s} {len(v):4d} files  MAPE {np.mean(np.abs(v)) * 100:5.1f}%  signed {np.mean(v) * 100:+5.1f}%")
    worst = max(np.mean(np.abs(v)) for g, v in groups.items() if required(g)) * 100
    print(f"  worst required group: {worst:.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attune", default=os.path.join(REPO, ".build-rate-fit", "release", "attune"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "out", "rate_train"))
    ap.add_argument("--cache", default=os.path.join(REPO, "out", "rate_train", "dump.pkl"))
    ap.add_argument("--refresh", action="store_true", help="redo the attune dump")
    ap.add_argument("--count", type=int, default=5000, help="generated utterances (before dropping language switches)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hidden1", type=int, default=32)
    ap.add_argument("--taps1", type=int, default=9)
    ap.add_argument("--dilation1", type=int, default=2)
    ap.add_argument("--hidden2", type=int, default=16)
    ap.add_argument("--taps2", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--knots", default="3,4.5,6,7.5,9")
    ap.add_argument("--ridge", type=float, default=1.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--check", action="store_true", help="replay the current weights and compare with the binary")
    ap.add_argument("--no-write", action="store_true", help="train and report, but leave the Swift file alone")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.jobs)

    titems = rate_train_corpus.build(args.workdir, args.count, args.seed, args.jobs)
    eitems, _ = rate_eval_corpus.build(os.path.join(REPO, "out", "rate_eval"), include_noisy=True, jobs=args.jobs)
    hitems, _ = rate_eval_corpus.build(os.path.join(REPO, "out", "rate_eval_heldout"), jobs=args.jobs, heldout=True)
    paths = sorted({p for it in titems for p in (it["path"], it["derived"])} | {it["path"] for it in eitems + hitems})
    data = {}
    if os.path.exists(args.cache) and not args.refresh:
        with open(args.cache, "rb") as f:
            data = pickle.load(f)
    missing = [p for p in paths if p not in data]
    if missing:
        print(f"dumping {len(missing)} files with {args.attune} ...", file=sys.stderr)
        data.update(dump_all(args.attune, missing, args.jobs))
        with open(args.cache, "wb") as f:
            pickle.dump(data, f)

    if args.check:
        net, knots, gains = load_swift_weights(torch)
    else:
        net = train(torch, data, titems, args)
        knots = np.array([float(x) for x in args.knots.split(",")])
    net.eval()
    rows = {}
    for p in {it["path"] for it in eitems + hitems}:
        inputs, speech, segments, _ = data[p]
        rows[p] = gain_rows(knots, segment_sums(densities(torch, net, inputs), segments, speech), segments)
    if not args.check:
        tune = [it for it in eitems if it["split"] == "tune" and required(it["groups"][0])]
        gains = fit_gains(knots, [rows[it["path"]] for it in tune], [it["truth"] for it in tune],
                          [it["groups"][0] for it in tune], args.ridge)
        print("gains at", list(knots), ":", np.round(gains, 3).tolist())
    counts = {p: swift_round(float(r @ gains)) for p, r in rows.items()}
    if args.check:
        binary = {p: d[3] for p, d in dump_all(args.attune, sorted(counts), args.jobs).items()}
        differ = [p for p in counts if counts[p] != binary[p]]
        print(f"replay vs binary: {len(differ)} of {len(counts)} files differ", *differ[:5], sep="\n  ")
    for split in ("tune", "test"):
        report(f"split {split}", [it for it in eitems if it["split"] == split], counts)
    report("held-out corpus", hitems, counts)
    if not args.check and not args.no_write:
        export(net, args, knots, gains, WEIGHTS)
        print(f"\nwrote {os.path.relpath(WEIGHTS, REPO)}; rebuild attune, then run with --check", file=sys.stderr)


if __name__ == "__main__":
    main()
