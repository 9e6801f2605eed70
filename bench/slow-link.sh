#!/usr/bin/env bash
# The dashboard on a slow link, on a release build: the size of its files
# as they are, gzipped and Brotli-compressed (as Vigil serves them), then
# the login page over Chrome's "Fast 3G" with an empty and a warm cache,
# then a sign-in and the pages behind it, each fetching its own wasm chunk
# (the build is split: `--split --lib-features split`).
# Usage: bash bench/slow-link.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NORTH=${VIGIL_BENCH_PORT:-19143}
SOUTH=$((NORTH + 1))
export PATH="$PWD/node_modules/.bin:$PATH"   # wasm-opt from the binaryen package

cargo leptos build --release --split --lib-features split >&2
echo "== the release site's files: raw, gzip -9, Brotli 11"
node -e '
const fs = require("fs"), zlib = require("zlib");
let t = [0, 0, 0];
const chunks = Object.values(JSON.parse(fs.readFileSync("target/site/pkg/__wasm_split_manifest.json")))
  .flat().filter((c, i, all) => all.indexOf(c) === i).sort().map((c) => c + ".wasm");
const first = ["vigil.wasm", "vigil.js", "vigil.css", "__wasm_split.______________________.js"];
for (const f of [...first, ...chunks]) {
  if (f === chunks[0]) {
    console.log(`${"first load".padEnd(12)} ${String(t[0]).padStart(9)} raw ${String(t[1]).padStart(8)} gzip ${String(t[2]).padStart(8)} br`);
  }
  const raw = fs.readFileSync("target/site/pkg/" + f);
  const gz = zlib.gzipSync(raw, { level: 9 }).length;
  const br = zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  t = [t[0] + raw.length, t[1] + gz, t[2] + br];
  console.log(`${f.slice(0, 24).padEnd(12)} ${String(raw.length).padStart(9)} raw ${String(gz).padStart(8)} gzip ${String(br).padStart(8)} br`);
}
console.log(`${"total".padEnd(12)} ${String(t[0]).padStart(9)} raw ${String(t[1]).padStart(8)} gzip ${String(t[2]).padStart(8)} br`);
'
source bench/lib.sh
start_vigil
# Vigil compresses its files once after start: wait for the Brotli wasm.
for _ in $(seq 150); do
  enc=$(curl -s -o /dev/null -D - --cacert "$DATA/pki/platform-ca.pem" -H 'accept-encoding: br' \
    "$(curl -s --cacert "$DATA/pki/platform-ca.pem" "https://127.0.0.1:$NORTH/login" |
      grep -o '/pkg/vigil\.[0-9a-f]*/vigil\.wasm' | head -1 | sed "s|^|https://127.0.0.1:$NORTH|")" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')
  [[ "$enc" == br ]] && break
  sleep 0.2
done
# Chromium keeps nothing in its cache for a site whose certificate it does
# not trust: trust this server's key, as a browser given the CA would.
SPKI=$(openssl x509 -in "$DATA/pki/server.pem" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)
BASE="https://127.0.0.1:$NORTH" VIGIL_SPKI="$SPKI" VIGIL_BENCH_PASSWORD="$VIGIL_BENCH_PASSWORD" node bench/slow-link.mjs
