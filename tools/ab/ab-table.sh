#!/usr/bin/env bash
# A/B table of enlightenment sets: runs each (guest, flags) variant with
# `enlight run` on the emu backend for DURATION seconds and prints one
# Markdown row per variant: the guest's own rates (from its METRIC lines)
# next to the host's exit counts per second. docs/ab-results.md is made
# with this script; the command line, machine and date go with the table.
#
#   tools/ab/ab-table.sh [ENLIGHT_BINARY] [DURATION_S] [BACKEND]
#
# BACKEND is emu (default) or kvm. On kvm the exit columns count exits to
# enlight (userspace) only: what KVM answers in the kernel (the x2APIC, its
# APIC timer, HLT) is not an exit here.
#
# Variants are the lines of VARIANTS below: guest, vCPUs, --cpu flags.
# The table is made with `enlight run --backend BACKEND`.
set -euo pipefail

enlight=${1:-./build/enlight}
duration=${2:-2}
backend=${3:-emu}

VARIANTS=(
  "workload-timeread 1 hv-frequencies"
  "workload-timeread 1 hv-frequencies,hv-time"
  "workload-timer-idle 1 hv-frequencies,hv-vpindex"
  "workload-timer-idle 1 hv-frequencies,hv-vpindex,hv-time,hv-synic,hv-stimer"
  "workload-timer-idle 1 hv-frequencies,hv-vpindex,hv-time,hv-synic,hv-stimer,hv-stimer-direct"
)

# The value of `metric vcpu 0: NAME = V` in a run's report (empty if absent).
metric() { sed -n "s/^   metric vcpu 0: $2 = \([0-9]*\)$/\1/p" <<<"$1" | head -1; }

printf '| guest | --cpu | guest path | guest rate (/s) | MSR exits/s | PM timer exits/s | hypercalls/s | interrupts/s | guest s |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for v in "${VARIANTS[@]}"; do
  read -r guest vcpus flags <<<"$v"
  out=$("$enlight" run --backend "$backend" --cpu "$flags" --guest "$guest" --vcpus "$vcpus" --duration "$duration" --metrics off 2>&1) || {
    echo "variant '$v' failed:" >&2
    echo "$out" >&2
    exit 1
  }
  path=$(metric "$out" path)
  rate=$(metric "$out" reads_per_second)
  [[ -n $rate ]] || rate=$(metric "$out" ticks_per_second)
  # "   exits: A MSR, B hypercall, C PM timer, D interrupt(s) delivered" and "after T s".
  read -r msr hc pm irq < <(sed -n 's/^   exits: \([0-9]*\) MSR, \([0-9]*\) hypercall, \([0-9]*\) PM timer, \([0-9]*\) interrupt.*/\1 \2 \3 \4/p' <<<"$out")
  # Per second of the guest's own measured run when it reports one (the
  # exits outside it, boot and report, are a handful), else of the whole run.
  secs=$(sed -n 's/.* after \([0-9.]*\) s$/\1/p' <<<"$out" | head -1)
  elapsed_us=$(metric "$out" elapsed_us)
  [[ -n $elapsed_us && $elapsed_us != 0 ]] && secs=$(awk -v u="$elapsed_us" 'BEGIN { printf "%.3f", u / 1e6 }')
  per() { awk -v n="$1" -v s="$secs" 'BEGIN { printf "%.0f", n / s }'; }
  printf '| %s | `%s` | %s | %s | %s | %s | %s | %s | %s |\n' "$guest" "$flags" "${path:-?}" "${rate:-?}" \
    "$(per "$msr")" "$(per "$pm")" "$(per "$hc")" "$(per "$irq")" "$secs"
done
