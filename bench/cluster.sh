#!/usr/bin/env bash
# Two release instances of Vigil on loopback sharing one fresh PostgreSQL
# database and the same PKI files: the time from a logout's answer on one
# to the token's refusal on the other (the change feed), over N logouts.
# Usage: bash bench/cluster.sh [logouts]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
PG=${VIGIL_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=vigil_bench_$$
BIN=./target/release
LEPTOS_OUTPUT_NAME=vigil cargo build --release -p vigil --bins >&2
psql "$PG/postgres" -qc "CREATE DATABASE $DB"
A=$(mktemp -d)
B=$(mktemp -d)
SA="" SB=""
cleanup() {
  kill $SA $SB 2>/dev/null || true
  wait $SA $SB 2>/dev/null || true
  rm -rf "$A" "$B"
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export VIGIL_DATABASE_URL="$PG/$DB" VIGIL_ADMIN_PASSWORD="$password" VIGIL_ADMIN_USER=admin VIGIL_LOG=error

# instance DATA_DIR FIRST_PORT: north, south, MQTT devices, MQTT apps; the
# metrics on FIRST_PORT + 10.
instance() {
  VIGIL_DATA_DIR="$1" VIGIL_HTTPS_ADDR="127.0.0.1:$2" VIGIL_DEVICE_ADDR="127.0.0.1:$(($2 + 1))" \
    VIGIL_MQTT_ADDR="127.0.0.1:$(($2 + 2))" VIGIL_MQTT_NORTH_ADDR="127.0.0.1:$(($2 + 3))" \
    VIGIL_METRICS_ADDR="127.0.0.1:$(($2 + 10))" "$BIN/vigil" &
}
ready() {
  for _ in $(seq 100); do
    curl -sf --cacert "$A/pki/platform-ca.pem" "https://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "instance on $1 did not become ready" >&2
  return 1
}
instance "$A" 18960
SA=$!
for _ in $(seq 100); do [[ -f "$A/pki/platform-ca.pem" ]] && break; sleep 0.1; done
ready 18960
# The second instance gets the same PKI files (and so the same keys).
cp -a "$A/pki" "$B/pki"
instance "$B" 18964
SB=$!
ready 18964
token=$(curl -sf --cacert "$A/pki/platform-ca.pem" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" "https://127.0.0.1:18960/api/v1/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "== $N logouts on instance A, each polled on instance B until refused ($(nproc) cores)"
VIGIL_NORTH_URL="https://127.0.0.1:18960" VIGIL_CA="$A/pki/platform-ca.pem" VIGIL_TOKEN="$token" \
  "$BIN/vigil-device" spread-bench --other "https://127.0.0.1:18964" --logouts "$N"

# Readings stored through A at DEVICES × 2 batches/s × 10 readings for 20 s,
# followed on a live stream of A and one of B: the time from each reading's
# arrival at A (its `ts`) to its delivery on each stream; and B's own
# measure of the feed, from the rows' write on A to their publication on B
# (the histogram vigil_feed_readings_lag_seconds, read after the run).
DEVICES=${DEVICES:-1000}
echo "== $DEVICES devices × 2 batches/s × 10 readings into A; live streams on A and on B"
LL=""
for port in 18960 18964; do
  VIGIL_NORTH_URL="https://127.0.0.1:$port" VIGIL_CA="$A/pki/platform-ca.pem" VIGIL_TOKEN="$token" \
    "$BIN/vigil-device" live-latency --seconds 15 | sed "s/^/stream on :$port  /" &
  LL="$LL $!"
done
VIGIL_NORTH_URL="https://127.0.0.1:18960" VIGIL_SOUTH_URL="https://127.0.0.1:18961" \
  VIGIL_CA="$A/pki/platform-ca.pem" VIGIL_TOKEN="$token" \
  "$BIN/vigil-device" simulate --devices "$DEVICES" --rate 2 --batch 10 --duration 20 --prefix "ll$$" 2>/dev/null | tail -1
wait $LL
curl -sf "http://127.0.0.1:18974/metrics" | python3 -c '
import sys
buckets = []
for line in sys.stdin:
    if line.startswith("vigil_feed_readings_lag_seconds_bucket"):
        le = line.split("le=\"")[1].split("\"")[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
total = buckets[-1][1]
def q(p):
    # Linear within the bucket that holds the quantile.
    lo, below = 0.0, 0.0
    for le, count in buckets:
        if count >= p * total:
            if le == float("inf"):
                return lo * 1000
            return (lo + (le - lo) * (p * total - below) / max(count - below, 1)) * 1000
        lo, below = le, count
print(f"feed on B (write on A → published on B), {int(total)} announcements: p50 {q(0.5):.1f} ms  p99 {q(0.99):.1f} ms")
'

# Ingest, unthrottled: 100 devices into A alone, then 50 into A and 50 into
# B at once (same database, same run).
SECS=${SECS:-15}
sim() { # NORTH_PORT PREFIX DEVICES
  VIGIL_NORTH_URL="https://127.0.0.1:$1" VIGIL_SOUTH_URL="https://127.0.0.1:$(($1 + 1))" \
    VIGIL_CA="$A/pki/platform-ca.pem" VIGIL_TOKEN="$token" \
    "$BIN/vigil-device" simulate --devices "$3" --rate 0 --batch 10 --duration "$SECS" --prefix "$2$$" 2>/dev/null | tail -1
}
echo "== ingest: 100 devices into A alone, batches of 10, unthrottled, ${SECS}s"
sim 18960 one 100
echo "== ingest: 50 devices into A and 50 into B at once"
sim 18960 twoa 50 &
S1=$!
sim 18964 twob 50
wait $S1
