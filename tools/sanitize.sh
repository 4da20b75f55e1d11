#!/usr/bin/env bash
# The sanitizer jobs (docs/sanitizers.md): a separate build of the core, the
# plugins and the chosen tests with the compiler's sanitizers, then ctest on
# what was built.
#
#   tools/sanitize.sh asan [DIR]   ASan+UBSan (-O0): the unit tests of the bus,
#                                  loader, VM, resolver, every plugin, the VMBus
#                                  protocol and the machine's devices, and the
#                                  guest tests on the emu backend
#   tools/sanitize.sh tsan [DIR]   TSan (-O1): the emu and kvm backends' tests,
#                                  the multi-threaded ones (vCPU threads, timers)
#
# DIR defaults to build-asan/ or build-tsan/ beside the main build directory
# ($BUILD_DIR, default ./build). tools/bootstrap.sh test runs both after
# ctest. Exit status: non-zero when the build or any test fails, and a
# sanitizer report fails its test (UBSan and ASan abort the process, TSan
# exits 66 at the end).
#
# Environment: BUILD_DIR, JOBS (default: nproc), SANITIZE_CTEST_ARGS (extra
# ctest arguments, e.g. "-R Conformance" for a quick look).
set -euo pipefail

mode=${1:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$here/build}
jobs=${JOBS:-$(nproc)}
supp=$here/tools/sanitize

# Only the targets below are built; ctest then runs every test of those
# executables (an executable that is not built has no labelled tests, so
# `-L .` leaves it out). The tests that run something other than a test
# executable of this build (scripts, the `enlight` binary, iasl aside) carry
# these labels and are left out too.
not_built_here='^(abi|fuzz|install|package|prometheus|sdk|size)$'

case "$mode" in
  asan)
    sanitize=address,undefined
    # -O0: ASan+UBSan at -O1 costs GCC twice the compile time of -O0
    # (measured, docs/sanitizers.md); the tests spend their time in
    # Unicorn, which is not instrumented either way.
    opt="-O0 -g1"
    # A real-time rate (1000 +/- 2 % timer messages a second), not a memory
    # property: at -O0 with ASan it misses the rate (ctest runs it).
    skip=('^ConformanceOnEmuStimer\.PeriodicMessagesPerSecondWithin2Percent$')
    targets=(
      # Core areas a guest or a plugin binary feeds (direct backend).
      core-bus-test core-loader-test core-vm-test core-resolve-test
      # Every plugin's own tests (handlers, state, hostile values).
      test-plugin-avic test-plugin-crash test-plugin-emsr-bitmap test-plugin-evmcs test-plugin-frequencies
      test-plugin-identity test-plugin-ipi test-plugin-no-nonarch-coresharing test-plugin-reenlightenment
      test-plugin-relaxed test-plugin-reset test-plugin-runtime test-plugin-spinlocks test-plugin-stimer
      test-plugin-synic test-plugin-syndbg test-plugin-time test-plugin-tlbflush test-plugin-tlbflush-direct
      test-plugin-tlbflush-ext test-plugin-tsc-invariant test-plugin-vapic test-plugin-vpindex
      test-plugin-xmm-input
      # The VMBus protocol and devices: rings and messages a guest writes.
      vmbus_bus_test vmbus_channel_messages_test vmbus_device_test vmbus_gpadl_test vmbus_plugin_test
      vmbus_ring_test vmbus_util_channel_test vmbus_util_wire_test vmbus_net_backend_test
      vmbus_net_nic_config_test vmbus_net_nic_test
      # The PC machine's devices and tables (ports a guest writes).
      machine-acpi_pm_test machine-acpi_tables_test machine-aml_test machine-cmos_rtc_test
      machine-i8042_test machine-lapic_test machine-linux_boot_test machine-pc_snapshot_test machine-uart8250_test
      # Guest machine code on the emu backend.
      core-emu-unit-test core-emu-guest-test core-guests-emu-test core-guests-workload-emu-test
      core-guests-vmbus-emu-test core-guests-vmbus-net-emu-test core-guests-tlb-ipi-emu-test
      # Snapshot files (bad ones included) and round trips on emu.
      core-snapshot-emu-test
    )
    # The kvm round trips of that program: TSan's job runs the kvm tests.
    skip+=('^SnapshotRoundTripOnKvm\.')
    # Where a stop by time lands, not memory: at -O0 with ASan
    # conformance-vapic's checks come so close together that no stop (eight
    # fractions, then six bisected) fell among them in two fresh-root runs,
    # though every round trip restored and passed. ctest runs it; the
    # stimer and time round trips stay here.
    skip+=('^SnapshotRoundTripOnEmu\.Vapic$')
    ;;
  tsan)
    sanitize=thread
    # -O1: TSan's usual level; with -g1 it compiles faster than the normal
    # -O2 -g build.
    opt="-O1 -g1"
    # The VMBus heartbeat checks on kvm (a 3 s bound on the host's heartbeat
    # interval) fail on a loaded host without TSan too (seen at a load
    # average of 8 on PVM's /dev/kvm); the same guests run under TSan on
    # emu, and on kvm in ctest and the nested stage.
    # conformance-tlbflush on kvm calibrates the TSC against the APIC timer
    # by reading its count in a 10 ms window, one exit to the host per
    # read: with TSan's slower exits on a loaded host it missed the window
    # in 1 of 3 runs (never in the normal build under the same load). The
    # rate test as under asan. And for CI's time, the three slowest
    # one-vCPU kvm cases (60 s between them, spent waiting on the guest,
    # one vCPU thread): their two-vCPU runs stay.
    skip=('^VmbusOnKvm\.Conformance(One|Two)Vcpus?$'
          '^Guests/ConformanceOnKvm\..*/conformance_tlbflush_'
          '^Guests/ConformanceOnKvm\..*/conformance_(time|vapic|msrs)_1vcpu_'
          '^ConformanceOnEmuStimer\.PeriodicMessagesPerSecondWithin2Percent$')
    targets=(
      core-emu-guest-test core-guests-emu-test core-guests-workload-emu-test core-guests-vmbus-emu-test
      core-guests-vmbus-net-emu-test core-guests-tlb-ipi-emu-test
      core-kvm-test core-kvm-vmbus-test
    )
    ;;
  *)
    echo "usage: tools/sanitize.sh asan|tsan [DIR]" >&2
    exit 2
    ;;
