#include "setup.hpp"

#include "sys.hpp"

#include <enlight/core/manifest.hpp>
#include <enlight/tlfs.h>

#include <cpuid.h>
#include <sys/ioctl.h>

#include <cerrno>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace enlight::kvm {

namespace {
constexpr uint64_t kPresent = 1, kWritable = 2, kPageSize = 0x80;
constexpr uint64_t kGiB = 1ull << 30, k2MiB = 2ull << 20;

void put64(uint8_t* ram, uint64_t gpa, uint64_t v) { std::memcpy(ram + gpa, &v, 8); }
}  // namespace

void write_long_mode_tables(uint8_t* ram, uint64_t ram_size) {
  if (ram_size < 0x100000) throw std::runtime_error("kvm: guest RAM below 1 MiB leaves no room for the guest image");
  const uint64_t dirs = (ram_size + kGiB - 1) / kGiB;
  if (dirs > kMaxPageDirs || dirs > 512)
    throw std::runtime_error("kvm: guest RAM above " + std::to_string(kMaxPageDirs) + " GiB does not fit the page tables");
  std::memset(ram + kPml4, 0, kGdt + 0x1000 - kPml4);
  put64(ram, kPml4, kPdpt | kPresent | kWritable);
  for (uint64_t d = 0; d < dirs; ++d) {
    put64(ram, kPdpt + d * 8, (kPageDirs + d * 0x1000) | kPresent | kWritable);
    // Whole 2 MiB pages over the GiB; the tail past RAM is mapped too but
    // has no memory slot, so a touch there is an MMIO exit (GuestFault).
    for (uint64_t e = 0; e < 512; ++e)
      put64(ram, kPageDirs + d * 0x1000 + e * 8, (d * kGiB + e * k2MiB) | kPresent | kWritable | kPageSize);
  }
  // Null, 64-bit code (0x08), data (0x10). The guest loads its own GDT; this
  // one only backs the selectors of the entry state.
  put64(ram, kGdt + 0x08, 0x00AF9B000000FFFFull);
  put64(ram, kGdt + 0x10, 0x00CF93000000FFFFull);
}

void long_mode_sregs(kvm_sregs& s) {
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xFFFFFFFF;
  code.selector = 0x08;
  code.type = 0xB;  // execute/read, accessed
  code.present = 1;
  code.dpl = 0;
  code.db = 0;
  code.s = 1;
  code.l = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = 0x10;
  data.type = 0x3;  // read/write, accessed
  data.db = 1;
  data.l = 0;
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.gdt.base = kGdt;
  s.gdt.limit = 0x17;
  s.idt.base = 0;
  s.idt.limit = 0;  // the guest installs its IDT before it enables interrupts
  s.cr3 = kPml4;
  s.cr4 = 0x20 | 0x200 | 0x400;  // PAE, OSFXSR, OSXMMEXCPT (the guest sets the last two itself too)
  s.cr0 = 0x80000000u | 0x10000 | 0x20 | 0x10 | 0x2 | 0x1;  // PG, WP, NE, ET, MP, PE
  s.efer = 0x500;  // LME | LMA
}

bool host_is_amd() noexcept {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  return (b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) ||  // AuthenticAMD
         (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975);    // HygonGenuine
}

std::vector<std::string> host_features(bool amd, bool evmcs_capability) {
  std::vector<std::string> f{amd ? "amd-svm" : "intel-vmx", "in-kernel-lapic"};
  // KVM answers the capability only where nested VMX can use it (an AMD
  // KVM has no enable_evmcs), but the vendor is checked as well: eVMCS is
  // a VMX structure, and AMD's enlightened VMCB is a different thing.
  if (!amd && evmcs_capability) f.push_back("kvm-enlightened-vmcs");
  return f;
}

namespace {
const ResolvedPlugin* find_plugin(const Resolution& r, const char* name) {
  for (const ResolvedPlugin& p : r.plugins)
    if (p.manifest != nullptr && p.manifest->name == name) return &p;
  return nullptr;
}
}  // namespace

std::string evmcs_refusal(const Resolution& resolution) {
  if (find_plugin(resolution, "evmcs") == nullptr) return "";
  const ResolvedPlugin* vapic = find_plugin(resolution, "vapic");
  if (vapic != nullptr && vapic->offload == "kvm") return "";
  return "kvm: hv-evmcs needs KVM to see the guest's VP assist page, where the guest names its current eVMCS, "
         "but vapic is not offloaded to KVM (enlight's vapic plugin keeps the page to itself)"
         "\n  fix: add --offload vapic (in a profile: - vapic: { offload: kvm })";
}

