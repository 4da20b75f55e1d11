// libFuzzer target: SynIC message and event delivery (plugins/synic,
// delivery.cpp and the "synic" service) under a hostile guest, with its
// real producers: stimer's expiry messages, VMBus's replies to channel
// messages the guest posts to connection 4, the echo connection of
// HvCallPostMessage/HvCallSignalEvent, and direct service calls from the
// host side through a small consumer fixture ("synfuzz", below: it only
// hands the harness the service table and counts slot-free calls, as the
// synic-probe fixture of tests/plugins/synic does). Real Vm, direct
// backend, 64 KiB of RAM (16 pages; page numbers up to 19 are used, so
// pages outside RAM occur), one or two vCPUs.
//
// Operations (one byte of kind, then its bytes):
//   0 SynIC MSR write (SCONTROL, SIMP, SIEFP, SINTx, EOM, SVERSION) with a
//     page-shaped, SINT-shaped or raw value
//   1 stimer MSR write (CONFIG or COUNT of a timer)
//   2 advance the clock (stimer expiries)
//   3 host post_message: vCPU, SINT, type, payload size, size argument,
//     each sometimes invalid
//   4 host signal_event
//   5 the guest takes a message: MessageType = None in a slot, then EOM
//     if MessagePending was set (TLFS "Recommended Message Handling"), or
//     not; or any guest byte write
//   6 guest HvCallPostMessage: to the echo connection (a fresh message
//     type each time), to VMBus on connection 1 (INITIATE_CONTACT, REQUEST_OFFERS,
//     UNLOAD or raw bytes), or to any connection id
//   7 guest HvCallSignalEvent (fast) to the echo connection
//   8 the guest EOIs the highest pending vector (the APIC model)
//
// Checked after every operation, besides the sanitizers:
//   * no MSR access or hypercall ends in a plugin fault; the VM never
//     stops with PluginError;
//   * guest RAM changes only where SynIC may write: in a SIEF page only
//     bits going from 0 to 1 (event flags); in a SIMP page, a slot whose
//     MessageType was None may be written; a full slot changes only by
//     gaining MessagePending. So no message ever lands outside a SIMP page
//     of an enabled SynIC, and none overwrites an unconsumed one;
//   * host posts: INVALID exactly for invalid arguments; UNAVAILABLE
//     exactly when SCONTROL or SIMP is disabled or the page is not wholly
//     in RAM; DELIVERED puts exactly that message (type, size, payload)
//     into a slot that was empty; BUSY leaves a full slot full, with
//     MessagePending set. Signals likewise (the flag is set after
//     DELIVERED);
//   * accounting (when the enabled SIMP and SIEF pages are all distinct,
//     so every slot belongs to one vCPU and no event flag lands in a
//     slot): the synic's enlight_synic_messages_posted_total grows by
//     exactly the number of slots that went from empty to full, and no
//     message of a unique type (each host post and each echo message
//     gets its own) is delivered twice; a host post answered DELIVERED is
//     seen exactly once;
//   * wake-ups: an EOM write calls every slot-free listener for each of the
//     vCPU's 16 SINTs.
// What the TLFS lets a message do besides (and this target allows): be
// refused while the slot is full (the producer keeps it: stimer, echo with
// one held message, VMBus's queue), and be dropped when the target SynIC
// or SIM page is disabled (VMBus drops replies then; the guest starts over
// with INITIATE_CONTACT).
#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/loader.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/plugin.hpp>
#include <enlight/services/synic.h>
#include <enlight/tlfs.h>

#include "vm_fuzz_common.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifndef ENLIGHT_FUZZ_MANIFEST_DIR
#define ENLIGHT_FUZZ_MANIFEST_DIR "manifests"
#endif

