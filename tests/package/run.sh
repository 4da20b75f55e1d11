#!/usr/bin/env bash
# The Debian packages (docs/packaging.md) from this build: cpack -G DEB into a
# temporary directory, then check each .deb's files and Depends with
# dpkg-deb, and run the unpacked `enlight` (plugins, and the main job on the
# emu backend) from outside the build tree with no ENLIGHT_PLUGIN_PATH, so it
# can only use the plugins it was packaged with.
# usage: run.sh BUILD_DIR   (the rest from the environment, set by CMakeLists.txt:
#   PKG_VERSION PKG_BINDIR PKG_LIBDIR PKG_INCLUDEDIR PKG_PLUGINS PKG_STATIC_PLUGINS PKG_METRICS)
set -euo pipefail
build=$1
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
  command -v "$tool" >/dev/null || { echo "package-test: SKIP: $tool is missing (apt-get install dpkg-dev file)"; exit 77; }
done
work=$(mktemp -d /tmp/enlight-package-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "package-test: FAIL: $*"; exit 1; }

start=$(date +%s)
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack -G DEB"; }
arch=$(dpkg --print-architecture)
rt=$work/out/enlight_${PKG_VERSION}_${arch}.deb
dev=$work/out/enlight-dev_${PKG_VERSION}_${arch}.deb
for d in "$rt" "$dev"; do
  [ -f "$d" ] || { ls -l "$work/out"; fail "cpack made no $(basename "$d")"; }
  echo "package-test: $(basename "$d"): $(stat -c %s "$d") bytes, in $(( $(date +%s) - start )) s"
done

