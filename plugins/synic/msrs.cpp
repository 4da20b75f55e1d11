// hv-synic: the per-VP SynIC MSRs (TLFS "SynIC MSRs"). Every handler runs on
// the vCPU's own thread; producers on other threads only read the values.
#include "synic.hpp"

#include <cstring>

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

// ---- Saved state -------------------------------------------------------

// Per VP: SCONTROL, SIEFP, SIMP, SINT0-15, the 16 `waiting` flags, then
// the echo connection's held message (a flag, and when set its size and
// bytes). SVERSION is a constant and EOM holds nothing.
void Vcpu::save(enlight::StateWriter& w) const {
  const VpState& s = state();
  w.put(s.scontrol);
  w.put(s.siefp);
  w.put(s.simp);
  w.put(s.sint);
  w.put(s.waiting);
  w.put(s.echo_held.full);
  if (s.echo_held.full) {
    w.put(s.echo_held.size);
    w.bytes(s.echo_held.bytes, s.echo_held.size);
  }
}

namespace {

constexpr const char* kSintNames[HV_SYNIC_SINT_COUNT] = {
    "HV_X64_MSR_SINT0",  "HV_X64_MSR_SINT1",  "HV_X64_MSR_SINT2",  "HV_X64_MSR_SINT3",
    "HV_X64_MSR_SINT4",  "HV_X64_MSR_SINT5",  "HV_X64_MSR_SINT6",  "HV_X64_MSR_SINT7",
    "HV_X64_MSR_SINT8",  "HV_X64_MSR_SINT9",  "HV_X64_MSR_SINT10", "HV_X64_MSR_SINT11",
    "HV_X64_MSR_SINT12", "HV_X64_MSR_SINT13", "HV_X64_MSR_SINT14", "HV_X64_MSR_SINT15"};

}  // namespace

// Every register is checked as a guest write of it from the reset state
// would be (RsvdP bits are 0 at reset, so a set one never came from a
// guest; an unmasked SINT needs a vector of 16 or more); the held echo
// message as echo_message() builds it. Nothing is applied unless all of it
// is accepted. Then what the MSR writes do besides storing: EOI watches
// for the SINTs' vectors. `waiting` and the held message are kept as they
// were, so a producer refused before the save hears the next EOM or EOI of
// the restored guest (whose slot still carries MessagePending) and the
// echo retries its message then: none is lost, none is delivered twice.
void Vcpu::load(enlight::StateReader& r) {
  uint64_t scontrol = 0, siefp = 0, simp = 0;
  std::array<uint64_t, HV_SYNIC_SINT_COUNT> sint{};
  std::array<bool, HV_SYNIC_SINT_COUNT> waiting{};
  r.get(scontrol);
  r.get(siefp);
  r.get(simp);
  r.get(sint);
  r.get(waiting);
  HeldMessage held;
  r.get(held.full);
  if (held.full) {
    r.get(held.size);
    if (r.ok() && (held.size < HV_MESSAGE_HEADER_SIZE || held.size > HV_MESSAGE_SIZE))
      return r.refuse("the echo connection's held message size", held.size, "not 16 to 256 bytes");
    r.bytes(held.bytes, held.size);
  }
  if (!r.complete()) return;

  if ((scontrol & kScontrolRsvdP) != 0) return r.refuse("HV_X64_MSR_SCONTROL", scontrol, "reserved bits set");
  if ((siefp & kPageRsvdP) != 0) return r.refuse("HV_X64_MSR_SIEFP", siefp, "reserved bits set");
  if ((simp & kPageRsvdP) != 0) return r.refuse("HV_X64_MSR_SIMP", simp, "reserved bits set");
  for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) {
    if ((sint[i] & kSintRsvdP) != 0) return r.refuse(kSintNames[i], sint[i], "reserved bits set");
    if (!sint_masked(sint[i]) && sint_vector(sint[i]) < HV_SYNIC_FIRST_VALID_VECTOR)
      return r.refuse(kSintNames[i], sint[i], "unmasked with a vector below 16");
  }
  Vm& vm = this->vm();
  if (held.full) {
    uint32_t type = 0;
    uint64_t origin = 0;
    std::memcpy(&type, held.bytes + HV_MESSAGE_TYPE_OFFSET, sizeof type);
    std::memcpy(&origin, held.bytes + HV_MESSAGE_ORIGIN_OFFSET, sizeof origin);
    const uint32_t payload = held.bytes[HV_MESSAGE_PAYLOAD_SIZE_OFFSET];
    if (vm.echo_connection_id == 0)
      return r.refuse("the echo connection's held message", 1, "held, but this VM has no echo connection");
    if (type == HvMessageTypeNone || (type & HV_MESSAGE_TYPE_HYPERVISOR_MASK) != 0)
      return r.refuse("the echo connection's held message type", type, "not a type a guest may post");
    if (HV_MESSAGE_HEADER_SIZE + payload != held.size)
      return r.refuse("the echo connection's held message payload size", payload, "does not match its size");
    if (held.bytes[HV_MESSAGE_FLAGS_OFFSET] != 0 || held.bytes[HV_MESSAGE_FLAGS_OFFSET + 1] != 0 ||
        held.bytes[HV_MESSAGE_FLAGS_OFFSET + 2] != 0)
      return r.refuse("the echo connection's held message flags", held.bytes[HV_MESSAGE_FLAGS_OFFSET],
                      "flags and reserved bytes are 0 in an echo");
    if (origin != vm.echo_connection_id)
      return r.refuse("the echo connection's held message origin", origin, "not the echo connection's id");
  }

  VpState& s = state();
  std::array<uint64_t, HV_SYNIC_SINT_COUNT> old{};
  for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) old[i] = s.sint[i].load(std::memory_order_relaxed);
  s.siefp.store(siefp, std::memory_order_release);
  s.simp.store(simp, std::memory_order_release);
  for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) {
    s.sint[i].store(sint[i], std::memory_order_release);
    s.waiting[i].store(waiting[i], std::memory_order_relaxed);
  }
  s.scontrol.store(scontrol, std::memory_order_release);
  s.echo_held = held;
  for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) {
    vm.update_eoi_watch(index(), sint_vector(old[i]));
    vm.update_eoi_watch(index(), sint_vector(sint[i]));
  }
}

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
