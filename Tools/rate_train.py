#!/usr/bin/env python3
"""Trains the syllable-nucleus model of attune's syllable counter and writes
Sources/AttuneDSP/Activity/NucleusModelWeights.swift.

1. Corpus: rate_train_corpus.py generates --count utterances (random text, never an evaluation sentence; espeak-ng
   and flite voices; clean plus one telephone or noisy copy each) with the synthesisers' own vowel spans. With
   --german F, that share of them is German whose -en/-el/-em endings are read as syllabic consonants (nuclei in the
   targets); tried for EmoDB's bored speech, which loses such syllables, and not shipped: against a control
   fine-tuned the same way without it, every emotion's undercount shrank by 1-4 points (boredom only -26.9 -> -25.6 %)
   while the worst required group went 8.0 -> 8.1 % (Tools/results/2026-12-02-session17.md).
2. Dump: `attune analyze FILE` with ATTUNE_SYLLABLE_FEATURES=1 writes, per frame, the model's exact inputs (`F`
   lines) and, per segment, its frames and duration (`SYLFEAT`), for every training file and every file of the
   evaluation corpus (rate_eval_corpus.py, and its held-out corpus for the report). The inputs do not depend on
   the weights, so one dump serves any training run. Cached in --cache; --refresh redoes it.
3. Train (PyTorch, CPU): the network of NucleusModel.swift. Targets per frame: a unit-mass Gaussian (σ = 20 ms)
   at each vowel's centre, which the density should trace; whether the frame is in a vowel (an auxiliary output,
   dropped on export); and per utterance, that the densities of its speech frames add up to its vowel count.
   Or, with --finetune, continue from the current weights in numpy (no torch; `forward`/`backward` below are the
   Swift model's arithmetic): the same frame and count losses on the generated utterances, plus the count loss
   alone on real speech with hand-counted syllables — EmoDB's tune speakers only (03 08 10 13 15; the test half
   09 11 12 14 16 is never used for fitting), drawn --real-repeat times as often — and on the synthetic files of
   the evaluation's tune split (their known counts hold each synthesiser's count in place while the real speech
   pulls; the test split and the held-out corpus stay unseen). Optionally a random level contour on the synthetic
   voiced frames (--level-aug, off: it helped EmoDB's tune half but cost the synthetic groups more than it gave).
4. Gains: the count times a gain linear in the recent syllable rate (knots --knots), fitted by ridge regression
   of the true syllable counts on the `tune` split of the evaluation corpus (relative errors, groups weighted
   equally, pulled towards 1; the required groups only). The real read speech (pocketsphinx, 11 utterances) is the
   only real speech with counts in the required groups and too little to split, so both splits hold it and it is
   fitted on: its figure in either split is therefore not held out. --loo-real prints the held-out one: each
   utterance counted with gains fitted without it (its clean and telephone copies left out together).
   --refit-gains fits the gains alone for the current weights.
5. Writes the Swift file and prints per-group MAPE of the replayed counter on the tune split; --report adds the
   test split and the held-out corpus, which no choice of settings may read. Rebuild attune and run Tools/rate_eval.py (and --heldout) for the official figures;
   `--check` replays the current weights (numpy, no torch) and compares with the binary's own counts (must
   match). The dump cache holds the model's inputs as the binary that made it computed them: after a change to
   the inputs (LevelMeter, the level reference), rebuild and pass --refresh.

Training from scratch needs torch (`pip install torch --index-url https://download.pytorch.org/whl/cpu`) besides
Tools/setup --eval; --finetune and --check need numpy only.

Examples:
  swift build -c release --product attune --scratch-path .build-rate-fit
  Tools/rate_train.py --attune .build-rate-fit/release/attune            # dump (first time), train, write weights
  swift build -c release --product attune --scratch-path .build-rate-fit
  Tools/rate_train.py --attune .build-rate-fit/release/attune --check    # replay == binary
  # the shipped weights: fine-tuned (numpy, defaults) from the torch-trained ones of commit d22b496
  git show d22b496:Sources/AttuneDSP/Activity/NucleusModelWeights.swift > Sources/AttuneDSP/Activity/NucleusModelWeights.swift
  Tools/rate_train.py --attune .build-rate-fit/release/attune --finetune --count 1000
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

# The fine-tuning's matrix products are small: BLAS threads only fight over a shared machine's cores (a step took
# 12x longer with them on this 2-core box under load). Set before numpy loads; the environment may override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rate_eval_corpus  # noqa: E402
import rate_train_corpus  # noqa: E402
from rate_eval import required  # noqa: E402

REPO = os.path.dirname(HERE)
WEIGHTS = os.path.join(REPO, "Sources", "AttuneDSP", "Activity", "NucleusModelWeights.swift")
ACTIVITY = os.path.join(REPO, "Sources", "AttuneDSP", "Activity", "SpeechActivityAnalyzer.swift")


def swift_level_decay():
    """ActivityParameters.bandPeakDecayDB as the source has it, so replay and training use the binary's reference."""
    return float(re.search(r"var bandPeakDecayDB: Float = (\S+)", open(ACTIVITY, encoding="utf-8").read()).group(1))