# The files: every regular file's path, without the leading ./
files() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { p = $6; sub(/^\.\//, "", p); print p }' | sort; }
files "$rt" >"$work/rt.files"
files "$dev" >"$work/dev.files"
has() {  # has LIST PATH
  grep -qxF "$2" "$work/$1.files" || fail "$1 has no /$2"
}
lacks() {  # lacks LIST REGEX WHAT
  if grep -E "$2" "$work/$1.files" >"$work/hits"; then fail "$1 holds $3: $(head -3 "$work/hits" | tr '\n' ' ')"; fi
}
B=usr/$PKG_BINDIR L=usr/$PKG_LIBDIR I=usr/$PKG_INCLUDEDIR
has rt "$B/enlight"
if [ "$PKG_STATIC_PLUGINS" = 1 ]; then
  lacks rt '\.so$' "plugin binaries in a static-plugin build"
else
  for p in $PKG_PLUGINS; do
    has rt "$L/enlight/plugins/$p.so"
    has rt "$L/enlight/plugins/$p.yaml"
  done
fi
lacks rt "^$I/|\.a$|/cmake/|/pkgconfig/|/enlight-plugin-check$|/enlight-manifest-header$" "SDK files"
for f in "$L/cmake/enlight/enlightConfig.cmake" "$L/cmake/enlight/enlightConfigVersion.cmake" \
         "$L/cmake/enlight/enlightTargets.cmake" "$L/pkgconfig/enlight-sdk.pc" \
         "$I/enlight/plugin.hpp" "$I/enlight/abi.h" "$L/enlight/libenlight-core.a" \
         "$L/enlight/guest/libenlight-guest.a" "$L/enlight/guest/guest.ld" \
         "$B/enlight-plugin-check" "$B/enlight-manifest-header"; do
  has dev "$f"
done
grep -q "^$I/enlight_guest/" "$work/dev.files" || fail "dev has no /$I/enlight_guest headers"
lacks dev "^$B/enlight$|/plugins/[^/]*\.so$" "the runtime's files"
if comm -12 "$work/rt.files" "$work/dev.files" | grep . >"$work/hits"; then
  fail "files in both packages: $(head -3 "$work/hits" | tr '\n' ' ')"
fi
echo "package-test: enlight has $(wc -l <"$work/rt.files") files, enlight-dev $(wc -l <"$work/dev.files"); none in both"

# The control fields.
field() { dpkg-deb -f "$1" "$2"; }
[ "$(field "$rt" Package)" = enlight ] || fail "enlight's Package is $(field "$rt" Package)"
[ "$(field "$dev" Package)" = enlight-dev ] || fail "enlight-dev's Package is $(field "$dev" Package)"
rt_depends=$(field "$rt" Depends)
dev_depends=$(field "$dev" Depends)
echo "package-test: enlight Depends: $rt_depends"
echo "package-test: enlight-dev Depends: $dev_depends"
depends_on() {  # depends_on WHAT DEPENDS REGEX
  echo "$2" | tr ',' '\n' | sed 's/^ *//' | grep -qE "^($3)( |$)" || fail "$1 does not depend on $3"
}
# dpkg-shlibdeps' libraries for the binary and plugins.
for lib in 'libc6' 'libstdc\+\+6' 'libyaml-cpp[0-9.]+' 'libunicorn[0-9]+'; do depends_on enlight "$rt_depends" "$lib"; done
if [ "$PKG_METRICS" = 1 ]; then depends_on enlight "$rt_depends" 'libprometheus-cpp-core[0-9.]+'; fi
# The exact runtime, and what find_package(enlight) finds its dependencies in.
echo "$dev_depends" | grep -qF "enlight (= $PKG_VERSION)" || fail "enlight-dev does not depend on enlight (= $PKG_VERSION)"
for pkg in 'libboost-dev' 'libyaml-cpp-dev' 'libunicorn-dev' 'pkg-config' 'libc6-dev'; do depends_on enlight-dev "$dev_depends" "$pkg"; done
if [ "$PKG_METRICS" = 1 ]; then depends_on enlight-dev "$dev_depends" 'prometheus-cpp-dev'; fi
for d in "$rt" "$dev"; do
  for f in Maintainer Description Section Architecture; do
    [ -n "$(field "$d" $f)" ] || fail "$(basename "$d") has no $f"
  done
done

# The SDK's pkg-config file finds the prefix from where it is (so it names
# the unpacked copy's include directory here, and /usr once installed).
dpkg-deb -x "$dev" "$work/dev-root"
pc_include=$(PKG_CONFIG_PATH="$work/dev-root/$L/pkgconfig" pkg-config --variable=includedir enlight-sdk)
[ "$(realpath "$pc_include")" = "$(realpath "$work/dev-root/usr/include")" ] ||
  fail "enlight-sdk.pc: includedir is $pc_include, not the package's usr/include"

# The unpacked enlight finds its packaged plugins and runs the main job.
dpkg-deb -x "$rt" "$work/root"
unset ENLIGHT_PLUGIN_PATH
cd "$work"
exe=$work/root/$B/enlight
"$exe" --version | grep -qF "$PKG_VERSION" || fail "enlight --version: $("$exe" --version)"
"$exe" plugins >"$work/plugins.log" 2>&1 || { cat "$work/plugins.log"; fail "enlight plugins exited non-zero"; }
if [ "$PKG_STATIC_PLUGINS" != 1 ]; then
  want="search path: $work/root/$L/enlight/plugins"
  grep -qxF "$want" "$work/plugins.log" || { cat "$work/plugins.log"; fail "enlight plugins: no '$want'"; }
  for p in $PKG_PLUGINS; do
    grep -qF "$work/root/$L/enlight/plugins/$p.yaml" "$work/plugins.log" || { cat "$work/plugins.log"; fail "enlight plugins does not list the packaged $p"; }
  done
fi
echo "package-test: the unpacked enlight lists its $(echo $PKG_PLUGINS | wc -w) packaged plugins"
"$exe" run --backend emu >"$work/run.log" 2>&1 || { tail -40 "$work/run.log"; fail "enlight run --backend emu exited non-zero"; }
grep -E "checks: [0-9]+ passed, 0 failed" "$work/run.log" >"$work/hits" || { tail -40 "$work/run.log"; fail "enlight run: no passing checks line"; }
echo "package-test: the unpacked enlight run --backend emu exited 0:$(cat "$work/hits")"
echo "package-test: passed in $(( $(date +%s) - start )) s"
