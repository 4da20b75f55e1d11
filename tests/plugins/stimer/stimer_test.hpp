// Helpers shared by the stimer tests: a guest's view of its SynIC (message
// page, SINTs, EOM, EOI) on the direct backend, the manual clock in
// reference-time units, and the plugin's metrics.
#pragma once

#include "enlight_test.hpp"

#include <cstring>

namespace enlight::test::stimer {

// The QEMU flags hv-stimer needs (QEMU: hv-synic and hv-time; hv-synic
// needs hv-vpindex).
inline const std::string kFlags = "hv-vpindex,hv-synic,hv-time,hv-stimer";
inline const std::string kDirectFlags = kFlags + ",hv-stimer-direct";

// Guest layout: vCPU n's message page at kSimpBase + n pages. SINT kSint
// (vector kSintVector) is where the tests aim their timers; kOtherSint is a
// second source with its own vector.
constexpr uint64_t kSimpBase = 0x100000;
constexpr uint32_t kSint = 3, kOtherSint = 5;
constexpr uint8_t kSintVector = 0x50, kOtherVector = 0x60;
constexpr uint8_t kDirectVector = 0x40;

// 100 ns reference-time units, as the registers count them.
constexpr uint64_t kUnitsPerMs = HV_REFERENCE_TIME_UNITS_PER_SECOND / 1000;
constexpr uint64_t kNsPerUnit = 100;

// CONFIGn/COUNTn, spelled from the TLFS table rather than from the plugin.
constexpr uint32_t kStride = HV_X64_MSR_STIMER1_CONFIG - HV_X64_MSR_STIMER0_CONFIG;
constexpr uint32_t kStimerMsrCount = HV_X64_MSR_STIMER3_COUNT - HV_X64_MSR_STIMER0_CONFIG + 1;
inline uint32_t config_msr(uint32_t n) { return HV_X64_MSR_STIMER0_CONFIG + kStride * n; }
inline uint32_t count_msr(uint32_t n) { return HV_X64_MSR_STIMER0_COUNT + kStride * n; }

// CONFIG values.
inline uint64_t sintx(uint32_t sint) { return uint64_t{sint} << HV_STIMER_CONFIG_SINTX_SHIFT; }
inline uint64_t vector(uint8_t v) { return uint64_t{v} << HV_STIMER_CONFIG_APIC_VECTOR_SHIFT; }
inline uint64_t message_config(uint32_t sint = kSint, bool periodic = false) {
  return HV_STIMER_CONFIG_ENABLE | (periodic ? HV_STIMER_CONFIG_PERIODIC : 0) | sintx(sint);
}
inline uint64_t direct_config(uint8_t v = kDirectVector, bool periodic = false) {
  return HV_STIMER_CONFIG_ENABLE | (periodic ? HV_STIMER_CONFIG_PERIODIC : 0) | HV_STIMER_CONFIG_DIRECT_MODE | vector(v);
}

inline uint64_t simp_gpa(uint32_t vcpu) { return kSimpBase + uint64_t{vcpu} * HV_PAGE_SIZE; }
inline uint64_t slot_gpa(uint32_t vcpu, uint32_t sint) { return simp_gpa(vcpu) + uint64_t{sint} * HV_MESSAGE_SIZE; }

// What a guest driver does before it arms a timer: SynIC on, message page
// mapped, the timer's SINTs unmasked with their vectors.
inline void setup_synic(direct::DirectVm& d, uint32_t vcpu) {
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SCONTROL, HV_SYNIC_SCONTROL_ENABLE), Access::Ok);
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SIMP, simp_gpa(vcpu) | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SINT0 + kSint, kSintVector), Access::Ok);
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SINT0 + kOtherSint, kOtherVector), Access::Ok);
}

// One HV_MESSAGE slot as the guest reads it (TLFS datatypes/HV_MESSAGE,
// HV_TIMER_MESSAGE_PAYLOAD).
struct Slot {
  uint32_t type = 0;
  uint8_t payload_size = 0, flags = 0;
  uint64_t origin = 0;
  uint32_t timer_index = 0, reserved = 0;
  uint64_t expiration = 0, delivery = 0;
  bool empty() const { return type == HvMessageTypeNone; }
  bool pending_flag() const { return (flags & HV_MESSAGE_FLAG_PENDING) != 0; }
};

template <class T>
T field(direct::DirectVm& d, uint64_t gpa) {
  T v{};
  EXPECT_TRUE(d.memory().read(gpa, &v, sizeof v));
  return v;
}

