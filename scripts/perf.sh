#!/usr/bin/env bash
# Client performance harness (issue 9): is infermeter ever the bottleneck?
# Usage: scripts/perf.sh            (about 1 minute on 2 cores; prints every figure)
# The simulated server runs as a separate process on 127.0.0.1 in zero-cost mode
# (TTFT 0, ITL 0: tokens are written as fast as possible), so the client's CPU and memory are
# measured alone. On a 2-core machine client and server share the cores: the figures are a
# lower bound of what the client can ingest.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --examples --bins
BIN=target/release/infermeter
PORT=${PERF_PORT:-18923}
PORT2=$((PORT + 1))
PORT3=$((PORT + 2))
OUT=$(mktemp -d)
SIM= SIM2= SIM3=
trap 'kill $SIM $SIM2 $SIM3 2>/dev/null || true; rm -rf "$OUT"' EXIT
wait_up() { for _ in $(seq 50); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.1; done; }

echo "== 5. SSE parser + chunk decoder (single thread)"
target/release/examples/sse_bench 1000000 | tail -1

"$BIN" sim serve --port "$PORT" --ttft-ms 0 --itl-ms 0 --prefill-us-per-token 0 --max-num-seqs 100000 2>/dev/null &
SIM=$!
wait_up "$PORT"

field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1], {'d': d}))" "$2"; }

echo "== 1. token events ingested per second (streaming, 1 token per event)"
printf '%12s %10s %12s %14s %12s %14s\n' concurrency events "events/s" "client CPU s" "CPU s/1M ev" "peak RSS MB"
for spec in "100 200 1000" "1000 1000 200" "5000 5000 40"; do
  set -- $spec
  "$BIN" bench --url "http://127.0.0.1:$PORT" --concurrency "$1" --requests "$2" --output-tokens "$3" \
    --input-tokens 16 --no-progress --quiet --out "$OUT/ingest-$1" >/dev/null
  S="$OUT/ingest-$1/summary.json"
  ev=$(field "$S" "d['tokens']['output']")
  dur=$(field "$S" "d['duration_s']")
  cpu=$(field "$S" "d['client']['cpu_s']")
  rss=$(field "$S" "d['client']['peak_rss_bytes']/1e6")
  python3 -c "print('%12d %10d %12.0f %14.2f %12.2f %14.1f' % ($1, $ev, $ev/$dur, $cpu, $cpu/$ev*1e6, $rss))"
done

echo "== 2. open-loop pacing (Poisson, 5 s each)"
printf '%10s %12s %12s %12s %12s %12s %10s\n' offered scheduled achieved "lag p50 ms" "lag p99 ms" "lag max ms" saturated
for rate in 500 2000 5000; do
  "$BIN" bench --url "http://127.0.0.1:$PORT" --rate "$rate" --duration 5s --output-tokens 1 --input-tokens 16 \
    --no-progress --quiet --out "$OUT/pace-$rate" >/dev/null
  S="$OUT/pace-$rate/summary.json"
  python3 - "$S" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); c = d['client']; l = c['schedule_lag_ms']
print('%10.0f %12.1f %12.1f %12.3f %12.3f %12.3f %10s' % (c['offered_rate'], c['scheduled_rate'] or 0, c['achieved_rate'] or 0, l['p50'], l['p99'], l['max'], c['saturated']))
PY
done

echo "== 3. timing error: client stamps vs the server's write times (concurrency 500, TTFT 50 ms, ITL 10 ms, 64k events)"
"$BIN" sim serve --port "$PORT2" --ttft-ms 50 --itl-ms 10 --prefill-us-per-token 0 --max-num-seqs 100000 \
  --write-log "$OUT/writes.jsonl" 2>/dev/null &
SIM2=$!
wait_up "$PORT2"
"$BIN" bench --url "http://127.0.0.1:$PORT2" --api completions --concurrency 500 --requests 2000 --output-tokens 32 \
  --input-tokens 16 --no-progress --quiet --out "$OUT/timing" >/dev/null
python3 scripts/timing-error.py "$OUT/timing" "$OUT/writes.jsonl"
kill "$SIM2" 2>/dev/null || true

echo "== 4. memory: per recorded token event (concurrency 10, 10^6 events) and per in-flight request (2000 requests held by a 3 s TTFT)"
"$BIN" sim serve --port "$PORT3" --ttft-ms 3000 --itl-ms 10 --prefill-us-per-token 0 --max-num-seqs 100000 2>/dev/null &
SIM3=$!
wait_up "$PORT3"
"$BIN" bench --url "http://127.0.0.1:$PORT" --concurrency 1 --requests 1 --output-tokens 1 --input-tokens 16 \
  --no-progress --quiet --out "$OUT/base" >/dev/null
"$BIN" bench --url "http://127.0.0.1:$PORT" --concurrency 10 --requests 100 --output-tokens 10000 --input-tokens 16 \
  --no-progress --quiet --out "$OUT/mem-events" >/dev/null
"$BIN" bench --url "http://127.0.0.1:$PORT3" --concurrency 2000 --requests 2000 --output-tokens 10 --input-tokens 16 \
  --no-progress --quiet --out "$OUT/mem-inflight" >/dev/null
python3 - "$OUT/base/summary.json" "$OUT/mem-events/summary.json" "$OUT/mem-inflight/summary.json" <<'PY'
import json, sys
b, e, f = (json.load(open(p)) for p in sys.argv[1:4])
base = b['client']['peak_rss_bytes']
ev, rss_e = e['tokens']['output'], e['client']['peak_rss_bytes']
inflight, rss_f = f['concurrency']['peak'], f['client']['peak_rss_bytes']
print('baseline peak RSS %.1f MB' % (base/1e6))
print('%d token events at concurrency 10: peak RSS %.1f MB -> %.1f B per recorded token event (records + end-of-run metrics + report)' % (ev, rss_e/1e6, (rss_e-base)/ev))
print('%d requests in flight: peak RSS %.1f MB -> %.1f KiB per in-flight request (socket buffer, task, stream state)' % (inflight, rss_f/1e6, (rss_f-base)/inflight/1024))
PY
