#!/usr/bin/env bash
# Client performance harness (issue 9): is infermeter ever the bottleneck?
# Usage: scripts/perf.sh [all|paced]   (all: about 3 minutes on 2 cores; paced: section 6 only)
#        PERF_BIN=path/to/infermeter scripts/perf.sh ...   measures another build (e.g. "before")
# The simulated server runs as a separate process on 127.0.0.1 in zero-cost mode
# (TTFT 0, ITL 0: tokens are written as fast as possible), so the client's CPU and memory are
# measured alone. On a 2-core machine client and server share the cores: the figures are a
# lower bound of what the client can ingest.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
case "$WHAT" in all|paced) ;; *) echo "usage: scripts/perf.sh [all|paced]" >&2; exit 2;; esac
cargo build --release --quiet --examples --bins
BIN=${PERF_BIN:-target/release/infermeter}
PORT=${PERF_PORT:-18923}
PORT2=$((PORT + 1))
PORT3=$((PORT + 2))
PORT4=$((PORT + 3))
OUT=$(mktemp -d)
SIM= SIM2= SIM3= SIM4=
trap 'kill $SIM $SIM2 $SIM3 $SIM4 2>/dev/null || true; rm -rf "$OUT"' EXIT
wait_up() { for _ in $(seq 50); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.1; done; }
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1], {'d': d}))" "$2"; }
PIN_S= PIN_C=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then PIN_S="taskset -c 1"; PIN_C="taskset -c 0"; fi

