#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzz.cc) with clang under ASan+UBSan in build-fuzz/
# and runs each one for a bounded time from its seed corpus (tests/fuzz/corpus/<name>/). Fails on
# any crash, leak, timeout or sanitizer report; the input that did it is kept in
# build-fuzz/artifacts/ (add it to the seed corpus with a regression test once fixed).
#   scripts/fuzz.sh                          # every target, FUZZ_SECONDS (20) each: what CI runs
#   FUZZ_SECONDS=3600 scripts/fuzz.sh codec  # a longer local run of one target
# New inputs the fuzzer finds go to a temporary directory, not to the seed corpus. JOBS (2)
# bounds the compile jobs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${FUZZ_SECONDS:-20}
jobs=${JOBS:-2}
dir=$root/build-fuzz

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-20G}  # as scripts/build.sh
fi
if [[ ! -f $dir/CMakeCache.txt ]]; then
  # clang's warnings differ from gcc's, which the other builds hold to -Werror.
  cmake -S "$root" -B "$dir" "${generator[@]}" "${launcher[@]}" -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHYARD_FUZZ=ON -DSWITCHYARD_TESTS=OFF \
    -DSWITCHYARD_WERROR=OFF -DSWITCHYARD_SANITIZE=address,undefined >/dev/null
fi

if (($# > 0)); then
  names=("$@")
else
  names=()
  for f in "$root"/tests/fuzz/*_fuzz.cc; do
    n=$(basename "$f" .cc)
    names+=("${n%_fuzz}")
  done
fi
targets=()
for n in "${names[@]}"; do targets+=("${n}_fuzz"); done
cmake --build "$dir" -j "$jobs" --target "${targets[@]}"

mkdir -p "$dir/artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for n in "${names[@]}"; do
  seeds=$root/tests/fuzz/corpus/$n
  mkdir -p "$work/$n"
  echo "== fuzz $n: ${seconds}s from $(find "$seeds" -type f 2>/dev/null | wc -l) seeds"
  # -timeout: one input taking over 10 s is a finding too; -rss_limit_mb bounds memory.
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/${n}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/${n}-" \
    "$work/$n" "$seeds" >"$work/$n.log" 2>&1; then
    tail -n 60 "$work/$n.log"
    failed+=("$n")
  else
    grep -E "^stat::number_of_executed_units|^Done" "$work/$n.log" | tr '\n' ' '
    echo
  fi
done
if ((${#failed[@]} > 0)); then
  echo "fuzz: findings in: ${failed[*]} (inputs in $dir/artifacts/)" >&2
  exit 1
fi
