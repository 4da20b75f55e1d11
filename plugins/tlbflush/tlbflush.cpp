// hv-tlbflush: HvCallFlushVirtualAddressSpace (0x0002), ...List (0x0003) and
// their Ex forms (0x0013, 0x0014) (TLFS "Virtual Processor TLB Flushing",
// hypercalls/HvCallFlushVirtualAddress*). A guest that changed a mapping
// asks the hypervisor to flush the TLBs of a set of virtual processors
// instead of interrupting each one to run INVLPG itself.
//
// The flush is real: the backend makes every named vCPU drop the guest
// translations it cached before the call returns (enlight_host.tlb_flush,
// ABI 1.4). A backend that cannot do that refuses the plugin at creation
// ("where a backend cannot make it correct, refuse the flag there").
//
// What is flushed: the whole TLB of each target, whatever the address
// space, the flags and the GVA list say. The TLFS lets a hypervisor flush
// more than asked, never less, and KVM does the same when its small
// per-vCPU queue of ranges overflows; the saving a per-page flush would
// buy is small next to the kick that every target costs anyway.
//
// Exit path: the handler parses a bounded input (the core has copied it),
// builds a vCPU bitmap on the stack and calls the backend. No lock or
// allocation here; the call waits for the targets to leave guest mode.
#include <enlight/plugin.hpp>
#include <enlight/vp_set.hpp>

#include <array>
#include <bit>
#include <cstring>

namespace {

// A bitmap of vCPUs on the stack: 64 words name 4096 vCPUs, HV_VP_SET's
// own limit (64 banks of 64).
constexpr uint32_t kMaxWords = HV_VP_SET_BANK_COUNT_MAX;
// Flag bits the TLFS defines; the rest are reserved and must be zero.
constexpr uint64_t kKnownFlags = HV_FLUSH_ALL_PROCESSORS | HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES |
                                 HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY | HV_FLUSH_USE_EXTENDED_RANGE_FORMAT;
// Fixed input headers: AddressSpace, Flags, then ProcessorMask (non-Ex) or
// the HV_VP_SET's Format and ValidBanksMask (Ex; its banks are the
// variable header). Each GVA range entry of the List calls is a u64.
constexpr uint16_t kHeader = HV_FLUSH_INPUT_SIZE;
constexpr uint16_t kHeaderEx = HV_FLUSH_VP_SET_OFFSET + HV_VP_SET_HEADER_SIZE;
constexpr uint16_t kGvaRangeSize = 8;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        flushes(counter("enlight_tlbflush_hypercalls_total",
                        "TLB flush hypercalls completed (all four forms), each flushing every vCPU it named")),
        vcpus_flushed(counter("enlight_tlbflush_vcpus_flushed_total",
                              "vCPU TLBs flushed on behalf of a flush hypercall (the caller's own included)")) {
    // Probe the backend with an empty set: a core older than ABI 1.4 or a
    // backend without a flush answers false, and advertising the hint
    // there would have Linux trust flushes that never happen.
    if (!tlb_flush(0, {}))
      throw enlight::PluginError(
          "hv-tlbflush needs a backend that can flush another vCPU's TLB (plugin ABI 1.4 tlb_flush); "
          "this core or backend cannot, so remote flushes would be silently lost: remove hv-tlbflush");
    // QEMU (hyperv_fill_cpuids): remote TLB flush recommended, and
    // ExProcessorMasks so the guest may use the Ex forms for VPs >= 64.
    cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX,
                HV_RECOMMEND_REMOTE_TLB_FLUSH_HYPERCALL | HV_RECOMMEND_EX_PROCESSOR_MASKS});
  }
  const enlight::Counter flushes;
  const enlight::Counter vcpus_flushed;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

uint64_t load64(const enlight_hypercall& c, uint32_t offset) {
  uint64_t v;
  std::memcpy(&v, c.input + offset, 8);
  return v;
}

bool is_list(uint16_t code) { return code == HvCallFlushVirtualAddressList || code == HvCallFlushVirtualAddressListEx; }
bool is_ex(uint16_t code) { return code == HvCallFlushVirtualAddressSpaceEx || code == HvCallFlushVirtualAddressListEx; }

// Sets the bit of every vCPU; count is the VM's.
void all_vcpus(std::array<uint64_t, kMaxWords>& bits, uint32_t count) {
  for (uint32_t v = 0; v < count && v / 64 < kMaxWords; ++v) bits[v / 64] |= uint64_t{1} << (v % 64);
}

