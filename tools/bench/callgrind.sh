#!/usr/bin/env bash
# Instructions per operation of enlight-bench benchmarks under callgrind: a
# noise-free second opinion to the timings (docs/benchmarks.md).
#
# Each benchmark runs alone with exactly N and then 2N iterations
# (--enlight_iterations); the difference of the two total instruction counts,
# divided by N, is the cost of one iteration: VM creation, plugin loading and
# the benchmark library's own set-up cancel out.
#
#   tools/bench/callgrind.sh <path/to/enlight-bench> [N] [benchmark names...]
set -euo pipefail
bench=${1:?usage: callgrind.sh <enlight-bench> [N] [names...]}
n=${2:-200000}
shift $(( $# >= 2 ? 2 : 1 ))
if [ $# -eq 0 ]; then
  set -- BM_MsrRead/Bus BM_MsrRead/Switch BM_MsrWrite/Bus BM_MsrWrite/Switch \
         BM_MsrRead/BusMetricsOn BM_MsrRead/BusMetricsOff BM_MsrWrite/BusMetricsOff \
         BM_FastHypercall/Bus BM_FastHypercall/BusMetricsOff BM_FastHypercall/HandlerOnly
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

total_ir() {  # <name> <iterations>
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bench" \
    --enlight_iterations="$2" --benchmark_filter="^$1/iterations:" >"$tmp/stdout" 2>"$tmp/stderr"
  grep -q "iterations:$2" "$tmp/stdout" || { echo "no run of $1" >&2; cat "$tmp/stdout" "$tmp/stderr" >&2; exit 1; }
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/stderr"
}

printf '%-32s %12s\n' benchmark "Ir/op"
for name in "$@"; do
  a=$(total_ir "$name" "$n")
  b=$(total_ir "$name" $((2 * n)))
  awk -v a="$a" -v b="$b" -v n="$n" -v name="$name" 'BEGIN { printf "%-32s %12.2f\n", name, (b - a) / n }'
done
