// The register rules of the synthetic timers (TLFS "Timers", section
// "Synthetic Timers"), as pure functions of register values and reference
// times. Kept apart from the plugin glue so each rule is one small function
// with its source, and so the arithmetic can be tested without a VM.
//
// Times are partition reference time, 100 ns units (TLFS "Reference
// Counter"); a timer's COUNT is an absolute time (one-shot) or a period
// (periodic), in the same unit.
#pragma once

#include <enlight/tlfs.h>

#include <cstdint>
#include <limits>

namespace enlight::stimer {

// Four timers per VP (TLFS "Synthetic Timers"), as CONFIG/COUNT MSR pairs:
// CONFIGn = STIMER0_CONFIG + 2n, COUNTn = CONFIGn + 1.
inline constexpr uint32_t kTimerCount = HV_SYNIC_STIMER_COUNT;
inline constexpr uint32_t kFirstMsr = HV_X64_MSR_STIMER0_CONFIG;
inline constexpr uint32_t kLastMsr = HV_X64_MSR_STIMER3_COUNT;
inline constexpr uint32_t kMsrStride = HV_X64_MSR_STIMER1_CONFIG - HV_X64_MSR_STIMER0_CONFIG;
inline constexpr uint32_t kCountOffset = HV_X64_MSR_STIMER0_COUNT - HV_X64_MSR_STIMER0_CONFIG;
static_assert(kLastMsr - kFirstMsr + 1 == kTimerCount * kMsrStride, "four CONFIG/COUNT pairs, no gap");
static_assert(HV_X64_MSR_STIMER3_CONFIG == kFirstMsr + 3 * kMsrStride, "CONFIGn = STIMER0_CONFIG + 2n");

// Never: a saturated deadline. Reference time starts at 0 with the
// partition and counts 10^7 per second, so it reaches 2^64 - 1 after about
// 58 000 years; a timer whose next expiry would lie beyond that never fires.
inline constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

// ---- CONFIG fields ---------------------------------------------------------

constexpr bool enabled(uint64_t config) { return (config & HV_STIMER_CONFIG_ENABLE) != 0; }
constexpr bool periodic(uint64_t config) { return (config & HV_STIMER_CONFIG_PERIODIC) != 0; }
constexpr bool auto_enable(uint64_t config) { return (config & HV_STIMER_CONFIG_AUTO_ENABLE) != 0; }
constexpr bool direct_mode(uint64_t config) { return (config & HV_STIMER_CONFIG_DIRECT_MODE) != 0; }
constexpr uint8_t apic_vector(uint64_t config) {
  return static_cast<uint8_t>((config & HV_STIMER_CONFIG_APIC_VECTOR_MASK) >> HV_STIMER_CONFIG_APIC_VECTOR_SHIFT);
}
constexpr uint32_t sintx(uint64_t config) {
  return static_cast<uint32_t>((config & HV_STIMER_CONFIG_SINTX_MASK) >> HV_STIMER_CONFIG_SINTX_SHIFT);
}

// Why a CONFIG write is refused with #GP; Ok when it is accepted.
enum class ConfigCheck {
  Ok,
  // RsvdZ bits 15:13 or 63:20 set. The TLFS marks them "value should be set
  // to zero"; we refuse them so a guest can never park state there that a
  // later TLFS revision gives a meaning (KVM stores them silently).
  Reserved,
  // DirectMode without hv-stimer-direct: the TLFS makes direct mode depend
  // on 0x40000003.EDX[19] (HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE).
  // KVM refuses it only under hv-enforce-cpuid; we always do, so a guest
  // never gets a mode it was not offered.
  DirectUnavailable,
  // DirectMode with ApicVector < 16: vectors 0-15 are not deliverable
  // interrupts (Intel SDM, "Valid Interrupt Vectors"), and the TLFS's own
  // rule for SINT vectors (16-255, TLFS "SINTx Registers") says the same.
  // KVM accepts the write and then can never deliver it; a #GP tells the
  // guest at once.
  DirectVector,
};

constexpr ConfigCheck check_config(uint64_t config, bool direct_available) {
  if ((config & HV_STIMER_CONFIG_RSVDZ_MASK) != 0) return ConfigCheck::Reserved;
  if (direct_mode(config) && !direct_available) return ConfigCheck::DirectUnavailable;
  if (direct_mode(config) && apic_vector(config) < HV_SYNIC_FIRST_VALID_VECTOR) return ConfigCheck::DirectVector;
  return ConfigCheck::Ok;
}

// TLFS "Synthetic Timer Configuration Register": "It is not permitted to
// set the SINTx field to zero for an enabled timer (that is not in direct
// mode). If attempted, the timer will be marked disabled (that is, bit 0
// cleared) immediately." Applied to every value that would leave such a
// timer enabled: a CONFIG write, and a COUNT write that AutoEnable turns on.
constexpr uint64_t enforce_sint(uint64_t config) {
  if (enabled(config) && !direct_mode(config) && sintx(config) == 0) return config & ~HV_STIMER_CONFIG_ENABLE;
  return config;
}

// TLFS "Synthetic Timer Count Register" and the AutoEnable bit: a guest
// writing COUNT = 0 stops the timer whatever AutoEnable says; a non-zero
// COUNT sets Enable when AutoEnable is set.
constexpr uint64_t config_after_count_write(uint64_t config, uint64_t count) {
  if (count == 0) return config & ~HV_STIMER_CONFIG_ENABLE;
  if (auto_enable(config)) return enforce_sint(config | HV_STIMER_CONFIG_ENABLE);
  return config;
}

// ---- Expiration times --------------------------------------------------------

constexpr uint64_t add_saturated(uint64_t a, uint64_t b) { return a > kNever - b ? kNever : a + b; }

// The first expiration of a timer started at `now`. One-shot: COUNT is the
// absolute expiration time, and one already in the past expires at once
// ("If a one-shot is enabled and the specified count is in the past, it
// will expire immediately"). Periodic: "The first period begins when the
// synthetic timer is enabled", so now + COUNT.
constexpr uint64_t first_expiration(uint64_t config, uint64_t count, uint64_t now) {
  return periodic(config) ? add_saturated(now, count) : count;
}

// The next expiration of a periodic timer whose expiration `expired` has
// just been signalled at `now` (>= expired). KVM's stimer_start(): the next
// point of the timer's own grid (expired + k * period) strictly after now.
// When the signal came late by one or more whole periods, the periods in
// between are skipped rather than signalled back to back (the TLFS allows
// either, "some timer expiration signals may be skipped completely"); the
// phase of the grid is kept, so a late tick does not shift later ones.
constexpr uint64_t next_periodic_expiration(uint64_t expired, uint64_t period, uint64_t now) {
  if (period == 0) return kNever;     // a stopped timer (COUNT 0) never runs; no division by zero
  if (now < expired) return expired;  // not due yet: keep it (never the case after a delivery)
  const uint64_t since = now - expired;
  return add_saturated(now, period - since % period);
}

// How many grid points a periodic timer skipped between the expiration it
// signalled and the next one it arms: those in (expired, now].
constexpr uint64_t skipped_periods(uint64_t expired, uint64_t period, uint64_t now) {
  return now <= expired || period == 0 ? 0 : (now - expired) / period;
}

}  // namespace enlight::stimer
