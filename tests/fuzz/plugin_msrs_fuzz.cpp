// libFuzzer target: the real plugins' MSR handlers, driven as sequences of
// guest and host reads and writes through the bus of a Vm on the direct
// backend, as the plugins' unit tests drive them (tests/plugins/*), with
// the plugins linked in statically (tests/fuzz/CMakeLists.txt, "VM kit").
//
// Input: byte 0 picks the plugin set (kSets below: synic, stimer with and
// without direct mode, time and the reference TSC page, vapic, crash,
// reset, vpindex, frequencies, reenlightenment, syndbg, runtime,
// tsc-invariant, identity with a vendor id, everything at once), bit 4 of
// byte 1 turns hv-enforce-cpuid on and its low bits the vCPU count (1-3).
// Then up to 200 operations of a few bytes each:
//   kind (low 3 bits: 0 guest read, 1 guest write, 2 host read, 3 host
//   write, 4 guest read twice, 5 advance the clock, 6 a guest write of what
//   it just read, 7 a guest write of that with one bit flipped; bits 3-4:
//   how the value is made), vCPU, MSR (a byte indexing the set's claimed
//   MSRs and a few unclaimed neighbours, 0xFF: a raw 32-bit index), value.
// GPAs in values are mostly page numbers 0-23 of a 64 KiB RAM (16 pages),
// so pages inside and outside RAM both occur.
//
// Checked besides the sanitizers:
//   * no access ends in a plugin fault (Access::Fault) and the VM never
//     stops with PluginError: a guest (or a restore) reaches only #GP or
//     success; the only stops are the ones the guest asks for (crash,
//     reset), after which the input ends;
//   * an MSR no plugin claims is #GP to the guest, read and write;
//   * two guest reads in a row (the clock does not move) answer the same;
//   * where a plugin documents that a register is stored as written and
//     read back (synic SCONTROL/SIEFP/SIMP/SINTx, identity GUEST_OS_ID,
//     VP_ASSIST_PAGE of identity or vapic, time REFERENCE_TSC, crash
//     P0-P4, the reenlightenment registers, tsc-invariant's control), a
//     read after a successful write, guest or host, returns that value, on
//     the same vCPU for per-VP registers and on any vCPU for partition-
//     wide ones.
#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/tlfs.h>

#include "vm_fuzz_common.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifndef ENLIGHT_FUZZ_MANIFEST_DIR
#define ENLIGHT_FUZZ_MANIFEST_DIR "manifests"
#endif

