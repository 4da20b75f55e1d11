#!/usr/bin/env bash
# How small enlight gets (docs/size.md): builds each configuration below
# (MinSizeRel, only the `enlight` binary and its plugins, no tests), strips
# a copy, and measures its size, its shared-library dependencies and the
# peak RSS of a one-second `enlight run`; prints a Markdown table.
#   tools/size-report/size-report.sh [--check] [--configs "a b"] [BUILD_ROOT]
# --check: fail when the minimal configuration is over its budget (600 KB
# stripped, issue 13), still links yaml-cpp (it is the YAML-free build), or
# cannot resolve its own plugin set; ctest runs it that way (label size).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
check=0
configs="full static-all minimal-kvm"
while [ $# -gt 0 ]; do
  case $1 in
    --check) check=1; shift ;;
    --configs) configs=$2; shift 2 ;;
    *) break ;;
  esac
done
root=${1:-$here/build/size}
jobs=${JOBS:-$(nproc)}
budget=$((600 * 1024))

# Each configuration's CMake options (into the array `opts`).
config_options() {
  case $1 in
    full) opts=(-DENLIGHT_STATIC_PLUGINS=OFF -DENLIGHT_METRICS=ON) ;;
    static-all) opts=(-DENLIGHT_STATIC_PLUGINS=ON -DENLIGHT_METRICS=OFF) ;;
    # The issue's budget configuration: kvm only (no Unicorn), the five
    # plugins a Linux guest's clock and timers need, built in, no metrics,
    # no `enlight ab`, one embedded guest, and the linker dropping what
    # nothing calls (LTO, one section per function).
    minimal-kvm)
      opts=(-DENLIGHT_STATIC_PLUGINS=ON -DENLIGHT_METRICS=OFF -DENLIGHT_BACKENDS=kvm
            "-DENLIGHT_PLUGINS=identity;vpindex;time;synic;stimer" -DENLIGHT_CLI_AB=OFF -DENLIGHT_YAML=OFF
            -DENLIGHT_EMBEDDED_GUESTS=workload-timer-idle -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON
            "-DCMAKE_CXX_FLAGS=-ffunction-sections -fdata-sections" "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--gc-sections") ;;
    *) echo "size-report: unknown configuration '$1' (full, static-all, minimal-kvm)" >&2; exit 2 ;;
  esac
}
run_flags="--cpu hv-vpindex,hv-time,hv-synic,hv-stimer"

kvm_usable() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# Peak RSS in KiB of a command (its children's maximum), by Python's getrusage.
peak_rss() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else "failed")
PY
}

echo "| configuration | CMake options | stripped binary | plugins (.so) | shared libraries | peak RSS of a 1 s run |"
echo "|---|---|---|---|---|---|"
over=0 broken=0
for c in $configs; do
  dir=$root/$c
  mkdir -p "$root"
  config_options "$c"
  cmake -S "$here" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel -DENLIGHT_BUILD_TESTS=OFF -DENLIGHT_BUILD_BENCH=OFF \
    "${opts[@]}" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j "$jobs" --target enlight enlight-plugins >"$dir.build.log" 2>&1 || { tail -30 "$dir.build.log"; exit 1; }
  strip -o "$dir/enlight.stripped" "$dir/enlight"
  size=$(stat -c %s "$dir/enlight.stripped")
  plugins=0
  for so in "$dir"/lib/enlight/plugins/*.so; do
    [ -e "$so" ] || continue
    strip -o "$dir/plugin.stripped" "$so"
    plugins=$((plugins + $(stat -c %s "$dir/plugin.stripped")))
  done
  libs=$(ldd "$dir/enlight" | awk '$1 !~ /^(linux-vdso|\/lib64\/ld-linux)/ { n++ } END { print n + 0 }')
  if kvm_usable; then backend=kvm; elif [ "$c" = minimal-kvm ]; then backend=none; else backend=emu; fi
  if [ "$backend" = none ]; then
    rss="(no /dev/kvm)"
  else
    rss=$(peak_rss "$dir/enlight" --plugin-path "$dir/lib/enlight/plugins" run --backend $backend --metrics off \
      $run_flags --guest workload-timer-idle --duration 1)
    [ "$rss" != failed ] && rss="$rss KiB ($backend)"
  fi
  printf '| %s | `%s` | %d KB | %s | %s | %s |\n' "$c" "${opts[*]}" $((size / 1024)) \
    "$([ $plugins -gt 0 ] && echo "$((plugins / 1024)) KB" || echo "built in")" "$libs" "$rss"
  if [ "$c" = minimal-kvm ]; then
    [ "$size" -gt "$budget" ] && over=1
    # YAML-free: no yaml-cpp at run time, and its compiled-in manifests and
    # profiles resolve the set it was built for.
    if ldd "$dir/enlight" | grep -q yaml-cpp; then
      echo "size-report: the minimal-kvm binary still links yaml-cpp" >&2; broken=1
    fi
    "$dir/enlight" check $run_flags >"$dir.check.log" 2>&1 ||
      { echo "size-report: the minimal-kvm binary's enlight check failed:" >&2; cat "$dir.check.log" >&2; broken=1; }
  fi
done
if [ $check = 1 ] && [ $broken = 1 ]; then exit 1; fi
if [ $check = 1 ] && [ $over = 1 ]; then
  echo "size-report: the minimal-kvm binary is over its budget of $((budget / 1024)) KB" >&2
  exit 1
fi
