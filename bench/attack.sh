#!/usr/bin/env bash
# Figures for "holding up under attack", on loopback against a release build:
#  1. 10,000 idle TLS connections to the north listener from 100 addresses:
#     latency of /healthz from another address and of a reading stored over
#     the south listener, before and while they are held, and the server's
#     RSS.
#  2. Ingestion (vigil-device simulate) without, with, and again without 300
#     unread live streams held by 75 viewers (4 each, the per-user cap).
# Usage: bash bench/attack.sh [seconds per ingest run]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
NORTH=${VIGIL_BENCH_PORT:-19243}
SOUTH=$((NORTH + 1))
# Idle connections are held well past the test (the default 10 s header
# deadline would close them; here the point is the server holding them).
export VIGIL_HEADER_TIMEOUT=300s
source bench/lib.sh
start_vigil
CA="$DATA/pki/platform-ca.pem"
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$CA"
"$BIN/vigil-device" enroll --registration-id bench-probe --out "$DATA/probe" >/dev/null
rss() { echo "$(( $(ps -o rss= -p "$SERVER") / 1024 )) MB"; }

echo "== 1. idle connections (per-address cap ${VIGIL_MAX_CONNECTIONS_PER_IP:-64}; RSS before: $(rss))"
python3 bench/attack.py probe north 127.0.0.1 "$NORTH" "$CA" 200
python3 bench/attack.py probe south 127.0.0.1 "$SOUTH" "$CA" 200 "$DATA/probe/device.pem" "$DATA/probe/device.key"
python3 bench/attack.py idle 10000 100 127.0.0.1 "$NORTH" "$CA" 120 > "$DATA/idle.log" &
ATTACK=$!
for _ in $(seq 240); do grep -q held "$DATA/idle.log" 2>/dev/null && break; sleep 0.5; done
cat "$DATA/idle.log"
echo "while held (RSS $(rss)):"
python3 bench/attack.py probe north 127.0.0.1 "$NORTH" "$CA" 200
python3 bench/attack.py probe south 127.0.0.1 "$SOUTH" "$CA" 200 "$DATA/probe/device.pem" "$DATA/probe/device.key"
kill $ATTACK 2>/dev/null || true
wait $ATTACK 2>/dev/null || true

echo "== 2. ingestion without, with, then again without 300 unread live streams of 75 viewers"
: > "$DATA/tokens"
for i in $(seq 75); do
  curl -sf --cacert "$CA" -H "x-access-token: $VIGIL_TOKEN" -H 'content-type: application/json' \
    -d "{\"username\":\"viewer$i\",\"password\":\"bench-viewer-$i-orchid-lantern\",\"role\":\"viewer\"}" \
    "https://127.0.0.1:$NORTH/api/v1/users" >/dev/null
  curl -sf --cacert "$CA" -H 'content-type: application/json' \
    -d "{\"username\":\"viewer$i\",\"password\":\"bench-viewer-$i-orchid-lantern\"}" \
    "https://127.0.0.1:$NORTH/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >> "$DATA/tokens"
done
"$BIN/vigil-device" simulate --devices 100 --rate 0 --batch 10 --duration "$DURATION" --prefix base 2>/dev/null
echo "RSS: $(rss)"
python3 bench/attack.py streams 300 "$DATA/tokens" 127.0.0.1 "$NORTH" "$CA" 600 > "$DATA/streams.log" &
STREAMS=$!
for _ in $(seq 120); do grep -q holding "$DATA/streams.log" 2>/dev/null && break; sleep 0.5; done
cat "$DATA/streams.log"
"$BIN/vigil-device" simulate --devices 100 --rate 0 --batch 10 --duration "$DURATION" --prefix streams 2>/dev/null
echo "RSS with the streams held: $(rss)"
kill $STREAMS 2>/dev/null || true
wait $STREAMS 2>/dev/null || true
"$BIN/vigil-device" simulate --devices 100 --rate 0 --batch 10 --duration "$DURATION" --prefix again 2>/dev/null
echo "RSS after: $(rss)"
