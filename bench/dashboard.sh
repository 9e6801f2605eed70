#!/usr/bin/env bash
# Dashboard figures, on a release build: gzipped size of wasm + JS + CSS,
# time from navigation to hydrated on the devices page, and the latency from
# a reading's arrival at Vigil to its delivery in the browser's live stream
# under `vigil-device simulate` load.
# Usage: bash bench/dashboard.sh [devices] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
DURATION=${2:-15}
NORTH=${VIGIL_BENCH_PORT:-19043}
SOUTH=$((NORTH + 1))
export PATH="$PWD/node_modules/.bin:$PATH"   # wasm-opt from the binaryen package

cargo leptos build --release >&2
echo "== gzipped size (gzip -9) of the release site"
total=0
for f in target/site/pkg/vigil.wasm target/site/pkg/vigil.js target/site/pkg/vigil.css; do
  n=$(gzip -9 -c "$f" | wc -c)
  total=$((total + n))
  printf '%-32s %8d bytes raw %8d bytes gzipped\n' "$f" "$(wc -c < "$f")" "$n"
done
echo "total gzipped: $total bytes"

source bench/lib.sh
start_vigil
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$DATA/pki/platform-ca.pem"
(sleep 4; "$BIN/vigil-device" simulate --devices "$DEVICES" --rate 20 --batch 10 --duration "$DURATION" --prefix dash 2>/dev/null) &
SIM=$!
BASE="https://127.0.0.1:$NORTH" SECONDS_TO_WATCH=$((DURATION + 5)) node bench/dashboard.mjs
wait $SIM
