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
"$prefix/bin/enlight" plugins | grep -q identity || { echo "install-test: the moved enlight does not find its plugins"; "$prefix/bin/enlight" plugins; exit 1; }
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
# One fact in two forms: a manifest claim the binary does not make must
# fail the vendor's build, naming both sides (the installed checker runs
# after the link).
sed -i 's/    - index: 0x40001000/    - index: 0x40001001/' "$work/vendor-src/vendor-telemetry.yaml"
if cmake --build "$work/vendor" -j "${JOBS:-2}" >"$work/mismatch.log" 2>&1; then
  echo "install-test: a manifest claiming MSR 0x40001001 against a binary claiming 0x40001000 built anyway"
  exit 1
fi
grep -q "enlight-plugin-check: .*vendor-telemetry.yaml" "$work/mismatch.log" || {
  echo "install-test: the mismatched build failed, but not with the checker's message:"; tail -20 "$work/mismatch.log"; exit 1; }
grep -E "enlight-plugin-check" "$work/mismatch.log" | head -3
echo "install-test: the claim mismatch failed the build, as it must"
