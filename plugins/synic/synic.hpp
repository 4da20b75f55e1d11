// hv-synic: the synthetic interrupt controller (TLFS "Inter-Partition
// Communication": SynIC MSRs, SIM/SIEF pages, HvCallPostMessage,
// HvCallSignalEvent) and the "synic" service other plugins deliver through
// (sdk/include/enlight/services/synic.h).
//
// Shared by the plugin's translation units: state (synic.cpp), MSRs
// (msrs.cpp), message slots and event flags (delivery.cpp), hypercalls and
// the echo test connection (hypercalls.cpp). Everything lives in a named
// namespace so that a static build, which links every plugin into one
// binary, sees no clash with another plugin's names.
#pragma once

#include <enlight/plugin.hpp>
#include <enlight/services/synic.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace enlight_synic {

// Reset values. SCONTROL: the TLFS says 0, KVM (kvm_hv_activate_synic) sets
// Enable because genuine Hyper-V was observed to read 1 on first access; we
// follow KVM, as the guests QEMU runs see it. SINTx: masked, vector 0 (TLFS
// SINTx Registers). SIEFP/SIMP: 0, pages disabled (TLFS).
constexpr uint64_t kScontrolReset = HV_SYNIC_SCONTROL_ENABLE;

// RsvdP fields (TLFS: "value must be preserved"). The polling bit is
// reserved too: it exists only with 0x40000003.EDX[17], which neither KVM
// nor QEMU advertise, so neither do we.
constexpr uint64_t kScontrolRsvdP = ~HV_SYNIC_SCONTROL_ENABLE;
constexpr uint64_t kPageRsvdP = HV_SYNIC_PAGE_RSVDP_MASK;
constexpr uint64_t kSintRsvdP = HV_SYNIC_SINT_RSVDP_MASK | HV_SYNIC_SINT_POLLING;

// A posted message that could not land yet because its slot was full: the
// echo connection keeps one per vCPU (README "Echo connection").
struct HeldMessage {
  bool full = false;
  uint32_t size = 0;
  alignas(8) uint8_t bytes[HV_MESSAGE_SIZE] = {};
};

// Per-vCPU SynIC state. The registers are written only on the vCPU's own
// thread (MSR handlers) but read by producers on any thread (service calls),
// hence atomics; relaxed/acquire loads cost nothing on x86.
struct VpState {
  std::atomic<uint64_t> scontrol{kScontrolReset};
  std::atomic<uint64_t> siefp{0};
  std::atomic<uint64_t> simp{0};
  std::array<std::atomic<uint64_t>, HV_SYNIC_SINT_COUNT> sint;
  // Serializes producers posting to one slot (README "Concurrency"): a
  // test-and-set flag, uncontended unless two threads post to the same
  // (vCPU, SINT) at once. Never held across anything that can block.
  std::array<std::atomic_flag, HV_SYNIC_SINT_COUNT> slot_lock;
  // A producer was answered BUSY since the last slot-free notification of
  // this slot: the next message written there carries MessagePending, so
  // the guest writes EOM after consuming it even if it read the flags
  // after we overwrote them (see deliver_message()).
  std::array<std::atomic<bool>, HV_SYNIC_SINT_COUNT> waiting;
  // Echo connection: touched only on this vCPU's thread (its hypercalls,
  // its EOM writes and EOIs), so no lock.
  HeldMessage echo_held;

  VpState() {
    for (auto& s : sint) s.store(HV_SYNIC_SINT_RESET_VALUE, std::memory_order_relaxed);
    for (auto& f : slot_lock) f.clear(std::memory_order_relaxed);
    for (auto& w : waiting) w.store(false, std::memory_order_relaxed);
  }
};

