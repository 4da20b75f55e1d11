// A local APIC model for one vCPU, through its x2APIC MSR interface: the
// interrupt controller of the backends that have no in-kernel APIC (emu,
// direct). A device of the machine like the others here: it knows no
// backend, no bus and no peers (an IPI is handed back to the caller to
// route), and reads time only as the `now_ns` each call is given.
// IRR/ISR/TPR priority rules as in the SDM (vol. 3, 11.8): a vector is
// deliverable when its priority class (vector >> 4) is above both the TPR's
// class and the highest in-service class. Other vCPUs (IPIs) and host
// services (inject) touch it concurrently, hence the small mutex; the bus's
// exit path never takes it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace enlight::machine {

// An IPI the ICR asked for: the backend routes it (the APIC knows no peers).
struct IpiRequest {
  enum class Dest : uint8_t { Physical, Self, All, AllButSelf } dest = Dest::Physical;
  uint32_t target = 0;  // for Physical
  uint8_t vector = 0;
  // Whether vCPU `vcpu` receives this IPI sent by vCPU `from`.
  bool reaches(uint32_t vcpu, uint32_t from) const noexcept {
    switch (dest) {
      case Dest::Physical: return vcpu == target;
      case Dest::Self: return vcpu == from;
      case Dest::All: return true;
      case Dest::AllButSelf: return vcpu != from;
    }
    return false;
  }
};

class Lapic {
 public:
  Lapic(uint32_t id, uint64_t apic_hz) : id_(id), apic_hz_(apic_hz) {}

  static bool is_apic_msr(uint32_t index) noexcept { return index == kApicBase || (index >= 0x800 && index <= 0x8FF); }

  // rdmsr/wrmsr from the guest; false means #GP. A write to the ICR fills
  // `ipi` for the caller to route; an EOI sets `eoi_vector` to the vector
  // it retired (-1 otherwise), for the caller's EOI notifications.
  bool read(uint32_t index, uint64_t& value, uint64_t now_ns);
  bool write(uint32_t index, uint64_t value, uint64_t now_ns, std::optional<IpiRequest>& ipi, int& eoi_vector);

  // PV EOI (Hyper-V VP assist page, APIC assist; KVM's pv_eoi rules):
  // `word` is the host address of the guest's 32-bit assist word, nullptr
  // turns it off. On the vCPU's own thread only.
  void set_pv_eoi(uint32_t* word);
  // Call on the vCPU's thread whenever the guest is not running, before
  // delivering: if the guest cleared the assist bit instead of writing EOI,
  // retires the vector now and returns it; if a new vector is pending, takes
  // the permission back (the guest will EOI through the MSR). -1: nothing
  // retired.
  int sync_pv_eoi();

  // Sets a fixed vector pending; vectors 0-15 are illegal and dropped.
  // auto_eoi: retired on acceptance, never in service (SynIC AutoEOI).
  bool set_irr(uint8_t vector, bool auto_eoi = false);
  // The vector to deliver now, if any (IF is the caller's business).
  std::optional<uint8_t> deliverable();
  // Moves the vector from IRR to ISR: the CPU has taken it.
  void accept(uint8_t vector);
  // Fires the timer if its deadline has passed; true when it set a vector.
  bool poll_timer(uint64_t now_ns);
  // ns until the timer's deadline, or nullopt when it is not armed.
  std::optional<uint64_t> timer_deadline();
  bool in_service(uint8_t vector);

  // Snapshots. revoke_pv_eoi takes back an outstanding PV EOI grant (the
  // guest then EOIs through the MSR, as after a new vector arrives) so a
  // snapshot never holds one; returns the vector the guest had already
  // retired through the word, or -1. save/load: the registers, IRR, ISR
  // and the timer (as time left), little-endian; load refuses a state the
  // guest could not have made (reserved bits, vectors below 16, a timer
  // longer than its count allows) with `why`, leaving this APIC unchanged.
  int revoke_pv_eoi();
  std::vector<uint8_t> save(uint64_t now_ns);
  bool load(const uint8_t* data, size_t size, uint64_t now_ns, std::string& why);

  static constexpr uint32_t kApicBase = 0x1B;

 private:
  static int highest(const uint32_t (&bits)[8]) noexcept;
  static bool test(const uint32_t (&bits)[8], uint8_t v) noexcept { return (bits[v >> 5] >> (v & 31)) & 1u; }
  static void set(uint32_t (&bits)[8], uint8_t v) noexcept { bits[v >> 5] |= 1u << (v & 31); }
  static void clear(uint32_t (&bits)[8], uint8_t v) noexcept { bits[v >> 5] &= ~(1u << (v & 31)); }
  uint64_t ns_per_count() const noexcept;
  uint32_t current_count(uint64_t now_ns) const noexcept;
  void arm(uint64_t now_ns);

  std::mutex mutex_;
  uint32_t id_;
  uint64_t apic_hz_;
  // IA32_APIC_BASE: BSP for vCPU 0, enabled, x2APIC mode, default base.
  uint64_t apic_base_ = 0xFEE00000ull | (1ull << 11) | (1ull << 10);
  uint32_t irr_[8] = {}, isr_[8] = {};
  uint32_t auto_eoi_[8] = {};        // pending vectors that retire on acceptance
  uint32_t tpr_ = 0;
  uint32_t svr_ = 0xFF;              // software-disabled at reset
  uint32_t lvt_timer_ = 1u << 16;    // masked at reset
  uint32_t initial_count_ = 0;
  uint32_t divide_ = 0;              // divide configuration register
  uint64_t timer_start_ns_ = 0;
  uint64_t deadline_ns_ = 0;         // 0: not armed
  uint32_t* pv_word_ = nullptr;      // the guest's APIC assist word
  int pv_vector_ = -1;               // in service with the assist bit set

  int eoi_locked();
  static bool empty(const uint32_t (&bits)[8]) noexcept;
};

}  // namespace enlight::machine
