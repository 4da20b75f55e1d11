// libFuzzer target: the core's hypercall decoder (core/src/bus/
// hypercall_decoder.cpp, Bus::hypercall) on a real Vm of the direct
// backend, with a fixture plugin linked in ("hcfuzz", below) whose handlers
// claim codes of every shape: simple and rep, fixed and variable headers,
// memory and fast and XMM-fast input, output headers and rep elements, an
// extended code (0x8001), a code gated on a CPUID bit nothing sets (so
// hv-enforce-cpuid denies it), and a rep call that completes a few reps
// per pass, fails at a chosen rep, or (on request) reports an impossible
// reps-completed count. The VM also has the plugins that serve hypercalls
// of their own (tlbflush, tlbflush-ext, ipi, spinlocks, synic), whose codes
// the selector reaches too. Guest memory is 64 KiB, so GPAs fall outside
// RAM.
//
// Input: byte 0 picks the VM (bit 0 hv-enforce-cpuid, bit 1 hv-xmm-input,
// bit 2 two vCPUs); then operations (hypercall_ops.md in the corpus folder
// lists them, tests/fuzz/corpus/hypercall/make_seeds.py writes seeds):
//   0 hypercall: vcpu, mode byte, code selector, rep count, rep start,
//     variable header size, input and output GPA, optional raw control
//     bits, optional XMM bytes
//   1 guest memory write: GPA, length, bytes
//   2 fixture behaviour: reps per pass, failing rep and its status, bad reps
//   3 hypercalls enabled on/off (HV_X64_MSR_HYPERCALL's enable bit)
//
// Checked besides the sanitizers, per pass through the decoder (a rep call
// the decoder continues is re-entered, up to 64 passes):
//   * the handler is called only with a validated request: a claimed code
//     with its own shape, fast and variable header only where the claim
//     allows them, rep count >= 1 and rep start < rep count for rep calls
//     (both 0 otherwise), sizes = header + variable header + reps and at
//     most a page (16 bytes fast, 112 with XMM), memory-form GPAs 8-byte
//     aligned, inside RAM, within one page and not overlapping, input
//     bytes equal to guest memory (or to the registers), output zeroed,
//     vp_index the caller's;
//   * #UD exactly for CPL > 0, real mode, hypercalls off, or an XMM call
//     under hv-enforce-cpuid without hv-xmm-input;
//   * a completed call's RAX (EDX:EAX in 32-bit mode, whose upper register
//     halves are kept) holds an HV_STATUS value and reps completed <= rep
//     count (0 for simple calls) and nothing else; success only from the
//     handler, and the handler's status and reps exactly;
//   * a continuation only for a rep call the handler left unfinished with
//     success, with the rep start rewritten to the reps done and the rest
//     of the control word kept;
//   * guest memory changes only where the TLFS puts the output: the header
//     on success, and the rep elements this pass completed;
//   * a plugin fault (the VM stops) only when the fixture was told to
//     return an impossible reps count, and then always; never from a real
//     plugin's handler;
//   * for the real plugins' codes, what holds for any handler: #UD as
//     above, an HV_STATUS and reps completed <= rep count (0 for simple
//     calls), a continuation only for a rep call with the rep start moved
//     forward and below the count, memory written only inside the call's
//     output area.
#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/loader.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/plugin.hpp>
#include <enlight/tlfs.h>

