#!/usr/bin/env bash
# Installs the Debian 12 packages Switchyard builds and tests with. Idempotent and quiet:
# packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libevent-dev libhttp-parser-dev libyaml-cpp-dev prometheus-cpp-dev libhiredis-dev libssl-dev
  libc-ares-dev libbrotli-dev zlib1g-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang-format ccache curl openssl procps iproute2
  # scripts/fuzz.sh: clang and its libFuzzer and sanitizer runtimes.
  clang libclang-rt-14-dev
)
if [[ "${1:-}" == "--e2e" || "${SWITCHYARD_E2E:-}" == "1" ]]; then
  # dnsmasq-base: the binary alone (the dnsmasq package would start a system service).
  packages+=(redis-server dnsmasq-base prometheus prometheus-alertmanager python3 python3-yaml)
  # tests/deploy/check.sh: systemd-analyze, dpkg-shlibdeps (CPack's Depends), lintian.
  packages+=(systemd dpkg-dev lintian)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
