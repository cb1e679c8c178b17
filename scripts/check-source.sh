#!/usr/bin/env bash
# Source guards, run by scripts/test.sh before anything is built (seconds, no build needed):
#   - every C++ file is formatted as .clang-format says (clang-format --dry-run --Werror);
#   - code outside tests/ reads no clock, random device or sleep except in proxy/common, where
#     the one real TimeSource and Random live (everything else takes them by reference, so tests
#     can run it on simulated time and seeded randomness).
# Exits non-zero listing every offence.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
status=0

mapfile -t sources < <(git ls-files '*.cc' '*.h')
if ! command -v clang-format >/dev/null; then
  echo "check-source: clang-format is not installed (scripts/install-deps.sh installs it)" >&2
  exit 2
fi
unformatted=()
for f in "${sources[@]}"; do
  [[ -f $f ]] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if ((${#unformatted[@]} > 0)); then
  echo "check-source: not formatted (run: clang-format -i FILE):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  status=1
fi

# Real clocks, sleeps and random sources. proxy/common is where the real implementations live;
# tests/ has its own rules (no sleeping to wait for timers, which review catches).
pattern='steady_clock::now|system_clock::now|high_resolution_clock::now|std::rand\b|[^_[:alnum:]]rand\(|srand\(|random_device|sleep_for|sleep_until|usleep\(|nanosleep\(|[^_[:alnum:]]sleep\(|[^_[:alnum:]]time\((nullptr|NULL|0)\)|clock_gettime\(|gettimeofday\('
offences=$(git grep -nE "$pattern" -- '*.cc' '*.h' ':!tests/' ':!proxy/common/' || true)
if [[ -n $offences ]]; then
  echo "check-source: clock, sleep or random source outside proxy/common (take a TimeSource or" >&2
  echo "a Random by reference, and arm timers through the Dispatcher):" >&2
  printf '%s\n' "$offences" | sed 's/^/  /' >&2
  status=1
fi
exit $status