#include "vm_fuzz_common.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#ifndef ENLIGHT_FUZZ_MANIFEST_DIR
#define ENLIGHT_FUZZ_MANIFEST_DIR "manifests"
#endif

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "hypercall fuzz: invariant broken: %s\n", what);
  std::abort();
}
#define CHECK(cond)                       \
  do {                                    \
    if (!(cond)) fail(#cond);             \
  } while (0)

constexpr uint64_t kRam = 0x10000;  // 16 pages

// ---- The fixture plugin ----------------------------------------------------

// Codes no plugin claims (beside the real ones the VM also has).
constexpr uint16_t kSimple = 0x00C1;   // in 16 (+var), out 16; fast
constexpr uint16_t kRep = 0x00C2;      // rep: in 8 + 8/rep, out 8/rep
constexpr uint16_t kPartial = 0x00C3;  // rep: in 16 (+var) + 16/rep, out 8 + 8/rep; partial completion
constexpr uint16_t kXmmRep = 0x00C4;   // rep, fast, XMM, var: in 16 + 8/rep, no output
constexpr uint16_t kEmpty = 0x00C5;    // no input, no output; fast
constexpr uint16_t kGated = 0x00C6;    // in 8; gated on 0x40000003.EBX[11]
constexpr uint16_t kExt = 0x8001;      // extended: in 8, out 8

// What the harness expects of the call being made, and what the fixture
// did: shared because both live in this one translation unit.
struct Expect {
  bool active = false;
  bool fast = false, long_mode = true;
  uint64_t in_gpa = 0, out_gpa = 0;
  uint64_t in_regs[2] = {};  // fast: the two input qwords
  std::array<uint8_t, 96> xmm{};
  uint32_t vp_index = 0;
  const uint8_t* ram = nullptr;
  // The fixture's behaviour.
  uint16_t chunk = 0;         // kPartial/kXmmRep: reps per pass (0: all)
  uint16_t fail_rep = 0xFFFF; // kPartial: fail at this rep
  uint16_t fail_status = HV_STATUS_INVALID_PARAMETER;
  uint16_t simple_status = HV_STATUS_SUCCESS;
  bool bad_reps = false;      // kPartial: report an impossible count
  // What the fixture did in the last pass.
  bool called = false;
  bool returned_bad = false;
  enlight_hypercall_result result{};
  uint16_t code = 0, rep_start = 0, rep_count = 0;
  uint32_t output_size = 0;
  std::array<uint8_t, HV_PAGE_SIZE> output{};
};
Expect g;

const enlight_hypercall_claim* claim_of(uint16_t code);

uint8_t pattern(uint16_t code, uint32_t offset) { return static_cast<uint8_t>(0xA5 ^ code ^ (offset * 7)); }

bool page_ok(uint64_t gpa, uint64_t size) {
  return (gpa & 7) == 0 && (gpa & (HV_PAGE_SIZE - 1)) + size <= HV_PAGE_SIZE && gpa <= kRam && size <= kRam - gpa;
}

struct FxVm : enlight::VmBase {
  using VmBase::VmBase;
};
struct FxVcpu : enlight::VcpuBase<FxVm> {
  using VcpuBase::VcpuBase;
};

enlight_hypercall_result handle(FxVcpu&, const enlight_hypercall& call) {
  CHECK(g.active);
  CHECK(!g.called);  // one handler call per pass
  g.called = true;
  const enlight_hypercall_claim* c = claim_of(call.code);
  CHECK(c != nullptr);
  const bool rep = (c->flags & ENLIGHT_HC_REP) != 0;
  CHECK(!call.fast || (c->flags & ENLIGHT_HC_FAST));
  CHECK(call.var_header_qwords == 0 || (c->flags & ENLIGHT_HC_VAR_HEADER));
  if (rep) {
    CHECK(call.rep_count >= 1 && call.rep_start < call.rep_count && call.rep_count <= HV_HYPERCALL_REP_MAX);
  } else {
    CHECK(call.rep_count == 0 && call.rep_start == 0);
  }
  const uint64_t in_size = uint64_t{c->input_header_size} + uint64_t{call.var_header_qwords} * 8 +
                           uint64_t{call.rep_count} * c->input_rep_size;
  const uint64_t out_size = uint64_t{c->output_header_size} + uint64_t{call.rep_count} * c->output_rep_size;
  CHECK(call.input_size == in_size && call.output_size == out_size);
  CHECK(in_size <= HV_PAGE_SIZE && out_size <= HV_PAGE_SIZE);
  CHECK(call.vp_index == g.vp_index);
  CHECK(call.fast == (g.fast ? 1 : 0));
  if (call.fast) {
    const bool xmm = (c->flags & ENLIGHT_HC_XMM_FAST) != 0;
    CHECK(in_size <= (xmm ? HV_HYPERCALL_XMM_INPUT_MAX_BYTES : 16u));
    CHECK(out_size == 0);
    uint8_t expect[112] = {};
    std::memcpy(expect, g.in_regs, 16);
    std::memcpy(expect + 16, g.xmm.data(), 96);
    CHECK(std::memcmp(call.input, expect, in_size) == 0);
  } else {
    if (in_size != 0) {
      CHECK(page_ok(g.in_gpa, in_size));
      CHECK(std::memcmp(call.input, g.ram + g.in_gpa, in_size) == 0);
    }
    if (out_size != 0) {
      CHECK(page_ok(g.out_gpa, out_size));
      if (in_size != 0) CHECK(g.in_gpa >= g.out_gpa + out_size || g.out_gpa >= g.in_gpa + in_size);
    }
  }
  for (uint32_t i = 0; i < out_size; ++i) CHECK(call.output[i] == 0);

  // Behaviour: fill the output with a pattern (header, then the elements of
  // the reps done), and answer per code.
  enlight_hypercall_result r{HV_STATUS_SUCCESS, 0};
  uint16_t done = call.rep_count;
  if (call.code == kPartial || call.code == kXmmRep) {
    if (g.chunk != 0 && call.rep_start + g.chunk < call.rep_count) done = static_cast<uint16_t>(call.rep_start + g.chunk);
    if (call.code == kPartial && g.fail_rep >= call.rep_start && g.fail_rep < done) {
      done = g.fail_rep;
      r.status = g.fail_status;
    }
  } else if (call.code == kSimple) {
    r.status = g.simple_status;
  }
  if (rep) r.reps_completed = done;
  for (uint32_t i = 0; i < c->output_header_size; ++i) call.output[i] = pattern(call.code, i);
  for (uint32_t rp = call.rep_start; rep && rp < done; ++rp)
    for (uint32_t i = 0; i < c->output_rep_size; ++i) {
      const uint32_t off = c->output_header_size + rp * c->output_rep_size + i;
      call.output[off] = pattern(call.code, off);
    }
  if (call.code == kPartial && g.bad_reps) {
    // Impossible: more than asked for, or (with success) no progress.
    r.reps_completed = (call.rep_count & 1) ? static_cast<uint16_t>(call.rep_count + 1) : call.rep_start;
    r.status = HV_STATUS_SUCCESS;
    g.returned_bad = true;
  }
  g.result = r;
  g.code = call.code;
  g.rep_start = call.rep_start;
  g.rep_count = call.rep_count;
  g.output_size = call.output_size;
  std::memcpy(g.output.data(), call.output, out_size);
  return r;
}

constexpr std::array<enlight_hypercall_claim, 7> kHypercalls{
    enlight::hypercall<handle>(kSimple, ENLIGHT_HC_FAST | ENLIGHT_HC_VAR_HEADER, 16, 0, 16, 0),
    enlight::hypercall<handle>(kRep, ENLIGHT_HC_REP, 8, 8, 0, 8),
    enlight::hypercall<handle>(kPartial, ENLIGHT_HC_REP | ENLIGHT_HC_VAR_HEADER, 16, 16, 8, 8),
    enlight::hypercall<handle>(kXmmRep, ENLIGHT_HC_REP | ENLIGHT_HC_FAST | ENLIGHT_HC_XMM_FAST | ENLIGHT_HC_VAR_HEADER,
                               16, 8, 0, 0),
    enlight::hypercall<handle>(kEmpty, ENLIGHT_HC_FAST, 0, 0, 0, 0),
    enlight::hypercall<handle>(kGated, 0, 8, 0, 0, 0),
    enlight::hypercall<handle>(kExt, 0, 8, 0, 8, 0),
};

const enlight_hypercall_claim* claim_of(uint16_t code) {
  for (const auto& c : kHypercalls)
    if (c.code == code) return &c;
  return nullptr;
}

constexpr const char* kManifest = R"(name: hcfuzz
version: 1.0.0
abi: 1
description: fuzz fixture claiming hypercall codes of every shape (tests/fuzz/hypercall_fuzz.cpp)
library: hcfuzz.so
status: example
claims:
  hypercalls:
    - code: 0x00C1
    - code: 0x00C2
    - code: 0x00C3
    - code: 0x00C4
    - code: 0x00C5
    - code: 0x00C6
      gate: 0x40000003.ebx[11]
    - code: 0x8001
)";
[[maybe_unused]] const int manifest_registered = (enlight_static_manifest_register("hcfuzz", kManifest), 0);

}  // namespace

