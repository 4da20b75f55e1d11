// A plugin whose C++ matches claims-demo.yaml (CASE 0, built as part of the
// test suite) and variants that each change one form of one fact without
// the other (CASE 1..n, compiled by ctest and expected to fail naming it).
#include <enlight/plugin.hpp>

#include <string_view>

#ifndef CASE
#define CASE 0
#endif

namespace {

namespace opt = enlight::this_plugin::options;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({0x40001000u, ENLIGHT_EAX, 0x3u});
    cpuid_field({0x40001000u, ENLIGHT_EBX, 0xFFFFu}, static_cast<uint32_t>(option(opt::depth)));
#if CASE == 3  // a CPUID bit the manifest does not claim
    cpuid_bits({0x40001000u, ENLIGHT_EAX, 0x4u});
#endif
#if CASE == 4  // a field wider than the claim
    cpuid_field({0x40001000u, ENLIGHT_EBX}, 0);
#endif
    fast = option(opt::fast_path);
    label = option(opt::label);
#if CASE == 7  // an option the manifest does not declare
    (void)option(opt::depht);
#endif
  }
  bool fast = false;
  std::string_view label;
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

enlight_access_result rd(Vcpu&, uint32_t, uint64_t& v, enlight_origin) {
  v = 0;
  return ENLIGHT_ACCESS_OK;
}
enlight_hypercall_result call(Vcpu&, const enlight_hypercall&) { return {HV_STATUS_SUCCESS, 0}; }
enlight_access_result in(Vcpu&, uint16_t, uint8_t, uint32_t& v) {
  v = 0;
  return ENLIGHT_ACCESS_OK;
}

// The manifest's 0x40001000-0x40001003 split in two handler ranges: the
// numbers covered are what must agree, not the way they are split.
constexpr std::array kMsrs{
    enlight::msr<rd, nullptr>(0x40001000u, 0x40001001u),
#if CASE == 1  // a range the manifest claims, not all handled
    enlight::msr<rd, nullptr>(0x40001002u, 0x40001002u),
#else
    enlight::msr<rd, nullptr>(0x40001002u, 0x40001003u),
#endif
#if CASE == 8  // a claim with neither handler (checked on the types, so it holds under UBSan too)
    enlight::msr<nullptr, nullptr>(0x40001010u),
#else
    enlight::msr<rd, nullptr>(0x40001010u),
#endif
#if CASE == 2  // a handler for an MSR the manifest does not claim
    enlight::msr<rd, nullptr>(0x40001011u),
#endif
};
#if CASE == 5  // a hypercall the manifest does not claim
constexpr std::array kHypercalls{enlight::hypercall<call>(0x01C0, ENLIGHT_HC_FAST, 8),
                                 enlight::hypercall<call>(0x01C1, ENLIGHT_HC_FAST, 8)};
#else
constexpr std::array kHypercalls{enlight::hypercall<call>(0x01C0, ENLIGHT_HC_FAST, 8)};
#endif
#if CASE == 6  // one claimed port without a handler
constexpr std::array kPorts{enlight::io<in, nullptr>(0x0510, 0x0510)};
#else
constexpr std::array kPorts{enlight::io<in, nullptr>(0x0510, 0x0511)};
#endif

// The descriptor's name, version and CPUID claims are the manifest's.
static_assert(std::string_view(enlight::this_plugin::name) == "claims-demo");
static_assert(std::string_view(enlight::this_plugin::version) == "2.3.4");
static_assert(enlight::this_plugin::cpuid.size() == 2 && enlight::this_plugin::cpuid[1].mask == 0xFFFFu);

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs, .hypercalls = kHypercalls, .io_ports = kPorts})

namespace {
static_assert(kDescriptor.msr_count == 3 && kDescriptor.hypercall_count == 1 && kDescriptor.io_port_count == 1);
static_assert(kDescriptor.cpuid_count == 2 && kDescriptor.cpuid == enlight::this_plugin::cpuid.data());
}  // namespace
