#!/usr/bin/env bash
# Soak: a bounded run of mixed load against Switchyard while it is reloaded, its backends are
# restarted and its logs reopened; fails on failed requests, memory growth or leaked descriptors.
#
#   scripts/soak.sh                     # 10 minutes (DURATION=600)
#   DURATION=120 scripts/soak.sh        # a shorter run
#
# Everything runs on loopback: two test upstreams behind one cluster (with retries and outlier
# detection), Switchyard
# with two workers and an access log, and wrk in SEGMENT-second runs, one after the other, with a
# Lua script mixing keep-alive GETs, new connections (Connection: close), 100 B, 64 KiB and 1 MiB
# responses and 4 KiB POSTs. Meanwhile:
#   every 30 s   SIGHUP (a reload; the file is rewritten with a different connect_timeout)
#   every 90 s   one backend is stopped and started again (they take turns)
#   once         the access log is moved aside and SIGUSR1 reopens it
# After each segment the script records Switchyard's RSS. At the end it waits for pooled and
# client connections to time out and counts Switchyard's open descriptors.
#
# Fails (exit 1) when:
#   - a segment without a backend restart has any failed request (non-2xx or socket error), or a
#     segment with one has more than RESTART_FAILURES (default -1: no limit; those failures are
#     explained by the restart, and reported: POSTs are not retried, and retries are bounded by
#     the retry budget);
#   - RSS at the end is more than 10% above RSS after the warm-up (the first WARMUP seconds);
#   - there are more descriptors open at the end than after the warm-up.
# Not part of CI (it runs for minutes); the report goes to stdout and $OUT_DIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
duration=${DURATION:-600}
segment=${SEGMENT:-10}
warmup=${WARMUP:-60}
restart_failures=${RESTART_FAILURES:--1}
base=${BASE_PORT:-19380}
out=${OUT_DIR:-$(mktemp -d /tmp/switchyard-soak.XXXXXX)}
mkdir -p "$out"
command -v wrk >/dev/null || { echo "soak.sh: wrk is needed (apt-get install wrk)" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pids=()
cleanup() {
  for p in "${pids[@]}" "${up_pid[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

up_port=($base $((base + 1)))
up_pid=("" "")
start_upstream() {  # index
  "$build/switchyard-test-upstream" --listen "127.0.0.1:${up_port[$1]}" --name "b$1" \
    >>"$out/upstream$1.log" 2>&1 &
  up_pid[$1]=$!
}
start_upstream 0
start_upstream 1

write_config() {  # generation
  cat >"$out/switchyard.yaml" <<EOF
workers: 2
drain_timeout: 5s
listeners:
  - name: public
    address: 127.0.0.1:$((base + 2))
    idle_timeout: 5s
admin:
  address: 127.0.0.1:$((base + 3))
  token: soak-token
clusters:
  - name: backend
    endpoints: [127.0.0.1:${up_port[0]}, 127.0.0.1:${up_port[1]}]
    idle_timeout: 2s
    connect_timeout: $((500 + $1 % 2))ms
    outlier_detection: {}
routes:
  - name: all
    match: {prefix: /}
    cluster: backend
filters:
  - correlation_id: {}
  - retry: {max_retries: 2, base_interval: 10ms, max_interval: 50ms}
access_log:
  path: $out/access.log
EOF
}
write_config 0
"$build/switchyard" --validate --config "$out/switchyard.yaml" >/dev/null
"$build/switchyard" --config "$out/switchyard.yaml" >"$out/switchyard.log" 2>&1 &
sy=$!
pids+=("$sy")
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$((base + 2))/ready-check" && break
  sleep 0.1
done

cat >"$out/mix.lua" <<'EOF'
-- Keep-alive GETs of three sizes, a 4 KiB POST, and a request that closes its connection.
local body = string.rep("x", 4096)
local n = 0
request = function()
  n = n + 1
  local k = n % 10
  if k < 5 then return wrk.format("GET", "/bytes/100") end
  if k < 7 then return wrk.format("GET", "/bytes/65536") end
  if k == 7 then return wrk.format("GET", "/bytes/1048576") end
  if k == 8 then
    return wrk.format("POST", "/echo", {["Content-Type"] = "text/plain"}, body)
  end
  return wrk.format("GET", "/bytes/100", {["Connection"] = "close"})
end
EOF

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$sy/status"; }
fds() { ls "/proc/$sy/fd" | wc -l; }
quiet_fds() {  # descriptors once pooled (2 s) and client (5 s) idle connections have timed out
  sleep 7
  fds
}

echo "| t (s) | req/s | requests | failed | backend restarted | RSS (MiB) |" | tee "$out/report.md"
echo "|---:|---:|---:|---:|---|---:|" | tee -a "$out/report.md"
start=$(date +%s)
next_reload=30
next_restart=90
restarts=0
reopened=0
generation=0
unexplained=0
explained=0
total=0
warm_rss=""
warm_fds=""
turn=0
while :; do
  now=$(($(date +%s) - start))
  ((now >= duration)) && break
  restarted=""
  # wrk in the background; the disturbances happen while it runs.
  wrk -t2 -c32 -d"${segment}s" -s "$out/mix.lua" "http://127.0.0.1:$((base + 2))" >"$out/wrk.txt" 2>&1 &
  wrk_pid=$!
  sleep $((segment / 2))
  now=$(($(date +%s) - start))
  if ((now >= next_reload)); then
    generation=$((generation + 1))
    write_config "$generation"
    kill -HUP "$sy"
    next_reload=$((next_reload + 30))
  fi
  if ((now >= next_restart)); then
    kill "${up_pid[$turn]}"
    wait "${up_pid[$turn]}" 2>/dev/null || true
    sleep 1
    start_upstream "$turn"
    restarted="b$turn"
    turn=$((1 - turn))
    restarts=$((restarts + 1))
    next_restart=$((next_restart + 90))
  fi
  if ((reopened == 0 && now >= duration / 2)); then
    mv "$out/access.log" "$out/access.log.1"
    kill -USR1 "$sy"
    reopened=1
  fi
  wait "$wrk_pid" || true
  requests=$(awk '/requests in/ {print $1}' "$out/wrk.txt")
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out/wrk.txt")
  failed=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out/wrk.txt")
  total=$((total + ${requests:-0}))
  if [[ -n $restarted ]]; then
    explained=$((explained + failed))
    if ((restart_failures >= 0 && failed > restart_failures)); then
      unexplained=$((unexplained + failed - restart_failures))
    fi
  else
    unexplained=$((unexplained + failed))
  fi
  rss=$(rss_kb)
  now=$(($(date +%s) - start))
  echo "| $now | $rps | $requests | $failed | ${restarted:--} | $((rss / 1024)).$(((rss % 1024) * 10 / 1024)) |" | tee -a "$out/report.md"
  if [[ -z $warm_rss ]] && ((now >= warmup)); then
    warm_fds=$(quiet_fds)
    warm_rss=$(rss_kb)
  fi
done
end_fds=$(quiet_fds)
end_rss=$(rss_kb)
warm_rss=${warm_rss:-$end_rss}
warm_fds=${warm_fds:-$end_fds}
growth=$(((end_rss - warm_rss) * 1000 / warm_rss))
lines=$(cat "$out/access.log.1" "$out/access.log" 2>/dev/null | wc -l)
{
  echo
  echo "- duration ${duration}s, ${total} requests, ${restarts} backend restarts, reloads every 30 s, log reopened: $([[ $reopened == 1 ]] && echo yes || echo no)"
  echo "- failed requests: ${unexplained} unexplained, ${explained} in segments with a backend restart"
  echo "- RSS after warm-up $((warm_rss / 1024)) MiB, at the end $((end_rss / 1024)) MiB (growth $((growth / 10)).$((growth % 10))%)"
  echo "- descriptors (idle): after warm-up ${warm_fds}, at the end ${end_fds}"
  echo "- access log lines (both files): ${lines}; reloads that failed: $(grep -c 'reload failed' "$out/switchyard.log" || true)"
} | tee -a "$out/report.md"
status=0
((unexplained > 0)) && { echo "FAIL: ${unexplained} failed requests not explained by a backend restart"; status=1; }
((growth > 100)) && { echo "FAIL: RSS grew more than 10% after the warm-up"; status=1; }
((end_fds > warm_fds)) && { echo "FAIL: descriptors leaked (${warm_fds} -> ${end_fds})"; status=1; }
[[ -s $out/access.log ]] || { echo "FAIL: nothing written to the reopened access log"; status=1; }
((status == 0)) && echo "PASS (report: $out/report.md)"
exit $status