// One handler for the four calls: they differ in how the processors are
// named (a mask, or an HV_VP_SET) and in the GVA list, which a whole-TLB
// flush covers without reading it.
enlight_hypercall_result flush(Vcpu& v, const enlight_hypercall& c) {
  Vm& vm = v.vm();
  const uint64_t flags = load64(c, HV_FLUSH_FLAGS_OFFSET);
  // TLFS: reserved flag bits, or NON_GLOBAL_MAPPINGS_ONLY on a List call,
  // are HV_STATUS_INVALID_PARAMETER. KVM checks neither (it ignores flags
  // it does not use); the TLFS answer is the one a guest can rely on.
  // A failed call completed no rep of this pass: reps completed is the
  // absolute count, so rep_start (0 for the simple calls). 0 with a rep
  // start the guest set would be "impossible" to the core: a VM stop.
  if ((flags & ~kKnownFlags) != 0 || (is_list(c.code) && (flags & HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY) != 0))
    return {HV_STATUS_INVALID_PARAMETER, c.rep_start};
  // HV_FLUSH_USE_EXTENDED_RANGE_FORMAT changes only how the GVA list reads
  // (the TLFS snapshot does not give its layout; KVM ignores the flag), and
  // the list is not read: the whole TLB goes. So it is accepted as KVM does.

  std::array<uint64_t, kMaxWords> targets{};
  const uint32_t count = vm.vcpu_count();
  bool all = (flags & HV_FLUSH_ALL_PROCESSORS) != 0;
  enlight::VpSet set;
  uint64_t mask = 0;
  if (is_ex(c.code)) {
    switch (enlight::parse_vp_set({c.input, c.input_size}, HV_FLUSH_VP_SET_OFFSET, c.var_header_qwords, set)) {
      case enlight::VpSetError::None: break;
      case enlight::VpSetError::BadFormat:
      case enlight::VpSetError::BankCountMismatch:
      case enlight::VpSetError::Truncated: return {HV_STATUS_INVALID_HYPERCALL_INPUT, c.rep_start};
    }
    all |= set.all;
  } else {
    mask = load64(c, HV_FLUSH_PROCESSOR_MASK_OFFSET);
    // KVM's workaround for Windows Server 2012, which sends a mask of 0
    // without HV_FLUSH_ALL_PROCESSORS and expects every processor flushed
    // (kvm_hv_flush_tlb): flushing more is always safe.
    all |= mask == 0;
    set = enlight::vp_set_from_mask(mask);
  }
  if (all) {
    all_vcpus(targets, count);
  } else {
    // VPs no vCPU holds are ignored, as KVM ignores them.
    set.for_each([&](uint32_t vp) {
      const uint32_t vcpu = vm.vcpu_of_vp_index(vp);
      if (vcpu < count && vcpu / 64 < kMaxWords) targets[vcpu / 64] |= uint64_t{1} << (vcpu % 64);
    });
  }
  const uint32_t words = (count + 63) / 64;
  if (!vm.tlb_flush(v.index(), {targets.data(), words < kMaxWords ? words : kMaxWords})) {
    vm.report_fault("the backend failed a remote TLB flush it had accepted at creation");
    return {ENLIGHT_HV_FAULT, 0};
  }
  vm.flushes.add(v.index());
  uint64_t named = 0;
  for (uint32_t w = 0; w < words && w < kMaxWords; ++w) named += static_cast<uint64_t>(std::popcount(targets[w]));
  vm.vcpus_flushed.add(v.index(), named);
  // List calls: every rep (GVA range) is done, in one pass (no continuation).
  return {HV_STATUS_SUCCESS, c.rep_count};
}

// Shapes (TLFS): the Space calls are simple, the List calls rep calls over
// u64 GVA ranges; the Ex calls carry the HV_VP_SET's banks as their
// variable header. Fast forms need XMM input: the 24-byte headers do not
// fit RDX and R8 (TLFS 3.7.8; KVM reads XMM for exactly these four).
constexpr uint16_t kFast = ENLIGHT_HC_FAST | ENLIGHT_HC_XMM_FAST;
constexpr std::array kHypercalls{
    enlight::hypercall<flush>(HvCallFlushVirtualAddressSpace, kFast, kHeader),
    enlight::hypercall<flush>(HvCallFlushVirtualAddressList, kFast | ENLIGHT_HC_REP, kHeader, kGvaRangeSize),
    enlight::hypercall<flush>(HvCallFlushVirtualAddressSpaceEx, kFast | ENLIGHT_HC_VAR_HEADER, kHeaderEx),
    enlight::hypercall<flush>(HvCallFlushVirtualAddressListEx, kFast | ENLIGHT_HC_VAR_HEADER | ENLIGHT_HC_REP,
                              kHeaderEx, kGvaRangeSize),
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.hypercalls = kHypercalls})