paced() {
echo "== 6. paced streams: client CPU per 1,000 token events against the floor (ITL 20 ms, 1 token per chunk)"
# Real servers send one event per TCP segment: every event costs the client a wake-up and a
# read. A separate simulated server (pinned to CPU 1 when it can be) writes one token per
# chunk per stream every 20 ms; the client (pinned to CPU 0) runs a closed loop of 100-token
# requests. Client CPU is counted over the load window only: infermeter's summary.client.cpu_s
# (getrusage deltas over the measured phase, no start-up, no report), and the same deltas
# inside the floor: scripts/floor-reader.c, one thread, level-triggered epoll, one read() per
# readiness, no parsing, sending the same request. "+stamps" is the floor reading with
# recvmsg() and SO_TIMESTAMPNS as infermeter does; "uring+stamps" the same stamped reading
# through io_uring (multishot recvmsg into a buffer ring, DEFER_TASKRUN; no epoll, no read
# system call per event), where the kernel allows it; "runtime" is examples/runtime_floor.rs:
# the stamped reading done the way infermeter does it (tokio multi-thread runtime, a task per
# connection, AsyncFd) but with no HTTP, SSE or JSON processing — between the floor and
# infermeter, it splits the excess into the runtime's share and the per-event processing's.
# Each figure is the median of 3 runs, client and floors alternating. reads/ev: socket reads
# per token event.
cc -O2 -o "$OUT/floor-reader" scripts/floor-reader.c
$PIN_S "$BIN" sim serve --port "$PORT4" --sim-ttft-ms 20 --sim-itl-ms 20 --sim-tokens-per-chunk 1 \
  --sim-prefill-us-per-token 0 --sim-max-num-seqs 100000 2>/dev/null &
SIM4=$!
wait_up "$PORT4"
local model
model=$(curl -sf "http://127.0.0.1:$PORT4/v1/models" | python3 -c "import json,sys; print(json.load(sys.stdin)['data'][0]['id'])")
printf '%8s %8s %14s | %12s %8s | %12s %8s | %14s | %14s | %12s | %8s %12s\n' streams events "ev/s (floor)" "infermeter" "reads/ev" \
  floor "reads/ev" "floor+stamps" "uring+stamps" runtime ratio "vs +stamps"
for spec in "100 400" "1000 2000"; do
  set -- $spec
  local conc=$1 reqs=$2 tokens=100
  # The request infermeter sends (same keys, a 16-token prompt): the server answers both
  # clients with the same bytes.
  python3 - "$model" "$tokens" >"$OUT/body.json" <<'PY'
import json, sys
print(json.dumps({"ignore_eos": True, "max_tokens": int(sys.argv[2]), "model": sys.argv[1],
                  "prompt": " export partic dir resh try damage iss private quality fol occ test ven quis today rip",
                  "stream": True, "stream_options": {"continuous_usage_stats": True, "include_usage": True}},
                 separators=(",", ":"), sort_keys=True), end="")
PY
  : >"$OUT/paced.txt"
  for rep in 1 2 3; do
    $PIN_C "$BIN" bench --url "http://127.0.0.1:$PORT4" --concurrency "$conc" --requests "$reqs" --output-tokens "$tokens" \
      --input-tokens 16 --no-progress --quiet --no-html --out "$OUT/paced-$conc" >/dev/null
    S="$OUT/paced-$conc/summary.json"
    echo "im $(field "$S" "d['client']['cpu_s']") $(field "$S" "d['tokens']['output']") $(field "$S" "d['duration_s']") $(field "$S" "d['client']['read_lag_ms']['stamped_reads'] + d['client']['read_lag_ms']['unstamped_reads']")" >>"$OUT/paced.txt"
    $PIN_C "$OUT/floor-reader" "$PORT4" /v1/completions "$conc" "$reqs" "$OUT/body.json" >"$OUT/floor.json"
    echo "floor $(field "$OUT/floor.json" "d['cpu_s']") $((reqs * tokens)) $(field "$OUT/floor.json" "d['wall_s']") $(field "$OUT/floor.json" "d['reads']")" >>"$OUT/paced.txt"
    $PIN_C "$OUT/floor-reader" "$PORT4" /v1/completions "$conc" "$reqs" "$OUT/body.json" --recvmsg >"$OUT/floor.json"
    echo "stamps $(field "$OUT/floor.json" "d['cpu_s']") $((reqs * tokens)) $(field "$OUT/floor.json" "d['wall_s']") $(field "$OUT/floor.json" "d['reads']")" >>"$OUT/paced.txt"
    if $PIN_C "$OUT/floor-reader" "$PORT4" /v1/completions "$conc" "$reqs" "$OUT/body.json" --recvmsg --uring >"$OUT/floor.json" 2>/dev/null; then
      echo "uring $(field "$OUT/floor.json" "d['cpu_s']") $((reqs * tokens)) $(field "$OUT/floor.json" "d['wall_s']") $(field "$OUT/floor.json" "d['reads']")" >>"$OUT/paced.txt"
    fi
    $PIN_C target/release/examples/runtime_floor "$PORT4" /v1/completions "$conc" "$reqs" "$OUT/body.json" >"$OUT/floor.json"
    echo "runtime $(field "$OUT/floor.json" "d['cpu_s']") $((reqs * tokens)) $(field "$OUT/floor.json" "d['wall_s']") $(field "$OUT/floor.json" "d['reads']")" >>"$OUT/paced.txt"
  done
  python3 - "$OUT/paced.txt" "$conc" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, cpu, ev, wall, reads = line.split()
    rows.setdefault(who, []).append((float(cpu) / float(ev) * 1e6, float(ev), float(wall), float(reads) / float(ev)))
med = lambda who, i: statistics.median(r[i] for r in rows[who])
im, fl, st = med("im", 0), med("floor", 0), med("stamps", 0)
ur = '%11.2f ms' % med("uring", 0) if "uring" in rows else '%14s' % 'n/a'
print('%8s %8.0f %6.0f (%5.0f) | %9.2f ms %8.2f | %9.2f ms %8.2f | %11.2f ms | %s | %9.2f ms | %7.2fx %11.2fx' % (
    sys.argv[2], med("im", 1), med("im", 1) / med("im", 2), med("floor", 1) / med("floor", 2), im, med("im", 3),
    fl, med("floor", 3), st, ur, med("runtime", 0), im / fl, im / st))
print('         (each run, ms per 1,000 events: infermeter %s; floor %s; floor+stamps %s; uring+stamps %s; runtime %s)' % tuple(
    ' '.join('%.2f' % r[0] for r in rows.get(w, [])) or '-' for w in ("im", "floor", "stamps", "uring", "runtime")))
PY
done
kill "$SIM4" 2>/dev/null || true
wait "$SIM4" 2>/dev/null || true
}

if [ "$WHAT" = paced ]; then
  paced
  exit 0
fi

echo "== 0. platform: CPU time taken from a pinned thread that never sleeps (5 s per core, nothing else running)"
# The floor under every tail below: a pacer or a reader cannot be more punctual than its core.
target/release/examples/hiccup 5

echo "== 5. SSE parser + chunk decoder (single thread)"
target/release/examples/sse_bench 1000000 | tail -1

"$BIN" sim serve --port "$PORT" --sim-ttft-ms 0 --sim-itl-ms 0 --sim-prefill-us-per-token 0 --sim-max-num-seqs 100000 2>/dev/null &
SIM=$!
wait_up "$PORT"

