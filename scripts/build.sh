#!/usr/bin/env bash
# Configures and builds one flavour of Switchyard into build/ (or build-<flavour>/).
#   scripts/build.sh            release build (RelWithDebInfo) in build/
#   scripts/build.sh asan       ASan+UBSan build in build-asan/
#   scripts/build.sh tsan       TSan build in build-tsan/
#   scripts/build.sh package    what a packager builds (Release, prefix /usr, no tests) in
#                               build-pkg/; tests/deploy/check.sh makes the .deb from it
#   scripts/build.sh asan unit_tests    only the named targets
# JOBS (default 2) bounds the parallel compile jobs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
flavour=${1:-release}
jobs=${JOBS:-2}
case "$flavour" in
  release) dir=$root/build; extra=() ;;
  asan) dir=$root/build-asan; extra=(-DSWITCHYARD_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug) ;;
  # -O1 and line tables: what ThreadSanitizer needs for its reports, and a third less compile
  # time than -O2 -g.
  tsan) dir=$root/build-tsan
    extra=(-DSWITCHYARD_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG") ;;
  # -Werror stays on here (CI); a distribution's build passes -DSWITCHYARD_WERROR=OFF. RELRO
  # and immediate binding, as Debian's hardening flags ask; they cost nothing at compile time.
  package) dir=$root/build-pkg
    extra=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DSWITCHYARD_TESTS=OFF
      "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-z,relro -Wl,-z,now") ;;
  *) echo "build.sh: unknown flavour $flavour (release, asan, tsan, package)" >&2; exit 2 ;;
esac
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# ccache (installed by install-deps.sh) keeps compiled objects between CI runs on one machine;
# CCACHE_BASEDIR lets clones at other paths share them.
if command -v ccache >/dev/null; then
  extra+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  # Five flavours (release, asan, tsan, package, fuzz) outgrow ccache's default 5 GB, and then
  # each CI run evicts what the next one needs.
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-20G}
fi
if [[ ! -f $dir/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$dir" "${generator[@]}" "${extra[@]}" >/dev/null
fi
# Anything after the flavour names targets (default: all), e.g. scripts/build.sh asan unit_tests.
targets=("${@:2}")
cmake --build "$dir" -j "$jobs" ${targets[@]:+--target "${targets[@]}"}
