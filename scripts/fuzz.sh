#!/usr/bin/env bash
# Fuzz campaign over infermeter's parsers of untrusted input (docs/reliability.md, "Parser
# robustness"): runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one
# after the other, and prints the executions per target.
#
# Usage: scripts/fuzz.sh [SECONDS]        e.g. scripts/fuzz.sh 3600 for a long campaign
#        FUZZ_TARGETS="sse records" scripts/fuzz.sh 600     (a subset)
#        FUZZ_JOBS=4 scripts/fuzz.sh 600                    (parallel libFuzzer workers)
#
# Needs a nightly toolchain and cargo-fuzz. The corpus grows in fuzz/corpus/TARGET (not
# committed; seeded from fuzz/seeds/ and tests/fixtures/sse/); a crash leaves its input in
# fuzz/artifacts/TARGET/ and makes the script exit 1 (reproduce: cargo +nightly fuzz run
# TARGET fuzz/artifacts/TARGET/crash-...). Limits per input: 10 s, one allocation 256 MB, RSS
# 1 GB, so quadratic blow-ups and allocations sized by an untrusted number are findings too.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
if ! [[ "$SECS" =~ ^[0-9]+$ ]] || [ "$SECS" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS]   (SECONDS per target, a positive integer; default 60)" >&2
  exit 2
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "error: cargo fuzz needs a nightly toolchain; install it with: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "error: cargo-fuzz is not installed; install it with: cargo install cargo-fuzz" >&2
  exit 2
fi

TARGETS=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
JOBS=${FUZZ_JOBS:-1}

# Seed corpora (only what is missing; libFuzzer adds what it finds).
seed() { # target file...
  local dir=fuzz/corpus/$1
  shift
  mkdir -p "$dir"
  for f in "$@"; do [ -e "$dir/seed-$(basename "$f")" ] || cp "$f" "$dir/seed-$(basename "$f")"; done
}
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t"
  [ -d "fuzz/seeds/$t" ] && seed "$t" fuzz/seeds/"$t"/*
done
mkdir -p fuzz/corpus/sse fuzz/corpus/event_json fuzz/corpus/metrics
# sse: a fixture stream with a leading 0 byte (= no frame cuts, see fuzz_targets/sse.rs).
for f in tests/fixtures/sse/*.sse; do
  out=fuzz/corpus/sse/seed-$(basename "$f")
  [ -e "$out" ] || { printf '\0' >"$out"; cat "$f" >>"$out"; }
done
# event_json: each `data:` payload of the fixtures, and the non-streamed bodies.
i=0
for f in tests/fixtures/sse/*.sse; do
  while IFS= read -r line; do
    i=$((i + 1))
    out=fuzz/corpus/event_json/seed-data-$i
    [ -e "$out" ] || printf '%s' "${line#data: }" >"$out"
  done < <(grep -a '^data: ' "$f" | tr -d '\r')
done
seed event_json tests/fixtures/sse/*nonstream.json
# metrics: every engine's /metrics fixture (the real llama.cpp capture and the imitations).
seed metrics tests/fixtures/metrics/*.txt

build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
echo "building fuzz targets (cargo +nightly fuzz build; the first build takes several minutes)..."
if ! cargo +nightly fuzz build >"$build_log" 2>&1; then
  cat "$build_log" >&2
  echo "error: cargo +nightly fuzz build failed" >&2
  exit 1
fi

status=0
summary=""
for t in $TARGETS; do
  echo "== $t: ${SECS}s"
  log=fuzz/artifacts/$t.log
  mkdir -p "fuzz/artifacts/$t"
  par=()
  [ "$JOBS" -gt 1 ] && par=(-jobs="$JOBS" -workers="$JOBS")
  set +e
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$SECS" -timeout=10 -malloc_limit_mb=256 -rss_limit_mb=1024 \
    -print_final_stats=1 "${par[@]}" >"$log" 2>&1
  rc=$?
  set -e
  if [ "$JOBS" -gt 1 ]; then cat fuzz-*.log >>"$log" 2>/dev/null && rm -f fuzz-*.log; fi
  execs=$(grep -ho 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
  units=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    result="FAILED (exit $rc): see $log and fuzz/artifacts/$t/"
    tail -30 "$log"
  else
    result="ok"
  fi
  summary+=$(printf '%-12s %12s execs %7s corpus units  %s' "$t" "$execs" "$units" "$result")$'\n'
done
echo
printf '%s' "$summary"
exit $status
