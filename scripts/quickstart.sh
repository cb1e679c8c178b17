#!/usr/bin/env bash
# Installs what Switchyard needs (Debian 12, as root), builds it, starts the two demo backends
# (v1 on 127.0.0.1:9001, v2 on 127.0.0.1:9002) and runs Switchyard in the foreground on
# config/examples/quickstart.yaml: clients on 127.0.0.1:8080, admin on 127.0.0.1:9901.
# Ctrl-C stops Switchyard (graceful drain) and the backends.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release --target switchyard switchyard-test-upstream

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
for spec in v1:9001 v2:9002; do
  "$root/build/switchyard-test-upstream" --listen "127.0.0.1:${spec#*:}" --name "${spec%%:*}" \
    >/dev/null &
  pids+=($!)
done

cat <<'TXT'
Switchyard quickstart: try, from another terminal,
  curl -i http://127.0.0.1:8080/v1/hello                       # the v1 backend
  curl -i http://127.0.0.1:8080/hello -H 'X-User-Id: alice'     # v2's 90/10 canary, sticky
  curl -s http://127.0.0.1:9901/routes                          # splits in effect
  curl -s http://127.0.0.1:9901/metrics | grep switchyard_downstream_requests_total
and open the migration console at http://127.0.0.1:9901/ui (actions ask for the admin token:
$SWITCHYARD_ADMIN_TOKEN, or change-me when it is not set).
TXT
"$root/build/switchyard" --config "$root/config/examples/quickstart.yaml" &
sy=$!
trap 'kill -TERM $sy 2>/dev/null || true' INT TERM
wait "$sy" || true
wait "$sy" 2>/dev/null || true