bool evmcs_version_supported(uint16_t supported) noexcept {
  const uint32_t low = supported & HV_NESTED_EVMCS_VERSION_LOW_MASK;
  const uint32_t high = (supported & HV_NESTED_EVMCS_VERSION_HIGH_MASK) >> HV_NESTED_EVMCS_VERSION_HIGH_SHIFT;
  return low <= KVM_EVMCS_VERSION && KVM_EVMCS_VERSION <= high;
}

void enable_evmcs(int vcpu_fd, uint32_t vcpu) {
  uint16_t range = 0;
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_HYPERV_ENLIGHTENED_VMCS;
  cap.args[0] = reinterpret_cast<uint64_t>(&range);
  if (::ioctl(vcpu_fd, KVM_ENABLE_CAP, &cap) != 0)
    throw std::runtime_error("kvm: KVM_ENABLE_CAP(KVM_CAP_HYPERV_ENLIGHTENED_VMCS) on vCPU " + std::to_string(vcpu) +
                             ": " + std::strerror(errno) +
                             " (hv-evmcs needs KVM's nested VMX)\n  fix: load kvm_intel with nested=1, or drop hv-evmcs");
  if (!evmcs_version_supported(range)) {
    char text[96];
    std::snprintf(text, sizeof text, "0x%04x", range);
    throw std::runtime_error(std::string("kvm: KVM's eVMCS version range ") + text +
                             " (low | high << 8) does not include version 1, which hv-evmcs advertises"
                             "\n  fix: drop hv-evmcs on this host");
  }
}

Resolution with_host_reports(Resolution resolution, const std::vector<HvCpuidLeaf>& supported, bool known) {
  std::string value = "unknown";
  if (known) {
    value = "off";
    for (const HvCpuidLeaf& l : supported)
      if (l.leaf == HV_CPUID_ENLIGHTENMENT_INFO && (l.regs[ENLIGHT_EAX] & HV_RECOMMEND_NO_NON_ARCHITECTURAL_CORE_SHARING))
        value = "on";
  }
  for (ResolvedPlugin& p : resolution.plugins)
    if (p.manifest != nullptr && p.manifest->name == "no-nonarch-coresharing")
      for (TypedOption& o : p.options)
        if (o.name == "host-reports") o.str = value;
  return resolution;
}

