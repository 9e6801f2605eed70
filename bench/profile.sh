#!/usr/bin/env bash
# A CPU profile of ingestion: a release Vigil on loopback (SQLite, or
# VIGIL_DATABASE_URL=postgres://… for PostgreSQL), 100 devices sending
# batches of 10 as fast as answers come, `perf record` on the server for
# 10 s in the middle of the run; then the report's top entries.
# Needs `perf` (Debian's linux-perf). Usage: bash bench/profile.sh [devices]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100}
NORTH=${VIGIL_BENCH_PORT:-18843}
SOUTH=$((NORTH + 1))
source bench/lib.sh
start_vigil
export VIGIL_NORTH_URL="https://127.0.0.1:$NORTH" VIGIL_SOUTH_URL="https://127.0.0.1:$SOUTH" VIGIL_CA="$DATA/pki/platform-ca.pem"
"$BIN/vigil-device" simulate --devices "$DEVICES" --rate 0 --batch 10 --duration 25 --prefix prof 2>/dev/null | tail -1 &
SIM=$!
sleep 12
perf record -F 499 -g -p "$SERVER" -o "$DATA/perf.data" -- sleep 10 >/dev/null 2>&1
wait $SIM
# perf pads its columns to a terminal's width: trimmed.
report() { perf report -i "$DATA/perf.data" --stdio -g none "$@" 2>/dev/null | grep '%' | sed -E 's/[[:space:]]+(-[[:space:]]+)*$//'; }
echo "== by object"
report --no-children --sort dso | head -5
echo "== system calls, with what they call"
report --children --sort symbol | grep -E '__libc_(pwrite|pread|write|read|sendmsg|recvmsg)$|fsync$|epoll_wait$' | head -8
echo "== self time, top 25"
report --no-children --sort symbol | head -25
