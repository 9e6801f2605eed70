# Shared by the benchmarks: start a release Vigil on loopback with a fresh
# data dir and a random admin password; export VIGIL_TOKEN (an admin token),
# DATA and SERVER; stop it and clean up on exit.
# Needs NORTH and SOUTH (ports) set by the caller. VIGIL_BIN_DIR names a
# folder holding other vigil and vigil-device binaries to measure (an older
# build, say); by default the release build of this checkout.
BIN=${VIGIL_BIN_DIR:-./target/release}
start_vigil() {
  if [[ -z "${VIGIL_BIN_DIR:-}" ]]; then
    # Same compile-time name as cargo-leptos, so the binary serves its files.
    LEPTOS_OUTPUT_NAME=vigil cargo build --release -p vigil --bins >&2
  fi
  DATA=$(mktemp -d)
  local password
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
  VIGIL_DATA_DIR="$DATA" VIGIL_HTTPS_ADDR="127.0.0.1:$NORTH" VIGIL_DEVICE_ADDR="127.0.0.1:$SOUTH" \
    VIGIL_ADMIN_PASSWORD="$password" VIGIL_LOG=error VIGIL_ADMIN_USER=admin "$BIN/vigil" &
  SERVER=$!
  for _ in $(seq 50); do
    curl -sf --cacert "$DATA/pki/platform-ca.pem" "https://127.0.0.1:$NORTH/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  VIGIL_TOKEN=$(curl -sf --cacert "$DATA/pki/platform-ca.pem" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" "https://127.0.0.1:$NORTH/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # The admin's password, for a benchmark that signs in as a person would.
  VIGIL_BENCH_PASSWORD=$password
  export VIGIL_TOKEN
}
