#!/usr/bin/env bash
# The installed SDK as a vendor uses it (docs/sdk.md): install enlight into
# a fresh prefix, move the prefix (it must not care where it is), then
# configure, build and test sdk/examples/vendor-telemetry against the moved
# prefix alone: its plugin's unit tests on the installed harness, and its
# guest program run by the installed enlight. Outside the build tree, so
# nothing can fall back on it, and with ENLIGHT_PLUGIN_PATH empty.
# usage: run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d /tmp/enlight-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
export ENLIGHT_PLUGIN_PATH=
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
mv "$work/prefix" "$work/moved"
prefix=$work/moved
echo "install-test: installed, moved to $prefix"
# The installed binary finds its own plugins (no --plugin-path).
# Captured first: with pipefail, `enlight plugins | grep -q` fails whenever
# grep exits before enlight's last write (SIGPIPE), which CI hit once the
# list outgrew one stdio buffer.
listing=$("$prefix/bin/enlight" plugins)
grep -q identity <<<"$listing" || { echo "install-test: the moved enlight does not find its plugins"; "$prefix/bin/enlight" plugins; exit 1; }
cp -r "$src/sdk/examples/vendor-telemetry" "$work/vendor-src"
cmake -S "$work/vendor-src" -B "$work/vendor" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/vendor" -j "${JOBS:-2}" >"$work/build.log" || { cat "$work/build.log"; exit 1; }
# Nothing of the source or build tree on any path the vendor's build used.
if grep -rqsF -e "$src" -e "$build" "$work/vendor/CMakeCache.txt" "$work/vendor/build.ninja"; then
  echo "install-test: the vendor build refers to enlight's source or build tree:"
  grep -rnF -e "$src" -e "$build" "$work/vendor/CMakeCache.txt" "$work/vendor/build.ninja" | head
  exit 1
fi
ctest --test-dir "$work/vendor" --output-on-failure
# `enlight new-plugin`: the folder it writes builds against the installed
# prefix and passes its own test unchanged.
"$prefix/bin/enlight" new-plugin my-probe "$work/new" >"$work/new-plugin.log"
cmake -S "$work/new/my-probe" -B "$work/new-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$work/new-configure.log" ||
  { cat "$work/new-configure.log"; exit 1; }
cmake --build "$work/new-build" -j "${JOBS:-2}" >"$work/new-build.log" 2>&1 || { cat "$work/new-build.log"; exit 1; }
ctest --test-dir "$work/new-build" --output-on-failure
echo "install-test: enlight new-plugin's folder built and passed its test"
# The same plugin without CMake: pkg-config for the flags and the header
# generator, then the installed checker loads it as enlight would.
export PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name enlight-sdk.pc)")"
mkdir -p "$work/pc/gen/enlight"
"$(pkg-config --variable=manifest_header enlight-sdk)" "$work/new/my-probe/my-probe.yaml" "$work/pc/gen/enlight/this_plugin.hpp"
# shellcheck disable=SC2046
c++ $(pkg-config --cflags enlight-sdk) -I"$work/pc/gen" -O2 -shared -fPIC -o "$work/pc/my-probe.so" "$work/new/my-probe/my_probe.cpp"
cp "$work/new/my-probe/my-probe.yaml" "$work/pc/"
"$prefix/bin/enlight-plugin-check" "$work/pc/my-probe.yaml"
echo "install-test: the pkg-config build of the same plugin loads and matches its manifest"
# Each fact once: the manifest is the source of the claims, and the C++
# handler tables are checked against it by the compiler. Changing one form
# without the other must fail the vendor's build, naming the manifest.
mismatch() {  # mismatch WHAT EXPECTED-DIAGNOSTIC: build, expect a failure naming it, then restore
  local what=$1 expected=$2
  if cmake --build "$work/vendor" -j "${JOBS:-2}" >"$work/mismatch.log" 2>&1; then
    echo "install-test: $what, and the build passed"; exit 1
  fi
  grep -q -- "$expected" "$work/mismatch.log" || {
    echo "install-test: $what: the build failed, but not naming $expected:"; tail -30 "$work/mismatch.log"; exit 1; }
  echo "install-test: $what: the build failed with $expected"
  cp "$src/sdk/examples/vendor-telemetry/"* "$work/vendor-src/"
}
sed -i 's/    - index: 0x40001000/    - index: 0x40001001/' "$work/vendor-src/vendor-telemetry.yaml"
mismatch "the manifest claims MSR 0x40001001, the C++ handles 0x40001000" \
  "vendor_telemetry_yaml_line_[0-9]*_claims_msrs_0x40001001_to_0x40001001_but_ENLIGHT_PLUGIN_msrs_has_no_handler"
sed -i 's/(VENDOR_TELEMETRY_MSR_RECORDS)};/(VENDOR_TELEMETRY_MSR_RECORDS), enlight::msr<read_records, nullptr>(VENDOR_TELEMETRY_MSR_RECORDS + 2)};/' \
  "$work/vendor-src/vendor_telemetry.cpp"
mismatch "the C++ also handles MSR 0x40001002, which the manifest does not claim" \
  "an_msr_handler_range_in_ENLIGHT_PLUGIN_msrs_reaches_beyond_the_claims_of_vendor_telemetry_yaml"
sed -i 's/    - { leaf: 0x40001000, reg: edx, field: 0xffffffff }//' "$work/vendor-src/vendor-telemetry.yaml"
mismatch "the C++ sets CPUID 0x40001000.EDX, the manifest does not claim it" \
  "these_cpuid_bits_are_not_claimed_in_vendor_telemetry_yaml_claims_cpuid"
# The restored sources build again (the stamp and header follow the manifest back).
cmake --build "$work/vendor" -j "${JOBS:-2}" >"$work/rebuild.log" 2>&1 || { tail -30 "$work/rebuild.log"; exit 1; }
echo "install-test: every mismatch failed the build, as it must"
