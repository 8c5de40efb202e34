"""EmoDB's speaker splits, one per evaluation tool, and where EmoDB is (EMODB, labels_csv).

Each tool split EmoDB's ten speakers (male 03 10 11 12 15, female 08 09 13 14 16) on its own, before any result was
looked at, and its settings were chosen on its tune half; the splits stay as they are:

  rate     Tools/rate_eval.py, rate_eval_emotion.py, rate_train*.py: the syllable counter (the nucleus model's
           fine-tuning sees the tune half)                      tune 03 08 10 13 15, test 09 11 12 14 16
  emotion  Tools/emotion_eval.py: the arousal threshold of the emotion events (--tune picks it on FIT)
                                                                FIT  03 08 09 10 11, TEST 12 13 14 15 16
  pitch    Tools/pitch_eval_real.py (and pitch_edges.py): the pitch tracker's settings
                                                                tune 03 08 09 10 13, test 11 12 14 15 16

The emotion events are built on pitch and rate, so a speaker one of those tools tuned on is not held out from the
emotion events either. STRICT_HELD_OUT, the speakers in every tool's test half (12 14 16), is the only set no
setting was chosen on; its figures are the ones that hold for the whole chain.
"""
import os
import sys

# The rate tools' split (rate_eval_corpus.EMODB_TUNE_SPEAKERS and _TEST_SPEAKERS are these), fixed by hand: 5 male
# (03 10 11 12 15) and 5 female (08 09 13 14 16) speakers, three of one sex and two of the other in each half.
RATE_TUNE = frozenset({"03", "08", "10", "13", "15"})
RATE_TEST = frozenset({"09", "11", "12", "14", "16"})
EMOTION_FIT = frozenset({"03", "08", "09", "10", "11"})
EMOTION_TEST = frozenset({"12", "13", "14", "15", "16"})
PITCH_TUNE = frozenset({"03", "08", "09", "10", "13"})
PITCH_TEST = frozenset({"11", "12", "14", "15", "16"})
STRICT_HELD_OUT = RATE_TEST & EMOTION_TEST & PITCH_TEST


def find_emodb():
    """$ATTUNE_EMODB, else shared/data/emodb in the nearest folder above the repository that has one (the
    workspace's shared/ folder sits beside the repository, and a git worktree may sit a level deeper)."""
    if os.environ.get("ATTUNE_EMODB"):
        return os.environ["ATTUNE_EMODB"]
    tools = os.path.dirname(os.path.abspath(__file__))
    parents = [os.path.dirname(tools)]
    while os.path.dirname(parents[-1]) != parents[-1]:
        parents.append(os.path.dirname(parents[-1]))
    found = [os.path.join(p, "shared", "data", "emodb") for p in parents[1:]]
    return next((d for d in found if os.path.isdir(d)), found[0])


EMODB = find_emodb()


def labels_csv(emodb=EMODB):
    """EmoDB's labels.csv under `emodb`; exits with a one-line message when it is not there."""
    path = os.path.join(emodb, "labels.csv")
    if not os.path.exists(path):
        sys.exit(f"EmoDB not found: {path} (set ATTUNE_EMODB)")
    return path