inline Slot read_slot(direct::DirectVm& d, uint32_t vcpu, uint32_t sint = kSint) {
  const uint64_t at = slot_gpa(vcpu, sint);
  const uint64_t payload = at + HV_MESSAGE_PAYLOAD_OFFSET;
  Slot s;
  s.type = field<uint32_t>(d, at + HV_MESSAGE_TYPE_OFFSET);
  s.payload_size = field<uint8_t>(d, at + HV_MESSAGE_PAYLOAD_SIZE_OFFSET);
  s.flags = field<uint8_t>(d, at + HV_MESSAGE_FLAGS_OFFSET);
  s.origin = field<uint64_t>(d, at + HV_MESSAGE_ORIGIN_OFFSET);
  s.timer_index = field<uint32_t>(d, payload + HV_TIMER_MESSAGE_TIMER_INDEX_OFFSET);
  s.reserved = field<uint32_t>(d, payload + HV_TIMER_MESSAGE_TIMER_INDEX_OFFSET + sizeof(uint32_t));
  s.expiration = field<uint64_t>(d, payload + HV_TIMER_MESSAGE_EXPIRATION_TIME_OFFSET);
  s.delivery = field<uint64_t>(d, payload + HV_TIMER_MESSAGE_DELIVERY_TIME_OFFSET);
  return s;
}

// The guest's message handler: take the message, mark the slot free
// (MessageType = None) and, if MessagePending was set, write EOM (TLFS
// "SynIC Message Flags"). Returns what it took.
inline Slot consume(direct::DirectVm& d, uint32_t vcpu, uint32_t sint = kSint) {
  const Slot s = read_slot(d, vcpu, sint);
  const uint32_t none = HvMessageTypeNone;
  EXPECT_TRUE(d.memory().write(slot_gpa(vcpu, sint) + HV_MESSAGE_TYPE_OFFSET, &none, sizeof none));
  if (s.pending_flag()) {
    EXPECT_EQ(d.wrmsr(vcpu, HV_X64_MSR_EOM, 0), Access::Ok);
  }
  return s;
}

// The manual clock in reference-time units (the direct backend's reference
// time is ns / 100). Moving it runs the timers that became due.
inline void at(direct::DirectVm& d, uint64_t units) { d.set_time_ns(units * kNsPerUnit); }
inline uint64_t now(direct::DirectVm& d) { return d.time_ns() / kNsPerUnit; }

// Interrupts injected so far on `vcpu` with `vec`.
inline size_t injections(direct::DirectVm& d, uint32_t vcpu, uint8_t vec) {
  size_t n = 0;
  for (const auto& [v, x] : d.injected())
    if (v == vcpu && x == vec) ++n;
  return n;
}

inline int64_t metric(direct::DirectVm& d, const char* name) { return counter(d, name); }
constexpr const char* kMessages = "enlight_stimer_expirations_message_total";
constexpr const char* kDirects = "enlight_stimer_expirations_direct_total";
constexpr const char* kRedeliveries = "enlight_stimer_redeliveries_total";
constexpr const char* kLate = "enlight_stimer_late_total";
constexpr const char* kMissed = "enlight_stimer_missed_periods_total";
constexpr const char* kLateness = "enlight_stimer_lateness_seconds";

// A histogram the plugin registered, summed over vCPUs: one count per
// bucket (bounds, then +Inf) and the sum of observations in ns.
struct HistogramView {
  bool found = false;
  std::vector<uint64_t> bounds_ns, counts;
  uint64_t sum_ns = 0;
  uint64_t total() const {
    uint64_t t = 0;
    for (uint64_t c : counts) t += c;
    return t;
  }
};

inline HistogramView histogram(direct::DirectVm& d, const std::string& name) {
  const MetricsStorage& m = d.vm().metrics_storage();
  for (const auto& h : m.histograms) {
    if (h.name != name) continue;
    HistogramView view;
    view.found = true;
    view.bounds_ns = h.upper_bounds_ns;
    view.counts.assign(h.upper_bounds_ns.size() + 1, 0);
    for (uint32_t v = 0; v < d.vcpu_count(); ++v) {
      const uint64_t* row = m.histogram_cells.get() + static_cast<size_t>(v) * MetricsStorage::kMaxHistogramCells + h.first_cell;
      for (size_t b = 0; b < view.counts.size(); ++b) view.counts[b] += row[b];
      view.sum_ns += row[view.counts.size()];
    }
    return view;
  }
  return {};
}

}  // namespace enlight::test::stimer