namespace {

using enlight::Access;
using enlight::direct::DirectVm;

[[noreturn]] void fail(const char* what, uint32_t msr = 0, uint64_t a = 0, uint64_t b = 0) {
  std::fprintf(stderr, "plugin_msrs fuzz: invariant broken: %s (msr 0x%x, 0x%llx, 0x%llx)\n", what, msr,
               static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  std::abort();
}

constexpr uint64_t kRam = 0x10000;

// Plugin sets, as profiles (identity comes with every set).
const char* const kSets[] = {
    "  - vpindex\n  - synic\n",
    "  - vpindex\n  - synic\n  - time\n  - stimer\n",
    "  - vpindex\n  - synic\n  - time\n  - stimer: { direct: true }\n",
    "  - time\n",
    "  - vapic\n",
    "  - crash\n",
    "  - reset\n",
    "  - vpindex\n",
    "  - frequencies\n",
    "  - frequencies\n  - reenlightenment\n",
    "  - relaxed\n  - vpindex\n  - synic\n  - syndbg: { port: 9 }\n",
    "  - runtime\n",
    "  - tsc-invariant\n",
    "  - identity: { vendor-id: FuzzFuzzFuzz }\n",
    "  - relaxed\n  - vapic\n  - time\n  - crash\n  - reset\n  - vpindex\n  - runtime\n  - synic\n  - stimer\n"
    "  - frequencies\n  - reenlightenment\n  - tsc-invariant\n",
};
constexpr uint32_t kSetCount = sizeof kSets / sizeof kSets[0];

// [set * 2 + enforce]
const std::vector<enlight::Resolution>& resolutions() {
  static const std::vector<enlight::Resolution> res = [] {
    std::vector<std::string> profiles;
    for (const char* set : kSets)
      for (int enforce = 0; enforce < 2; ++enforce)
        profiles.push_back(std::string(enforce ? "enforce-cpuid: true\n" : "") + "enlightenments:\n" + set);
    return enlight::fuzz::resolve_profiles("plugin_msrs", profiles);
  }();
  return res;
}

struct Reader {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{u8()} << (8 * i);
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
};

// Registers stored as written and read back (see the top); true: one per VP.
enum class Scope { None, Vp, Partition };
Scope echo_scope(uint32_t msr) {
  switch (msr) {
    case HV_X64_MSR_SCONTROL: case HV_X64_MSR_SIEFP: case HV_X64_MSR_SIMP: case HV_X64_MSR_VP_ASSIST_PAGE:
      return Scope::Vp;
    case HV_X64_MSR_GUEST_OS_ID: case HV_X64_MSR_REFERENCE_TSC: case HV_X64_MSR_REENLIGHTENMENT_CONTROL:
    case HV_X64_MSR_TSC_EMULATION_CONTROL: case HV_X64_MSR_TSC_EMULATION_STATUS:
    case HV_X64_MSR_TSC_INVARIANT_CONTROL:
      return Scope::Partition;
    default:
      break;
  }
  if (msr >= HV_X64_MSR_SINT0 && msr <= HV_X64_MSR_SINT15) return Scope::Vp;
  if (msr >= HV_X64_MSR_CRASH_P0 && msr <= HV_X64_MSR_CRASH_P4) return Scope::Partition;
  return Scope::None;
}

// Unclaimed neighbours and far-away indices, beside the claimed ones.
constexpr uint32_t kOutside[] = {0x40000004, 0x40000005, 0x4000000F, 0x40000011, 0x40000024, 0x40000085,
                                 0x400000A0, 0x400000B8, 0x400000F0, 0x400000FE, 0x40000109, 0x400001FF,
                                 0x40000200, 0x3FFFFFFF, 0x00000800, 0x0000080B, 0xC0000080};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& resolved = resolutions();
  if (size < 2) return 0;
  Reader r{data, size};
  const uint32_t set = r.u8() % kSetCount;
  const uint8_t config = r.u8();
  const bool enforce = (config & 0x10) != 0;
  enlight::Resolution res = resolved[set * 2 + (enforce ? 1 : 0)];
  res.vcpus = 1 + (config & 3) % 3;
  enlight::VmOptions options;
  options.memory_bytes = kRam;
  options.log = [](uint32_t, const std::string&, const std::string&) {};
  // Laid before the VM is created (its RAM lands between), unmapped after it goes.
  enlight::fuzz::RamGuard guard(kRam);
  std::unique_ptr<DirectVm> d;
  try {
    d = DirectVm::create(res, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plugin_msrs fuzz: VM refused: %s\n", e.what());
    std::abort();
  }
  guard.attach(d->memory());
  enlight::Vm& vm = d->vm();

  // The MSRs to pick from: every claimed synthetic one, then the outside list.
  std::vector<uint32_t> msrs;
  for (uint32_t i = 0; i < enlight::Bus::kSyntheticCount; ++i)
    if (vm.bus().find_msr(enlight::Bus::kSyntheticFirst + i) != nullptr) msrs.push_back(enlight::Bus::kSyntheticFirst + i);
  for (uint32_t m : kOutside)
    if (vm.bus().find_msr(m) == nullptr) msrs.push_back(m);

  std::map<std::pair<uint32_t, uint32_t>, uint64_t> expect;  // (scope vcpu or ~0, msr) -> value
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> last;    // (vcpu, msr) -> last value read
  uint64_t now = 0;

  auto check_access = [&](Access a, uint32_t msr) {
    if (a == Access::Fault) fail("plugin fault on an MSR access", msr);
    if (vm.stop_reason() == enlight::StopReason::PluginError) fail("VM stopped with PluginError", msr);
  };
  auto key = [&](uint32_t vcpu, uint32_t msr) {
    return std::make_pair(echo_scope(msr) == Scope::Vp ? vcpu : ~0u, msr);
  };
  auto check_read = [&](uint32_t vcpu, uint32_t msr, const enlight::direct::MsrRead& rd) {
    check_access(rd.access, msr);
    const enlight::MsrEntry* e = vm.bus().dispatch_entry(msr);
    if ((e == nullptr || e->guest_read == nullptr) && rd.access != Access::GP) fail("unclaimed read not #GP", msr);
    if (rd.ok()) {
      last[{vcpu, msr}] = rd.value;
      if (echo_scope(msr) != Scope::None) {
        auto it = expect.find(key(vcpu, msr));
        if (it != expect.end() && it->second != rd.value) fail("read differs from the value written", msr, rd.value, it->second);
      }
    }
  };
  auto wrote = [&](uint32_t vcpu, uint32_t msr, uint64_t value, Access a) {
    check_access(a, msr);
    if (a == Access::Ok && echo_scope(msr) != Scope::None) expect[key(vcpu, msr)] = value;
  };

  for (int ops = 0; ops < 200 && !r.empty() && !vm.stopped(); ++ops) {
    const uint8_t kind = r.u8();
    const uint32_t vcpu = r.u8() % d->vcpu_count();
    const uint8_t pick = r.u8();
    const uint32_t msr = pick == 0xFF ? r.u32() : msrs[pick % msrs.size()];
    uint64_t value = 0;
    const uint32_t op = kind & 7;
    if (op == 1 || op == 3) {
      switch ((kind >> 3) & 3) {
        case 0: value = r.u64(); break;
        case 1: value = r.u8(); break;
        case 2: value = (uint64_t{r.u8()} % 24) << 12; value |= r.u8(); break;  // a page, low bits (enable...)
        case 3: value = r.u8(); value |= uint64_t{r.u8()} << 16; break;  // SINT/STIMER-shaped
      }
    }
    switch (op) {
      case 0:
        check_read(vcpu, msr, d->rdmsr(vcpu, msr));
        break;
      case 1: {
        const Access a = d->wrmsr(vcpu, msr, value);
        const enlight::MsrEntry* e = vm.bus().dispatch_entry(msr);
        if ((e == nullptr || e->guest_write == nullptr) && a != Access::GP) fail("unclaimed write not #GP", msr);
        wrote(vcpu, msr, value, a);
        break;
      }
      case 2: {
        const enlight::direct::MsrRead rd = d->host_rdmsr(vcpu, msr);
        check_access(rd.access, msr);
        if (rd.ok() && echo_scope(msr) != Scope::None) {
          auto it = expect.find(key(vcpu, msr));
          if (it != expect.end() && it->second != rd.value) fail("host read differs from the value written", msr, rd.value, it->second);
        }
        break;
      }
      case 3:
        wrote(vcpu, msr, value, d->host_wrmsr(vcpu, msr, value));
        break;
      case 4: {
        const enlight::direct::MsrRead a = d->rdmsr(vcpu, msr);
        check_read(vcpu, msr, a);
        const enlight::direct::MsrRead b = d->rdmsr(vcpu, msr);
        check_read(vcpu, msr, b);
        if (a.access != b.access || a.value != b.value) fail("two reads in a row differ", msr, a.value, b.value);
        break;
      }
      case 5:
        // 0 to about 6.5 ms; a few big jumps.
        now += (kind & 0x80) ? uint64_t{r.u8()} * 1'000'000'000ull : uint64_t{r.u8()} * 25'600;
        d->set_time_ns(now);
        if (vm.stop_reason() == enlight::StopReason::PluginError) fail("VM stopped with PluginError in a timer");
        break;
      case 6:
      case 7: {
        auto it = last.find({vcpu, msr});
        value = it == last.end() ? 0 : it->second;
        if (op == 7) value ^= uint64_t{1} << (r.u8() % 64);
        const Access a = d->wrmsr(vcpu, msr, value);
        wrote(vcpu, msr, value, a);
        break;
      }
    }
  }
  return 0;
}
