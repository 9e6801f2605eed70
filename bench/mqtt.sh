#!/usr/bin/env bash
# MQTT on loopback, against a release build of Vigil (SQLite by default):
#   1. IDLE device MQTT sessions held at once, and the server's RSS (on a
#      fresh server, so the figure is the sessions' own);
#   2. readings/s stored with DEVICES devices, batches of 10, as fast as
#      answers come back: over HTTPS keep-alive, then over MQTT QoS 1 (one
#      batch in flight per device, acknowledged after the commit);
#   3. from a revocation's answer to the session's close, over 100
#      revocations.
# Usage: bash bench/mqtt.sh [devices] [seconds] [idle]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
DURATION=${2:-15}
IDLE=${3:-10000}
NORTH=${VIGIL_BENCH_PORT:-18943}
SOUTH=$((NORTH + 1))
MQTT=$((NORTH + 2))
# Room for the idle sessions on both ends: each listener gets a quarter of
# the server's open files, and the load generator needs one per session.
ulimit -Hn 200000 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
# Each of the server's four listeners keeps a quarter of the open files.
if (( IDLE > $(ulimit -n) / 4 - 100 )); then
  IDLE=$(( $(ulimit -n) / 4 - 100 ))
  echo "(the open-file limit here is $(ulimit -n): at most $IDLE idle sessions on one listener)"
fi
export VIGIL_MQTT_ADDR="127.0.0.1:$MQTT" VIGIL_MQTT_NORTH_ADDR="127.0.0.1:$((NORTH + 3))"
export VIGIL_DEVICE_MAX_CONNECTIONS_PER_IP=$((IDLE + 1000)) VIGIL_DEVICE_TOKENS_PER_HOUR=100000

source bench/lib.sh
start_vigil
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$DATA/pki/platform-ca.pem"
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$SERVER/status"; }

echo "== $IDLE idle device MQTT sessions"
echo "server RSS before: $(rss)"
"$BIN/vigil-device" mqtt-idle --devices "$IDLE" --hold 600 > "$DATA/idle.out" 2>"$DATA/idle.err" &
SIM=$!
for _ in $(seq 900); do
  sleep 1
  grep -q held "$DATA/idle.out" && break
  kill -0 $SIM 2>/dev/null || break
done
sleep 3
echo "$(cat "$DATA/idle.out") $(tail -1 "$DATA/idle.err")   server RSS: $(rss)"
kill $SIM 2>/dev/null || true
wait $SIM 2>/dev/null || true
echo "== $DEVICES devices, batches of 10, unthrottled, ${DURATION}s each ($(nproc) cores, load generator on the same machine)"
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --prefix https 2>/dev/null
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --prefix mqtt --mqtt 2>/dev/null

echo "== 100 revocations of a device's tokens, each with an open MQTT 5.0 session"
"$BIN/vigil-device" revocation-bench --devices 100 2>/dev/null

