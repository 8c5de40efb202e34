#!/bin/sh
# Load-tests two attuned builds in turn at one N, so both see the same machine: on a shared host the speed swings by
# up to 2x between windows, and a before/after taken minutes apart measures the host as much as the change.
# Runs `Tools/load.py -n N --duration 20 --block-ms 100` for A, then B, PAIRS times, one line per run (p99 lag, daemon
# CPU and its DSP, record and capture threads, whether N held), then each build's means.
# Usage: Tools/load_ab.sh A B [PAIRS (default 3)] [N (default 1000)]
# Example: Tools/load_ab.sh /tmp/attuned.before .build-eval/release/attuned 3 1000
set -eu
. "$(dirname "$0")/usage.sh"
check_args 2 "$@"
A=$1; B=$2; PAIRS=${3:-3}; N=${4:-1000}
TOOLS=$(dirname "$0")
OUT=$(mktemp -d /tmp/attune-load-ab.XXXXXX)
i=0
while [ "$i" -lt "$PAIRS" ]; do
    i=$((i + 1))
    for build in A B; do
        if [ "$build" = A ]; then bin=$A; else bin=$B; fi
        python3 "$TOOLS/load.py" --attuned "$bin" -n "$N" --duration 20 --block-ms 100 \
            --json "$OUT/$build.$i.json" > "$OUT/$build.$i.txt" 2>&1 || true
    done
done
python3 - "$OUT" "$PAIRS" <<'EOF'
import json, os, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
runs = {"A": [], "B": []}
for i in range(1, pairs + 1):
    for build in "AB":
        path = os.path.join(out, f"{build}.{i}.json")
        rows = json.load(open(path)) if os.path.exists(path) else []
        if not rows:
            print(f"{build} run {i}: no result (see {out}/{build}.{i}.txt)")
            continue
        r = rows[0]
        groups = r.get("threads_by_name", {})
        def share(word):
            return sum(v[0] for k, v in groups.items() if word in k)
        row = dict(p99=r["lag"][2], cpu=r.get("cpu_pct", 0), dsp=share("dsp"), rec=share("records"),
                   cap=share("capture"), holds=r["holds"])
        runs[build].append(row)
        print(f"{build} run {i}: p99 {row['p99']:7.1f} ms  daemon {row['cpu']:5.1f} %  dsp {row['dsp']:5.1f}  "
              f"records {row['rec']:4.1f}  capture {row['cap']:4.1f}  holds {'yes' if row['holds'] else 'NO'}")
for build in "AB":
    rs = runs[build]
    if rs:
        mean = lambda k: statistics.mean(x[k] for x in rs)
        print(f"{build}: holds {sum(x['holds'] for x in rs)} of {len(rs)}; mean daemon {mean('cpu'):.1f} %, "
              f"dsp {mean('dsp'):.1f}, records {mean('rec'):.1f}, capture {mean('cap'):.1f}; "
              f"p99 ms {', '.join('%.1f' % x['p99'] for x in rs)}")
print(f"(full output: {out})")
EOF
