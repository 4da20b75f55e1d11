// An example vendor enlightenment: the whole plugin a vendor writes against
// the installed SDK (docs/sdk.md). The guest finds it by its CPUID
// signature, sends telemetry records with a fast hypercall and reads how
// many the host took from an MSR.
#include "vendor_telemetry.h"

#include <enlight/plugin.hpp>

#include <array>
#include <atomic>
#include <cstring>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p), taken(counter("enlight_vendor_telemetry_records_total", "telemetry records the guest sent")) {
    // The leaf and registers are the manifest's claims: one it does not
    // claim would not compile.
    cpuid_field({VENDOR_TELEMETRY_CPUID_LEAF, ENLIGHT_EAX}, VENDOR_TELEMETRY_INTERFACE);
    cpuid_field({VENDOR_TELEMETRY_CPUID_LEAF, ENLIGHT_EBX}, VENDOR_TELEMETRY_SIGNATURE_EBX);
    cpuid_field({VENDOR_TELEMETRY_CPUID_LEAF, ENLIGHT_ECX}, VENDOR_TELEMETRY_SIGNATURE_ECX);
    cpuid_field({VENDOR_TELEMETRY_CPUID_LEAF, ENLIGHT_EDX}, VENDOR_TELEMETRY_SIGNATURE_EDX);
  }
  std::atomic<uint64_t> records{0};
  const enlight::Counter taken;

  // Saved state (docs/sdk.md, "Saved state"): the count the guest reads.
  // Every value is one the guest could see (its calls add 1 each), so the
  // load checks only that the blob holds it; the counter metric restarts.
  void save(enlight::StateWriter& w) const { w.put(records); }
  void load(enlight::StateReader& r) {
    const uint64_t n = r.get<uint64_t>();
    if (r.complete()) records.store(n, std::memory_order_relaxed);
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

enlight_access_result read_records(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vm().records.load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_records(Vcpu& v, uint32_t, uint64_t value, enlight_origin) {
  if (value != 0) return ENLIGHT_ACCESS_GP;  // only a reset
  v.vm().records.store(0, std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

enlight_hypercall_result record(Vcpu& v, const enlight_hypercall& call) {
  uint64_t value = 0;
  std::memcpy(&value, call.input, sizeof value);  // the core checked input_size against the claim
  if (value == 0) return {HV_STATUS_INVALID_PARAMETER, 0};
  v.vm().records.fetch_add(1, std::memory_order_relaxed);
  v.vm().taken.add(v.index());
  return {HV_STATUS_SUCCESS, 0};
}

constexpr std::array kMsrs{enlight::msr<read_records, write_records>(VENDOR_TELEMETRY_MSR_RECORDS)};
constexpr std::array kHypercalls{
    enlight::hypercall<record>(VENDOR_TELEMETRY_CALL_RECORD, ENLIGHT_HC_FAST, VENDOR_TELEMETRY_RECORD_SIZE)};

}  // namespace

// Name, version, claims and CPUID bits come from vendor-telemetry.yaml; the
// handler tables must match its claims or this line does not compile.
ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs, .hypercalls = kHypercalls})
