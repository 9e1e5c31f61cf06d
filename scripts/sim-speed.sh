#!/usr/bin/env bash
# Simulation-speed benchmark (not a test): `infermeter sim run` for one simulated hour of
# Poisson arrivals at 20 req/s (512 input / 64 output tokens by default) against the
# simulated vLLM-like engine, Llama-3.1-8B on one H100. Prints the wall time and the number
# of simulated requests per wall-clock second (records.jsonl and summary.json included).
#
#   scripts/sim-speed.sh [extra `infermeter sim run` flags, e.g. --sim-gpu a100-80gb]
#
# Environment: INFERMETER_BIN (default: build and use target/release/infermeter).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${INFERMETER_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --release --quiet
    bin="${CARGO_TARGET_DIR:-target}/release/infermeter"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
start=$(date +%s.%N)
"$bin" sim run --sim-model-preset llama-3.1-8b --sim-gpu h100-sxm --rate 20 --duration 1h \
    --out "$out/run" -q "$@" >/dev/null
end=$(date +%s.%N)
python3 - "$out/run/summary.json" "$start" "$end" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
n = s["requests"]["total"]
print(f"simulated {n} requests over {s['wall_s']:.0f} s of simulated time "
      f"({s['throughput']['output_tokens_per_s']:.0f} output tok/s, TTFT p50 {s['latency_ms']['ttft']['p50']:.1f} ms)")
print(f"wall time {wall:.2f} s  ->  {n / wall:,.0f} simulated requests per wall second, "
      f"{s['wall_s'] / wall:,.0f}x real time")
PY