namespace {

[[noreturn]] void fail(const char* what, uint64_t a = 0, uint64_t b = 0) {
  std::fprintf(stderr, "synic_messages fuzz: invariant broken: %s (0x%llx, 0x%llx)\n", what,
               static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  std::abort();
}
#define CHECK(cond)           \
  do {                        \
    if (!(cond)) fail(#cond); \
  } while (0)

constexpr uint64_t kRam = 0x10000;
constexpr uint32_t kPages = kRam / HV_PAGE_SIZE;
constexpr uint32_t kEchoId = 0x4242;
constexpr uint32_t kMaxVcpus = 2;

// ---- The consumer fixture ----------------------------------------------------

struct FxVm;
FxVm* g_fx = nullptr;

struct FxVm : enlight::VmBase {
  explicit FxVm(const enlight_vm_params& p) : VmBase(p) {
    svc = service<enlight_synic_service>(ENLIGHT_SYNIC_SERVICE, ENLIGHT_SYNIC_SERVICE_MAJOR, 0);
    if (svc == nullptr || svc->on_slot_free(svc->ctx, &on_slot_free, this) != 0)
      throw enlight::PluginError("no synic service");
    g_fx = this;
  }
  ~FxVm() override {
    if (g_fx == this) g_fx = nullptr;
  }
  static void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept {
    auto* vm = static_cast<FxVm*>(arg);
    if (vcpu >= kMaxVcpus || sint >= HV_SYNIC_SINT_COUNT) std::abort();
    ++vm->slot_free[vcpu][sint];
  }
  const enlight_synic_service* svc = nullptr;
  uint64_t slot_free[kMaxVcpus][HV_SYNIC_SINT_COUNT] = {};
};
struct FxVcpu : enlight::VcpuBase<FxVm> {
  using VcpuBase::VcpuBase;
};

constexpr const char* kManifest = R"(name: synfuzz
version: 1.0.0
abi: 1
description: fuzz fixture that hands the synic service to the harness (tests/fuzz/synic_messages_fuzz.cpp)
library: synfuzz.so
status: example
requires:
  - synic >=1.0 <2
)";
[[maybe_unused]] const int manifest_registered = (enlight_static_manifest_register("synfuzz", kManifest), 0);

}  // namespace

ENLIGHT_PLUGIN_EXPLICIT("synfuzz", "1.0.0", FxVm, FxVcpu, enlight::none<enlight_msr_claim>,
                        enlight::none<enlight_hypercall_claim>, enlight::none<enlight_io_claim>,
                        enlight::none<enlight_cpuid_claim>)

namespace {

using enlight::Access;
using enlight::direct::DirectVm;

// [echo sint 3 / 2 (VMBus's)]
const std::vector<enlight::Resolution>& resolutions() {
  static const std::vector<enlight::Resolution> res = [] {
    std::vector<std::string> profiles;
    for (int sint : {3, 2})
      profiles.push_back("enlightenments:\n  - vpindex\n  - synic: { echo-connection-id: " + std::to_string(kEchoId) +
                         ", echo-sint: " + std::to_string(sint) + " }\n  - time\n  - stimer\n  - vmbus\n  - synfuzz\n");
    return enlight::fuzz::resolve_profiles("synic_messages", profiles);
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
  uint16_t u16() {
    const uint16_t lo = u8();
    return static_cast<uint16_t>(lo | (u8() << 8));
  }
  uint32_t u32() {
    const uint32_t lo = u16();
    return lo | (uint32_t{u16()} << 16);
  }
  uint64_t u64() {
    const uint64_t lo = u32();
    return lo | (uint64_t{u32()} << 32);
  }
};

uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct Harness {
  DirectVm& d;
  enlight::Vm& vm;
  uint8_t* ram;
  std::vector<uint8_t> before;
  std::map<uint32_t, int> seen;  // unique message type -> deliveries seen
  uint32_t serial = 0;
  uint64_t now = 0;

  Harness(DirectVm& dv) : d(dv), vm(dv.vm()), ram(dv.memory().base()), before(ram, ram + kRam) {}

  uint64_t reg(uint32_t vcpu, uint32_t msr) {
    const auto r = d.host_rdmsr(vcpu, msr);
    CHECK(r.ok());
    return r.value;
  }
  // The page a SIMP/SIEFP names when delivery would use it, or -1.
  int64_t page(uint32_t vcpu, uint32_t msr, uint64_t enable) {
    if (!(reg(vcpu, HV_X64_MSR_SCONTROL) & HV_SYNIC_SCONTROL_ENABLE)) return -1;
    const uint64_t v = reg(vcpu, msr);
    if (!(v & enable)) return -1;
    const uint64_t gpa = v & HV_SYNIC_PAGE_MASK;
    if (gpa > kRam - HV_PAGE_SIZE) return -1;
    return static_cast<int64_t>(gpa);
  }
  uint64_t posted() {
    const enlight::MetricsStorage& m = vm.metrics_storage();
    for (const auto& c : m.counters) {
      if (c.name != "enlight_synic_messages_posted_total") continue;
      uint64_t sum = 0;
      for (uint32_t v = 0; v < d.vcpu_count(); ++v)
        sum += m.plugin_counters[static_cast<size_t>(v) * enlight::MetricsStorage::kMaxPluginCounters + c.id];
      return sum;
    }
    fail("no messages_posted counter");
  }

  // State before an exit: the pages, the counter.
  struct Pages {
    int64_t simp[kMaxVcpus], sief[kMaxVcpus];
    bool distinct = true;
  };
  Pages pages() {
    Pages p{};
    std::vector<int64_t> all;
    for (uint32_t v = 0; v < kMaxVcpus; ++v) {
      p.simp[v] = v < d.vcpu_count() ? page(v, HV_X64_MSR_SIMP, HV_SYNIC_SIMP_ENABLE) : -1;
      p.sief[v] = v < d.vcpu_count() ? page(v, HV_X64_MSR_SIEFP, HV_SYNIC_SIEFP_ENABLE) : -1;
      if (p.simp[v] >= 0) all.push_back(p.simp[v]);
      if (p.sief[v] >= 0) all.push_back(p.sief[v]);
    }
    for (size_t i = 0; i < all.size(); ++i)
      for (size_t j = i + 1; j < all.size(); ++j)
        if (all[i] == all[j]) p.distinct = false;
    return p;
  }

  // The guest itself changed memory: that is the new baseline.
  void guest_wrote() { std::memcpy(before.data(), ram, kRam); }

  // After an exit: memory rule, accounting. Returns the unique types seen.
  void after(const Pages& p0, uint64_t posted0) {
    if (vm.stop_reason() == enlight::StopReason::PluginError) fail("VM stopped with PluginError");
    const Pages p1 = pages();
    uint32_t transitions = 0;
    const bool changed = std::memcmp(before.data(), ram, kRam) != 0;
    for (uint64_t i = 0; changed && i < kRam; ++i) {
      // Whole unchanged slots at once (memcmp is not instrumented).
      if (i % HV_MESSAGE_SIZE == 0 && std::memcmp(&before[i], &ram[i], HV_MESSAGE_SIZE) == 0) {
        i += HV_MESSAGE_SIZE - 1;
        continue;
      }
      if (before[i] == ram[i]) continue;
      bool ok = false;
      const uint64_t pg = i & ~uint64_t{HV_PAGE_SIZE - 1};
      const uint64_t slot = (i - pg) / HV_MESSAGE_SIZE * HV_MESSAGE_SIZE;
      const uint64_t in_slot = (i - pg) % HV_MESSAGE_SIZE;
      for (uint32_t v = 0; v < kMaxVcpus && !ok; ++v) {
        for (const Pages* p : {&p0, &p1}) {
          if (p->sief[v] == static_cast<int64_t>(pg) && (before[i] & ~ram[i]) == 0) ok = true;
          if (p->simp[v] == static_cast<int64_t>(pg)) {
            const bool was_empty = load32(&before[pg + slot]) == HvMessageTypeNone;
            if (was_empty) ok = true;
            if (!was_empty && in_slot == HV_MESSAGE_FLAGS_OFFSET &&
                (ram[i] ^ before[i]) == HV_MESSAGE_FLAG_PENDING && (ram[i] & HV_MESSAGE_FLAG_PENDING))
              ok = true;
          }
        }
      }
      if (!ok) fail("guest memory written outside what SynIC may write", i, ram[i]);
    }
    if (p0.distinct && p1.distinct) {
      for (uint32_t v = 0; changed && v < kMaxVcpus; ++v) {
        if (p0.simp[v] < 0 || p0.simp[v] != p1.simp[v]) continue;
        for (uint32_t s = 0; s < HV_SYNIC_SINT_COUNT; ++s) {
          const uint64_t at = static_cast<uint64_t>(p0.simp[v]) + s * HV_MESSAGE_SIZE;
          const uint32_t t0 = load32(&before[at]), t1 = load32(&ram[at]);
          if (t0 == HvMessageTypeNone && t1 != HvMessageTypeNone) {
            ++transitions;
            if ((t1 & 0xF0000000u) == 0x10000000u || (t1 & 0xF0000000u) == 0x20000000u)
              if (++seen[t1] > 1) fail("a message delivered twice", t1);
          }
        }
      }
      const uint64_t grew = posted() - posted0;
      if (grew != transitions) fail("messages_posted differs from the messages that landed", grew, transitions);
    }
    if (changed) std::memcpy(before.data(), ram, kRam);
  }

  void access(Access a) { CHECK(a != Access::Fault); }
};

uint64_t page_value(Reader& r) {
  const uint8_t b = r.u8();
  // Page 0-19 (16-19 outside RAM), enable bit from the low bit, sometimes
  // RsvdP junk (which a guest write must not change: #GP).
  return (uint64_t{b % 20u} << 12) | ((b >> 5) & 1) | ((b & 0x80) ? 0x10 : 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& resolved = resolutions();
  if (size < 1) return 0;
  Reader r{data, size};
  const uint8_t config = r.u8();
  enlight::Resolution res = resolved[(config >> 1) & 1];
  res.vcpus = (config & 1) ? 2 : 1;
  enlight::VmOptions options;
  options.memory_bytes = kRam;
  options.log = [](uint32_t, const std::string&, const std::string&) {};
  // Laid before the VM is created (its RAM lands between), unmapped after it goes.
  enlight::fuzz::RamGuard guard(kRam);
  std::unique_ptr<DirectVm> dvm;
  try {
    dvm = DirectVm::create(res, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "synic_messages fuzz: VM refused: %s\n", e.what());
    std::abort();
  }
  guard.attach(dvm->memory());
  CHECK(g_fx != nullptr);
  FxVm& fx = *g_fx;
  const enlight_synic_service& svc = *fx.svc;
  Harness h(*dvm);
  DirectVm& d = *dvm;
  d.vm().bus().set_hypercalls_enabled(true);
  constexpr uint64_t kInputGpa = 0xF000;  // the last page: the hypercall input

  for (int ops = 0; ops < 128 && !r.empty() && !d.vm().stopped(); ++ops) {
    const uint8_t kind = r.u8();
    const uint32_t vcpu = r.u8() % d.vcpu_count();
    const Harness::Pages p0 = h.pages();
    const uint64_t posted0 = h.posted();
    switch (kind % 9) {
      case 0: {
        const uint8_t which = r.u8();
        uint32_t msr;
        uint64_t value;
        switch (which % 6) {
          case 0: msr = HV_X64_MSR_SCONTROL; value = r.u8() & 1; break;
          case 1: msr = HV_X64_MSR_SIMP; value = page_value(r); break;
          case 2: msr = HV_X64_MSR_SIEFP; value = page_value(r); break;
          case 3: msr = HV_X64_MSR_EOM; value = r.u8(); break;
          case 4: msr = HV_X64_MSR_SVERSION; value = r.u8(); break;
          default: {
            msr = HV_X64_MSR_SINT0 + (which >> 4);
            const uint8_t b = r.u8();
            value = r.u8() | ((b & 1) ? HV_SYNIC_SINT_MASKED : 0) | ((b & 2) ? HV_SYNIC_SINT_AUTO_EOI : 0);
            if (b & 0x80) value = r.u64();
          }
        }
        uint64_t free0[HV_SYNIC_SINT_COUNT];
        std::memcpy(free0, fx.slot_free[vcpu], sizeof free0);
        const Access a = d.wrmsr(vcpu, msr, value);
        h.access(a);
        if (msr == HV_X64_MSR_EOM && a == Access::Ok)
          for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i)
            if (fx.slot_free[vcpu][i] <= free0[i]) fail("EOM without a slot-free notification", i);
        break;
      }
      case 1: {
        const uint8_t which = r.u8();
        const uint32_t msr = HV_X64_MSR_STIMER0_CONFIG + which % 8;
        uint64_t value;
        if (which & 0x80) value = r.u64();
        else if ((which % 8) % 2 == 0)  // CONFIG: enable, periodic, lazy, auto-enable, SINT
        {
          const uint64_t bits = r.u8() & 0xF;
          value = bits | (uint64_t(r.u8() % 16) << 16);
        }
        else
          value = uint64_t{r.u16()} * 100;  // COUNT, 100 ns units
        h.access(d.wrmsr(vcpu, msr, value));
        break;
      }
      case 2:
        h.now += uint64_t{r.u8()} * 50'000;
        d.set_time_ns(h.now);
        break;
      case 3: {
        const uint8_t b = r.u8();
        const uint32_t tv = (b & 0x80) ? r.u8() % 4 : vcpu;  // 2, 3: no such vCPU
        const uint32_t sint = (b & 0x40) ? r.u8() : (b & 0xF);
        uint32_t type = 0x20000000u | ++h.serial;
        if (b & 0x20) type = (b & 0x10) ? HvMessageTypeNone : 0x80000000u | r.u8();
        const uint8_t psize = r.u8();
        const uint32_t payload = psize % 241 + ((psize == 0xFF) ? 15 : 0);  // 0-240, sometimes 255
        uint32_t size_arg = HV_MESSAGE_HEADER_SIZE + payload;
        if (r.u8() & 1) size_arg = r.u16() % 300;
        alignas(8) uint8_t msg[HV_MESSAGE_SIZE] = {};
        std::memcpy(msg, &type, 4);
        msg[HV_MESSAGE_PAYLOAD_SIZE_OFFSET] = static_cast<uint8_t>(payload);
        msg[HV_MESSAGE_FLAGS_OFFSET] = r.u8();
        for (uint32_t i = 0; i < HV_MESSAGE_PAYLOAD_BYTE_COUNT; ++i) msg[HV_MESSAGE_PAYLOAD_OFFSET + i] = static_cast<uint8_t>(i ^ type);
        const bool invalid = tv >= d.vcpu_count() || sint >= HV_SYNIC_SINT_COUNT || size_arg < HV_MESSAGE_HEADER_SIZE ||
                             size_arg > HV_MESSAGE_SIZE || type == HvMessageTypeNone ||
                             payload > HV_MESSAGE_PAYLOAD_BYTE_COUNT || HV_MESSAGE_HEADER_SIZE + payload > size_arg;
        const int64_t simp = invalid ? -1 : h.page(tv, HV_X64_MSR_SIMP, HV_SYNIC_SIMP_ENABLE);
        const uint64_t at = simp < 0 ? 0 : static_cast<uint64_t>(simp) + sint * HV_MESSAGE_SIZE;
        const bool was_full = simp >= 0 && load32(h.ram + at) != HvMessageTypeNone;
        const enlight_synic_result res2 = svc.post_message(svc.ctx, tv, sint, msg, size_arg);
        if (invalid) {
          if (res2 != ENLIGHT_SYNIC_INVALID) fail("invalid post not INVALID", res2);
        } else if (simp < 0) {
          if (res2 != ENLIGHT_SYNIC_UNAVAILABLE) fail("post to a disabled SIM page not UNAVAILABLE", res2);
        } else if (was_full) {
          if (res2 != ENLIGHT_SYNIC_BUSY) fail("post to a full slot not BUSY", res2);
          CHECK(h.ram[at + HV_MESSAGE_FLAGS_OFFSET] & HV_MESSAGE_FLAG_PENDING);
        } else {
          if (res2 != ENLIGHT_SYNIC_DELIVERED) fail("post to an empty slot not DELIVERED", res2);
          CHECK(load32(h.ram + at) == type);
          CHECK(h.ram[at + HV_MESSAGE_PAYLOAD_SIZE_OFFSET] == payload);
          CHECK(std::memcmp(h.ram + at + HV_MESSAGE_PAYLOAD_OFFSET, msg + HV_MESSAGE_PAYLOAD_OFFSET, payload) == 0);
        }
        h.after(p0, posted0);
        if (res2 == ENLIGHT_SYNIC_DELIVERED && p0.distinct && (type & 0xF0000000u) == 0x20000000u && h.seen[type] != 1)
          fail("a delivered post not seen exactly once", type);
        continue;
      }
      case 4: {
        const uint8_t b = r.u8();
        const uint32_t tv = (b & 0x80) ? r.u8() % 4 : vcpu;
        const uint32_t sint = (b & 0x40) ? r.u8() : (b & 0xF);
        const uint32_t flag = (b & 0x20) ? r.u16() : r.u8();
        const bool invalid = tv >= d.vcpu_count() || sint >= HV_SYNIC_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT;
        const int64_t sief = invalid ? -1 : h.page(tv, HV_X64_MSR_SIEFP, HV_SYNIC_SIEFP_ENABLE);
        const enlight_synic_result res2 = svc.signal_event(svc.ctx, tv, sint, flag);
        if (invalid) CHECK(res2 == ENLIGHT_SYNIC_INVALID);
        else if (sief < 0) CHECK(res2 == ENLIGHT_SYNIC_UNAVAILABLE);
        else {
          CHECK(res2 == ENLIGHT_SYNIC_DELIVERED);
          const uint64_t at = static_cast<uint64_t>(sief) + sint * HV_EVENT_FLAGS_BYTE_COUNT + flag / 8;
          CHECK(h.ram[at] & (1u << (flag % 8)));
        }
        break;
      }
      case 5: {
        const uint8_t b = r.u8();
        if (b & 0x80) {  // any guest byte
          const uint16_t gpa = r.u16() % kRam;
          h.ram[gpa] = r.u8();
          h.guest_wrote();
          break;
        }
        const int64_t simp = h.page(vcpu, HV_X64_MSR_SIMP, HV_SYNIC_SIMP_ENABLE);
        if (simp < 0) break;
        uint8_t* slot = h.ram + simp + (b & 0xF) * HV_MESSAGE_SIZE;
        const uint32_t none = HvMessageTypeNone;
        std::memcpy(slot, &none, 4);
        const bool pending = slot[HV_MESSAGE_FLAGS_OFFSET] & HV_MESSAGE_FLAG_PENDING;
        h.guest_wrote();
        if ((b & 0x40) ? true : (pending && !(b & 0x20))) {
          const Harness::Pages q0 = h.pages();
          const uint64_t c0 = h.posted();
          h.access(d.wrmsr(vcpu, HV_X64_MSR_EOM, 0));
          h.after(q0, c0);
        }
        continue;
      }
      case 6: {
        const uint8_t b = r.u8();
        uint8_t in[HV_POST_MESSAGE_INPUT_SIZE] = {};
        uint32_t connection = kEchoId, type = 0x10000000u | ++h.serial, psize = r.u8() % 241;
        switch (b % 4) {
          case 0: break;  // echo
          case 1: {       // VMBus (QEMU's connection 1, where the vmbus plugin listens)
            connection = VMBUS_MESSAGE_CONNECTION_ID;
            type = VMBUS_MESSAGE_TYPE;
            const uint32_t msgs[] = {CHANNELMSG_INITIATE_CONTACT, 3 /* REQUEST_OFFERS */, 16 /* UNLOAD */,
                                     r.u8() % 32u};
            const uint32_t mt = msgs[(b >> 2) % 4];
            std::memcpy(in + HV_POST_MESSAGE_PAYLOAD_OFFSET, &mt, 4);
            const uint32_t version = (b & 0x40) ? VMBUS_VERSION_WIN10_V5 : VMBUS_VERSION_WIN10;
            std::memcpy(in + HV_POST_MESSAGE_PAYLOAD_OFFSET + 8, &version, 4);
            psize = mt == CHANNELMSG_INITIATE_CONTACT ? 40 : 8;
            break;
          }
          case 2:  // raw bytes to VMBus (or to connection 4, Linux's for INITIATE_CONTACT >= 5.0)
            connection = (b & 0x80) ? VMBUS_MESSAGE_CONNECTION_ID_4 : VMBUS_MESSAGE_CONNECTION_ID;
            type = VMBUS_MESSAGE_TYPE;
            for (uint32_t i = 0; i < psize; ++i) in[HV_POST_MESSAGE_PAYLOAD_OFFSET + i] = r.u8();
            break;
          default:  // anything
            connection = r.u32();
            type = r.u32();
            psize = r.u8();
        }
        std::memcpy(in + HV_POST_MESSAGE_CONNECTION_ID_OFFSET, &connection, 4);
        std::memcpy(in + HV_POST_MESSAGE_MESSAGE_TYPE_OFFSET, &type, 4);
        std::memcpy(in + HV_POST_MESSAGE_PAYLOAD_SIZE_OFFSET, &psize, 4);
        std::memcpy(h.ram + kInputGpa, in, sizeof in);
        h.guest_wrote();
        const auto out = d.hypercall(vcpu, enlight::direct::control(HvCallPostMessage), kInputGpa, 0);
        CHECK(out.action != enlight::HypercallAction::Fault);
        break;
      }
      case 7: {
        const uint16_t flag = r.u16() % 2100;
        const auto out = d.fast_hypercall(vcpu, enlight::direct::control(HvCallSignalEvent, true),
                                          uint64_t{kEchoId} | (uint64_t{flag} << 32), 0);
        CHECK(out.action != enlight::HypercallAction::Fault);
        break;
      }
      case 8: {
        const auto v = d.take_interrupt(vcpu);
        if (v) d.apic_write(vcpu, 0x80B, 0);  // x2APIC EOI
        break;
      }
    }
    h.after(p0, posted0);
  }
  return 0;
}
