#!/usr/bin/env bash
# What merging a sharded run costs (issue 19): time and peak memory of `infermeter merge` over
# synthesized shard directories (examples/synth_shards.rs: the formats bench writes).
# Usage: scripts/merge-cost.sh [RECORDS] [SHARDS] [TOKENS]   (defaults 1000000 8 64)
# Needs GNU time (/usr/bin/time) and about 3 GB of disk per million 64-token records.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-1000000}
SHARDS=${2:-8}
TOKENS=${3:-64}
cargo build --release --quiet --bin infermeter --example synth_shards
BIN=target/release/infermeter
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== synthesizing $SHARDS shards, $RECORDS records, $TOKENS output tokens (one token event each)"
/usr/bin/time -f "synthesized in %e s" target/release/examples/synth_shards "$WORK/shards" "$SHARDS" "$RECORDS" "$TOKENS" 2>&1 | tail -1
echo "input: $(du -sh "$WORK/shards" | cut -f1) of records.jsonl, run.json and summary.json"

run() {
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" merge "$WORK/shards" -o "$WORK/merged" -q "$@" >/dev/null
    read -r secs kib < "$WORK/time"
    printf '%-34s %8s s   peak RSS %6d MiB\n' "$label" "$secs" $((kib / 1024))
}

echo "== merge (check, align, write records.jsonl, recompute summary.json)"
run "merge --no-html" --no-html
run "merge (with report.html)"
echo "output: $(du -sh "$WORK/merged" | cut -f1); $(wc -l < "$WORK/merged/records.jsonl") records"
# For scale: the same summary rebuilt from the merged records by `report` (no merge work).
/usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" report "$WORK/merged" --no-html >/dev/null
read -r secs kib < "$WORK/time"
printf '%-34s %8s s   peak RSS %6d MiB\n' "report --no-html (for comparison)" "$secs" $((kib / 1024))