echo "== 1. token events ingested per second (streaming, 1 token per event)"
# "shared": client and server on both cores; "pinned": server on CPU 1, client on CPU 0, so
# "ev per client CPU-s" is the client's capacity on one core and events/s is capped by the
# server's single core.
$PIN_S "$BIN" sim serve --port "$PORT3" --sim-ttft-ms 0 --sim-itl-ms 0 --sim-prefill-us-per-token 0 --sim-max-num-seqs 100000 2>/dev/null &
SIM3=$!
wait_up "$PORT3"
printf '%8s %12s %10s %12s %14s %12s %20s %12s\n' cores concurrency events "events/s" "client CPU s" "CPU s/1M ev" "ev per client CPU-s" "peak RSS MB"
for cores in shared pinned; do
  port=$PORT pc=
  if [ "$cores" = pinned ]; then [ -n "$PIN_C" ] || continue; port=$PORT3; pc=$PIN_C; fi
  for spec in "100 200 1000" "1000 1000 200" "5000 5000 40"; do
    set -- $spec
    $pc "$BIN" bench --url "http://127.0.0.1:$port" --concurrency "$1" --requests "$2" --output-tokens "$3" \
      --input-tokens 16 --no-progress --quiet --out "$OUT/ingest-$1" >/dev/null
    S="$OUT/ingest-$1/summary.json"
    ev=$(field "$S" "d['tokens']['output']")
    dur=$(field "$S" "d['duration_s']")
    cpu=$(field "$S" "d['client']['cpu_s']")
    rss=$(field "$S" "d['client']['peak_rss_bytes']/1e6")
    python3 -c "print('%8s %12d %10d %12.0f %14.2f %12.2f %20.0f %12.1f' % ('$cores', $1, $ev, $ev/$dur, $cpu, $cpu/$ev*1e6, $ev/$cpu, $rss))"
  done
done
kill "$SIM3" 2>/dev/null || true
wait "$SIM3" 2>/dev/null || true

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

echo "== 3. timing error: client stamps vs the server's write times (concurrency 500, 2000 requests x 32 tokens, TTFT 50 ms)"
# Every stream gets its tokens in the same engine step (lock-step ITL), the hardest case: 500
# events written at once. "pinned" runs the server on CPU 1 and the client on CPU 0 (taskset),
# so the two do not compete for cores; unpinned they share both.
printf '%-34s %7s %7s %8s %8s %8s %9s %7s %s\n' run "TTFT50" "TTFT99" "event50" "event99" "max ms" "rdlag99" "late%" verdict
timing_row() { # label itl pin(0/1) [bench flags...]
  local label=$1 itl=$2 pin=$3; shift 3
  local ps= pc=
  if [ "$pin" = 1 ]; then ps=$PIN_S; pc=$PIN_C; [ -n "$ps" ] || { echo "$label: skipped (no taskset or one core)"; return; }; fi
  rm -f "$OUT/writes.jsonl"
  $ps "$BIN" sim serve --port "$PORT2" --sim-ttft-ms 50 --sim-itl-ms "$itl" --sim-prefill-us-per-token 0 --sim-max-num-seqs 100000 \
    --write-log "$OUT/writes.jsonl" 2>/dev/null &
  SIM2=$!
  wait_up "$PORT2"
  $pc "$BIN" bench --url "http://127.0.0.1:$PORT2" --api completions --concurrency 500 --requests 2000 --output-tokens 32 \
    --input-tokens 16 --no-progress --quiet --out "$OUT/timing" "$@" >/dev/null
  kill "$SIM2" 2>/dev/null || true
  wait "$SIM2" 2>/dev/null || true
  python3 scripts/timing-error.py "$OUT/timing" "$OUT/writes.jsonl" "$label"
}
timing_row "ITL 10 ms, kernel stamps, pinned" 10 1
timing_row "ITL 10 ms, read-return, pinned" 10 1 --rx-timestamp user
timing_row "ITL 10 ms, kernel stamps, shared" 10 0
timing_row "ITL 10 ms, read-return, shared" 10 0 --rx-timestamp user
timing_row "ITL 20 ms, kernel stamps, shared" 20 0
timing_row "ITL 20 ms, read-return, shared" 20 0 --rx-timestamp user

echo "== 4. memory: per recorded token event (concurrency 10, 10^6 events) and per in-flight request (2000 requests held by a 3 s TTFT)"
"$BIN" sim serve --port "$PORT3" --sim-ttft-ms 3000 --sim-itl-ms 10 --sim-prefill-us-per-token 0 --sim-max-num-seqs 100000 2>/dev/null &
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

paced
