#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: repeatable on machines whose
# perf has no hardware counters. Starts an nginx backend (100 B /small, 16 KiB /big) and the
# proxy under test on loopback, warms up, zeroes the counters, drives a bounded load with wrk, and
# divides the instructions of the proxy's processes by the requests wrk completed.
#   scripts/bench-callgrind.sh                 # Switchyard (scripts/bench-sidecar.sh)
#   TARGET=nginx scripts/bench-callgrind.sh    # nginx as a proxy, for comparison
# Knobs: BODY (small|big|json, default small; json: 64 KiB of JSON records, as an API sends),
# CONNS (16), SECONDS_LOAD (6), WARMUP (2), PORT (18180), KEEP=1 keeps the callgrind output in
# the printed directory; SWITCHYARD_BIN, BENCH_RESILIENCE, BENCH_RATE_LIMIT, BENCH_CACHE (hit or
# miss), BENCH_COMPRESSION (1) and BENCH_JWT as for bench-sidecar.sh. ACCEPT_ENCODING (e.g. gzip or br) is
# sent with every request; NGINX_GZIP=LEVEL turns on nginx's gzip at that level when TARGET=nginx
# (1 is nginx's default), to compare compression CPU per MiB:
#   BODY=json ACCEPT_ENCODING=gzip BENCH_COMPRESSION=1 scripts/bench-callgrind.sh
#   BODY=json ACCEPT_ENCODING=gzip NGINX_GZIP=1 TARGET=nginx scripts/bench-callgrind.sh
# BENCH_JWT=1 adds the jwt_authn filter and sends one valid token with every request
# (scripts/bench-jwt-token.sh), BENCH_JWT=header sends the token without the filter (the baseline
# to compare with). Fresh (uncached) verifications are measured at the unit level: see
# bench-jwt-token.sh.
# Needs nginx, wrk and valgrind (../shared/bench/install.sh installs the first two).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${TARGET:-switchyard}
body=${BODY:-small}
conns=${CONNS:-16}
load_s=${SECONDS_LOAD:-6}
warm_s=${WARMUP:-2}
base=${PORT:-18180}
backend_port=$base
proxy_port=$((base + 1))
for tool in nginx wrk valgrind callgrind_control; do
  command -v "$tool" >/dev/null || { echo "bench-callgrind: $tool is not installed" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/switchyard-callgrind.XXXXXX)
mkdir -p "$dir/www" "$dir/tmp" "$dir/logs"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  [[ "${KEEP:-0}" == 1 ]] || rm -rf "$dir"
}
trap cleanup EXIT

