#!/usr/bin/env bash
# MQTT on loopback, against a release build of Vigil (SQLite by default):
#   1. IDLE device MQTT sessions held at once, and the server's RSS (on a
#      fresh server, so the figure is the sessions' own);
#   2. readings/s stored with DEVICES devices, batches of 10, as fast as
#      answers come back: over HTTPS keep-alive (one request at a time per
#      connection, as HTTP/1.1 allows), then over MQTT QoS 1 with one batch
#      in flight per device, then with 8 (MQTT's own pipelining; each batch
#      is still acknowledged only after its commit);
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
echo "server RSS at start: $(rss)"
"$BIN/vigil-device" mqtt-idle --devices "$IDLE" --hold 600 > "$DATA/idle.out" 2>"$DATA/idle.err" &
SIM=$!
# Enrolled first (the devices' own cost: index, token registry, database
# cache), then the sessions opened: the difference is theirs.
wait_for() {
  for _ in $(seq 1800); do
    grep -q "$1" "$DATA/idle.out" && return 0
    kill -0 $SIM 2>/dev/null || return 1
    sleep 1
  done
}
wait_for enrolled
sleep 2
before=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
echo "server RSS with $IDLE devices enrolled, no session: $(rss)"
wait_for held
sleep 3
after=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
echo "$(tail -1 "$DATA/idle.out")   server RSS: $(rss), $(( (after - before) / IDLE )) KB per session"
kill $SIM 2>/dev/null || true
wait $SIM 2>/dev/null || true
echo "== $DEVICES devices, batches of 10, unthrottled, ${DURATION}s each ($(nproc) cores, load generator on the same machine)"
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --prefix https 2>/dev/null
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --prefix mqtt --mqtt 2>/dev/null
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --prefix mqtt8 --mqtt --in-flight 8 2>/dev/null

echo "== 100 revocations of a device's tokens, each with an open MQTT 5.0 session"
"$BIN/vigil-device" revocation-bench --devices 100 2>/dev/null

