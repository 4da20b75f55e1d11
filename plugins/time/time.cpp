// hv-time: the partition reference counter HV_X64_MSR_TIME_REF_COUNT and
// the reference TSC page behind HV_X64_MSR_REFERENCE_TSC (TLFS "Timers":
// "Partition Reference Counter MSR" and "Partition Reference Time
// Enlightenment"). Privileges AccessPartitionReferenceCounter and
// AccessPartitionReferenceTsc (TLFS "Feature Discovery").
//
// Reference time itself belongs to the core (enlight_host.reference_time):
// it is defined with the TSC page's own formula from the guest TSC, so the
// MSR and the page can never disagree. This plugin only answers the MSR and
// publishes the core's scale and offset in the page the guest chose.
//
// Where the TLFS is silent, the behaviour is KVM's (arch/x86/kvm/hyperv.c,
// kvm_hv_set_msr_pw() and kvm_hv_setup_tsc_page()), so a guest sees what it
// sees under QEMU+KVM; README.md lists every choice.
#include <enlight/plugin.hpp>

#include <atomic>
#include <cstdint>

namespace {

// The first sequence after a wrap. The TLFS reserves 0 ("not valid, read the
// MSR") and older revisions reserved 0xFFFFFFFF the same way; it says
// nothing about where to restart, and 1 is what KVM restarts at.
constexpr uint32_t kFirstValidSequence = 1;

// The next TscSequence after `previous`, skipping both invalid markers
// (HV_REFERENCE_TSC_SEQUENCE_INVALID and _INVALID_LEGACY). A reader that
// read `previous` before an update must see a different value after it
// (TLFS reader loop: "while (EndSequence != StartSequence)"), which
// previous + 1 is, wrap included.
constexpr uint32_t next_sequence(uint32_t previous) {
  const uint32_t next = previous + 1;
  if (next == HV_REFERENCE_TSC_SEQUENCE_INVALID || next == HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY)
    return kFirstValidSequence;
  return next;
}
static_assert(next_sequence(HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY - 1) == kFirstValidSequence);
static_assert(next_sequence(HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY) == kFirstValidSequence);
static_assert(next_sequence(HV_REFERENCE_TSC_SEQUENCE_INVALID) == kFirstValidSequence);

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        page_updates(counter("enlight_time_tsc_page_updates_total",
                             "reference TSC pages written (enable, re-enable, re-map or restore of HV_X64_MSR_REFERENCE_TSC)")) {
    // The page needs gpa_map and reference_tsc (ABI 1.1): with a 1.0 core
    // there is no way to write it atomically, and a page the guest enabled
    // but we never fill would leave it reading a stale or zero page.
    if (!host_has_1_1())
      throw enlight::PluginError("hv-time needs plugin ABI 1.1 host services (reference_tsc, gpa_map); "
                                 "this enlight core offers 1.0");
    // QEMU's hv-time sets exactly these two privilege bits
    // (kvm_hyperv_properties[HYPERV_FEAT_TIME]); no EDX feature bit.
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX,
                HV_ACCESS_PARTITION_REFERENCE_COUNTER | HV_ACCESS_PARTITION_REFERENCE_TSC});
  }

  // Fills the reference TSC page at `gpa` and returns true, or returns false
  // and writes nothing when the page is not entirely in guest RAM.
  //
  // vCPUs read the page without exits, at any moment, with the TLFS reader
  // loop, so the update is a sequence lock (TLFS "Partition Reference TSC
  // Mechanism"; KVM kvm_hv_setup_tsc_page()):
  //   1. TscSequence = 0: a reader that starts now falls back to the MSR;
  //   2. TscScale and TscOffset;
  //   3. TscSequence = next value, never 0 or 0xFFFFFFFF.
  // The stores are atomic_ref stores; each one after the first is a release
  // store, so no earlier store of this update can be reordered after it: the
  // 0 is visible before the parameters, and the parameters before the new
  // sequence. On x86 they compile to plain MOVs (TSO keeps stores in order);
  // the release is what stops the compiler from reordering them.
  //
  // The next sequence is derived from what the page holds now, as KVM does,
  // so it survives save/restore of guest RAM without any plugin state, and a
  // reader in flight across a re-enable sees it change.
  //
  // Two vCPUs updating the same page at once (a guest racing itself) both
  // write the same scale and offset, because the core's parameters are fixed
  // for the VM's life; the sequence ends at one of their values, both valid.
  bool publish_page(uint64_t gpa, uint32_t vcpu) noexcept {
    void* mapped = map_guest(gpa, HV_PAGE_SIZE);
    if (mapped == nullptr) return false;
    auto* page = static_cast<uint8_t*>(mapped);
    // Guest RAM is page-aligned host memory and gpa is page-aligned, so the
    // fields are naturally aligned as atomic_ref requires.
    std::atomic_ref<uint32_t> sequence(*reinterpret_cast<uint32_t*>(page + HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET));
    std::atomic_ref<uint64_t> scale_field(*reinterpret_cast<uint64_t*>(page + HV_REFERENCE_TSC_PAGE_SCALE_OFFSET));
    std::atomic_ref<uint64_t> offset_field(*reinterpret_cast<uint64_t*>(page + HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET));

    const uint32_t previous = sequence.load(std::memory_order_relaxed);
    sequence.store(HV_REFERENCE_TSC_SEQUENCE_INVALID, std::memory_order_relaxed);
    page_updates.add(vcpu);

    uint64_t scale = 0;
    int64_t offset = 0;
    // The TSC cannot serve as the reference (slower than 10 MHz): the page
    // stays invalid and the guest reads the MSR, as the TLFS prescribes for
    // sequence 0 (KVM leaves it at 0 the same way when its clock is not
    // TSC-stable). Scale and offset are left as they were.
    if (!reference_tsc(scale, offset)) return true;

    scale_field.store(scale, std::memory_order_release);
    offset_field.store(static_cast<uint64_t>(offset), std::memory_order_release);
    sequence.store(next_sequence(previous), std::memory_order_release);
    return true;
  }

  enlight::Counter page_updates;
  // HV_X64_MSR_REFERENCE_TSC, partition-wide (TLFS: "partition-wide virtual
  // reference TSC page"), 0 at partition creation. Written rarely, by any
  // vCPU; an atomic keeps the exit path lock-free. Concurrent writers get
  // last-writer-wins, all a guest racing itself can expect.
  std::atomic<uint64_t> reference_tsc_msr{0};

  // Saved state: HV_X64_MSR_REFERENCE_TSC. Reference time itself is the
  // core's (it sets the restored time before plugins load), and the page
  // is guest RAM, restored with it. The load is the MSR write: every value
  // is one a guest may write (RsvdP stored, a page outside RAM accepted and
  // never written), and an enabled page is republished with this host's
  // scale and the core's moved offset, its sequence continuing from the
  // restored page, so a reader in flight across the restore retries.
  void save(enlight::StateWriter& w) const { w.put(reference_tsc_msr); }
  void load(enlight::StateReader& r) {
    const uint64_t value = r.get<uint64_t>();
    if (!r.complete()) return;
    reference_tsc_msr.store(value, std::memory_order_relaxed);
    if (value & HV_X64_MSR_REFERENCE_TSC_ENABLE) publish_page(value & HV_X64_MSR_REFERENCE_TSC_PAGE_MASK, 0);
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

// TLFS "Partition Reference Counter MSR": 100 ns units since the partition
// was created, the same on every vCPU. The core's reference time is both.
enlight_access_result read_time_ref_count(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vm().reference_time();
  return ENLIGHT_ACCESS_OK;
}

// TLFS: "This value cannot be modified by a virtual processor. Any attempt
// to write to it results in a #GP fault." The TLFS has no host side; a host
// write is accepted and ignored, as KVM does ("read-only, but still ignore
// it if host-initiated"), so a restore that replays every MSR succeeds.
// Reference time is the core's, derived from the guest TSC so that the page
// and the MSR agree: an offset kept here would break that agreement.
enlight_access_result write_time_ref_count(Vcpu&, uint32_t, uint64_t, enlight_origin origin) {
  return origin == ENLIGHT_ORIGIN_HOST ? ENLIGHT_ACCESS_OK : ENLIGHT_ACCESS_GP;
}

enlight_access_result read_reference_tsc(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vm().reference_tsc_msr.load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

// TLFS "Reference Time Stamp Counter (TSC) Page MSR":
//  - The whole value is stored and read back: bits 11:1 are RsvdP ("value
//    should be preserved"), and KVM stores them as written. No bit makes a
//    write #GP (KVM never fails it either).
//  - Enable set: the page at bits 63:12 is filled (publish_page).
//  - "If the specified base address is beyond the end of the partition's GPA
//    space, the reference TSC page will not be accessible to the guest": the
//    write is accepted and stored, nothing is written anywhere (KVM: status
//    BROKEN, no fault). A page only partly inside RAM counts as outside.
//  - Enable clear: the page is left as it is. The TLFS is silent; KVM leaves
//    it, and here it is ordinary guest RAM the guest owns again (not an
//    overlay that disappears), so writing to it after the guest let go of it
//    could corrupt whatever the guest put there since. The same holds for the
//    old page when the guest moves the page to another GPA.
//  - Host writes (restore) do exactly what guest writes do; the page's
//    sequence continues from the restored RAM.
enlight_access_result write_reference_tsc(Vcpu& v, uint32_t, uint64_t value, enlight_origin) {
  Vm& vm = v.vm();
  vm.reference_tsc_msr.store(value, std::memory_order_relaxed);
  if (value & HV_X64_MSR_REFERENCE_TSC_ENABLE)
    vm.publish_page(value & HV_X64_MSR_REFERENCE_TSC_PAGE_MASK, v.index());
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{
    enlight::msr<read_time_ref_count, write_time_ref_count>(HV_X64_MSR_TIME_REF_COUNT),
    enlight::msr<read_reference_tsc, write_reference_tsc>(HV_X64_MSR_REFERENCE_TSC),
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
