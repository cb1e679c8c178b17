#!/usr/bin/env bash
# Installs what the Kubernetes manifest checks (tests/deploy/check.sh) need: Debian's nodejs and
# npm when missing (as root, like scripts/install-deps.sh), then the schema validators as pinned
# in package-lock.json into tests/deploy/node_modules. Idempotent and quiet: when everything is
# there already it costs a checksum. The validators carry the schemas; nothing is fetched when
# they run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deploy setup: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "deploy setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node_modules is current when it was installed from this very lockfile.
stamp=$here/node_modules/.installed-from-lock.sha256
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(<"$stamp") == "$want" && -f $here/node_modules/kubernetes-models/package.json ]]; then
  exit 0
fi
echo "deploy setup: npm ci (kubernetes-models, @kubernetes-models/prometheus-operator, yaml)"
(cd "$here" && npm ci --no-audit --no-fund --silent)
echo "$want" >"$stamp"
