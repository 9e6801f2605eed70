#!/usr/bin/env bash
# Installs what building (and, with --test, testing) Vigil needs on a fresh
# Debian machine with rustup, Node.js and npm. Every step is skipped when the
# right version is already there, so a warm run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
TRUNK_VERSION=0.21.14
SCHEMATHESIS_VERSION=4.32.5
with_test_tools=false
[[ "${1:-}" == "--test" ]] && with_test_tools=true

say() { printf '[setup] %s\n' "$*" >&2; }

apt_install() {
  say "apt-get install $*"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(cargo leptos --version 2>/dev/null || true)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 15 minutes, once)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wb_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $wb_version" ]]; then
  say "installing wasm-bindgen-cli $wb_version"
  # Not --locked: its lockfile pins a crate the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi

# Tailwind (and Playwright) from npm; reinstalled only when the lockfile changes.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.vigil-lock-sum || "$(cat node_modules/.vigil-lock-sum)" != "$lock_sum" ]]; then
  say "installing npm packages"
  # `npm install`, not `npm ci`: npm 11 writes lockfiles without the other
  # platforms' optional packages and then refuses them in `npm ci`. With a
  # lockfile present, `npm install` still installs exactly its versions.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.vigil-lock-sum
fi

if $with_test_tools; then
  # The client-side-rendered build of the dashboard is built by the tests.
  if [[ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]]; then
    say "installing trunk $TRUNK_VERSION (about 7 minutes, once)"
    cargo install trunk --version "$TRUNK_VERSION" --locked
  fi
  # The API fuzzer, in a virtualenv of its own outside the checkout.
  st_dir=${VIGIL_TOOLS_DIR:-$HOME/.cache/vigil}/schemathesis
  if [[ "$("$st_dir/bin/schemathesis" --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]]; then
    say "installing schemathesis $SCHEMATHESIS_VERSION (Python, in $st_dir)"
    python3 -m venv "$st_dir"
    "$st_dir/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  if [[ ! -x /usr/bin/chromium ]]; then
    apt_install chromium
  fi
  # MQTT clients no one here wrote, for the MQTT journeys.
  if ! command -v mosquitto_pub >/dev/null || ! command -v mosquitto_sub >/dev/null; then
    apt_install mosquitto-clients
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
      say "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    fi
  fi
fi
say "ready"
