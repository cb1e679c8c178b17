#!/usr/bin/env bash
# TLS termination beside nginx, in one interleaved run on loopback: the same certificate (ECDSA
# P-256, made here with openssl), TLS 1.3 only, the same OpenSSL and its default suites on both
# (the suite each negotiates is printed), no session resumption on either, each proxy on one
# worker pinned to CPU 0, the load and the plain-HTTP backend (nginx `return 200`) on CPU 1.
#
# Measures, REPS times each in the order switchyard nginx switchyard nginx ...:
#   keep-alive  wrk over HTTPS (CONNS connections, DURATION s): requests/s, p50/p99 latency,
#               and the proxy's CPU per request (utime+stime from /proc over requests)
#   handshakes  `openssl s_time -new` (a full handshake, one GET, close; no resumption) for
#               DURATION s: new connections/s, and the proxy's CPU per handshake
# and prints the medians as a markdown table.
#
#   scripts/bench-tls.sh                       # after scripts/build.sh (build/switchyard)
#   REPS=5 DURATION=10 CONNS=64 scripts/bench-tls.sh
#   SWITCHYARD_BIN=/path/to/switchyard scripts/bench-tls.sh
#
# Installs what it needs (Debian 12, as root): nginx, wrk, openssl, util-linux. Listens only on
# 127.0.0.1 (BASE_PORT and the next two); every process it starts is stopped by its PID at exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${SWITCHYARD_BIN:-$root/build/switchyard}
REPS=${REPS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
BASE_PORT=${BASE_PORT:-18480}
backend_port=$BASE_PORT
nginx_port=$((BASE_PORT + 1))
ours_port=$((BASE_PORT + 2))
admin_port=$((BASE_PORT + 3))

need=()
for tool in nginx wrk openssl taskset; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [[ ${#need[@]} -gt 0 ]]; then
  pkgs=()
  for t in "${need[@]}"; do
    case $t in taskset) pkgs+=(util-linux) ;; *) pkgs+=("$t") ;; esac
  done
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
[[ -x $BIN ]] || { echo "bench-tls.sh: $BIN is missing (scripts/build.sh)" >&2; exit 1; }

dir=$(mktemp -d /tmp/switchyard-bench-tls.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

# The certificate both proxies serve.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

# The backend (plain HTTP, on the load's CPU) and the peer (TLS, on the proxies' CPU) are two
# nginx instances.
cat >"$dir/backend.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/backend.pid;
error_log $dir/backend-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$backend_port;
    location / { return 200 "hello from the backend: one hundred bytes of body to send back to the client, ok\n"; }
  }
}
EOF
cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$backend_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_tickets off;
    ssl_session_cache off;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF

cat >"$dir/switchyard.yaml" <<EOF
workers: 1
log_level: warn
listeners:
  - name: public
    address: 127.0.0.1:$ours_port
    tls:
      certificate: $dir/cert.pem
      private_key: $dir/key.pem
      min_version: "1.3"
admin:
  address: 127.0.0.1:$admin_port
clusters:
  - name: backend
    endpoints: [127.0.0.1:$backend_port]
routes:
  - name: all
    match: {prefix: /}
    cluster: backend
EOF

start() { # cpus name cmd...
  local cpus=$1 name=$2
  shift 2
  taskset -c "$cpus" "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  echo $!
}
wait_https() { # port
  for _ in $(seq 150); do
    curl -sk -o /dev/null "https://127.0.0.1:$1/small" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench-tls.sh: nothing answers on $1" >&2
  cat "$dir"/*.log >&2
  exit 1
}

start 1 backend nginx -c "$dir/backend.conf" -p "$dir" >/dev/null
ng_master=$(start 0 nginx nginx -c "$dir/nginx.conf" -p "$dir")
ours=$(start 0 switchyard "$BIN" --config "$dir/switchyard.yaml")
wait_https "$nginx_port"
wait_https "$ours_port"
suite() { echo | openssl s_client -connect "127.0.0.1:$1" 2>/dev/null | awk '/Cipher is/{print $NF; exit}'; }
suites="switchyard $(suite "$ours_port"), nginx $(suite "$nginx_port")"

# Each proxy: the CPU of its whole process tree (nginx's worker is a child of its master).
tree() { echo "$1"; pgrep -P "$1" || true; }
ticks() { local t=0 p st; for p in "$@"; do st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
  st=${st##*) }; set -- $st; t=$((t + ${12} + ${13})); done; echo "$t"; }
hz=$(getconf CLK_TCK)

raw=$dir/raw.csv
echo "rep,target,test,rate,p50_ms,p99_ms,cpu_us_per_op" >"$raw"
run_one() { # rep target port pid test
  local rep=$1 target=$2 port=$3 pid=$4 test=$5 t0 t1 rate p50=NA p99=NA ops out
  mapfile -t procs < <(tree "$pid")
  t0=$(ticks "${procs[@]}")
  if [[ $test == keepalive ]]; then
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "https://127.0.0.1:$port/small")
    rate=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
    ops=$(awk '/requests in/{print $1}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  else
    out=$(taskset -c 1 timeout $((DURATION + 10)) openssl s_time -connect "127.0.0.1:$port" \
      -new -time "$DURATION" -www /small 2>/dev/null || true)
    ops=$(awk '/connections in [0-9.]+s;/{print $1; exit}' <<<"$out")
    rate=$(awk '/connections\/user sec/{print $(NF-3); exit}' <<<"$out")
    # s_time reports per user second of its own; count per wall second instead.
    rate=$(awk -v n="$ops" -v d="$DURATION" 'BEGIN{printf "%.0f", n/d}')
  fi
  t1=$(ticks "${procs[@]}")
  local cpu
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v n="${ops:-0}" \
    'BEGIN{ if (n>0) printf "%.1f", (b-a)*1e6/hz/n; else print "NA" }')
  to_ms() { awk -v v="$1" 'BEGIN{ if (v=="NA"||v=="") {print "NA"; exit}
    if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0;
    else if (v ~ /s$/) printf "%.3f", v*1000; else print v }'; }
  echo "$rep,$target,$test,$rate,$(to_ms "$p50"),$(to_ms "$p99"),$cpu" >>"$raw"
}

for rep in $(seq "$REPS"); do
  for test in keepalive handshake; do
    run_one "$rep" switchyard "$ours_port" "$ours" "$test"
    run_one "$rep" nginx "$nginx_port" "$ng_master" "$test"
  done
done

echo
echo "TLS 1.3, ECDSA P-256 (negotiated: $suites), one worker each on CPU 0, load on CPU 1;"
echo "keep-alive: wrk -c$CONNS, ${DURATION}s; handshakes: openssl s_time -new, ${DURATION}s; medians of $REPS."
echo
echo "| proxy | keep-alive req/s | p50 ms | p99 ms | CPU µs/request | full handshakes/s | CPU µs/handshake |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for target in switchyard nginx; do
  med() { awk -F, -v t="$target" -v k="$1" -v c="$2" 'NR>1 && $2==t && $3==k && $c!="NA"{print $c}' "$raw" |
    sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "NA"; else print a[int((NR+1)/2)] }'; }
  echo "| $target | $(med keepalive 4) | $(med keepalive 5) | $(med keepalive 6) | $(med keepalive 7) | $(med handshake 4) | $(med handshake 7) |"
done
echo
echo "raw samples: $raw"
