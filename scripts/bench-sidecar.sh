#!/usr/bin/env bash
# SIDECAR_CMD for ../shared/bench/peers.sh: writes a Switchyard configuration from the
# harness's environment and execs the binary in the foreground. Correlation ids and metrics are
# on, as in production; no per-request logging.
#   PIN=same SIDECAR_CMD="$PWD/scripts/bench-sidecar.sh" ../shared/bench/peers.sh
# SWITCHYARD_BIN overrides the binary (default: build/switchyard next to this script);
# SIDECAR_LAUNCHER is a command line to run it under (scripts/bench-callgrind.sh uses valgrind).
# BENCH_RESILIENCE=1 adds the retry and circuit_breaker filters (defaults), to measure their
# success-path cost as SIDECAR2_CMD:
#   SIDECAR2_CMD="env BENCH_RESILIENCE=1 $PWD/scripts/bench-sidecar.sh"
# BENCH_RATE_LIMIT=local adds a rate_limit filter with one per-client-address policy whose limit
# the load never reaches (every request is decided, none denied); BENCH_RATE_LIMIT=global makes
# that policy global, on the Redis at BENCH_REDIS (host:port, required then): one round trip
# per request.
# BENCH_CACHE=hit adds the cache filter and gives the route a 1h ttl: after the first request of a
# URL every request is a hit. BENCH_CACHE=miss adds the cache filter but stores nothing (no ttl,
# heuristic freshness off): every request is looked up and forwarded.
# BENCH_COMPRESSION=1 adds the compression filter (defaults: br then gzip, levels 4 and 6) for
# JSON and text: what it costs depends on the client's Accept-Encoding (bench-callgrind.sh's
# ACCEPT_ENCODING) and on the body (its BODY=json).
# BENCH_JWT=1 adds a jwt_authn filter (issuer "bench", a sub forwarded as X-User-Id) trusting the
# JWKS file BENCH_JWT_JWKS; scripts/bench-jwt-token.sh makes one and a token for it, which
# scripts/bench-callgrind.sh sends on every request (a cached verified token). BENCH_JWT=header
# adds no filter (bench-callgrind.sh still sends the token): the baseline for BENCH_JWT=1.
set -euo pipefail
: "${SIDECAR_PORT:?}" "${BACKEND_HOST:?}" "${BACKEND_PORT:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${SWITCHYARD_BIN:-$here/build/switchyard}
dir=${SIDECAR_RUNDIR:-$(mktemp -d)}
mkdir -p "$dir"
admin_port=${SIDECAR_ADMIN_PORT:-$((SIDECAR_PORT + 100))}
config=$dir/switchyard-bench.yaml
cat >"$config" <<YAML
workers: ${WORKERS:-1}
log_level: warn
listeners:
  - name: bench
    address: 127.0.0.1:${SIDECAR_PORT}
admin:
  address: 127.0.0.1:${admin_port}
clusters:
  - name: backend
    endpoints: [${BACKEND_HOST}:${BACKEND_PORT}]
    max_connections: 1024
routes:
  - name: all
    match: {prefix: /}
    cluster: backend
YAML
if [[ "${BENCH_CACHE:-}" == "hit" ]]; then
  printf '    filters: {cache: {ttl: 1h}}\n' >>"$config"
fi
printf 'filters:\n  - correlation_id: {}\n' >>"$config"
case "${BENCH_CACHE:-}" in
  "") ;;
  hit) printf '  - cache: {}\n' >>"$config" ;;
  miss) printf '  - cache: {heuristic_max: 0s}\n' >>"$config" ;;
  *) echo "bench-sidecar: BENCH_CACHE is hit or miss" >&2; exit 2 ;;
esac
if [[ "${BENCH_COMPRESSION:-0}" == "1" ]]; then
  printf '  - compression: {content_types: [application/json, text/*]}\n' >>"$config"
fi
if [[ "${BENCH_RESILIENCE:-0}" == "1" ]]; then
  printf '  - retry: {}\n  - circuit_breaker: {}\n' >>"$config"
fi
case "${BENCH_RATE_LIMIT:-}" in
  "") ;;
  local | global)
    printf '  - rate_limit:\n      policies:\n        - {name: per-ip, key: client_address, limit: 1000000000, window: 1s, scope: %s}\n' \
      "${BENCH_RATE_LIMIT}" >>"$config"
    if [[ "${BENCH_RATE_LIMIT}" == global ]]; then
      printf 'redis: {address: "%s", timeout: 50ms}\n' "${BENCH_REDIS:?BENCH_REDIS=host:port is needed}" >>"$config"
    fi
    ;;
  *) echo "bench-sidecar: BENCH_RATE_LIMIT is local or global" >&2; exit 2 ;;
esac
case "${BENCH_JWT:-0}" in
  0 | header) ;;
  1)
    printf '  - jwt_authn:\n      providers:\n        - {name: bench, issuer: bench, jwks: {file: "%s"}, forward_claims: {sub: X-User-Id}}\n' \
      "${BENCH_JWT_JWKS:?BENCH_JWT_JWKS=file is needed}" >>"$config"
    ;;
  *) echo "bench-sidecar: BENCH_JWT is 0, 1 or header" >&2; exit 2 ;;
esac
# SIDECAR_LAUNCHER (e.g. a valgrind command line) runs the binary under a tool.
exec ${SIDECAR_LAUNCHER:-} "$bin" --config "$config"