std::vector<kvm_cpuid_entry2> compose_cpuid(int kvm_fd, const CpuidTable& table) {
  // KVM fills nent and fails with E2BIG when the buffer is too small.
  std::vector<uint8_t> buf;
  bool got = false;
  uint32_t nent = 0;
  for (uint32_t n = 256;; n *= 2) {
    buf.assign(sys::kFlexHeader + n * sizeof(kvm_cpuid_entry2), 0);
    std::memcpy(buf.data(), &n, 4);  // C layout: nent, padding, entries (sys.hpp)
    if (::ioctl(kvm_fd, sys::kGetSupportedCpuid, buf.data()) == 0) {
      std::memcpy(&nent, buf.data(), 4);
      got = nent <= n;
      break;
    }
    if (errno != E2BIG || n >= 4096) break;
  }
  std::vector<kvm_cpuid_entry2> supported;
  if (got) {
    supported.resize(nent);
    std::memcpy(supported.data(), buf.data() + sys::kFlexHeader, nent * sizeof(kvm_cpuid_entry2));
  }
  else
    throw std::runtime_error(std::string("kvm: KVM_GET_SUPPORTED_CPUID: ") + std::strerror(errno));
  std::vector<kvm_cpuid_entry2> out;
  const bool hyperv = table.has(HV_CPUID_VENDOR_AND_MAX_FUNCTIONS);
  // KVM emulates the TSC-deadline mode of its in-kernel local APIC but
  // leaves it out of KVM_GET_SUPPORTED_CPUID (it says so with a
  // capability); QEMU adds it the same way. Without it a Linux guest
  // calibrates the LAPIC timer against another clock and runs it periodic.
  const bool tsc_deadline = sys::check_extension(kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
  for (kvm_cpuid_entry2 e : supported) {
    // KVM's own paravirtual leaves (0x40000000 "KVMKVMKVM", 0x40000001
    // features) give way to the bus's table: one hypervisor interface.
    if (e.function >= 0x40000000 && e.function <= 0x400000FF) continue;
    // 5-level paging stays hidden: a Linux kernel that sees LA57 drops to
    // 32-bit mode through a trampoline below 640 KiB to switch paging
    // modes (compressed/pgtable_64.c), for nothing a VM of at most 3 GiB
    // needs (linux-guest-facts.md §3).
    if (e.function == 7 && e.index == 0) e.ecx &= ~(1u << 16);
    if (e.function == 1) {
      if (tsc_deadline) e.ecx |= 1u << 24;
      e.ecx |= 1u << 21;  // x2APIC: the guests use the x2APIC MSRs, which KVM's LAPIC emulates
      if (hyperv) e.ecx |= 1u << 31;
      else e.ecx &= ~(1u << 31);
    }
    out.push_back(e);
  }
  for (const CpuidLeaf& l : table.leaves()) {
    if (!bus_cpuid_leaf(l.leaf)) continue;
    kvm_cpuid_entry2 e{};
    e.function = l.leaf;
    e.index = l.subleaf;
    e.eax = l.value.eax;
    e.ebx = l.value.ebx;
    e.ecx = l.value.ecx;
    e.edx = l.value.edx;
    out.push_back(e);
  }
  return out;
}

void cpuid_for_vcpu(std::vector<kvm_cpuid_entry2>& entries, uint32_t index) {
  for (kvm_cpuid_entry2& e : entries) {
    if (e.function == 1) e.ebx = (e.ebx & 0x00FFFFFFu) | (index << 24);  // initial APIC ID
    if (e.function == 0xB || e.function == 0x1F) e.edx = index;          // x2APIC ID
    if (e.function == 0x8000001E) e.eax = index;                         // AMD extended APIC ID
  }
}

void install_msr_filter(int vm_fd, const Resolution& resolution) {
  struct Range {
    uint32_t first, last;
  };
  std::vector<Range> ranges{{HV_X64_MSR_SYNTHETIC_FIRST, HV_X64_MSR_SYNTHETIC_LAST},
                            {static_cast<uint32_t>(kMsrXenHypercallPage), static_cast<uint32_t>(kMsrXenHypercallPage)}};
  for (const ResolvedPlugin& p : resolution.plugins)
    for (const MsrClaim& m : p.manifest->msrs) {
      if (m.first >= HV_X64_MSR_SYNTHETIC_FIRST && m.last <= HV_X64_MSR_SYNTHETIC_LAST) continue;
      ranges.push_back({m.first, m.last});
    }
  if (ranges.size() > KVM_MSR_FILTER_MAX_RANGES)
    throw std::runtime_error("kvm: plugins claim MSRs in more than " + std::to_string(KVM_MSR_FILTER_MAX_RANGES) +
                             " separate ranges; KVM's MSR filter cannot route them all");
  // All-zero bitmaps: every MSR in a range is denied, i.e. exits to
  // userspace with KVM_MSR_EXIT_REASON_FILTER. 0x40000200 is denied because
  // it is where a Xen-aware KVM could be told to write its own hypercall
  // page; denying it keeps any such write in userspace (#GP there).
  std::vector<std::vector<uint8_t>> bitmaps;
  bitmaps.reserve(ranges.size());
  kvm_msr_filter f{};
  f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const uint64_t n = uint64_t{ranges[i].last} - ranges[i].first + 1;
    if (n > 0x10000) throw std::runtime_error("kvm: an MSR claim wider than 65536 indexes cannot be filtered");
    bitmaps.emplace_back((n + 7) / 8, 0);
    f.ranges[i].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
    f.ranges[i].base = ranges[i].first;
    f.ranges[i].nmsrs = static_cast<uint32_t>(n);
    f.ranges[i].bitmap = bitmaps.back().data();
  }
  // An offloaded plugin's synthetic MSRs (ranges[0]) are allowed: KVM's
  // own Hyper-V code answers them.
  std::vector<uint8_t>& synthetic = bitmaps.front();
  for (const ResolvedPlugin& p : resolution.plugins) {
    if (p.offload != "kvm") continue;
    for (const MsrClaim& m : p.manifest->msrs)
      for (uint32_t msr = std::max(m.first, HV_X64_MSR_SYNTHETIC_FIRST); msr <= std::min(m.last, HV_X64_MSR_SYNTHETIC_LAST); ++msr)
        synthetic[(msr - HV_X64_MSR_SYNTHETIC_FIRST) / 8] |= uint8_t(1u << ((msr - HV_X64_MSR_SYNTHETIC_FIRST) % 8));
  }
  sys::xioctl(vm_fd, KVM_X86_SET_MSR_FILTER, "KVM_X86_SET_MSR_FILTER", &f);
}

}  // namespace enlight::kvm
