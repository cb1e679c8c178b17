#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is needed (Debian 12, as root), builds,
# runs the unit, integration and end-to-end tests, checks the deployment kit against a Release
# build, then runs all the tests again under ASan+UBSan and under TSan,
# then every fuzz target for a bounded time (scripts/fuzz.sh).
# Exits non-zero on the first failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export JOBS=${JOBS:-2}

# --e2e: the suite also starts real Redis, Prometheus and Alertmanager servers (on free loopback
# ports) and checks the alert rules with promtool.
"$root/scripts/install-deps.sh" --e2e
# The migration console's browser test (tests/e2e/console_test.cc): Debian's chromium, node and
# npm, and puppeteer-core from tests/browser/package-lock.json; without them it fails, not skips.
"$root/tests/browser/setup.sh"
export SWITCHYARD_REQUIRE_BROWSER=1
# The Kubernetes manifest checks: the schema validators from tests/deploy/package-lock.json.
"$root/tests/deploy/setup.sh"

echo "== source guards: formatting; no clocks, sleeps or random sources outside proxy/common"
"$root/scripts/check-source.sh"

echo "== release build: unit and integration tests"
"$root/scripts/build.sh" release
(cd "$root/build" && ctest --output-on-failure --timeout 300 -j 2)

# The deployment kit (tests/deploy/check.sh): systemd unit, install layout, the .deb and lintian,
# the Kubernetes manifests against the API schemas, the Dockerfile. Against a packager's build:
# Release (-O3, where GCC finds warnings the other builds do not), the binary only.
echo "== package build (Release, binary only) and the deployment kit"
"$root/scripts/build.sh" package switchyard
"$root/tests/deploy/check.sh" "$root/build-pkg"

echo "== ASan+UBSan build: unit and integration tests"
"$root/scripts/build.sh" asan
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --timeout 300 -j 2)

echo "== TSan build: unit and integration tests (workers, admin thread, cross-thread posts)"
"$root/scripts/build.sh" tsan
(cd "$root/build-tsan" && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --timeout 300 -j 2)

echo "== fuzzing: every libFuzzer target for ${FUZZ_SECONDS:-20}s under ASan+UBSan"
"$root/scripts/fuzz.sh"
