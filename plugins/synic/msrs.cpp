// hv-synic: the per-VP SynIC MSRs (TLFS "SynIC MSRs"). Every handler runs on
// the vCPU's own thread; producers on other threads only read the values.
#include "synic.hpp"

namespace enlight_synic {

namespace {

// TLFS RsvdP: "value must be preserved". A guest that preserves them writes
// back what it read, so a write changing them is a guest bug; it gets #GP,
// the choice the brief asked for on SINTs, applied to every RsvdP field of
// the plugin so there is one rule (KVM stores such bits as written). Bits
// the host restored (a KVM state may carry them) stay writable as they
// are, since the comparison is with the current value.
bool rsvdp_changed(uint64_t current, uint64_t value, uint64_t rsvdp) noexcept {
  return ((current ^ value) & rsvdp) != 0;
}

}  // namespace

enlight_access_result read_msr(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  VpState& s = v.state();
  switch (index) {
    case HV_X64_MSR_SCONTROL: value = s.scontrol.load(std::memory_order_relaxed); return ENLIGHT_ACCESS_OK;
    case HV_X64_MSR_SVERSION: value = HV_SYNIC_VERSION_1; return ENLIGHT_ACCESS_OK;
    case HV_X64_MSR_SIEFP: value = s.siefp.load(std::memory_order_relaxed); return ENLIGHT_ACCESS_OK;
    case HV_X64_MSR_SIMP: value = s.simp.load(std::memory_order_relaxed); return ENLIGHT_ACCESS_OK;
    // TLFS EOM Register: "Reads from the EOM register always returns zeros."
    case HV_X64_MSR_EOM: value = 0; return ENLIGHT_ACCESS_OK;
    default: return ENLIGHT_ACCESS_GP;  // unreachable: the claim is SCONTROL..EOM
  }
}

enlight_access_result write_msr(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin) {
  VpState& s = v.state();
  Vm& vm = v.vm();
  const bool guest = origin == ENLIGHT_ORIGIN_GUEST;
  switch (index) {
    case HV_X64_MSR_SCONTROL:
      if (guest && rsvdp_changed(s.scontrol.load(std::memory_order_relaxed), value, kScontrolRsvdP))
        return ENLIGHT_ACCESS_GP;
      // Release: a producer that sees Enable also sees the pages the guest
      // programmed before it.
      s.scontrol.store(value, std::memory_order_release);
      return ENLIGHT_ACCESS_OK;
    case HV_X64_MSR_SVERSION:
      // TLFS: read-only, a write is #GP. A host restore may write it back;
      // the version is a property of this implementation, not state, so the
      // value is accepted and ignored (choice; KVM stores it).
      return guest ? ENLIGHT_ACCESS_GP : ENLIGHT_ACCESS_OK;
    case HV_X64_MSR_SIEFP:
    case HV_X64_MSR_SIMP: {
      std::atomic<uint64_t>& reg = index == HV_X64_MSR_SIMP ? s.simp : s.siefp;
      if (guest && rsvdp_changed(reg.load(std::memory_order_relaxed), value, kPageRsvdP)) return ENLIGHT_ACCESS_GP;
      // No zeroing on enable: the TLFS clears the pages only at VP creation
      // and reset, and KVM with KVM_CAP_HYPERV_SYNIC2 (what QEMU enables)
      // does not clear them either (dont_zero_synic_pages). A base outside
      // guest RAM is accepted: TLFS "the page will not be accessible to the
      // guest"; delivery then answers UNAVAILABLE and never writes.
      reg.store(value, std::memory_order_release);
      return ENLIGHT_ACCESS_OK;
    }
    case HV_X64_MSR_EOM:
      // TLFS: a write-only trigger to retry queued messages. Any value is
      // accepted, as KVM does (the TLFS marks 63:0 RsvdZ, but a #GP on the
      // guest's message path would only hurt it). KVM notifies every SINT;
      // so do we: a producer whose message found the page disabled retries
      // here too. A host write (state restore) triggers nothing.
      if (!guest) return ENLIGHT_ACCESS_OK;
      vm.eoms.add(v.index());
      for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) vm.slot_freed(v.index(), i);
      return ENLIGHT_ACCESS_OK;
    default:
      return ENLIGHT_ACCESS_GP;
  }
}

enlight_access_result read_sint(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  value = v.state().sint[index - HV_X64_MSR_SINT0].load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_sint(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin) {
  std::atomic<uint64_t>& reg = v.state().sint[index - HV_X64_MSR_SINT0];
  const uint64_t old = reg.load(std::memory_order_relaxed);
  if (origin == ENLIGHT_ORIGIN_GUEST) {
    if (rsvdp_changed(old, value, kSintRsvdP)) return ENLIGHT_ACCESS_GP;
    // TLFS: vectors 0-15 are invalid (#GP). KVM (synic_set_sint) lets a
    // masked SINT hold one, because nested Hyper-V writes the reset value
    // 0x10000 at boot; we follow KVM. The host may write anything (KVM).
    if (!sint_masked(value) && sint_vector(value) < HV_SYNIC_FIRST_VALID_VECTOR) return ENLIGHT_ACCESS_GP;
  }
  reg.store(value, std::memory_order_release);
  v.vm().update_eoi_watch(v.index(), sint_vector(old));
  v.vm().update_eoi_watch(v.index(), sint_vector(value));
  return ENLIGHT_ACCESS_OK;
}

}  // namespace enlight_synic
