#!/usr/bin/env bash
# Prints switchyard-rules.yml (or RULES_FILE) with shorter windows, for tests that cannot wait
# minutes: every range selector `[<duration>]` becomes `[WINDOW]`, every `for: <duration>`
# becomes `for: FOR`, every `offset <duration>` becomes `offset OFFSET`. Only the kinds given are
# rewritten; everything else, the expressions included, is left exactly as shipped, so a test of
# the rendered file tests the production rules.
#
#   deploy/prometheus/render-rules.sh --window 10s --for 2s > /tmp/switchyard-rules.yml
#   deploy/prometheus/render-rules.sh --window 10s --for 2s --offset 30s my-rules.yml
#
# With a 1s scrape and evaluation interval, `--window 10s --for 2s` makes the critical error
# ratio alert fire a few seconds after a version starts failing.
set -euo pipefail

usage() {
  echo "usage: $0 [--window DURATION] [--for DURATION] [--offset DURATION] [RULES_FILE]" >&2
  exit 2
}

# Prometheus durations: 10s, 1m30s, 500ms.
duration_re='^([0-9]+(ms|[smhdwy]))+$'
unit='[0-9]+(ms|[smhdwy])'

window='' for_='' offset=''
rules="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/switchyard-rules.yml"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --window | --for | --offset)
      [[ $# -ge 2 ]] || usage
      if [[ ! "$2" =~ $duration_re ]]; then
        echo "$0: $1: '$2' is not a Prometheus duration (like 10s, 1m30s, 500ms)" >&2
        exit 2
      fi
      case "$1" in
        --window) window=$2 ;;
        --for) for_=$2 ;;
        --offset) offset=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage ;;
    -*)
      echo "$0: unknown option $1" >&2
      usage
      ;;
    *)
      rules=$1
      shift
      ;;
  esac
done

[[ -r "$rules" ]] || { echo "$0: cannot read $rules" >&2; exit 2; }

# A subquery's [range:step] would escape the rewrite and keep its production length.
if grep -Eq "\[($unit)+:($unit)*\]" "$rules"; then
  echo "$0: $rules uses a subquery ([range:step]); teach this script to rewrite it" >&2
  exit 1
fi

# The file must still have the shape this script rewrites, or a test would silently run
# production windows.
require() {
  if ! grep -Eq "$1" "$rules"; then
    echo "$0: $rules has no $2 to rewrite" >&2
    exit 1
  fi
}
args=()
if [[ -n "$window" ]]; then
  require "\[($unit)+\]" "range selector"
  args+=(-e "s/\[($unit)+\]/[$window]/g")
fi
if [[ -n "$for_" ]]; then
  require "^[[:space:]]*for:[[:space:]]*($unit)+[[:space:]]*$" "'for:'"
  args+=(-e "s/^([[:space:]]*for:[[:space:]]*)($unit)+[[:space:]]*$/\1$for_/")
fi
if [[ -n "$offset" ]]; then
  require "offset[[:space:]]+($unit)+" "offset"
  args+=(-e "s/offset([[:space:]]+)($unit)+/offset\1$offset/g")
fi
if [[ ${#args[@]} -eq 0 ]]; then
  cat "$rules"
else
  sed -E "${args[@]}" "$rules"
fi
