// Hyper-V identity: the CPUID leaves 0x40000000-0x40000005 that make a guest
// believe it runs on Hyper-V, and the two MSRs of the hypercall interface,
// HV_X64_MSR_GUEST_OS_ID and HV_X64_MSR_HYPERCALL (TLFS "Feature Discovery"
// and "Hypercall Interface"). Implicit: enabled whenever an enlightenment
// that requires it is, as QEMU turns Hyper-V on for any hv-* feature.
//
// MSR semantics follow KVM's kvm_hv_set_msr_pw(), so a guest sees what it
// sees under QEMU+KVM; where KVM and the TLFS differ, the comment says so.
#include <enlight/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

namespace opt = enlight::this_plugin::options;

// The hypercall page: one hypercall instruction and a near RET at offset 0,
// which is what KVM writes (the TLFS leaves the content to the hypervisor).
// The opcodes are the x86 ISA's, not TLFS numbers: VMCALL is Intel VMX
// (SDM Vol. 3C), VMMCALL is AMD SVM (APM Vol. 3); both are three bytes.
constexpr uint8_t kVmcall[3] = {0x0F, 0x01, 0xC1};
constexpr uint8_t kVmmcall[3] = {0x0F, 0x01, 0xD9};
// The "ioport" form, for backends on which VMCALL/VMMCALL never leaves the
// kernel (kvm on hosts without KVM's Xen hypercall intercept): `out imm8,
// eax` to ENLIGHT_HYPERCALL_IO_PORT, an exit KVM always gives userspace,
// with no register clobbered; the backend treats it as the hypercall.
constexpr uint8_t kOutImm8Eax[2] = {0xE7, static_cast<uint8_t>(ENLIGHT_HYPERCALL_IO_PORT)};
constexpr uint8_t kNearRet = 0xC3;
// The rest of the page is INT3 so that a guest jumping anywhere else in it
// traps instead of sliding into whatever the page held (Xen viridian does
// the same).
constexpr uint8_t kInt3 = 0xCC;
constexpr size_t kVendorBytes = 12;  // EBX, ECX, EDX of 0x40000000