INPUTS = 11
TINY_WEIGHT = 1e-12  # exported as 0 (see export)


def dump(attune, path):
    """(inputs [frames × 11], speech flags [frames], segments [(first, last, duration)], attune's syllables, mean band
    level [frames] in dBFS). The level lets `with_reference` rebuild the level input for another reference."""
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
    frames = np.array(frames, dtype=np.float32).reshape(-1, 3 + INPUTS)
    assert (frames[:, 0] == np.arange(len(frames))).all(), f"{path}: frames out of order"
    syllables = sum(json.loads(l)["syllables"] for l in proc.stdout.splitlines() if '"summary"' in l)
    return frames[:, 2:2 + INPUTS], frames[:, 1] > 0, segments, syllables, frames[:, 2 + INPUTS]


def with_reference(entry, decay):
    """The entry's inputs with the level input (index 8) rebuilt against a peak reference that forgets `decay` dB
    per frame, as SpeechActivityAnalyzer's `bandPeak` (ActivityParameters.bandPeakDecayDB) does."""
    inputs, level = entry[0], entry[4]
    ref = np.empty_like(level)
    r, decay = np.float32(-np.inf), np.float32(decay)
    for i, v in enumerate(level):
        r = max(v, np.float32(r - decay))
        ref[i] = r
    out = inputs.copy()
    out[:, 8] = (level - ref) / 10
    return out


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


