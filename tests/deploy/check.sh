#!/usr/bin/env bash
# Checks the deployment kit against a packager's build of the binary:
#   - `cmake --install` lays out the tree Debian expects, and its example configuration is valid;
#   - the systemd unit passes `systemd-analyze verify` (against the installed binary) and keeps
#     its hardening (`systemd-analyze security --offline`), its stop timeout covers the drain;
#   - CPack's .deb holds the expected files, marks /etc as conffiles, depends on the libraries
#     the binary links, and lintian reports no error;
#   - every Kubernetes manifest validates offline against the Kubernetes API and prometheus-operator
#     schemas (no unknown fields either), the objects of each file fit together as a sidecar, and
#     the configuration in each ConfigMap passes `switchyard --validate`;
#   - the Dockerfile copies only paths that exist, and installs exactly the runtime packages of
#     the libraries the binary links (there is no docker here to build it).
# Needs systemd-analyze (systemd), lintian, dpkg-dev, node with tests/deploy/node_modules
# (tests/deploy/setup.sh) and a build directory configured with -DCMAKE_INSTALL_PREFIX=/usr whose
# `switchyard` target is built (scripts/build.sh package switchyard). Runs every check, prints
# each failure, exits 1 if any failed; a missing tool fails at once.
#
#   tests/deploy/check.sh [BUILD_DIR]     (default: build-pkg)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
build=$(cd "${1:-build-pkg}" 2>/dev/null && pwd) || {
  echo "deploy check: no build directory ${1:-build-pkg} (scripts/build.sh package switchyard)" >&2
  exit 1
}

for tool in systemd-analyze lintian dpkg-deb dpkg-shlibdeps cpack node; do
  if ! command -v "$tool" >/dev/null; then
    echo "deploy check: $tool is missing (scripts/install-deps.sh --e2e installs it)" >&2
    exit 1
  fi
done
if [[ ! -f tests/deploy/node_modules/kubernetes-models/package.json ]]; then
  echo "deploy check: the schema validators are not installed (run tests/deploy/setup.sh)" >&2
  exit 1
fi
if [[ ! -x $build/switchyard ]]; then
  echo "deploy check: $build/switchyard is not built" >&2
  exit 1
fi
if [[ $(grep '^CMAKE_INSTALL_PREFIX:' "$build/CMakeCache.txt") != *=/usr ]]; then
  echo "deploy check: $build is not configured with -DCMAKE_INSTALL_PREFIX=/usr" >&2
  exit 1
fi

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

# Seconds in a duration as the configuration writes them (15s, 1m30s, 500ms rounds up).
seconds() {
  local d=$1 total=0 n u
  while [[ $d =~ ^([0-9]+)(ms|h|m|s)(.*)$ ]]; do
    n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
    case $u in h) ((total += n * 3600)) ;; m) ((total += n * 60)) ;; s) ((total += n)) ;;
      ms) ((total += (n + 999) / 1000)) ;; esac
  done
  [[ -z $d ]] && echo "$total"
}

# The Debian packages of the shared libraries the binary links.
linked_packages() {
  ldd "$build/switchyard" | awk '/=> \//{print $3}' | while read -r lib; do
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")"
  done | cut -d: -f1 | sort -u
}
linked_packages >"$tmp/linked" || true

root_dir=$tmp/root
installed_files=(
  usr/bin/switchyard
  usr/lib/systemd/system/switchyard.service
  etc/switchyard/switchyard.yaml
  usr/share/switchyard/dashboards/switchyard.json
  usr/share/switchyard/prometheus/switchyard-rules.yml
  usr/share/switchyard/prometheus/prometheus.example.yml
  usr/share/switchyard/alertmanager/alertmanager.example.yml
  usr/share/doc/switchyard/README.md
  usr/share/doc/switchyard/config.md
  usr/share/doc/switchyard/deploy.md
  usr/share/doc/switchyard/runbook.md
  usr/share/doc/switchyard/copyright
  usr/share/doc/switchyard/changelog.gz
)
install_tree() {
  DESTDIR=$root_dir cmake --install "$build" >"$tmp/install.log" || { cat "$tmp/install.log"; return 1; }
  local f ok=0
  for f in "${installed_files[@]}"; do
    [[ -f $root_dir/$f ]] || { echo "   not installed: /$f"; ok=1; }
  done
  return $ok
}
check "cmake --install lays out /usr/bin, /usr/lib/systemd/system, /etc/switchyard, /usr/share" install_tree

