#!/usr/bin/env bash
# The devices list at fleet size, on a release build: enrolls N devices
# (by thumbprint, through the API), then measures the list's API pages
# (first page, a deep page by cursor, a sort, a search, each with its
# x-total-count) and, in Chromium, the devices page from navigation to
# its first rows, and a sort and a search from click to rows.
# Usage: bash bench/fleet.sh [devices]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-10000}
NORTH=${VIGIL_BENCH_PORT:-19143}
SOUTH=$((NORTH + 1))
cargo leptos build --release >&2
source bench/lib.sh
start_vigil
NODE_EXTRA_CA_CERTS="$DATA/pki/platform-ca.pem" BASE="https://127.0.0.1:$NORTH" DEVICES="$DEVICES" node bench/fleet.mjs