struct SlotFreeListener {
  enlight_synic_slot_free_fn fn;
  void* arg;
};
struct MessagePort {
  uint32_t connection_id;
  enlight_synic_message_port_fn fn;
  void* arg;
};
struct EventPort {
  uint32_t connection_id;
  enlight_synic_event_port_fn fn;
  void* arg;
};

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p);

  VpState& vp(uint32_t vcpu) const noexcept { return vps[vcpu]; }

  // Delivery (delivery.cpp). Any thread; no lock, no allocation.
  enlight_synic_result post_message(uint32_t vcpu, uint32_t sint, const void* message, uint32_t size) noexcept;
  enlight_synic_result signal_event(uint32_t vcpu, uint32_t sint, uint32_t flag) noexcept;
  // The SINT fired, unless masked; `vcpu` must be valid.
  void assert_sint(uint32_t vcpu, uint64_t sint_value) const noexcept;
  // The guest may have freed slot `sint` of `vcpu`: runs on that vCPU's
  // thread (EOM write, EOI of the SINT's vector).
  void slot_freed(uint32_t vcpu, uint32_t sint) noexcept;
  // EOI watches for `vector` on `vcpu` after a SINT changed.
  void update_eoi_watch(uint32_t vcpu, uint64_t vector) const noexcept;

  // Echo test connection (hypercalls.cpp).
  uint16_t echo_message(uint32_t vcpu, uint32_t message_type, const void* payload, uint32_t payload_size) noexcept;
  uint16_t echo_event(uint32_t vcpu, uint16_t flag_number) noexcept;
  void echo_redeliver(uint32_t vcpu) noexcept;

  const MessagePort* message_port(uint32_t connection_id) const noexcept;
  const EventPort* event_port(uint32_t connection_id) const noexcept;

  std::unique_ptr<VpState[]> vps;
  // Filled during vm_create (ours and our consumers'), read-only once the
  // first vCPU exists (`frozen`), so the exit path reads them without a lock.
  std::vector<SlotFreeListener> listeners;
  std::vector<MessagePort> message_ports;
  std::vector<EventPort> event_ports;
  bool frozen = false;

  uint32_t echo_connection_id = 0;  // 0: no echo connection
  uint32_t echo_sint = 0;

  enlight::Counter messages_posted, slots_busy, events_signalled, eoms;
  enlight_synic_service iface{};
};

struct Vcpu : enlight::VcpuBase<Vm> {
  Vcpu(Vm& vm, uint32_t index) : VcpuBase(vm, index) { vm.frozen = true; }
  VpState& state() const noexcept { return vm().vp(index()); }

  // Saved state of the VP (msrs.cpp): the registers, the per-slot
  // "a producer waits" flags and the echo connection's held message. The
  // SIM and SIEF pages are guest RAM, restored with it (messages in their
  // slots, MessagePending flags, event flags).
  void save(enlight::StateWriter& w) const;
  void load(enlight::StateReader& r);
};

// Bits of a SINT register.
inline bool sint_masked(uint64_t v) noexcept { return (v & HV_SYNIC_SINT_MASKED) != 0; }
inline bool sint_auto_eoi(uint64_t v) noexcept { return (v & HV_SYNIC_SINT_AUTO_EOI) != 0; }
inline uint8_t sint_vector(uint64_t v) noexcept {
  return static_cast<uint8_t>((v & HV_SYNIC_SINT_VECTOR_MASK) >> HV_SYNIC_SINT_VECTOR_SHIFT);
}

// MSR handlers (msrs.cpp).
enlight_access_result read_msr(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin origin);
enlight_access_result write_msr(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin);
enlight_access_result read_sint(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin origin);
enlight_access_result write_sint(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin);

// Hypercall handlers (hypercalls.cpp).
enlight_hypercall_result post_message_call(Vcpu& v, const enlight_hypercall& call);
enlight_hypercall_result signal_event_call(Vcpu& v, const enlight_hypercall& call);

// The service table (delivery.cpp).
void fill_service(Vm& vm) noexcept;

}  // namespace enlight_synic