esac
dir=${2:-$(dirname "$build")/build-$mode}

# Reports go to stderr, which ctest --output-on-failure shows. The build
# runs test executables too (gtest test discovery), so these are set first.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:suppressions=$supp/asan.supp"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="suppressions=$supp/tsan.supp:second_deadlock_stack=1:print_suppressions=0"

# Each step's wall and CPU time in the log (docs/sanitizers.md has figures).
TIMEFORMAT="sanitize $mode: %R s wall, %U s user, %S s sys"
echo "sanitize $mode: building ${#targets[@]} test programs in $dir"
time {
  cmake -S "$here" -B "$dir" -G Ninja -DENLIGHT_SANITIZE=$sanitize -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="$opt" -DCMAKE_CXX_FLAGS_DEBUG="$opt" -DENLIGHT_BUILD_BENCH=OFF >/dev/null
  cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
}

run=()
if [ "$mode" = tsan ] && setarch "$(uname -m)" -R true 2>/dev/null; then
  # TSan maps its shadow at fixed addresses; with the kernel's larger mmap
  # randomisation (vm.mmap_rnd_bits=32 on some 6.x kernels) GCC 12's TSan
  # fails with "unexpected memory mapping". Without address randomisation
  # it always fits.
  run=(setarch "$(uname -m)" -R)
fi
cd "$dir"
echo "sanitize $mode: running their tests"
args=(--output-on-failure -j "$jobs" --timeout 600 -L . -LE "$not_built_here")
if [ ${#skip[@]} -gt 0 ]; then args+=(-E "$(IFS='|'; echo "${skip[*]}")"); fi
# shellcheck disable=SC2086
time "${run[@]}" ctest "${args[@]}" ${SANITIZE_CTEST_ARGS:-}