uint32_t le32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    set_vendor(option(opt::vendor_id));
    cpuid_field({HV_CPUID_INTERFACE, ENLIGHT_EAX}, HV_CPUID_INTERFACE_SIGNATURE);

    const auto u32 = [&](enlight::Option<uint64_t> key) { return static_cast<uint32_t>(option(key)); };
    cpuid_field({HV_CPUID_VERSION, ENLIGHT_EAX}, u32(opt::version_id_build));
    cpuid_field({HV_CPUID_VERSION, ENLIGHT_EBX}, (u32(opt::version_id_major) << HV_VERSION_MAJOR_SHIFT) | (u32(opt::version_id_minor) << HV_VERSION_MINOR_SHIFT));
    cpuid_field({HV_CPUID_VERSION, ENLIGHT_ECX}, u32(opt::version_id_spack));
    cpuid_field({HV_CPUID_VERSION, ENLIGHT_EDX}, ((u32(opt::version_id_sbranch) << HV_VERSION_SERVICE_BRANCH_SHIFT) & HV_VERSION_SERVICE_BRANCH_MASK) |
                    ((u32(opt::version_id_snumber) << HV_VERSION_SERVICE_NUMBER_SHIFT) & HV_VERSION_SERVICE_NUMBER_MASK));

    // QEMU's hyperv_fill_cpuids() sets these two whenever Hyper-V is on: the
    // hypercall MSRs exist, and "CPU dynamic partitioning" is what Windows
    // needs for CPU hotplug.
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_HYPERCALL_MSRS});
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE});

    // A default, not a field: the spinlocks plugin owns the retry count when
    // it is enabled; without it the guest is told never to notify.
    cpuid_field({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EBX}, HV_SPINLOCK_NEVER_NOTIFY);

    cpuid_field({HV_CPUID_IMPLEMENT_LIMITS, ENLIGHT_EAX}, u32(opt::max_vps));
    cpuid_field({HV_CPUID_IMPLEMENT_LIMITS, ENLIGHT_EBX}, HV_DEFAULT_MAX_LOGICAL_PROCESSORS);

    const std::string_view insn = option(opt::instruction);
    std::span<const uint8_t> main_insn;
    if (insn == "vmcall") main_insn = kVmcall;
    else if (insn == "vmmcall") main_insn = kVmmcall;
    else if (insn == "ioport") main_insn = kOutImm8Eax;
    else throw enlight::PluginError("option 'instruction' must be \"vmcall\", \"vmmcall\" or \"ioport\", got \"" + std::string(insn) + "\"");
    build_stub(main_insn, option(opt::kernel_hypercalls), option(opt::kernel_instruction));
  }

  // The page's code. Without kernel hypercalls: the instruction and RET, as
  // KVM writes it. With them (the kvm backend, when a plugin that claims
  // hypercalls is offloaded to KVM's own Hyper-V code): the call code, RCX
  // bits 15:0 (TLFS 3.7 "Hypercall Inputs"), is compared with each
  // offloaded code, and those calls take VMCALL/VMMCALL, which KVM answers
  // in the kernel; every other call takes the page's instruction to
  // userspace. Only RFLAGS changes on the way, which the hypercall ABI does
  // not preserve (Linux's hv_do_hypercall lists "cc" as clobbered).
  void build_stub(std::span<const uint8_t> main_insn, std::string_view kernel_codes, std::string_view kernel_insn) {
    std::vector<uint16_t> codes;
    for (size_t at = 0; at < kernel_codes.size();) {
      const size_t comma = std::min(kernel_codes.find(',', at), kernel_codes.size());
      const std::string item(kernel_codes.substr(at, comma - at));
      char* end = nullptr;
      const unsigned long code = std::strtoul(item.c_str(), &end, 16);
      if (item.empty() || *end != '\0' || code > 0xFFFF || codes.size() == kMaxKernelCodes)
        throw enlight::PluginError("option 'kernel-hypercalls' must be at most " + std::to_string(kMaxKernelCodes) +
                                   " comma-separated hex call codes (e.g. \"0x0002,0x000b\"), got \"" +
                                   std::string(kernel_codes) + "\"");
      codes.push_back(static_cast<uint16_t>(code));
      at = comma + 1;
    }
    std::span<const uint8_t> kernel;
    if (kernel_insn == "vmcall") kernel = kVmcall;
    else if (kernel_insn == "vmmcall") kernel = kVmmcall;
    else if (!codes.empty())
      throw enlight::PluginError("option 'kernel-instruction' must be \"vmcall\" or \"vmmcall\" when "
                                 "'kernel-hypercalls' is set, got \"" + std::string(kernel_insn) + "\"");
    const auto put = [&](std::initializer_list<uint8_t> bytes) {
      for (uint8_t b : bytes) stub[stub_size++] = b;
    };
    const auto put_span = [&](std::span<const uint8_t> bytes) {
      for (uint8_t b : bytes) stub[stub_size++] = b;
    };
    // Each test: cmp cx, imm16 (66 81 F9 iw) and je rel8 (74 cb) to the
    // kernel path, which follows the userspace path (instruction, RET).
    const size_t tests = codes.size() * kTestSize;
    const size_t to_kernel = tests + main_insn.size() + 1;
    for (size_t i = 0; i < codes.size(); ++i) {
      put({0x66, 0x81, 0xF9, static_cast<uint8_t>(codes[i]), static_cast<uint8_t>(codes[i] >> 8)});
      put({0x74, static_cast<uint8_t>(to_kernel - (i + 1) * kTestSize)});
    }
    put_span(main_insn);
    put({kNearRet});
    if (!codes.empty()) {
      put_span(kernel);
      put({kNearRet});
    }
  }

  // QEMU copies the first 12 bytes, zero-padded, and warns when it drops
  // the rest (target/i386/cpu.c, x86_cpu_hyperv_realize()).
  void set_vendor(std::string_view vendor) {
    char bytes[kVendorBytes] = {};
    if (vendor.size() > kVendorBytes)
      log(1, "vendor-id \"" + std::string(vendor) + "\" is longer than 12 bytes; truncated to \"" +
                 std::string(vendor.substr(0, kVendorBytes)) + "\"");
    std::copy_n(vendor.begin(), std::min(vendor.size(), kVendorBytes), bytes);
    cpuid_field({HV_CPUID_VENDOR_AND_MAX_FUNCTIONS, ENLIGHT_EBX}, le32(bytes));
    cpuid_field({HV_CPUID_VENDOR_AND_MAX_FUNCTIONS, ENLIGHT_ECX}, le32(bytes + 4));
    cpuid_field({HV_CPUID_VENDOR_AND_MAX_FUNCTIONS, ENLIGHT_EDX}, le32(bytes + 8));
  }

  // Partition-wide registers. Written rarely (boot, kexec, hibernation), by
  // any vCPU; atomics keep the exit path lock-free. Concurrent writers of
  // the same register from two vCPUs get last-writer-wins, which is all a
  // guest that races itself can expect; the host is never at risk.
  std::atomic<uint64_t> guest_os_id{0};
  std::atomic<uint64_t> hypercall{0};
  // The page's code (build_stub); the rest of the page is INT3.
  static constexpr size_t kMaxKernelCodes = 12;
  static constexpr size_t kTestSize = 7;  // cmp cx, imm16; je rel8
  uint8_t stub[kMaxKernelCodes * kTestSize + 8] = {};
  size_t stub_size = 0;

  // Saved state: GUEST_OS_ID and HYPERCALL. The hypercall page is guest
  // RAM, restored with it, so the load does not rewrite it (the guest may
  // have changed it since: KVM does not rewrite it on restore either). It
  // redoes everything else an enabling write does: hypercalls on, for an
  // enabled page that lies in guest RAM. Refused: an enabled HYPERCALL with
  // GUEST_OS_ID 0 (no write sequence leaves that: a 0 ID drops the enable
  // bit, and the enable is dropped while the ID is 0), and an enabled page
  // outside guest RAM (that write is #GP).
  void save(enlight::StateWriter& w) const {
    w.put(guest_os_id);
    w.put(hypercall);
  }
  void load(enlight::StateReader& r) {
    const uint64_t os_id = r.get<uint64_t>();
    const uint64_t value = r.get<uint64_t>();
    if (!r.complete()) return;
    const bool enabled = (value & HV_X64_MSR_HYPERCALL_ENABLE) != 0;
    if (enabled && os_id == 0)
      return r.refuse("HV_X64_MSR_HYPERCALL", value, "enabled while HV_X64_MSR_GUEST_OS_ID is 0");
    if (enabled && map_guest(value & HV_X64_MSR_HYPERCALL_PAGE_MASK, HV_PAGE_SIZE) == nullptr)
      return r.refuse("HV_X64_MSR_HYPERCALL", value, "the enabled hypercall page is outside guest RAM");
    guest_os_id.store(os_id);
    hypercall.store(value);
    set_hypercalls_enabled(enabled);
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
  // HV_X64_MSR_VP_ASSIST_PAGE while no plugin claims it (see below).
  std::atomic<uint64_t> vp_assist{0};

  // Saved state: the VP assist page MSR (0 when vapic owns the MSR). No
  // PV EOI behind it here, so nothing to redo; the page is guest RAM and is
  // not cleared again (its APIC-assist word was cleared when enabled and
  // nothing here ever sets it). An enabled page outside RAM is refused, as
  // its write is #GP.
  void save(enlight::StateWriter& w) const { w.put(vp_assist); }
  void load(enlight::StateReader& r) {
    const uint64_t value = r.get<uint64_t>();
    if (!r.complete()) return;
    if ((value & HV_X64_MSR_VP_ASSIST_PAGE_ENABLE) != 0 &&
        vm().map_guest(value & HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK, HV_PAGE_SIZE) == nullptr)
      return r.refuse("HV_X64_MSR_VP_ASSIST_PAGE", value, "the enabled page is outside guest RAM");
    vp_assist.store(value, std::memory_order_relaxed);
  }
};

