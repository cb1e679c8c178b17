#!/usr/bin/env bash
# Memory held by idle keep-alive client connections, Switchyard beside nginx, in one run.
#
#   scripts/idle-memory.sh                 # 10000 connections (CONNS), one worker each
#   CONNS=8000 MODE=slowloris scripts/idle-memory.sh
#
# Starts the test upstream, Switchyard (build/switchyard) and nginx as a reverse proxy in front
# of it, all on loopback. For each proxy: one request to warm it up, then CONNS connections that
# each send one GET, read the response and stay open (switchyard-conn-holder --mode idle; or
# --mode slowloris: heads that never finish). Reports the proxy's RSS (all its processes) before,
# with the connections held, and after they closed, and the bytes per held connection.
# Needs nginx (apt-get install nginx-light or nginx). Not part of CI: a measurement.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
conns=${CONNS:-10000}
mode=${MODE:-idle}
base=${BASE_PORT:-19080}
run=$(mktemp -d /tmp/switchyard-idle.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < conns + 1000)); then
  echo "idle-memory.sh: open-file limit $(ulimit -n) is below CONNS+1000" >&2
  exit 2
fi
for tool in nginx curl; do
  command -v "$tool" >/dev/null || { echo "idle-memory.sh: $tool is needed" >&2; exit 2; }
done

"$build/switchyard-test-upstream" --listen "127.0.0.1:$base" --name backend >"$run/upstream.log" 2>&1 &
pids+=($!)

cat >"$run/switchyard.yaml" <<EOF
workers: 1
listeners:
  - name: public
    address: 127.0.0.1:$((base + 1))
    max_connections: $((conns + 1000))
    idle_timeout: 300s
    request_headers_timeout: 300s
admin:
  address: 127.0.0.1:$((base + 3))
clusters:
  - name: backend
    endpoints: [127.0.0.1:$base]
routes:
  - name: all
    match: {prefix: /}
    cluster: backend
EOF
"$build/switchyard" --config "$run/switchyard.yaml" >"$run/switchyard.log" 2>&1 &
sy_pid=$!
pids+=("$sy_pid")

mkdir -p "$run/nginx-tmp"
cat >"$run/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
user root root;
pid $run/nginx.pid;
error_log $run/nginx.error.log warn;
worker_rlimit_nofile $((conns * 2 + 1000));
events { worker_connections $((conns * 2 + 500)); }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  client_header_timeout 300s;
  client_body_temp_path $run/nginx-tmp/body;
  proxy_temp_path $run/nginx-tmp/proxy;
  fastcgi_temp_path $run/nginx-tmp/fastcgi;
  uwsgi_temp_path $run/nginx-tmp/uwsgi;
  scgi_temp_path $run/nginx-tmp/scgi;
  upstream backend { server 127.0.0.1:$base; keepalive 64; }
  server {
    listen 127.0.0.1:$((base + 2)) backlog=4096;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
nginx -c "$run/nginx.conf" -e "$run/nginx.error.log" >"$run/nginx.log" 2>&1 &
ng_pid=$!
pids+=("$ng_pid")

# RSS in KiB of a process and its children.
rss() {
  local total=0 p
  for p in "$1" $(cat "/proc/$1/task/"*/children 2>/dev/null); do
    total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

wait_ready() {
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "idle-memory.sh: nothing answers on port $1" >&2
  exit 1
}

measure() {  # name pid port
  local name=$1 pid=$2 port=$3
  wait_ready "$port"
  for _ in 1 2 3; do curl -sf -o /dev/null "http://127.0.0.1:$port/"; done
  sleep 0.5
  local before held after line
  before=$(rss "$pid")
  coproc holder { "$build/switchyard-conn-holder" --target "127.0.0.1:$port" \
    --connections "$conns" --mode "$mode" --hold 120 --setup 60; }
  read -r line <&"${holder[0]}"
  # Idle connections give back their buffers after a second (see HttpConnectionManager).
  sleep 3
  held=$(rss "$pid")
  exec {holder[1]}>&-
  read -r _ <&"${holder[0]}" || true
  wait "$holder_PID" 2>/dev/null || true
  sleep 1
  after=$(rss "$pid")
  local open=${line#ready }
  open=${open%% *}
  echo "| $name | $open | $((before / 1024)).$(((before % 1024) * 10 / 1024)) | $((held / 1024)).$(((held % 1024) * 10 / 1024)) | $((after / 1024)).$(((after % 1024) * 10 / 1024)) | $(((held - before) * 1024 / (open > 0 ? open : 1))) |"
}

echo "$mode connections: $conns requested; RSS in MiB (all processes of the proxy)"
echo
echo "| proxy | held | RSS before | RSS held | RSS after | bytes per connection |"
echo "|---|---:|---:|---:|---:|---:|"
measure switchyard "$sy_pid" $((base + 1))
measure nginx "$ng_pid" $((base + 2))
