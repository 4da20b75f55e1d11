#!/usr/bin/env bash
# The long fuzz runs docs/fuzzing.md records: one target for a number of
# executions (10^7 by default), split over processes (one per core), each
# with its own seed and its own work corpus, resumable in chunks across
# days; and the table row for docs/fuzzing.md, read from libFuzzer's own
# final statistics, never typed by hand.
#
#   tools/fuzz-campaign.sh run TARGET [--runs N] [--procs P] [--work DIR] [--build DIR] [--max-seconds S]
#   tools/fuzz-campaign.sh report TARGET [--work DIR]
#
# run: P processes of N/P executions (seeds 7, 8, ...) from the checked-in
# seeds plus what earlier chunks grew in WORK/TARGET/corpus-SEED. With
# --max-seconds a chunk stops early (libFuzzer's -max_total_time) and the
# next `run` continues from its corpus: the ledger WORK/TARGET/ledger keeps
# one line per process and chunk, and `report` sums them. A crash, a
# sanitizer report or a time-out leaves its input in WORK/TARGET/ (crash-*,
# leak-*, timeout-*, oom-*) and makes `run` exit 1.
#
# Costs: the VM targets (hypercall, plugin_msrs, synic_messages) build a VM
# per input and run at a few hundred to 1 500 inputs a second per core;
# 10^7 of them is hours of a core. Run it on a machine left alone: the
# rates in the table are only comparable on one.
set -euo pipefail

usage() { grep '^#   tools/fuzz-campaign.sh' "$0" | sed 's/^# *//' >&2; exit 2; }
[ $# -ge 2 ] || usage
mode=$1 target=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
runs=10000000 procs=$(nproc) work=${FUZZ_CAMPAIGN_WORK:-$here/build/fuzz-campaign} build=$here/build max_seconds=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    *) echo "fuzz-campaign: unknown argument '$1'" >&2; usage ;;
  esac
done
dir=$work/$target
ledger=$dir/ledger

# Per target: the YAML targets' RSS grows with ASan's store of allocation
# stacks (yaml-cpp is not instrumented; docs/fuzzing.md), so two frames and
# a higher ceiling; the rest keep libFuzzer's 2 GB.
asan_options=detect_leaks=1:malloc_context_size=2
rss=2048
case $target in
  profile_yaml|manifest_yaml) rss=6144 ;;
  cpu_flags) rss=4096 ;;
esac

# One process's figures from its log: seconds, executions, exec/s, edges,
# features, corpus, peak RSS. The seconds are libFuzzer's own ("Done N runs
# in S second(s)"): the processes are waited for in turn, so the time a wait
# returns is not when that process ended.
figures() {
  local log=$1
  local units rate rss_mb done_line secs
  secs=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -1)
  units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss_mb=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  [ -n "$secs" ] && [ -n "$units" ] && [ -n "$done_line" ] || return 1
  local cov ft corp
  cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$done_line")
  ft=$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$done_line")
  corp=$(sed -E 's/.* corp: ([0-9]+).*/\1/' <<<"$done_line")
  echo "$secs $units $rate $cov $ft $corp $rss_mb"
}

findings() {
  local f
  f=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [ -z "$f" ]; then echo none; else echo "$f" | xargs -n1 basename | paste -sd' '; fi
}

report() {
  [ -f "$ledger" ] || { echo "fuzz-campaign: no runs of $target in $dir yet" >&2; exit 1; }
  echo "| target | process (seed) | chunk started (UTC) | executions | time | exec/s | edges, features, corpus at its end | peak RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  local total=0 seconds=0
  while read -r seed started secs units rate cov ft corp rss_mb; do
    echo "| \`$target\` | $seed | $started | $units | $secs s | $rate | $cov edges, $ft features, $corp inputs | $rss_mb MB |"
    total=$((total + units))
    seconds=$((seconds + secs))
  done <"$ledger"
  echo
  echo "Total: $total executions in $seconds process-seconds; crashes, sanitizer reports, time-outs: $(findings)."
}

run() {
  local fuzzer=$build/tests/fuzz/$target seeds=$here/tests/fuzz/corpus/$target
  [ -x "$fuzzer" ] || { echo "fuzz-campaign: $fuzzer is not built (cmake --build $build --target fuzz-$target)" >&2; exit 1; }
  [ -d "$seeds" ] || { echo "fuzz-campaign: no seed corpus $seeds" >&2; exit 1; }
  mkdir -p "$dir"
  local per=$(((runs + procs - 1) / procs)) pids=() starts=() i
  local time_limit=()
  [ "$max_seconds" -gt 0 ] && time_limit=(-max_total_time="$max_seconds")
  for ((i = 0; i < procs; i++)); do
    local seed=$((7 + i))
    mkdir -p "$dir/corpus-$seed"
    starts[i]=$(date -u +%s)
    ASAN_OPTIONS=$asan_options "$fuzzer" -runs="$per" "${time_limit[@]}" -seed="$seed" -timeout=10 \
      -rss_limit_mb="$rss" -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus-$seed" "$seeds" \
      >"$dir/log-$seed" 2>&1 &
    pids[i]=$!
  done
  local failed=0
  for ((i = 0; i < procs; i++)); do
    local seed=$((7 + i)) rc=0
    wait "${pids[i]}" || rc=$?
    local f
    if f=$(figures "$dir/log-$seed"); then
      echo "$seed $(date -u -d "@${starts[i]}" +%FT%TZ) $f" >>"$ledger"
    else
      echo "fuzz-campaign: $target seed $seed ended without final statistics (rc=$rc): $dir/log-$seed" >&2
    fi
    [ "$rc" -eq 0 ] || failed=1
  done
  report
  [ "$failed" -eq 0 ] || { echo "fuzz-campaign: a process failed; its input is in $dir" >&2; exit 1; }
}

case $mode in
  run) run ;;
  report) report ;;
  *) usage ;;
esac