enlight_access_result read_msr(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  value = index == HV_X64_MSR_GUEST_OS_ID ? v.vm().guest_os_id.load() : v.vm().hypercall.load();
  return ENLIGHT_ACCESS_OK;
}

// TLFS Hypercall Interface, "Reporting the Guest OS Identity": writing 0
// disables the hypercall page. KVM does this for host writes too, and so do
// we, so a restored GUEST_OS_ID of 0 cannot leave hypercalls on.
void write_guest_os_id(Vm& vm, uint64_t value) {
  vm.guest_os_id.store(value);
  if (value != 0) return;
  vm.hypercall.fetch_and(~HV_X64_MSR_HYPERCALL_ENABLE);
  vm.set_hypercalls_enabled(false);
}

// TLFS Hypercall Interface, "Establishing the Hypercall Interface".
//  - GUEST_OS_ID == 0: the TLFS says the page cannot be enabled; KVM drops
//    the whole write (nothing is stored, no fault). We do as KVM.
//  - Locked (bit 1) is only defined when 0x40000003.EDX[18] advertises it;
//    neither KVM nor we advertise it, so it is stored and has no effect.
//  - RsvdP bits 11:2 are stored as written, as KVM does.
//  - Enabling writes the page content at the GPA. A GPA outside guest RAM
//    is #GP and leaves the register unchanged (KVM fails the write the same
//    way when kvm_vcpu_write_guest() fails).
enlight_access_result write_hypercall(Vm& vm, uint64_t value) {
  if (vm.guest_os_id.load() == 0) return ENLIGHT_ACCESS_OK;
  if (!(value & HV_X64_MSR_HYPERCALL_ENABLE)) {
    vm.hypercall.store(value);
    vm.set_hypercalls_enabled(false);
    return ENLIGHT_ACCESS_OK;
  }
  uint8_t page[HV_PAGE_SIZE];
  std::fill(std::begin(page), std::end(page), kInt3);
  std::copy_n(vm.stub, vm.stub_size, page);
  if (!vm.write_guest(value & HV_X64_MSR_HYPERCALL_PAGE_MASK, page, sizeof page)) return ENLIGHT_ACCESS_GP;
  vm.hypercall.store(value);
  vm.set_hypercalls_enabled(true);
  // A GUEST_OS_ID = 0 from another vCPU between our check and our store must
  // still win, as it would under KVM's lock.
  if (vm.guest_os_id.load() == 0) {
    vm.hypercall.fetch_and(~HV_X64_MSR_HYPERCALL_ENABLE);
    vm.set_hypercalls_enabled(false);
  }
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_msr(Vcpu& v, uint32_t index, uint64_t value, enlight_origin) {
  if (index == HV_X64_MSR_GUEST_OS_ID) {
    write_guest_os_id(v.vm(), value);
    return ENLIGHT_ACCESS_OK;
  }
  return write_hypercall(v.vm(), value);
}

// HV_X64_MSR_VP_ASSIST_PAGE, as a default claim (manifests/identity.yaml):
// answered here only while no enabled plugin claims it (vapic does, with
// the APIC-assist word). Linux writes it on every CPU whatever CPUID says
// (arch/x86/hyperv/hv_init.c, hv_cpu_init), and KVM accepts it then
// because it checks no feature bit unless hv-enforce-cpuid is on
// (arch/x86/kvm/hyperv.c, hv_check_msr_access): a #GP here would be an
// "unchecked MSR access error" Linux prints under enlight and not under
// QEMU+KVM (the nested stage compares the two). So the
// page is kept as KVM keeps it, without an APIC assist behind it: the
// value is stored and read back, an enabled page outside guest RAM is #GP
// (KVM: the GPA has no memory slot), and enabling clears the APIC-assist
// word as vapic does, so a guest never reads a stale "EOI may be skipped".
// With hv-enforce-cpuid the manifest's gate (AccessIntrCtrlRegs, as KVM
// requires for this MSR) makes it #GP. docs/profiles.md, "Unadvertised MSRs".
enlight_access_result read_vp_assist(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vp_assist.load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_vp_assist(Vcpu& v, uint32_t, uint64_t value, enlight_origin) {
  if (value & HV_X64_MSR_VP_ASSIST_PAGE_ENABLE) {
    const uint64_t page = value & HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK;
    if (v.vm().map_guest(page, HV_PAGE_SIZE) == nullptr) return ENLIGHT_ACCESS_GP;
    const uint32_t zero = 0;
    if (!v.vm().write_guest(page + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET, &zero, sizeof zero)) return ENLIGHT_ACCESS_GP;
  }
  v.vp_assist.store(value, std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{enlight::msr<read_msr, write_msr>(HV_X64_MSR_GUEST_OS_ID, HV_X64_MSR_HYPERCALL),
                           enlight::msr<read_vp_assist, write_vp_assist>(HV_X64_MSR_VP_ASSIST_PAGE)};


}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
