#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine: install what enlight needs
# from Debian's packages, configure, build, then run the main job or the
# whole test suite.
#
#   tools/bootstrap.sh run     set up, build, `enlight run` on its built-in default
#   tools/bootstrap.sh test    set up, build, run every test (what CI runs): ctest,
#                              the sanitizer jobs (tools/sanitize.sh asan, tsan),
#                              then the kvm backend's nested stage (tests/nested-kvm/run)
#   tools/bootstrap.sh deps    only install the packages
#
# Environment: BUILD_DIR (default ./build), JOBS (default: nproc),
# ENLIGHT_CMAKE_ARGS (extra configure arguments).
set -euo pipefail

mode=${1:-run}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$here/build}
jobs=${JOBS:-$(nproc)}

# The packages, and why each is here, are listed in docs/building.md.
packages=(
  g++ cmake ninja-build pkg-config
  libboost-dev libyaml-cpp-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libunicorn-dev
  qemu-system-x86 busybox-static
  acpica-tools
  gnuplot-nox prometheus prometheus-pushgateway python3
  clang libclang-rt-14-dev
  abigail-tools
  dpkg-dev file
)

install_deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "bootstrap: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_and_build() {  # [targets...]
  # shellcheck disable=SC2086
  cmake -S "$here" -B "$build" -G Ninja ${ENLIGHT_CMAKE_ARGS:-} >/dev/null
  if [ $# -gt 0 ]; then
    cmake --build "$build" -j "$jobs" --target "$@"
  else
    cmake --build "$build" -j "$jobs"
  fi
}

case "$mode" in
  deps)
    install_deps
    ;;
  run)
    install_deps
    configure_and_build enlight enlight-plugins
    # The main job: boot the built-in default profile with the built-in
    # default guest on the best backend there is, and print its report.
    "$build/enlight" run
    ;;
  test)
    install_deps
    configure_and_build
    rc=0
    (cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 300) || rc=1
    # ASan+UBSan and TSan builds of the core, the plugins and the chosen
    # tests, in build-asan/ and build-tsan/ beside the build directory
    # (docs/sanitizers.md). Before the nested stage, never beside it.
    BUILD_DIR=$build JOBS=$jobs "$here/tools/sanitize.sh" asan || rc=1
    BUILD_DIR=$build JOBS=$jobs "$here/tools/sanitize.sh" tsan || rc=1
    # The kvm backend on a real KVM inside QEMU's software emulation, for
    # every host, with or without /dev/kvm (docs/kvm-backend.md).
    BUILD_DIR=$build "$here/tests/nested-kvm/run" || rc=1
    exit $rc
    ;;
  *)
    echo "usage: tools/bootstrap.sh run|test|deps" >&2
    exit 2
    ;;
esac
