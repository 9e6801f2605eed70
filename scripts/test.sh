#!/usr/bin/env bash
# Sets up what is missing, then runs every test of Vigil: unit and
# integration tests against SQLite, the integration tests again against
# PostgreSQL, schemathesis over the north API, the Playwright journeys in
# Chromium, and the client-side (Trunk) build of the dashboard, so that it
# cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

say() { printf '\n[test] %s\n' "$*" >&2; }

say "formatting (cargo fmt --check)"
cargo fmt --all --check

say "building the dashboard and server (cargo leptos build)"
cargo leptos build

# cargo-leptos builds debug code with this cfg and this variable (leptos reads
# it at compile time to name the wasm file); the same values let the test build
# reuse its artefacts, and keep target/debug/vigil (which the test build
# relinks) serving the right file names to the browser tests.
export RUSTFLAGS="--cfg erase_components"
export LEPTOS_OUTPUT_NAME=vigil

say "unit tests of the dashboard's shared code, then unit and integration tests on SQLite"
cargo test -p app
cargo test -p vigil

PG_URL=${VIGIL_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if pg_isready -q -h 127.0.0.1 -p 5432; then
  say "integration tests on PostgreSQL"
  # Databases left by earlier runs.
  psql "$PG_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'vigil_t_%'" \
    | while read -r db; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null; done
  VIGIL_TEST_DATABASE_URL="$PG_URL" cargo test -p vigil --test api
elif [[ "${CI:-}" == "true" ]]; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432; CI must test it" >&2
  exit 1
else
  say "PostgreSQL not reachable: skipping its run (CI does not skip it)"
fi

say "fuzzing the north API against its OpenAPI document (schemathesis)"
bash scripts/fuzz-api.sh

say "client-side-rendered build of the dashboard (Trunk)"
trunk build
grep -q '\.wasm' target/trunk-dist/index.html
test -f target/trunk-dist/pkg/vigil.css

say "end-to-end tests in Chromium (Playwright)"
unset RUSTFLAGS LEPTOS_OUTPUT_NAME
cargo leptos build  # a no-op unless the test build changed the binary
npx playwright test --config end2end/playwright.config.ts
