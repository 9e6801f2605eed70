#!/usr/bin/env bash
# Commands on loopback, against a release build of Vigil (SQLite by
# default; VIGIL_DATABASE_URL=postgres://… for PostgreSQL):
#   1. round trip (sent → answer stored, seen by the sender through
#      `?wait=`) of 100 commands/s across DEVICES long-polling devices that
#      answer at once;
#   2. the server's memory (RSS) while LISTENERS devices hold a long-poll.
# Usage: bash bench/commands.sh [devices] [seconds] [listeners]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
DURATION=${2:-20}
LISTENERS=${3:-1000}
NORTH=${VIGIL_BENCH_PORT:-18743}
SOUTH=$((NORTH + 1))

source bench/lib.sh
start_vigil
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$DATA/pki/platform-ca.pem"
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$SERVER/status"; }

echo "== $DEVICES devices long-polling, 100 commands/s sent through the north API, ${DURATION}s ($(nproc) cores, load generator on the same machine)"
"$BIN/vigil-device" simulate --devices "$DEVICES" --batch 0 --commands --send-commands 100 \
  --duration "$DURATION" --prefix rt 2>/dev/null | grep commands
echo "server RSS after: $(rss)"

echo "== $LISTENERS devices holding a long-poll (idle)"
echo "server RSS before: $(rss)"
"$BIN/vigil-device" simulate --devices "$LISTENERS" --batch 0 --commands --duration 300 --prefix idle \
  >/dev/null 2>&1 &
SIM=$!
# Enrolment takes a while; then every device holds a poll (one connection
# each, beside the enrolment's).
fds() { ls "/proc/$SERVER/fd" | wc -l; }
base=$(fds)
for _ in $(seq 120); do
  sleep 1
  [[ $(( $(fds) - base )) -ge $LISTENERS ]] && break
done
sleep 3
echo "server connections: $(( $(fds) - base )) more than before   server RSS: $(rss)"
kill $SIM 2>/dev/null || true
wait $SIM 2>/dev/null || true