def params_from_torch(net):
    """The network as numpy arrays in NucleusModel.swift's layout: W1 [tap][input][unit], W2 [tap][unit][unit]."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    return dict(W1=np.ascontiguousarray(np.transpose(sd["c1.weight"], (2, 1, 0))), b1=sd["c1.bias"],
                W2=np.ascontiguousarray(np.transpose(sd["c2.weight"], (2, 1, 0))), b2=sd["c2.bias"],
                wo=sd["out.weight"][0, :, 0].copy(), bo=np.array([sd["out.bias"][0]], np.float32),
                dilation1=net.c1.dilation[0])


def _shift(a, offset):
    """a[j + offset] for every j, zero outside: the zero padding of NucleusModel."""
    out = np.zeros_like(a)
    n = len(a)
    if 0 <= offset < n:
        out[:n - offset] = a[offset:]
    elif -n < offset < 0:
        out[-offset:] = a[:n + offset]
    return out


def forward(P, x, valid=None):
    """NucleusModel in float32 numpy: (layer-1 pre-activation, layer 1, layer-2 pre-activation, layer 2, output
    pre-activation, density). `valid` marks real frames when several streams are concatenated with zero gaps; the
    hidden layer of any other frame is zero, as outside the stream in Swift."""
    taps1, taps2, dilation1 = len(P["W1"]), len(P["W2"]), P["dilation1"]
    h1p = np.tile(P["b1"], (len(x), 1))
    for t in range(taps1):
        h1p += _shift(x, (t - taps1 // 2) * dilation1) @ P["W1"][t]
    h1 = np.maximum(h1p, 0)
    if valid is not None:
        h1 *= valid[:, None]
    h2p = np.tile(P["b2"], (len(x), 1))
    for t in range(taps2):
        h2p += _shift(h1, t - taps2 // 2) @ P["W2"][t]
    h2 = np.maximum(h2p, 0)
    z = h2 @ P["wo"] + P["bo"][0]
    d = np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20))))
    return h1p, h1, h2p, h2, z, d


def densities(P, inputs):
    return forward(P, inputs)[5].astype(np.float64)


def backward(P, x, valid, cache, dd):
    """Gradients of a loss with respect to every array of P, given its gradient `dd` with respect to the density."""
    h1p, h1, h2p, h2, z, _ = cache
    taps1, taps2, dilation1 = len(P["W1"]), len(P["W2"]), P["dilation1"]
    dz = dd / (1 + np.exp(-np.clip(z, -30, 30)))  # softplus' = sigmoid
    g = dict(wo=h2.T @ dz, bo=np.array([dz.sum()], np.float32))
    dh2p = np.outer(dz, P["wo"]) * (h2p > 0)
    g["b2"] = dh2p.sum(0)
    g["W2"] = np.stack([_shift(h1, t - taps2 // 2).T @ dh2p for t in range(taps2)])
    dh1 = np.zeros_like(h1)
    for t in range(taps2):
        dh1 += _shift(dh2p, -(t - taps2 // 2)) @ P["W2"][t].T
    dh1p = dh1 * (h1p > 0) * valid[:, None]
    g["b1"] = dh1p.sum(0)
    g["W1"] = np.stack([_shift(x, (t - taps1 // 2) * dilation1).T @ dh1p for t in range(taps1)])
    return g


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


def frame_targets(item, n):
    """Per frame of an n-frame utterance: the density to trace (a unit-mass Gaussian, sigma 20 ms, at each vowel's
    centre) and whether the frame lies in a vowel."""
    t = np.arange(n)
    target = np.zeros(n, np.float32)
    vowel = np.zeros(n, np.float32)
    for s, e in item["vowels"]:
        w = np.exp(-0.5 * ((t - (s + e) / 2 / 0.01) / 2.0) ** 2)
        if w.sum() > 0:
            target += (w / w.sum()).astype(np.float32)
        vowel[(t * 0.01 >= s) & (t * 0.01 < e)] = 1
    return target, vowel


def train(torch, data, items, args):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    sequences = []
    for it in items:
        for path in (it["path"], it["derived"]):
            inputs, speech = with_reference(data[path], args.level_decay), data[path][1]
            target, vowel = frame_targets(it, len(inputs))
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


def finetune(P, data, items, real, args):
    """Continues training P in numpy (Adam), all layers, on the synthetic utterances (frame targets and vowel count,
    as `train`) and on real recordings with a hand-counted syllable total (count loss only, weight --real-weight).

    Synthetic level contours are varied (--level-aug): real speakers fall 10-20 dB through a phrase and put a loud
    stress on one syllable, where the synthesisers keep every vowel within a few dB; a smooth random contour added
    to the level input of the voiced frames teaches the model that a vowel well below the recent peak is still a
    vowel. Returns the new parameters."""
    rng = np.random.default_rng(args.seed)
    seqs = []
    for it in items:
        for path in (it["path"], it["derived"]):
            inputs, speech = with_reference(data[path], args.level_decay), data[path][1]
            target, _ = frame_targets(it, len(inputs))
            seqs.append((inputs, speech.astype(np.float32), target, float(max(1, len(it["vowels"]))), 1.0))
    synthetic = len(seqs)
    for it in real:
        inputs, speech = with_reference(data[it["path"]], args.level_decay), data[it["path"]][1]
        seqs.append((inputs, speech.astype(np.float32), None, float(it["truth"]), args.real_weight))
    print(f"fine-tuning on {synthetic} generated files and {len(seqs) - synthetic} counted ones", file=sys.stderr)
    P = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in P.items()}
    keys = ["W1", "b1", "W2", "b2", "wo", "bo"]
    m1 = {k: np.zeros_like(P[k]) for k in keys}
    m2 = {k: np.zeros_like(P[k]) for k in keys}
    gap = np.zeros((len(P["W1"]) // 2 * P["dilation1"] + len(P["W2"]), INPUTS), np.float32)
    for step in range(1, args.steps + 1):
        batch = list(rng.choice(synthetic, args.batch, replace=False))
        if real:
            batch += list(synthetic + rng.choice(len(seqs) - synthetic, min(args.batch // 4, len(seqs) - synthetic), replace=False))
        xs, valid, spans, pos = [], [], [], 0
        for i in batch:
            x = seqs[i][0]
            if seqs[i][2] is not None and args.level_aug > 0:
                n = len(x)
                knots = max(2, n // 30)
                contour = np.interp(np.arange(n), np.linspace(0, n - 1, knots), rng.normal(0, args.level_aug, knots))
                contour -= contour.max()
                x = x.copy()
                x[:, 8] += (contour * (x[:, 10] > 0)).astype(np.float32)
            xs += [x, gap]
            valid += [np.ones(len(x), np.float32), np.zeros(len(gap), np.float32)]
            spans.append((i, pos, pos + len(x)))
            pos += len(x) + len(gap)
        x, valid = np.concatenate(xs), np.concatenate(valid)
        cache = forward(P, x, valid)
        d = cache[5]
        dd = np.zeros_like(d)
        frames = sum(e - b for i, b, e in spans if seqs[i][2] is not None)
        loss = 0.0
        for i, b, e in spans:
            _, speech, target, truth, weight = seqs[i]
            if target is not None:
                diff = d[b:e] - target
                loss += 100 * float((diff ** 2).sum()) / frames
                dd[b:e] += 200 * diff / frames
            count = float((d[b:e] * speech).sum())
            loss += weight * ((count - truth) / truth) ** 2 / len(spans)
            dd[b:e] += weight * 2 * (count - truth) / truth ** 2 * speech / len(spans)
        g = backward(P, x, valid, cache, dd)
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for k in keys:
            grad = g[k] + args.weight_decay * P[k] if k in ("W1", "W2") else g[k]
            m1[k] = 0.9 * m1[k] + 0.1 * grad
            m2[k] = 0.999 * m2[k] + 0.001 * grad ** 2
            P[k] = (P[k] - lr * (m1[k] / (1 - 0.9 ** step)) / (np.sqrt(m2[k] / (1 - 0.999 ** step)) + 1e-8)).astype(np.float32)
        if step % 25 == 0:
            print(f"step {step}/{args.steps}: loss {loss:.4f}", file=sys.stderr, flush=True)
    return P


def export(P, provenance, knots, gains, path):
    fmt = lambda v: ", ".join(f"{float(x):.7g}" for x in v)  # noqa: E731
    # Weight decay leaves the weights of dead units at 1e-40 and the like: subnormal floats, which x86 multiplies
    # through a slow microcode path on every frame. Their contribution is below anything a count can show.
    P = {k: (np.where(np.abs(v) < TINY_WEIGHT, 0, v).astype(np.float32) if isinstance(v, np.ndarray) else v) for k, v in P.items()}

    def array(name, values):
        rows = "".join(f"        {fmt(values[i:i + 8])},\n" for i in range(0, len(values), 8))
        return f"    static let {name}: [Float] = [\n{rows}    ]\n"
    text = f"""// Generated by Tools/rate_train.py ({provenance}). Do not edit.