head -c 16384 /dev/zero | tr '\0' 'b' >"$dir/www/big"
small=$(head -c 100 /dev/zero | tr '\0' 's')
# JSON records with varied values (seeded): about 64 KiB, compressing about as an API's do.
awk 'BEGIN { srand(7); printf "["; for (i = 0; i < 760; i++) printf "{\"id\":%d,\"sku\":\"%d\",\"name\":\"item-%d\",\"in_stock\":%s,\"price\":%d.%02d},", int(rand() * 100000), int(rand() * 1e9), int(rand() * 977), (rand() < 0.5 ? "true" : "false"), int(rand() * 1000), int(rand() * 100); printf "{}]" }' >"$dir/www/json"
# An nginx configuration: NAME names its pid, logs and temp paths; the rest goes into http {}.
nginx_conf() {
  local name=$1
  shift
  cat <<CONF
daemon off; master_process off; pid $dir/$name.pid; error_log $dir/logs/$name.log warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_timeout 120s; keepalive_requests 100000000; tcp_nodelay on;
  client_body_temp_path $dir/tmp/$name-b; proxy_temp_path $dir/tmp/$name-p;
  fastcgi_temp_path $dir/tmp/$name-f; uwsgi_temp_path $dir/tmp/$name-u;
  scgi_temp_path $dir/tmp/$name-s;
$*
}
CONF
}
nginx_conf backend "
  server {
    listen 127.0.0.1:$backend_port backlog=4096; root $dir/www;
    location = /small { default_type text/plain; return 200 \"$small\"; }
    location = /big { default_type text/plain; }
    location = /json { default_type application/json; }
  }" >"$dir/backend.conf"
nginx -c "$dir/backend.conf" -e "$dir/logs/backend.stderr" &
pids+=($!)

wait_up() {
  local port=$1
  shift
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$@" "http://127.0.0.1:$port/$body" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench-callgrind: nothing answers on port $port" >&2
  exit 1
}
wait_up "$backend_port"

if [[ "${BENCH_JWT:-0}" != 0 ]]; then
  bench_token=$("$here/scripts/bench-jwt-token.sh" "$dir/jwt")
  export BENCH_JWT BENCH_JWT_JWKS=$dir/jwt/jwks.json
fi

vg=(valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.%p.out" --dump-instr=no)
case "$target" in
  switchyard)
    SIDECAR_PORT=$proxy_port BACKEND_HOST=127.0.0.1 BACKEND_PORT=$backend_port WORKERS=1 \
      SIDECAR_RUNDIR=$dir SWITCHYARD_BIN=${SWITCHYARD_BIN:-$here/build/switchyard} \
      SIDECAR_LAUNCHER="${vg[*]}" "$here/scripts/bench-sidecar.sh" >"$dir/logs/proxy.out" 2>&1 &
    ;;
  nginx)
    nginx_conf proxy "
  upstream backend { server 127.0.0.1:$backend_port; keepalive 256; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$proxy_port backlog=4096;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }
  ${NGINX_GZIP:+gzip on; gzip_comp_level $NGINX_GZIP; gzip_proxied any; gzip_types application/json text/plain;}" >"$dir/proxy.conf"
    "${vg[@]}" nginx -c "$dir/proxy.conf" -e "$dir/logs/proxy.stderr" >"$dir/logs/proxy.out" 2>&1 &
    ;;
  *) echo "bench-callgrind: TARGET is switchyard or nginx" >&2; exit 2 ;;
esac
proxy_pid=$!
pids=("$proxy_pid" "${pids[@]}")
wrk_headers=()
[[ -n "${bench_token:-}" ]] && wrk_headers=(-H "Authorization: Bearer $bench_token")
wait_up "$proxy_port" "${wrk_headers[@]}"

url="http://127.0.0.1:$proxy_port/$body"
[[ -n "${ACCEPT_ENCODING:-}" ]] && wrk_headers+=(-H "Accept-Encoding: $ACCEPT_ENCODING")
wrk -t1 -c"$conns" -d"${warm_s}s" "${wrk_headers[@]}" "$url" >/dev/null
callgrind_control -z "$proxy_pid" >/dev/null 2>&1
wrk -t1 -c"$conns" -d"${load_s}s" "${wrk_headers[@]}" "$url" >"$dir/wrk.txt"
callgrind_control -d "$proxy_pid" >/dev/null 2>&1
requests=$(awk '/requests in/ {print $1}' "$dir/wrk.txt")
errors=$(awk '/Non-2xx|Socket errors/' "$dir/wrk.txt")
# The dump after -z holds only the measured interval; sum its totals.
instr=$(grep -h '^totals:' "$dir"/callgrind.*.out.* 2>/dev/null | awk '{s += $2} END {print s + 0}')
if [[ -z "$requests" || "$requests" -eq 0 || "$instr" -eq 0 ]]; then
  echo "bench-callgrind: no measurement (requests=${requests:-none}, instructions=$instr)" >&2
  exit 1
fi
printf '%s %s: %d requests, %d instructions, %d instructions/request%s\n' "$target" "$body" \
  "$requests" "$instr" $((instr / requests)) "${errors:+ ($errors)}"
if [[ "$body" != small ]]; then
  # The body the backend sends, and what one response carried to the client (wrk's transfer).
  body_bytes=$(stat -c %s "$dir/www/$body")
  sent=$(curl -s -o /dev/null -w '%{size_download}' ${ACCEPT_ENCODING:+-H "Accept-Encoding: $ACCEPT_ENCODING"} "$url")
  awk -v i="$instr" -v r="$requests" -v b="$body_bytes" -v s="$sent" 'BEGIN {
    printf "  body %d bytes, %d sent per response (ratio %.2f); %.1f M instructions per MiB of body\n",
      b, s, b / s, i / r / (b / 1048576) / 1e6 }'
fi
[[ "${KEEP:-0}" == 1 ]] && echo "callgrind output: $dir" || true
