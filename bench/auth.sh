#!/usr/bin/env bash
# Load benchmark of the gateway: the same small JSON answer with and without
# token validation, on loopback, with wrk over keep-alive HTTPS.
#   /api/v1/ping           no auth
#   /api/v1/auth/check     the same answer behind the gateway: header, token
#                          (signature verified once, then a cache of verified
#                          tokens), time claims, blacklist
# Usage: bash bench/auth.sh [duration_seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNS=${2:-32}
PORT=${VIGIL_BENCH_PORT:-18543}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
NORTH=$PORT
SOUTH=$((PORT + 1))
source bench/lib.sh
start_vigil
TOKEN=$VIGIL_TOKEN

# Server CPU time (user + system, clock ticks) so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }

run() { # key url [header]
  local out before after
  before=$(cpu_ticks)
  if [[ $# -eq 3 ]]; then
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "$3" "$2")
  else
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$2")
  fi
  after=$(cpu_ticks)
  local rps p50 p99 non2xx total cpu_us
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  # CPU per request: steadier than throughput on a machine that also runs
  # the load generator.
  cpu_us=$(python3 -c "print(f'{($after - $before) / $(getconf CLK_TCK) / $total * 1e6:.1f}')")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-22s %10s req/s   p50 %-8s p99 %-8s non-2xx %s   server CPU %s us/request\n' \
    "$1" "$rps" "$p50" "$p99" "${non2xx:-0}" "$cpu_us"
  echo "$rps" > "$DATA/$1.rps"
}

echo "wrk: 2 threads, $CONNS keep-alive connections, ${DURATION}s each, release build, $(nproc) cores"
run noauth "https://127.0.0.1:$PORT/api/v1/ping"
run auth "https://127.0.0.1:$PORT/api/v1/auth/check" "x-access-token: $TOKEN"
python3 - "$DATA" <<'PY'
import sys, pathlib
d = pathlib.Path(sys.argv[1])
a = float((d / "noauth.rps").read_text())
b = float((d / "auth.rps").read_text())
print(f"auth costs {100 * (1 - b / a):.1f} % of throughput (target: at most 15 %)")
PY