/// Weights of ``NucleusModel`` and the rate-dependent gain of its count (see ``SyllableGain``).
enum NucleusModelWeights {{
    static let hidden1 = {P['W1'].shape[2]}
    static let taps1 = {P['W1'].shape[0]}
    static let dilation1 = {P['dilation1']}
    static let hidden2 = {P['W2'].shape[2]}
    static let taps2 = {P['W2'].shape[0]}
    /// Syllables per second where ``gains`` hold exactly, ascending.
    static let gainKnots: [Double] = [{fmt(knots)}]
    static let gains: [Double] = [{fmt(gains)}]
    static let outputBias: Float = {float(P['bo'][0]):.7g}
    /// `[tap][input][unit]`.
{array('conv1', P['W1'].ravel())}{array('bias1', P['b1'])}    /// `[tap][unit of layer 1][unit]`.
{array('conv2', P['W2'].ravel())}{array('bias2', P['b2'])}{array('output', P['wo'])}}}
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def load_swift_weights():
    """The network (numpy, as `forward` takes it), gain knots and gains as NucleusModelWeights.swift has them."""
    text = open(WEIGHTS, encoding="utf-8").read()
    ints = {k: int(re.search(rf"static let {k} = (\d+)", text).group(1)) for k in ("hidden1", "taps1", "dilation1", "hidden2", "taps2")}
    arrays = {k: np.array([float(x) for x in re.search(rf"static let {k}: \[(?:Float|Double)\] = \[(.*?)\]", text, re.S).group(1).replace("\n", " ").split(",") if x.strip()])
              for k in ("gainKnots", "gains", "conv1", "bias1", "conv2", "bias2", "output")}
    bias = float(re.search(r"outputBias: Float = (\S+)", text).group(1))
    P = dict(W1=arrays["conv1"].reshape(ints["taps1"], INPUTS, ints["hidden1"]).astype(np.float32),
             b1=arrays["bias1"].astype(np.float32),
             W2=arrays["conv2"].reshape(ints["taps2"], ints["hidden1"], ints["hidden2"]).astype(np.float32),
             b2=arrays["bias2"].astype(np.float32), wo=arrays["output"].astype(np.float32),
             bo=np.array([bias], np.float32), dilation1=ints["dilation1"])
    return P, arrays["gainKnots"], arrays["gains"]


