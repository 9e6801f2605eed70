#!/usr/bin/env bash
# Sets up what is missing, builds Vigil, and runs it on its embedded
# defaults: SQLite and generated PKI in ./data, dashboard on
# https://127.0.0.1:8443. The first start prints the admin password once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo leptos build
exec ./target/debug/vigil "$@"
