#!/usr/bin/env bash
# Screenshot an infermeter HTML report with headless Chromium (Debian's `chromium`).
#
#   scripts/render-report.sh REPORT.html OUT.png [WIDTHxHEIGHT]
#
# Installs `chromium` with apt-get when it is missing (needs root). The browser runs with
# networking features disabled and a throwaway profile: the report must render offline.
# The default window is 1400x3000 (CSS pixels).
# Set RENDER_DUMP_DOM=FILE to also write the rendered DOM (for tests).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
size=${3:-1400x3000}
[ -f "$report" ] || { echo "error: $report: no such file" >&2; exit 2; }

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for b in /usr/bin/chromium chromium chromium-browser; do
        if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
    done
fi
if [ -z "$browser" ]; then
    echo "chromium not found; installing it with apt-get" >&2
    apt-get install -y chromium >&2 || { apt-get update >&2 && apt-get install -y chromium >&2; }
    browser=/usr/bin/chromium
fi

abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
case "$out" in /*) out_abs=$out ;; *) out_abs=$(pwd)/$out ;; esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --hide-scrollbars "--user-data-dir=$profile" "--window-size=${size/x/,}")

"$browser" "${flags[@]}" "--screenshot=$out_abs" "file://$abs" >&2
if [ -n "${RENDER_DUMP_DOM:-}" ]; then
    "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$abs" >"$RENDER_DUMP_DOM"
fi
[ -s "$out_abs" ] || { echo "error: no screenshot written" >&2; exit 1; }
echo "$out_abs"