example_config() {
  local config=$root_dir/etc/switchyard/switchyard.yaml
  env -i "$root_dir/usr/bin/switchyard" --validate --config "$config" || return 1
  # systemd's StateDirectory=switchyard is /var/lib/switchyard, and sets STATE_DIRECTORY to it.
  local state
  state=$(sed -n 's/^  state_file: *//p' "$config")
  if [[ $state != '${STATE_DIRECTORY:-/var/lib/switchyard}/'* && $state != /var/lib/switchyard/* ]]; then
    echo "   rollback.state_file is $state, not in /var/lib/switchyard (StateDirectory=switchyard)"
    return 1
  fi
}
check "the example configuration is valid and keeps the rollback state in /var/lib/switchyard" example_config

unit=$root_dir/usr/lib/systemd/system/switchyard.service
systemd_verify() {
  # verify needs the binary the unit names; point it at the installed tree's copy.
  mkdir -p "$tmp/units"
  sed "s#/usr/bin/switchyard#$root_dir/usr/bin/switchyard#g" "$unit" >"$tmp/units/switchyard.service"
  local out status
  out=$(systemd-analyze verify "$tmp/units/switchyard.service" 2>&1)
  status=$?
  [[ -n $out ]] && printf '   %s\n' "$out"
  [[ $status -eq 0 && -z $out ]]
}
check "systemd-analyze verify switchyard.service (no warnings either)" systemd_verify

unit_settings() {
  local ok=0 want
  for want in 'Type=exec' 'ExecReload=/bin/kill -HUP $MAINPID' 'StateDirectory=switchyard' \
    'DynamicUser=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
    'NoNewPrivileges=yes' 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' \
    'AmbientCapabilities=CAP_NET_BIND_SERVICE' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    'SystemCallFilter=@system-service' 'EnvironmentFile=-/etc/switchyard/switchyard.env' \
    'ExecStart=/usr/bin/switchyard --config /etc/switchyard/switchyard.yaml'; do
    grep -qxF "$want" "$unit" || { echo "   missing: $want"; ok=1; }
  done
  local stop drain
  stop=$(seconds "$(sed -n 's/^TimeoutStopSec=//p' "$unit")")
  drain=$(seconds "$(sed -n 's/^drain_timeout: *\([^ ]*\).*/\1/p' deploy/switchyard.yaml)")
  if [[ -z $stop || -z $drain ]] || ((stop <= drain + 5)); then
    echo "   TimeoutStopSec (${stop:-?}s) must exceed drain_timeout (${drain:-?}s) with a margin"
    ok=1
  fi
  # Exposure 0 (locked down) to 10 (unprotected); the unit scores 1.8 today.
  systemd-analyze security --offline=true --threshold=25 "$tmp/units/switchyard.service" \
    >"$tmp/security.txt" 2>&1 || { tail -1 "$tmp/security.txt"; ok=1; }
  echo "   $(grep -a 'Overall exposure' "$tmp/security.txt")"
  return $ok
}
check "the unit's reload, state directory, hardening and stop timeout" unit_settings

deb=
package() {
  rm -f "$build"/switchyard_*.deb
  (cd "$build" && cpack -G DEB >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; return 1; }
  deb=$(ls "$build"/switchyard_*.deb 2>/dev/null | head -1)
  [[ -n $deb ]] || { echo "   cpack made no .deb"; return 1; }
  echo "   $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
}
check "cpack -G DEB" package

package_contents() {
  [[ -n $deb ]] || return 1
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' >"$tmp/contents"
  local f ok=0
  for f in "${installed_files[@]}"; do
    grep -qxF "/$f" "$tmp/contents" || { echo "   not in the package: /$f"; ok=1; }
  done
  local version changelog
  version=$(dpkg-deb -f "$deb" Version)
  changelog=$(sed -n '1s/^switchyard (\([^)]*\)).*/\1/p' deploy/debian/changelog)
  [[ $version == "$changelog" ]] ||
    { echo "   deploy/debian/changelog's latest entry is $changelog, the package $version"; ok=1; }
  dpkg-deb -e "$deb" "$tmp/control"
  grep -qxF /etc/switchyard/switchyard.yaml "$tmp/control/conffiles" ||
    { echo "   /etc/switchyard/switchyard.yaml is not a conffile"; ok=1; }
  # Package names in Depends, without versions or alternatives' bars.
  dpkg-deb -f "$deb" Depends | tr ',|' '\n\n' | awk 'NF {print $1}' | sort -u >"$tmp/depends"
  local p
  while read -r p; do
    grep -qxF "$p" "$tmp/depends" || { echo "   Depends lacks $p (the binary links it)"; ok=1; }
  done <"$tmp/linked"
  return $ok
}
check "the package's files, conffiles, Depends and changelog version" package_contents

run_lintian() {
  [[ -n $deb ]] || return 1
  lintian --fail-on error --tag-display-limit 0 "$deb" >"$tmp/lintian.txt" 2>&1
  local status=$?
  sed 's/^/   /' "$tmp/lintian.txt"
  echo "   lintian: $(grep -c '^E:' "$tmp/lintian.txt") errors, $(grep -c '^W:' "$tmp/lintian.txt") warnings"
  return $status
}
check "lintian (errors fail, warnings are listed)" run_lintian

manifests=(deploy/kubernetes/*.yaml)
check "Kubernetes manifests against the API schemas (kubernetes-models, offline)" \
  node tests/deploy/validate-manifests.mjs "${manifests[@]}"
mkdir -p "$tmp/k8s"
check "Kubernetes manifests fit together (sidecar, probes, drain, Service, PDB, ServiceMonitor)" \
  node tests/deploy/check-kubernetes.mjs "$tmp/k8s" "${manifests[@]}"

configmap_configs() {
  local f ok=0 n=0
  for f in "$tmp"/k8s/*.yaml; do
    [[ -f $f ]] || continue
    ((n++))
    # What the pod's environment holds: the token from the Secret, the pod's name (downward
    # API), the Redis Service's address.
    env -i SWITCHYARD_ADMIN_TOKEN=token POD_NAME=orders-7d9f8-x2k4q SWITCHYARD_REDIS_SERVICE_HOST=10.96.0.20 \
      SWITCHYARD_REDIS_SERVICE_PORT=6379 "$build/switchyard" --validate --config "$f" ||
      ok=1
  done
  ((n > 0)) || { echo "   no configuration found in the ConfigMaps"; return 1; }
  return $ok
}
check "the ConfigMaps' configurations pass switchyard --validate" configmap_configs

dockerfile=deploy/docker/Dockerfile
docker_copies() {
  local ok=0 src n=0
  # COPY [--chown=...] SRC... DEST, from the build context (not --from=stage).
  while read -r src; do
    ((n++))
    [[ -e $src ]] || { echo "   COPY $src: not in the repository"; ok=1; }
  done < <(awk '/^COPY / && !/--from=/ {for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i}' "$dockerfile")
  ((n > 0)) || { echo "   no COPY found"; ok=1; }
  # The image's default configuration is valid with the environment the image sets.
  local env_line
  env_line=$(sed -n 's/^ENV //p' "$dockerfile")
  # shellcheck disable=SC2086
  env -i $env_line "$build/switchyard" --validate --config deploy/switchyard.yaml || ok=1
  return $ok
}
check "Dockerfile: every COPY source exists; the default configuration is valid there" docker_copies

docker_runtime_packages() {
  # The apt-get install of the last stage (the runtime image), continuation lines joined.
  awk '/^FROM /{stage = ""} {stage = stage $0 "\n"} END {printf "%s", stage}' "$dockerfile" |
    sed ':a;/\\$/{N;s/\\\n//;ba}' | grep 'apt-get install' |
    sed 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' |
    sort -u >"$tmp/image-packages"
  [[ -s $tmp/linked ]] || { echo "   ldd found no packages"; return 1; }
  cmp -s "$tmp/linked" "$tmp/image-packages" && return 0
  diff -u "$tmp/linked" "$tmp/image-packages" | tail -n +3 | sed 's/^/   /'
  echo "   (- linked by the binary, + installed by the image)"
  return 1
}
check "Dockerfile: the runtime packages are exactly those of the libraries the binary links" \
  docker_runtime_packages

if ((${#failed[@]} > 0)); then
  echo "deploy check: ${#failed[@]} failed: ${failed[*]}"
  exit 1
fi
echo "deploy check: all passed"
