#!/usr/bin/env bash
# Latency of ordinary requests while many slow clients sit on the same worker.
#
#   scripts/slow-clients.sh                  # 1000 slowloris connections (SLOW), 10 s of wrk
#   SLOW=1000 MODE=idle scripts/slow-clients.sh
#
# Starts the test upstream and Switchyard (one worker) on loopback, measures wrk's latency
# (CONNS connections, DURATION seconds) without slow clients, then again while SLOW connections
# trickle request heads one header line a second (switchyard-conn-holder --mode slowloris; or
# MODE=idle: keep-alive connections that sent one request and stay silent). Prints a markdown
# table. Not part of CI: a measurement.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
slow=${SLOW:-1000}
mode=${MODE:-slowloris}
conns=${CONNS:-16}
duration=${DURATION:-10}
base=${BASE_PORT:-19280}
run=$(mktemp -d /tmp/switchyard-slow.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v wrk >/dev/null || { echo "slow-clients.sh: wrk is needed (apt-get install wrk)" >&2; exit 2; }

"$build/switchyard-test-upstream" --listen "127.0.0.1:$base" --name backend >"$run/upstream.log" 2>&1 &
pids+=($!)
cat >"$run/switchyard.yaml" <<EOF
workers: 1
listeners:
  - name: public
    address: 127.0.0.1:$((base + 1))
    request_headers_timeout: 60s
admin:
  address: 127.0.0.1:$((base + 2))
clusters:
  - name: backend
    endpoints: [127.0.0.1:$base]
routes:
  - name: all
    match: {prefix: /}
    cluster: backend
EOF
"$build/switchyard" --config "$run/switchyard.yaml" >"$run/switchyard.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$((base + 1))/" && break
  sleep 0.1
done

latency() {  # prints "p50 p99 req/s errors"
  wrk -t1 -c"$conns" -d"${duration}s" --latency "http://127.0.0.1:$((base + 1))/bench" >"$run/wrk.txt"
  awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /^Requests\/sec/ {rps=$2}
       /Non-2xx|Socket errors/ {err=err $0 "; "}
       END {printf "%s %s %s %s\n", p50, p99, rps, (err == "" ? "none" : err)}' "$run/wrk.txt"
}

echo "| slow clients | p50 | p99 | req/s | errors |"
echo "|---|---:|---:|---:|---|"
read -r p50 p99 rps err < <(latency)
echo "| none | $p50 | $p99 | $rps | $err |"
coproc holder { "$build/switchyard-conn-holder" --target "127.0.0.1:$((base + 1))" \
  --connections "$slow" --mode "$mode" --hold $((duration + 30)) --setup 30; }
read -r line <&"${holder[0]}"
read -r p50 p99 rps err < <(latency)
echo "| $slow $mode (${line#ready }: held, failed) | $p50 | $p99 | $rps | $err |"
exec {holder[1]}>&-
