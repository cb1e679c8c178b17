#!/usr/bin/env bash
# Checks the Grafana dashboards, the Prometheus rules and their unit tests, and the example
# Prometheus and Alertmanager configurations. Needs promtool and amtool (Debian packages
# prometheus and prometheus-alertmanager) and python3-yaml. Runs every check, prints each
# failure, exits 1 if any failed. No network, no processes left behind.
#
#   tests/prometheus/check.sh
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=()
check() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "   ok"
  else
    echo "   FAILED: $name"
    failed+=("$name")
  fi
}

for tool in promtool amtool python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "check.sh: $tool is missing (apt-get install prometheus prometheus-alertmanager)" >&2
    exit 1
  fi
done
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "check.sh: python3-yaml is not installed" >&2
  exit 1
fi

rules=deploy/prometheus/switchyard-rules.yml
am=deploy/alertmanager/alertmanager.example.yml

check "promtool check rules" promtool check rules "$rules"
check "promtool test rules" promtool test rules deploy/prometheus/switchyard-rules.test.yml

rendered() {
  deploy/prometheus/render-rules.sh --window 10s --for 2s --offset 30s "$rules" \
    >"$tmp/rendered.yml" &&
    promtool check rules "$tmp/rendered.yml"
}
check "rules rendered with short windows are valid" rendered

check "promtool check config (example)" \
  promtool check config deploy/prometheus/prometheus.example.yml
check "amtool check-config (example)" amtool check-config "$am"

# Routing: a rollback alert reaches the sidecar and the people; anything else only the people.
route_test() {
  local want=$1
  shift
  amtool config routes test --config.file="$am" --verify.receivers="$want" "$@" 2>/dev/null
}
check "alertmanager routes action=rollback to switchyard-rollback" \
  route_test switchyard-rollback,default alertname=SwitchyardRouteErrorRatioHigh \
  severity=critical action=rollback job=switchyard route=api version=v2
check "alertmanager routes other alerts to default" \
  route_test default alertname=SwitchyardRouteErrorRatioHigh severity=warning route=api version=v2

check "dashboards, rules and metric names (lint.py)" python3 tests/prometheus/lint.py

queries_ok() {
  python3 tests/prometheus/queries.py >"$tmp/queries.jsonl" || return 1
  python3 - "$tmp/queries.jsonl" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    q = json.loads(line)
    assert set(q) == {"source", "title", "expr"}, q
    assert q["expr"] and "$" not in q["expr"], f"unsubstituted variable: {q}"
    n += 1
assert n > 0, "no queries"
print(f"   {n} queries")
EOF
}
# promtool has no command to parse a bare expression; as recording rules, it parses them all.
queries_parse() {
  python3 - "$tmp/queries.jsonl" "$tmp/queries-as-rules.yml" <<'EOF' || return 1
import json, sys
rules = [{"record": f"check:query_{i}", "expr": json.loads(line)["expr"]}
         for i, line in enumerate(open(sys.argv[1]))]
json.dump({"groups": [{"name": "queries", "rules": rules}]}, open(sys.argv[2], "w"))
EOF
  promtool check rules "$tmp/queries-as-rules.yml"
}
check "queries.py prints every query, variables substituted" queries_ok
check "every printed query is valid PromQL" queries_parse

# The checks must catch what they exist for: run lint.py on a copy with one mistake each.
mutant() {
  local what=$1 file=$2 sed_expr=$3 expect=$4
  local copy="$tmp/mutant"
  rm -rf "$copy"
  mkdir -p "$copy/tests"
  cp -r dashboards deploy "$copy/"
  cp -r tests/prometheus "$copy/tests/"
  sed -i -E "$sed_expr" "$copy/$file"
  if cmp -s "$file" "$copy/$file"; then
    echo "   mutation '$what' did not change $file" >&2
    return 1
  fi
  local out
  if out=$(python3 "$copy/tests/prometheus/lint.py" --root "$copy" 2>&1); then
    echo "   lint.py accepted: $what" >&2
    return 1
  fi
  if ! grep -q -- "$expect" <<<"$out"; then
    echo "   lint.py failed on '$what' but without '$expect':" >&2
    echo "$out" >&2
    return 1
  fi
}
self_test() {
  local ok=0
  mutant "metric renamed in the dashboard" dashboards/switchyard.json \
    's/switchyard_retries_total/switchyard_retry_attempts_total/' \
    "metric switchyard_retry_attempts_total is not in" || ok=1
  mutant "metric renamed in the rules" "$rules" \
    's/switchyard_circuit_breaker_state/switchyard_breaker_state/' \
    "metric switchyard_breaker_state is not in" || ok=1
  mutant "label renamed in the rules" "$rules" \
    's/sum by \(job, cluster\)/sum by (job, upstream)/' "no metric has a label 'upstream'" || ok=1
  # shellcheck disable=SC2016 # a literal $instance
  mutant "panel without the instance filter" dashboards/switchyard.json \
    '0,/, instance=~\\"\$instance\\"/s///' 'is not filtered by instance' || ok=1
  mutant "overlapping panels" dashboards/switchyard.json \
    '0,/"x": 4,/s//"x": 2,/' 'overlaps' || ok=1
  mutant "runbook anchor missing" deploy/prometheus/RUNBOOK.md \
    's/^## SwitchyardCircuitBreakerOpen/## Breaker open/' \
    "no heading for #switchyardcircuitbreakeropen" || ok=1
  mutant "alert without a firing test" deploy/prometheus/switchyard-rules.test.yml \
    's/alertname: SwitchyardDeprecatedTrafficSpike$/alertname: SomethingElse/' \
    "no unit test makes it fire" || ok=1
  return $ok
}
check "lint.py catches renames and mistakes (self-test)" self_test

echo
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED (${#failed[@]}):"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all Prometheus, Alertmanager and dashboard checks passed"
