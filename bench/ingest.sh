#!/usr/bin/env bash
# Load benchmark of ingestion on loopback: `vigil-device simulate` drives
# N devices over mutual TLS against a release build of Vigil (SQLite by
# default; VIGIL_DATABASE_URL=postgres://… for PostgreSQL, an empty database).
#   1. keep-alive connections, batches of 10, as fast as answers come back
#   2. a new TLS connection per request (handshakes/s)
# Usage: bash bench/ingest.sh [devices] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
DURATION=${2:-15}
NORTH=${VIGIL_BENCH_PORT:-18643}
SOUTH=$((NORTH + 1))

source bench/lib.sh
start_vigil
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$DATA/pki/platform-ca.pem"

echo "== $DEVICES devices, keep-alive mTLS, batches of 10, unthrottled, ${DURATION}s ($(nproc) cores, load generator on the same machine)"
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --prefix ka 2>/dev/null
echo "== $DEVICES devices, keep-alive mTLS, batches of 10, offered 20,000 readings/s (20 batches/s each), ${DURATION}s"
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 20 --batch 10 --duration "$DURATION" --prefix fixed 2>/dev/null
echo "== $DEVICES devices, a new mTLS connection per request, batches of 10, ${DURATION}s"
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration "$DURATION" --new-connections --prefix nc 2>/dev/null
# Storage per reading: the readings table with its indexes (PostgreSQL),
# the whole database file less its free pages (SQLite; the other tables
# are a few pages).
if [[ "${VIGIL_DATABASE_URL:-}" == postgres* ]]; then
  read -r STORED BYTES < <(psql "$VIGIL_DATABASE_URL" -tAF ' ' -c \
    "select count(*), pg_total_relation_size('readings') from readings")
else
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true # checkpointed on close
  read -r STORED BYTES < <(python3 - "$DATA/vigil.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("select count(*) from readings").fetchone()[0]
pages = db.execute("pragma page_count").fetchone()[0] - db.execute("pragma freelist_count").fetchone()[0]
print(n, pages * db.execute("pragma page_size").fetchone()[0])
PY
  )
fi
echo "readings in the database after the runs: $STORED, $((BYTES / STORED)) bytes each on disk ($((BYTES / 1048576)) MiB)"