def leave_one_utterance_out(eitems, rows, knots, ridge):
    """Prints the error of the real read speech groups with each utterance counted by gains fitted on the tune
    split without it (clean and telephone copies of one text go out together)."""
    fit = [it for it in eitems if it["split"] == "tune" and required(it["groups"][0])]
    real = [it for it in fit if it["groups"][0].startswith("real")]
    errors = defaultdict(list)
    for text in sorted({it["text"] for it in real}):
        kept = [it for it in fit if not (it["groups"][0].startswith("real") and it["text"] == text)]
        g = fit_gains(knots, [rows[it["path"]] for it in kept], [it["truth"] for it in kept], [it["groups"][0] for it in kept], ridge)
        for it in real:
            if it["text"] == text:
                errors[it["groups"][0]].append((swift_round(float(rows[it["path"]] @ g)) - it["truth"]) / it["truth"])
    print("real read speech, leave one utterance out (held out; the shipped gains are fitted on all of it):")
    for group, v in sorted(errors.items()):
        v = np.array(v)
        print(f"  {group:34s} {len(v):4d} files  MAPE {np.mean(np.abs(v)) * 100:5.1f}%  signed {np.mean(v) * 100:+5.1f}%")


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
    ap.add_argument("--german", type=float, default=0.0,
                    help="fraction of generated utterances in German with syllabic-consonant endings (0: the corpus "
                         "as before German existed)")
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
    ap.add_argument("--finetune", action="store_true",
                    help="continue from the current NucleusModelWeights.swift in numpy (no torch), adding the EmoDB "
                         "tune speakers' hand counts through the count loss; --steps, --batch, --ft-lr, --real-weight, "
                         "--level-aug")
    ap.add_argument("--steps", type=int, default=300, help="fine-tuning steps (--finetune)")
    ap.add_argument("--batch", type=int, default=128, help="synthetic utterances per fine-tuning step, plus a quarter as many real")
    ap.add_argument("--ft-lr", type=float, default=3e-4, help="peak Adam step size of the fine-tuning (cosine decay)")
    ap.add_argument("--real-weight", type=float, default=2.0, help="weight of a real file's count loss (--finetune)")
    ap.add_argument("--level-aug", type=float, default=0.0,
                    help="spread of the random level contour added to synthetic voiced frames, in 10 dB (--finetune)")
    ap.add_argument("--real-repeat", type=int, default=4,
                    help="how often each EmoDB tune file is drawn relative to a synthetic tune file (--finetune)")
    ap.add_argument("--no-tune-counts", dest="tune_counts", action="store_false",
                    help="leave out the counts of the evaluation's synthetic tune-split files (--finetune)")
    ap.add_argument("--level-decay", type=float, default=swift_level_decay(),
                    help="dB per frame the level input's peak reference forgets (default: SpeechActivityAnalyzer.swift's "
                         "bandPeakDecayDB); inputs are rebuilt from the dumped levels, so no new dump is needed")
    ap.add_argument("--check", action="store_true", help="replay the current weights and compare with the binary")
    ap.add_argument("--loo-real", action="store_true",
                    help="the real read speech's held-out error: each utterance counted with gains fitted without it")
    ap.add_argument("--refit-gains", action="store_true",
                    help="keep the current network weights and fit only the rate gains (no torch)")
    ap.add_argument("--report", action="store_true",
                    help="also print the test split and the held-out corpus (report only: choose nothing on them)")
    ap.add_argument("--no-write", action="store_true", help="train and report, but leave the Swift file alone")
    ap.add_argument("--out", default=WEIGHTS, help="where to write the Swift weights (default: the source tree's)")
    args = ap.parse_args()

    # The check needs only the evaluation files; the training corpus is built (or reused) for training.
    titems = [] if args.check else rate_train_corpus.build(args.workdir, args.count, args.seed, args.jobs, args.german)
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
        os.makedirs(os.path.dirname(os.path.abspath(args.cache)), exist_ok=True)
        with open(args.cache, "wb") as f:
            pickle.dump(data, f)

    if args.check:
        P, knots, gains = load_swift_weights()
    elif args.refit_gains:
        P, knots, _ = load_swift_weights()
        previous = re.search(r"Generated by Tools/rate_train.py \((.*)\)\. Do not edit", open(WEIGHTS, encoding="utf-8").read())
        provenance = re.sub(r"; gains refit .*$", "", previous.group(1) if previous else "the previous weights") + \
            "; gains refit on the synthetic tune split alone"
    elif args.finetune:
        P, knots, _ = load_swift_weights()
        previous = re.search(r"Generated by Tools/rate_train.py \((.*)\)\. Do not edit", open(WEIGHTS, encoding="utf-8").read())
        # Real speech with hand counts: EmoDB's tune speakers only (rate_eval_corpus.EMODB_TUNE_SPEAKERS).
        real = [it for it in eitems if it["split"] == "tune" and "real acted DE (EmoDB)" in it["groups"]] * args.real_repeat
        if args.tune_counts:
            # The synthetic files of the evaluation's tune split, by their known counts, so that the real speech
            # cannot pull a synthesiser's count away (the test split and the held-out corpus stay unseen). The
            # read speech is in both splits and stays out.
            real += [it for it in eitems if it["split"] == "tune" and required(it["groups"][0]) and "real" not in it["groups"][0]]
        P = finetune(P, data, titems, real, args)
        provenance = (f"fine-tuned in numpy from [{previous.group(1) if previous else 'the previous weights'}]: seed {args.seed}, {args.count} utterances" + (f" ({args.german:g} German)" if args.german else "") + ", "
                      f"{args.steps} steps, level augmentation {args.level_aug:g}, real weight {args.real_weight:g}, "
                      f"{len(real)} counted files: EmoDB tune speakers (x{args.real_repeat})" + (" and the synthetic tune split" if args.tune_counts else ""))
    else:
        import torch
        torch.set_num_threads(args.jobs)
        net = train(torch, data, titems, args)
        net.eval()
        P = params_from_torch(net)
        knots = np.array([float(x) for x in args.knots.split(",")])
        provenance = f"seed {args.seed}, {args.count} utterances, {args.epochs} epochs"
    rows = {}
    for p in {it["path"] for it in eitems + hitems}:
        _, speech, segments, _, _ = data[p]
        rows[p] = gain_rows(knots, segment_sums(densities(P, with_reference(data[p], args.level_decay)), segments, speech), segments)
    if not args.check:
        tune = [it for it in eitems if it["split"] == "tune" and required(it["groups"][0])]
        gains = fit_gains(knots, [rows[it["path"]] for it in tune], [it["truth"] for it in tune],
                          [it["groups"][0] for it in tune], args.ridge)
        print("gains at", list(knots), ":", np.round(gains, 3).tolist())
    counts = {p: swift_round(float(r @ gains)) for p, r in rows.items()}
    if args.loo_real:
        leave_one_utterance_out(eitems, rows, knots, args.ridge)
    if args.check:
        binary = {p: d[3] for p, d in dump_all(args.attune, sorted(counts), args.jobs).items()}
        differ = [p for p in counts if counts[p] != binary[p]]
        print(f"replay vs binary: {len(differ)} of {len(counts)} files differ", *differ[:5], sep="\n  ")
    for split in ("tune", "test") if args.report else ("tune",):
        report(f"split {split}", [it for it in eitems if it["split"] == split], counts)
    if args.report:
        report("held-out corpus", hitems, counts)
    if not args.check and not args.no_write:
        export(P, provenance, knots, gains, args.out)
        print(f"\nwrote {os.path.relpath(args.out, REPO)}; rebuild attune, then run with --check", file=sys.stderr)


if __name__ == "__main__":
    main()
