#!/usr/bin/env bash
# Zero-touch registration on loopback, against a release build of Vigil
# (SQLite by default; VIGIL_DATABASE_URL=postgres://… for PostgreSQL): an
# enrollment group made and verified with an OpenSSL CA, then DEVICES
# devices (certificates made beforehand) registering CONCURRENCY at a time,
# each over a new mutual-TLS connection.
# Usage: bash bench/provision.sh [devices] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-2000}
CONCURRENCY=${2:-100}
NORTH=${VIGIL_BENCH_PORT:-18773}
SOUTH=$((NORTH + 1))

source bench/lib.sh
start_vigil
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$DATA/pki/platform-ca.pem"
api() {
  curl -sf --cacert "$VIGIL_CA" -H "x-access-token: $VIGIL_TOKEN" -H 'content-type: application/json' "$@"
}

# The factory's CA, and the group with its proof of possession.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=Bench factory CA" -keyout "$DATA/ca.key" -out "$DATA/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
group=$(python3 -c 'import json,sys; print(json.dumps({"name": "bench", "ca_pem": open(sys.argv[1]).read()}))' "$DATA/ca.pem" |
  api -d @- "$VIGIL_NORTH_URL/api/v1/enrollment-groups")
id=$(echo "$group" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
code=$(echo "$group" | python3 -c 'import json,sys; print(json.load(sys.stdin)["verification_code"])')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$code" \
  -keyout "$DATA/proof.key" -out "$DATA/proof.csr" 2>/dev/null
openssl x509 -req -in "$DATA/proof.csr" -CA "$DATA/ca.pem" -CAkey "$DATA/ca.key" -days 1 \
  -out "$DATA/proof.pem" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"certificate_pem": open(sys.argv[1]).read()}))' "$DATA/proof.pem" |
  api -d @- "$VIGIL_NORTH_URL/api/v1/enrollment-groups/$id/verify" >/dev/null

echo "== $DEVICES registrations, $CONCURRENCY at once, each a new mutual-TLS connection ($(nproc) cores, load generator on the same machine)"
"$BIN/vigil-device" register-bench --ca-cert "$DATA/ca.pem" --ca-key "$DATA/ca.key" \
  --devices "$DEVICES" --concurrency "$CONCURRENCY"
