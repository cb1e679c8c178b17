#!/usr/bin/env bash
# Installs what the browser test (tests/browser/console.test.mjs) needs: Debian's chromium, nodejs
# and npm when missing (as root, like scripts/install-deps.sh), then puppeteer-core as pinned in
# package-lock.json into tests/browser/node_modules. Idempotent and quiet: when everything is
# there already it costs a checksum. puppeteer-core downloads no browser; the test uses
# /usr/bin/chromium.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "browser setup: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "browser setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node_modules is current when it was installed from this very lockfile.
stamp=$here/node_modules/.installed-from-lock.sha256
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(<"$stamp") == "$want" && -f $here/node_modules/puppeteer-core/package.json ]]; then
  exit 0
fi
echo "browser setup: npm ci (puppeteer-core)"
(cd "$here" && npm ci --no-audit --no-fund --silent)
echo "$want" >"$stamp"