ENLIGHT_PLUGIN_EXPLICIT("hcfuzz", "1.0.0", FxVm, FxVcpu, enlight::none<enlight_msr_claim>, kHypercalls,
                        enlight::none<enlight_io_claim>, enlight::none<enlight_cpuid_claim>)

namespace {

using enlight::direct::DirectVm;

// The four VMs' resolutions (enforce-cpuid x xmm-input), vCPUs set later:
// the fixture and the plugins with hypercalls of their own.
const std::vector<enlight::Resolution>& resolutions() {
  static const std::vector<enlight::Resolution> res = [] {
    std::vector<std::string> profiles;
    for (int i = 0; i < 4; ++i) {
      std::string y = "name: f\n";
      if (i & 1) y += "enforce-cpuid: true\n";
      y += "enlightenments:\n  - hcfuzz\n  - vpindex\n  - synic\n  - tlbflush\n  - tlbflush-ext\n  - ipi\n"
           "  - spinlocks\n";
      if (i & 2) y += "  - xmm-input\n";
      profiles.push_back(y);
    }
    return enlight::fuzz::resolve_profiles("hypercall", profiles);
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
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
};

// Every HV_STATUS value sdk/include/enlight/tlfs.h defines.
bool known_status(uint16_t s) {
  return (s <= 0x0020 && s != 0x0001 && s != 0x000F) || s == HV_STATUS_INSUFFICIENT_BUFFER ||
         s == HV_STATUS_TIME_OUT || s == HV_STATUS_VTL_ALREADY_ENABLED;
}

constexpr uint16_t kCodes[] = {kSimple, kRep, kPartial, kXmmRep, kEmpty, kGated, kExt, 0x0000, 0x00FF, 0x0200,
                               0x7FFF, 0x8000, 0x80FF, 0xFFFF,
                               // the real plugins' codes (tlbflush, ipi, spinlocks, synic)
                               HvCallFlushVirtualAddressSpace, HvCallFlushVirtualAddressList,
                               HvCallFlushVirtualAddressSpaceEx, HvCallFlushVirtualAddressListEx,
                               HvCallSendSyntheticClusterIpi, HvCallSendSyntheticClusterIpiEx,
                               HvCallNotifyLongSpinWait, HvCallPostMessage, HvCallSignalEvent};
constexpr uint16_t kFixtureStatuses[] = {HV_STATUS_INVALID_PARAMETER, HV_STATUS_ACCESS_DENIED,
                                         HV_STATUS_INSUFFICIENT_MEMORY, HV_STATUS_INVALID_VP_INDEX,
                                         HV_STATUS_SUCCESS};

uint64_t gpa_from(Reader& r, uint8_t sel) {
  // Mostly small aligned GPAs in and around RAM; sometimes anything.
  if (sel & 0x80) return r.u64();
  return (uint64_t{r.u16()} << 3) ^ (sel & 7);
}

void hypercall_op(DirectVm& d, Reader& r, bool enforce, bool xmm_plugin, bool enabled) {
  const uint32_t vcpu = r.u8() % d.vcpu_count();
  const uint8_t mode = r.u8();
  const uint8_t sel = r.u8();
  const uint16_t code = sel < 0xF0 ? kCodes[sel % (sizeof kCodes / sizeof kCodes[0])] : r.u16();
  const uint8_t rc_byte = r.u8(), rs_byte = r.u8(), vh_byte = r.u8();
  // Small counts mostly; 0xFF bytes reach for the 12-bit maxima.
  const uint16_t rep_count = rc_byte == 0xFF ? (r.u16() & 0xFFF) : rc_byte % 20;
  const uint16_t rep_start = rs_byte == 0xFF ? (r.u16() & 0xFFF) : rs_byte % 20;
  const uint16_t var_header = vh_byte == 0xFF ? (r.u16() & 0x3FF) : vh_byte % 4;
  const uint8_t in_sel = r.u8(), out_sel = r.u8();
  const uint64_t in_gpa_raw = gpa_from(r, in_sel);
  const uint64_t out_gpa_raw = gpa_from(r, out_sel);
  const bool fast = mode & 1;
  const bool long_mode = !(mode & 2);
  const uint8_t cpl = (mode & 4) ? 3 : 0;
  const bool protected_mode = !(mode & 8);
  uint64_t control = enlight::direct::control(code, fast, rep_count, rep_start, var_header);
  if (mode & 0x10) control |= r.u64() & HV_HYPERCALL_RSVD_MASK;  // reserved bits
  enlight::HypercallRegs regs;
  regs.long_mode = long_mode;
  regs.cpl = cpl;
  regs.protected_mode = protected_mode;
  if (mode & 0x20)
    for (auto& x : regs.xmm)
      for (auto& b : x) b = r.u8();
  // The registers' upper halves carry junk in 32-bit mode (must be kept).
  const uint64_t junk = (mode & 0x40) ? 0xDEADBEEF00000000ull : 0;
  if (long_mode) {
    regs.rcx = control;
    regs.rdx = in_gpa_raw;
    regs.r8 = out_gpa_raw;
  } else {
    regs.rdx = junk | (control >> 32);
    regs.rax = junk | (control & 0xFFFFFFFFu);
    regs.rbx = junk | (in_gpa_raw >> 32);
    regs.rcx = junk | (in_gpa_raw & 0xFFFFFFFFu);
    regs.rdi = junk | (out_gpa_raw >> 32);
    regs.rsi = junk | (out_gpa_raw & 0xFFFFFFFFu);
  }
  enlight::Vm& vm = d.vm();
  enlight::VcpuState& vs = vm.vcpu(vcpu);
  const enlight::HypercallEntry* entry = vm.bus().find_hypercall(code);
  const bool fixture = claim_of(code) != nullptr;
  CHECK(!fixture || entry != nullptr);
  // A real plugin's code: only what holds for any handler is checked.
  const bool real = entry != nullptr && !fixture;
  const enlight_hypercall_claim* shape = fixture ? claim_of(code) : entry ? &entry->shape : nullptr;

  std::vector<uint8_t> before(kRam), expect(kRam);
  uint8_t* const ram = d.memory().base();
  for (int pass = 0; pass < 64; ++pass) {
    const uint64_t cur_control = long_mode ? regs.rcx : ((regs.rdx & 0xFFFFFFFFu) << 32) | (regs.rax & 0xFFFFFFFFu);
    const uint16_t cur_start = static_cast<uint16_t>((cur_control & HV_HYPERCALL_REP_START_MASK) >> HV_HYPERCALL_REP_START_SHIFT);
    std::memcpy(before.data(), ram, kRam);
    g.active = true;
    g.called = false;
    g.returned_bad = false;
    g.fast = fast;
    g.long_mode = long_mode;
    g.in_gpa = in_gpa_raw;
    g.out_gpa = out_gpa_raw;
    g.in_regs[0] = in_gpa_raw;
    g.in_regs[1] = out_gpa_raw;
    std::memcpy(g.xmm.data(), regs.xmm, 96);
    g.vp_index = vs.vp_index;
    g.ram = ram;
    const enlight::HypercallRegs saved = regs;
    const enlight::HypercallAction a = vm.bus().hypercall(vs, regs);
    g.active = false;
    CHECK(!(cur_control & HV_HYPERCALL_RSVD_MASK) || !g.called);  // reserved bits never reach a handler

    // #UD
    const bool ud_mode = cpl != 0 || !protected_mode || !enabled;
    if (ud_mode) CHECK(a == enlight::HypercallAction::InjectUD);
    if (a == enlight::HypercallAction::InjectUD) {
      const enlight_hypercall_claim* c = shape;
      CHECK(ud_mode || (c != nullptr && (c->flags & ENLIGHT_HC_XMM_FAST) && fast && enforce && !xmm_plugin));
      CHECK(!g.called);
      CHECK(std::memcmp(before.data(), ram, kRam) == 0);
      return;
    }
    // Fault: only and always when the fixture answered an impossible count.
    if (real && a == enlight::HypercallAction::Fault) {
      std::fprintf(stderr, "hypercall fuzz: code 0x%04x: %s\n", code, vm.stop_message().c_str());
      fail("a plugin's hypercall handler faulted on guest input");
    }
    CHECK((a == enlight::HypercallAction::Fault) == g.returned_bad);
    if (a == enlight::HypercallAction::Fault) {
      CHECK(vm.stop_reason() == enlight::StopReason::PluginError);
      CHECK(std::memcmp(before.data(), ram, kRam) == 0);
      return;
    }
    CHECK(vm.stop_reason() == enlight::StopReason::None);

    // Memory: the output the TLFS lets this pass write, nothing else.
    std::memcpy(expect.data(), before.data(), kRam);
    if (g.called && !fast && g.output_size != 0) {
      const enlight_hypercall_claim* c = claim_of(g.code);
      const bool rep = (c->flags & ENLIGHT_HC_REP) != 0;
      if (g.result.status == HV_STATUS_SUCCESS)
        std::memcpy(expect.data() + g.out_gpa, g.output.data(), c->output_header_size);
      if (rep && g.result.reps_completed > g.rep_start) {
        const uint32_t first = c->output_header_size + uint32_t{g.rep_start} * c->output_rep_size;
        const uint32_t len = uint32_t(g.result.reps_completed - g.rep_start) * c->output_rep_size;
        std::memcpy(expect.data() + g.out_gpa + first, g.output.data() + first, len);
      }
    }
    if (real && !fast) {
      // Any output inside the call's output area, nothing elsewhere.
      const uint64_t out_size = uint64_t{shape->output_header_size} +
                                uint64_t{static_cast<uint16_t>((cur_control & HV_HYPERCALL_REP_COUNT_MASK) >>
                                                               HV_HYPERCALL_REP_COUNT_SHIFT)} * shape->output_rep_size;
      if (out_size != 0 && page_ok(out_gpa_raw, out_size))
        std::memcpy(expect.data() + out_gpa_raw, ram + out_gpa_raw, out_size);
    }
    CHECK(std::memcmp(expect.data(), ram, kRam) == 0);

    if (a == enlight::HypercallAction::Continue && real) {
      const uint64_t next = long_mode ? regs.rcx : ((regs.rdx & 0xFFFFFFFFu) << 32) | (regs.rax & 0xFFFFFFFFu);
      const uint16_t count = static_cast<uint16_t>((cur_control & HV_HYPERCALL_REP_COUNT_MASK) >> HV_HYPERCALL_REP_COUNT_SHIFT);
      const uint16_t next_start = static_cast<uint16_t>((next & HV_HYPERCALL_REP_START_MASK) >> HV_HYPERCALL_REP_START_SHIFT);
      CHECK((shape->flags & ENLIGHT_HC_REP) && next_start > cur_start && next_start < count);
      CHECK((next & ~HV_HYPERCALL_REP_START_MASK) == (cur_control & ~HV_HYPERCALL_REP_START_MASK));
      continue;
    }
    if (a == enlight::HypercallAction::Continue) {
      const enlight_hypercall_claim* c = claim_of(code);
      CHECK(g.called && c != nullptr && (c->flags & ENLIGHT_HC_REP));
      CHECK(g.result.status == HV_STATUS_SUCCESS && g.result.reps_completed < g.rep_count);
      CHECK(g.result.reps_completed > cur_start);
      const uint64_t next = long_mode ? regs.rcx : ((regs.rdx & 0xFFFFFFFFu) << 32) | (regs.rax & 0xFFFFFFFFu);
      CHECK((next & ~HV_HYPERCALL_REP_START_MASK) == (cur_control & ~HV_HYPERCALL_REP_START_MASK));
      CHECK(((next & HV_HYPERCALL_REP_START_MASK) >> HV_HYPERCALL_REP_START_SHIFT) == g.result.reps_completed);
      if (!long_mode) CHECK((regs.rdx >> 32) == (saved.rdx >> 32) && regs.rax == saved.rax);
      else CHECK(regs.rax == saved.rax && regs.rdx == saved.rdx);
      continue;
    }
    CHECK(a == enlight::HypercallAction::Complete);
    uint64_t result;
    if (long_mode) {
      result = regs.rax;
    } else {
      CHECK((regs.rax >> 32) == (saved.rax >> 32) && (regs.rdx >> 32) == (saved.rdx >> 32));
      result = ((regs.rdx & 0xFFFFFFFFu) << 32) | (regs.rax & 0xFFFFFFFFu);
    }
    const uint16_t status = static_cast<uint16_t>(result & HV_HYPERCALL_RESULT_STATUS_MASK);
    const uint16_t reps = static_cast<uint16_t>((result & HV_HYPERCALL_RESULT_REPS_COMPLETED_MASK) >>
                                                HV_HYPERCALL_RESULT_REPS_COMPLETED_SHIFT);
    CHECK((result & ~(HV_HYPERCALL_RESULT_STATUS_MASK | HV_HYPERCALL_RESULT_REPS_COMPLETED_MASK)) == 0);
    CHECK(known_status(status));
    const uint16_t cur_count = static_cast<uint16_t>((cur_control & HV_HYPERCALL_REP_COUNT_MASK) >> HV_HYPERCALL_REP_COUNT_SHIFT);
    CHECK(reps <= cur_count);
    if (real) {
      if (!(shape->flags & ENLIGHT_HC_REP)) CHECK(reps == 0);
    } else if (!g.called) {
      CHECK(status != HV_STATUS_SUCCESS && reps == 0);
    } else {
      const enlight_hypercall_claim* c = claim_of(g.code);
      CHECK(status == g.result.status);
      CHECK(reps == ((c->flags & ENLIGHT_HC_REP) ? g.result.reps_completed : 0));
    }
    return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& resolved = resolutions();
  if (size < 1) return 0;
  Reader r{data, size};
  const uint8_t config = r.u8();
  const bool enforce = config & 1, xmm_plugin = config & 2;
  enlight::Resolution res = resolved[(enforce ? 1 : 0) | (xmm_plugin ? 2 : 0)];
  res.vcpus = (config & 4) ? 2 : 1;
  enlight::VmOptions options;
  options.memory_bytes = kRam;
  options.metrics = (config & 8) == 0;
  options.log = [](uint32_t, const std::string&, const std::string&) {};
  // Laid before the VM is created (its RAM lands between), unmapped after it goes.
  enlight::fuzz::RamGuard guard(kRam);
  std::unique_ptr<DirectVm> d;
  try {
    d = DirectVm::create(res, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hypercall fuzz: VM refused: %s\n", e.what());
    std::abort();
  }
  guard.attach(d->memory());
  g = Expect{};
  bool enabled = true;
  d->vm().bus().set_hypercalls_enabled(true);
  for (int ops = 0; ops < 64 && !r.empty() && !d->vm().stopped(); ++ops) {
    switch (r.u8() % 4) {
      case 0:
        hypercall_op(*d, r, enforce, xmm_plugin, enabled);
        break;
      case 1: {
        const uint64_t gpa = (uint64_t{r.u16()} % kRam);
        const uint32_t len = r.u8();
        for (uint32_t i = 0; i < len && gpa + i < kRam; ++i) d->memory().base()[gpa + i] = r.u8();
        break;
      }
      case 2: {
        const uint8_t b = r.u8();
        g.chunk = b & 7;
        g.fail_rep = (b & 0x80) ? r.u8() % 24 : 0xFFFF;
        g.fail_status = kFixtureStatuses[r.u8() % 4];
        g.simple_status = kFixtureStatuses[(b >> 3) % 5];
        g.bad_reps = (b & 0x40) != 0;
        break;
      }
      case 3:
        enabled = !enabled;
        d->vm().bus().set_hypercalls_enabled(enabled);
        break;
    }
  }
  return 0;
}
