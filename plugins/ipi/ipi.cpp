// hv-ipi: HvCallSendSyntheticClusterIpi (0x000B) and its Ex form (0x0015)
// (TLFS hypercalls/HvCallSendSyntheticClusterIpi[Ex]). One hypercall sends
// a fixed interrupt to every virtual processor of a set, where a guest
// would otherwise write the APIC's ICR once per destination (each write an
// exit under virtualisation).
//
// Semantics follow KVM's kvm_hv_send_ipi() where the TLFS is silent: VPs
// named but held by no vCPU are ignored; an empty set sends nothing and
// succeeds; the interrupt is a fixed, edge one to each target's local APIC
// (no NMI, no logical destination). Exit path: a bounded parse of the
// input the core copied, then one inject_interrupt per target; no lock,
// no allocation.
#include <enlight/plugin.hpp>
#include <enlight/vp_set.hpp>

#include <array>
#include <cstring>

namespace {

// Vector u32, TargetVtl u8, 3 bytes of padding, then ProcessorMask u64
// (0x000B) or an HV_VP_SET whose banks are the variable header (0x0015).
constexpr uint16_t kHeader = HV_SEND_IPI_INPUT_SIZE;
constexpr uint16_t kHeaderEx = HV_SEND_IPI_VP_SET_OFFSET + HV_VP_SET_HEADER_SIZE;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        calls(counter("enlight_ipi_hypercalls_total", "IPI hypercalls completed (both forms)")),
        sent(counter("enlight_ipi_interrupts_sent_total",
                     "fixed interrupts delivered to a vCPU's local APIC on behalf of an IPI hypercall")) {
    // QEMU (hyperv_fill_cpuids): cluster IPI recommended, and
    // ExProcessorMasks so the guest may use the Ex form for VPs >= 64.
    cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX,
                HV_RECOMMEND_SYNTHETIC_CLUSTER_IPI | HV_RECOMMEND_EX_PROCESSOR_MASKS});
  }
  const enlight::Counter calls;
  const enlight::Counter sent;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

enlight_hypercall_result send_ipi(Vcpu& v, const enlight_hypercall& c) {
  Vm& vm = v.vm();
  uint32_t vector;
  std::memcpy(&vector, c.input + HV_SEND_IPI_VECTOR_OFFSET, 4);
  // TargetVtl and the padding after it: the upper half of RDX in the fast
  // form, which KVM requires to be zero (there are no VTLs here, so VTL 0
  // is the only target). The memory form is held to the same rule (KVM
  // does not read those bytes there; a non-zero VTL could only be a bug).
  uint32_t vtl_and_padding;
  std::memcpy(&vtl_and_padding, c.input + HV_SEND_IPI_TARGET_VTL_OFFSET, 4);
  // KVM and the TLFS: vectors 0x10..0xFF only (0-15 are reserved by the
  // architecture for exceptions).
  if (vtl_and_padding != 0 || vector < HV_IPI_VECTOR_MIN || vector > HV_IPI_VECTOR_MAX)
    return {HV_STATUS_INVALID_HYPERCALL_INPUT, 0};

  enlight::VpSet set;
  uint64_t mask = 0;
  if (c.code == HvCallSendSyntheticClusterIpiEx) {
    switch (enlight::parse_vp_set({c.input, c.input_size}, HV_SEND_IPI_VP_SET_OFFSET, c.var_header_qwords, set)) {
      case enlight::VpSetError::None: break;
      case enlight::VpSetError::BadFormat:
      case enlight::VpSetError::BankCountMismatch:
      case enlight::VpSetError::Truncated: return {HV_STATUS_INVALID_HYPERCALL_INPUT, 0};
    }
  } else {
    // No "mask 0 means all" here: that is KVM's flush workaround only.
    std::memcpy(&mask, c.input + HV_SEND_IPI_PROCESSOR_MASK_OFFSET, 8);
    set = enlight::vp_set_from_mask(mask);
  }

  const uint32_t count = vm.vcpu_count();
  const auto send = [&](uint32_t vcpu) {
    // A vector the target's APIC refuses (disabled APIC) is dropped, as a
    // real APIC drops it; nothing the guest can do here harms the host.
    if (vm.inject_interrupt(vcpu, static_cast<uint8_t>(vector))) vm.sent.add(v.index());
  };
  if (set.all) {
    for (uint32_t vcpu = 0; vcpu < count; ++vcpu) send(vcpu);
  } else {
    set.for_each([&](uint32_t vp) {
      const uint32_t vcpu = vm.vcpu_of_vp_index(vp);
      if (vcpu < count) send(vcpu);  // VPs no vCPU holds are ignored (KVM)
    });
  }
  vm.calls.add(v.index());
  return {HV_STATUS_SUCCESS, 0};
}

// 0x000B fits RDX and R8 (vector, mask): a plain fast call. 0x0015's set
// continues in XMM0.. when called fast (TLFS 3.7.8; KVM reads XMM for it).
constexpr std::array kHypercalls{
    enlight::hypercall<send_ipi>(HvCallSendSyntheticClusterIpi, ENLIGHT_HC_FAST, kHeader),
    enlight::hypercall<send_ipi>(HvCallSendSyntheticClusterIpiEx,
                                 ENLIGHT_HC_FAST | ENLIGHT_HC_XMM_FAST | ENLIGHT_HC_VAR_HEADER, kHeaderEx),
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.hypercalls = kHypercalls})
