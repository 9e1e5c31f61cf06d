#!/usr/bin/env bash
# Trace replay at scale (issue 17): a trace is streamed, never held in memory. A 10^7-line
# Mooncake trace is generated, and the last 1000 requests of it are replayed (the whole file
# is read and validated first, then read again by the replay) by `bench` against the embedded
# simulated server and by `sim run`; the same window of a 10^4-line trace is the baseline.
# Peak RSS (GNU time's maximum resident set size) must not grow with the file.
#
# Usage: scripts/trace-scale.sh [LINES]     (default 10000000; about 3 minutes on 2 cores,
#                                           750 MB of temporary disk)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bins
BIN=$PWD/target/release/infermeter
N=${1:-10000000}
SMALL=10000
WINDOW=1000
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

# One request per ms: 100-token prompts of one 512-token block (97 distinct blocks, so
# prefixes repeat), 4 output tokens.
gen() {
  python3 - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w", buffering=1 << 20) as f:
    for i in range(n):
        f.write('{"timestamp": %d, "input_length": 100, "output_length": 4, "hash_ids": [%d]}\n' % (i, i % 97))
PY
}

gen "$N" "$DIR/big.jsonl"
gen "$SMALL" "$DIR/small.jsonl"
echo "trace: $N lines, $(du -h "$DIR/big.jsonl" | cut -f1); baseline: $SMALL lines"

# Peak RSS (MiB) and wall seconds of a command.
measure() {
  /usr/bin/time -f "%M %e" -o "$DIR/time" "$@" >/dev/null 2>"$DIR/err" || { cat "$DIR/err"; exit 1; }
  read -r kb secs <"$DIR/time"
  printf "%8.1f MiB  %7.2f s" "$(echo "$kb / 1024" | bc -l)" "$secs"
}

window() { echo "--trace-start $(( ($1 - WINDOW) ))ms"; }

printf "%-44s %12s  %9s\n" "run (last $WINDOW requests replayed)" "peak RSS" "wall"
for f in small big; do
  lines=$([ $f = small ] && echo $SMALL || echo "$N")
  printf "%-44s " "bench, $lines-line trace"
  # shellcheck disable=SC2046
  measure "$BIN" bench --trace "$DIR/$f.jsonl" $(window "$lines") --sim-ttft-ms 1 --sim-itl-ms 1 \
    --no-progress --no-html --out "$DIR/bench-$f"
  echo "  ($(python3 -c "import json; print(json.load(open('$DIR/bench-$f/summary.json'))['requests']['succeeded'])") requests ok)"
  printf "%-44s " "sim run, $lines-line trace"
  # shellcheck disable=SC2046
  measure "$BIN" sim run --trace "$DIR/$f.jsonl" $(window "$lines") --no-html --out "$DIR/sim-$f"
  echo "  ($(python3 -c "import json; print(json.load(open('$DIR/sim-$f/summary.json'))['requests']['succeeded'])") requests ok)"
done
