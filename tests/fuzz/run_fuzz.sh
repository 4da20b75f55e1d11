#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time: the checked-in seeds first
# (each must pass), then mutation. A crash, a leak, a sanitizer report or a
# timeout fails the test and leaves the input in WORK/ to reproduce with
# `TARGET INPUT`.
#   run_fuzz.sh TARGET SEED_CORPUS WORK SECONDS
set -euo pipefail
target=$1 seeds=$2 work=$3 seconds=$4
mkdir -p "$work/corpus"
cd "$work"
# -seed: a fixed start so a CI failure can be replayed; the corpus grows in
# work/ between runs on one machine.
"$target" -max_total_time="$seconds" -seed=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds" 2>&1 | tail -25
