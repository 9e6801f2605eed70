#!/usr/bin/env bash
# Ingestion from many devices, without and then with live viewers, against
# a release build on loopback (issue 12's 1,000-device run):
#   1. N devices offer R batches/s of 10 readings each, no live stream open;
#   2. the same while S live streams (`curl -N` on /api/v1/live, 4 per
#      viewer, the per-user cap) read every reading.
# Prints stored readings/s and latency (vigil-device simulate), and the
# server's RSS before, at its highest during each run (sampled every
# 0.2 s), and 10 s after each run. The curl clients and the load generator
# share the machine's cores with the server: their CPU time is printed
# beside the server's, to tell how much of a slowdown is theirs.
# Usage: bash bench/live.sh [devices] [batches/s each] [seconds] [streams]
# VIEWERS_NICE=19 runs the curl clients at that nice level, so that they
# take only the CPU the server and the load generator leave (a way to
# tell their share of a slowdown from the server's).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-1000}
RATE=${2:-2}
DURATION=${3:-20}
STREAMS=${4:-100}
NORTH=${VIGIL_BENCH_PORT:-19543}
SOUTH=$((NORTH + 1))
source bench/lib.sh
# Without the dashboard's files: whatever build sits in target/site would
# count in the RSS (a debug build's 6 MB wasm and its compressed copies
# are about 18 MB; a release build's, a few).
NO_SITE=$(mktemp -d)
export VIGIL_SITE_ROOT=${VIGIL_SITE_ROOT:-$NO_SITE}
start_vigil
CA="$DATA/pki/platform-ca.pem"
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$CA"
rss_kb() { ps -o rss= -p "$SERVER" | tr -d ' '; }
cpu_s() { # user+system seconds of a process and its children so far
  awk '{ printf "%.1f", ($14 + $15 + $16 + $17) / 100 }' "/proc/$1/stat"
}
# Highest RSS while the command runs.
peak() {
  local top=0 now
  "$@" &
  local job=$!
  while kill -0 "$job" 2>/dev/null; do
    now=$(rss_kb); ((now > top)) && top=$now
    sleep 0.2
  done
  wait "$job" || true
  echo "server RSS at its highest during the run: $((top / 1024)) MB"
}
run() {
  local before=$(cpu_s "$SERVER")
  peak "$BIN/vigil-device" simulate --devices "$DEVICES" --rate "$RATE" --batch 10 \
    --duration "$DURATION" --prefix "$1" 2>/dev/null
  echo "server CPU during the run: $(awk -v a="$before" -v b="$(cpu_s "$SERVER")" 'BEGIN { printf "%.1f", b - a }') s"
  sleep 10
  echo "server RSS 10 s after the run: $(( $(rss_kb) / 1024 )) MB"
}

# Not straight after the admin's login: its Argon2 check takes 19 MiB
# for a moment (glibc gives it back at its next trim, within 2 s).
sleep 3
echo "server RSS idle: $(( $(rss_kb) / 1024 )) MB"

echo "== $DEVICES devices × $RATE batches/s × 10 readings, no live stream (${DURATION}s; each run enrolls its devices first)"
run plain

echo "== the same with $STREAMS live streams reading everything"
VIEWERS=$(( (STREAMS + 3) / 4 ))
CURLS=()
for i in $(seq "$VIEWERS"); do
  curl -sf --cacert "$CA" -H "x-access-token: $VIGIL_TOKEN" -H 'content-type: application/json' \
    -d "{\"username\":\"viewer$i\",\"password\":\"bench-viewer-$i-orchid-lantern\",\"role\":\"viewer\"}" \
    "https://127.0.0.1:$NORTH/api/v1/users" >/dev/null
  token=$(curl -sf --cacert "$CA" -H 'content-type: application/json' \
    -d "{\"username\":\"viewer$i\",\"password\":\"bench-viewer-$i-orchid-lantern\"}" \
    "https://127.0.0.1:$NORTH/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  for _ in 1 2 3 4; do
    ((${#CURLS[@]} >= STREAMS)) && break
    # Each viewer from its own loopback address: the per-address
    # connection cap (64) would refuse the 65th stream from one.
    nice -n "${VIEWERS_NICE:-0}" curl -sN --interface "127.0.1.$i" --cacert "$CA" -H "x-access-token: $token" \
      "https://127.0.0.1:$NORTH/api/v1/live" -o /dev/null &
    CURLS+=($!)
  done
done
trap 'kill ${CURLS[*]} $SERVER 2>/dev/null || true; rm -rf "$DATA" "$NO_SITE"' EXIT
sleep 1
streams_alive() { local n=0 p; for p in "${CURLS[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo "$n"; }
curl_cpu() { local t=0; for p in "${CURLS[@]}"; do t=$(awk -v t="$t" -v c="$(cpu_s "$p" 2>/dev/null || echo 0)" 'BEGIN { print t + c }'); done; echo "$t"; }
echo "live streams open: $(streams_alive)"
c0=$(curl_cpu)
run live
echo "live streams still open after the run: $(streams_alive)"
echo "curl clients' CPU during the run and the 10 s after: $(awk -v a="$c0" -v b="$(curl_cpu)" 'BEGIN { printf "%.1f", b - a }') s"
kill "${CURLS[@]}" 2>/dev/null || true
sleep 2
echo "server RSS with the streams closed: $(( $(rss_kb) / 1024 )) MB"
