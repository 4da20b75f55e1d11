#!/usr/bin/env bash
# `promtool check metrics` on what enlight exports: the final exposition
# (`enlight run --metrics-file`) of runs that between them load every
# plugin with counters and the plugins' histograms, with run labels. (The bus
# latency histogram is a VmOptions switch the CLI does not offer.)
#   check_metrics.sh ENLIGHT WORKDIR
set -euo pipefail
enlight=$1
work=$2/check-metrics
mkdir -p "$work"
command -v promtool >/dev/null || { echo "promtool is not installed: tools/bootstrap.sh deps installs it (Debian package prometheus)" >&2; exit 1; }
fail=0
check() {  # name args...
  local name=$1; shift
  rm -f "$work/$name.prom"
  "$enlight" run --backend emu "$@" --label variant="$name" --label experiment=promtool --metrics-file "$work/$name.prom" >"$work/$name.log" 2>&1 ||
    { echo "FAIL $name: enlight run failed"; cat "$work/$name.log"; fail=1; return; }
  local families
  families=$(grep -c '^# TYPE' "$work/$name.prom" || true)
  if promtool check metrics <"$work/$name.prom" >"$work/$name.promtool" 2>&1; then
    echo "ok   $name: $families families pass promtool check metrics"
  else
    echo "FAIL $name: promtool check metrics:"; cat "$work/$name.promtool"; fail=1
  fi
  # Every series carries the run's labels.
  local unlabelled
  unlabelled=$(grep -v '^#' "$work/$name.prom" | grep -vc "variant=\"$name\"" || true)
  [ "$unlabelled" = 0 ] || { echo "FAIL $name: $unlabelled series without variant=\"$name\""; fail=1; }
}
check recommended                       # the built-in profile and guest: 12 plugins
check stimer-direct --guest workload-timer-idle --duration 0.2 \
  --cpu hv-frequencies,hv-vpindex,hv-time,hv-synic,hv-stimer,hv-stimer-direct
exit $fail
