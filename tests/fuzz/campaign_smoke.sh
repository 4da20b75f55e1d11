#!/usr/bin/env bash
# tools/fuzz-campaign.sh end to end on the fastest target: two processes,
# then a time-limited chunk that continues, a ledger that adds up and a
# report row per process, read from libFuzzer's own statistics.
#   campaign_smoke.sh SOURCE_DIR BUILD_DIR WORK
set -euo pipefail
src=$1 build=$2 work=$3
rm -rf "$work"
mkdir -p "$(dirname "$work")"
fail() { echo "campaign smoke: $*" >&2; exit 1; }
"$src/tools/fuzz-campaign.sh" run vp_set --runs 6000 --procs 2 --build "$build" --work "$work" >"$work.out1"
"$src/tools/fuzz-campaign.sh" run vp_set --runs 2000 --procs 1 --max-seconds 60 --build "$build" --work "$work" \
  >"$work.out2"
ledger=$work/vp_set/ledger
[ "$(wc -l <"$ledger")" -eq 3 ] || fail "expected 3 ledger lines, got: $(cat "$ledger")"
awk '{ s += $4 } END { exit s == 8000 ? 0 : 1 }' "$ledger" || fail "the ledger's executions do not add up to 8000"
awk '$6 < 1 || $8 < 1 { bad = 1 } END { exit bad }' "$ledger" || fail "a ledger line without edges or corpus"
# The time is libFuzzer's own, from the last chunk's log.
done_secs=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$work/vp_set/log-7")
[ "$(tail -1 "$ledger" | awk '{ print $3 }')" = "$done_secs" ] || fail "the ledger's time is not libFuzzer's ($done_secs s)"
out=$("$src/tools/fuzz-campaign.sh" report vp_set --work "$work")
grep -q '^Total: 8000 executions .*time-outs: none\.$' <<<"$out" || fail "report: $out"
[ "$(grep -c '^| `vp_set` | [78] |' <<<"$out")" -eq 3 ] || fail "report rows: $out"
# A target that is not built is an error naming the fix.
if "$src/tools/fuzz-campaign.sh" run no_such_target --build "$build" --work "$work" 2>"$work.err"; then
  fail "an unbuilt target was accepted"
fi
grep -q 'is not built (cmake --build' "$work.err" || fail "unbuilt target message: $(cat "$work.err")"
echo "campaign smoke: ok"
