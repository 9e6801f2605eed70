#!/usr/bin/env bash
# Runs schemathesis (a property-based API fuzzer) against a fresh Vigil on
# loopback, over the whole north API as described by its own OpenAPI
# document, with an admin token: every check on (no 5xx, every status and
# body as documented, bad input refused, good input accepted). Exits non-zero
# on any finding. Needs target/debug/vigil (cargo leptos build) and the
# schemathesis that scripts/setup.sh --test installs.
# Usage: bash scripts/fuzz-api.sh [max-examples per operation]
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-15}
ST=${VIGIL_TOOLS_DIR:-$HOME/.cache/vigil}/schemathesis/bin/schemathesis
PORT=${VIGIL_FUZZ_PORT:-18843}

DATA=$(mktemp -d)
PASSWORD="fz-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
LOG="$DATA/vigil.log"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
# Logins are fuzzed too: the throttle is set out of the way so that the
# fuzzer's wrong passwords never lock out its own admin login.
# The fuzzer's connection pool leaves a connection idle while it reads live
# streams (15 s each, for their heartbeat): at the default idle timeout
# (60 s) the server's close of it could cross the fuzzer's next request on
# it, a race of HTTP/1.1 keep-alive itself, not a finding. The idle
# timeout has its own tests (tests/api/attack).
VIGIL_DATA_DIR="$DATA" VIGIL_HTTPS_ADDR="127.0.0.1:$PORT" VIGIL_DEVICE_ADDR="127.0.0.1:$((PORT + 1))" \
  VIGIL_ADMIN_PASSWORD="$PASSWORD" VIGIL_LOG=warn VIGIL_IDLE_TIMEOUT=900s \
  VIGIL_LOGIN_MAX_FAILURES=1000000 VIGIL_LOGIN_MAX_FAILURES_PER_IP=1000000 \
  ./target/debug/vigil 2>"$LOG" &
SERVER=$!
for _ in $(seq 100); do
  curl -sf --cacert "$DATA/pki/platform-ca.pem" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

export VIGIL_URL="https://127.0.0.1:$PORT" VIGIL_CA="$DATA/pki/platform-ca.pem" VIGIL_ADMIN_PASSWORD="$PASSWORD"
export PYTHONPATH="$PWD/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks
status=0
"$ST" --config-file scripts/schemathesis.toml --no-color run "$VIGIL_URL/api/v1/openapi.json" \
  --tls-verify "$VIGIL_CA" \
  --include-path-regex '^/api/v1/' \
  --checks all \
  --max-examples "$EXAMPLES" \
  --seed 1 --generation-database none \
  --workers 1 --request-timeout 10 || status=$?
if grep -q "panicked" "$LOG"; then
  echo "Vigil panicked during the run:" >&2
  grep -A3 "panicked" "$LOG" >&2
  status=1
fi
kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
exit $status
