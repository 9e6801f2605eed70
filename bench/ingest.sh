#!/usr/bin/env bash
# Load benchmark of ingestion on loopback: `vigil-device simulate` drives
# N devices over mutual TLS against a release build of Vigil (SQLite by
# default; VIGIL_DATABASE_URL=postgres://… for PostgreSQL).
#   1. keep-alive connections, batches of 10, as fast as answers come back
#   2. a new TLS connection per request (handshakes/s)
# Usage: bash bench/ingest.sh [devices] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
DURATION=${2:-15}
NORTH=${VIGIL_BENCH_PORT:-18643}
SOUTH=$((NORTH + 1))

cargo build --release -p vigil --bins >&2
DATA=$(mktemp -d)
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
VIGIL_DATA_DIR="$DATA" VIGIL_HTTPS_ADDR="127.0.0.1:$NORTH" VIGIL_DEVICE_ADDR="127.0.0.1:$SOUTH" \
  VIGIL_ADMIN_PASSWORD="$PASSWORD" VIGIL_LOG=error ./target/release/vigil &
SERVER=$!
for _ in $(seq 50); do
  curl -sf --cacert "$DATA/pki/platform-ca.pem" "https://127.0.0.1:$NORTH/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
export VIGIL_TOKEN=$(curl -sf --cacert "$DATA/pki/platform-ca.pem" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "https://127.0.0.1:$NORTH/api/v1/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$DATA/pki/platform-ca.pem"

echo "== $DEVICES devices, keep-alive mTLS, batches of 10, unthrottled, ${DURATION}s ($(nproc) cores, load generator on the same machine)"
./target/release/vigil-device simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --prefix ka 2>/dev/null
echo "== $DEVICES devices, keep-alive mTLS, batches of 10, offered 15,000 readings/s (15 batches/s each), ${DURATION}s"
./target/release/vigil-device simulate --devices "$DEVICES" --rate 15 --batch 10 --duration "$DURATION" --prefix fixed 2>/dev/null
echo "== $DEVICES devices, a new mTLS connection per request, batches of 10, ${DURATION}s"
./target/release/vigil-device simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --new-connections --prefix nc 2>/dev/null
STORED=$(python3 - "$DATA/vigil.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from readings").fetchone()[0])
PY
)
echo "readings in the database after both runs: $STORED"
