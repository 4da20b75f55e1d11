// Snapshots of emu vCPUs: the engine's registers through Unicorn's
// register API (named registers, never Unicorn's raw context: a snapshot
// file is untrusted, and the raw context holds host pointers), the local
// APIC model, HLT, and an exception a hook had not delivered yet.
//
// Restore writes into a fresh engine, whose start state (64-bit code with
// paging off, null selectors) is not one a real CPU reaches through its
// registers: a register that still holds its start value is left alone,
// the rest are written in the order a CPU would have set them (EFER and
// CR3/CR4 before CR0, the GDT before the selectors that load from it).
#include "emu_impl.hpp"
#include "vcpu.hpp"

#include <x86intrin.h>

#include <span>
#include <stdexcept>
#include <string>

namespace enlight::emu {

namespace {

constexpr int kGprIds[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                             UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                             UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                             UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};

// The MSRs Unicorn's register API is asked for: the shared list but
// TSC_AUX, which this backend has never saved.
constexpr std::span<const CpuStateMsr> kMsrs(kCpuStateMsrs, kCpuStateMsrCount - 1);
constexpr uint32_t kEfer = 0xC0000080;

// Architectural reserved bits: a value with any of them set would #GP on
// a real CPU's MOV to CR / WRMSR / LDMXCSR, so no guest can have saved it.
constexpr uint64_t kCr0Allowed = 0x6005003Full | (1ull << 31);  // PE..NE, WP, AM, NW, CD, PG
constexpr uint64_t kCr4Allowed = 0x3FFFFFull;
constexpr uint64_t kEferAllowed = (1ull << 0) | (1ull << 8) | (1ull << 10) | (1ull << 11) | (1ull << 12) | (1ull << 13) |
                                  (1ull << 14) | (1ull << 15);
constexpr uint64_t kRflagsReserved = (1ull << 3) | (1ull << 5) | (1ull << 15) | ~0x3FFFFFull;

// The emu backend's extra bytes, version 1: the APIC model's state, then
// an exception a hook raised and the loop had not delivered yet.
constexpr uint32_t kExtraVersion = 1;

void put(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

VcpuSnapshot EmuVcpu::save() {
  VcpuSnapshot out;
  CpuState& s = out.cpu;
  for (int i = 0; i < 16; ++i) s.gpr[i] = reg(kGprIds[i]);
  s.rip = reg(UC_X86_REG_RIP);
  s.rflags = reg(UC_X86_REG_RFLAGS);
  const std::pair<SegmentState*, int> segs[] = {{&s.cs, UC_X86_REG_CS}, {&s.ds, UC_X86_REG_DS}, {&s.es, UC_X86_REG_ES},
                                                {&s.fs, UC_X86_REG_FS}, {&s.gs, UC_X86_REG_GS}, {&s.ss, UC_X86_REG_SS}};
  for (const auto& [seg, id] : segs) seg->selector = static_cast<uint16_t>(reg(id));
  s.fs.base = reg(UC_X86_REG_FS_BASE);
  s.gs.base = reg(UC_X86_REG_GS_BASE);
  for (const auto& [table, id] : {std::pair{&s.gdtr, UC_X86_REG_GDTR}, std::pair{&s.idtr, UC_X86_REG_IDTR}}) {
    uc_x86_mmr mmr{};
    uc_reg_read(uc_, id, &mmr);
    table->base = mmr.base;
    table->limit = static_cast<uint16_t>(mmr.limit);
  }
  for (const auto& [seg, id] : {std::pair{&s.tr, UC_X86_REG_TR}, std::pair{&s.ldtr, UC_X86_REG_LDTR}}) {
    uc_x86_mmr mmr{};
    uc_reg_read(uc_, id, &mmr);
    seg->selector = mmr.selector, seg->base = mmr.base, seg->limit = mmr.limit;
    seg->attributes = static_cast<uint16_t>(mmr.flags >> 8);
  }
  s.cr0 = reg(UC_X86_REG_CR0), s.cr2 = reg(UC_X86_REG_CR2), s.cr3 = reg(UC_X86_REG_CR3);
  s.cr4 = reg(UC_X86_REG_CR4), s.cr8 = reg(UC_X86_REG_CR8);
  uc_x86_msr msr{kEfer, 0};
  uc_reg_read(uc_, UC_X86_REG_MSR, &msr);
  s.efer = msr.value;
  for (const CpuStateMsr& m : kMsrs) {
    msr = {m.index, 0};
    uc_reg_read(uc_, UC_X86_REG_MSR, &msr);
    s.*m.field = msr.value;
  }
  s.tsc = __rdtsc();  // what RDTSC answers inside Unicorn (emu_vm.cpp)
  // x87 and SSE in FXSAVE layout (CpuState's offsets).
  uint8_t* fx = s.fxsave.data();
  const uint64_t fcw = reg(UC_X86_REG_FPCW), fsw = reg(UC_X86_REG_FPSW), tag = reg(UC_X86_REG_FPTAG);
  uint8_t abridged = 0;  // FXSAVE's tag: bit i set = register i not empty
  for (int i = 0; i < 8; ++i)
    if (((tag >> (2 * i)) & 3) != 3) abridged |= static_cast<uint8_t>(1u << i);
  fx[0] = static_cast<uint8_t>(fcw), fx[1] = static_cast<uint8_t>(fcw >> 8);
  fx[2] = static_cast<uint8_t>(fsw), fx[3] = static_cast<uint8_t>(fsw >> 8);
  fx[4] = abridged;
  const uint32_t mxcsr = static_cast<uint32_t>(reg(UC_X86_REG_MXCSR));
  for (int i = 0; i < 4; ++i) fx[CpuState::kFxsaveMxcsr + i] = static_cast<uint8_t>(mxcsr >> (8 * i));
  for (int i = 0; i < 8; ++i) {
    uint8_t st[16] = {};  // mantissa (8 bytes), then sign and exponent (2)
    uc_reg_read(uc_, UC_X86_REG_ST0 + i, st);
    std::copy(st, st + 10, fx + CpuState::kFxsaveSt0 + 16 * i);
  }
  for (int i = 0; i < 16; ++i) uc_reg_read(uc_, UC_X86_REG_XMM0 + i, fx + CpuState::kFxsaveXmm0 + 16 * i);
  s.halted = halted_;

  // Nothing outstanding through the VP assist page: the guest EOIs through
  // the MSR after a restore, as after any revoked grant.
  const int retired = lapic_.revoke_pv_eoi();
  if (retired >= 0) vm_.vm->notify_eoi(index_, static_cast<uint8_t>(retired), true);
  put(out.backend, kExtraVersion, 4);
  const std::vector<uint8_t> apic = lapic_.save(vm_.now_ns());
  put(out.backend, apic.size(), 4);
  out.backend.insert(out.backend.end(), apic.begin(), apic.end());
  put(out.backend, pending_.valid, 1), put(out.backend, pending_.has_error, 1), put(out.backend, pending_.vector, 1);
  put(out.backend, pending_.error, 4), put(out.backend, pending_.rip, 8);
  return out;
}

void EmuVcpu::load(const VcpuSnapshot& saved) {
  const CpuState& s = saved.cpu;
  const std::string who = "vCPU " + std::to_string(index_) + ": ";
  const auto refuse = [&who](const std::string& what) { throw std::runtime_error(who + what); };
  if ((s.cr0 & ~kCr0Allowed) != 0) refuse("CR0 has reserved bits set");
  if ((s.cr4 & ~kCr4Allowed) != 0) refuse("CR4 has reserved bits set");
  if ((s.efer & ~kEferAllowed) != 0) refuse("EFER has reserved bits set");
  if (s.cr8 > 15) refuse("CR8 above 15");
  if ((s.rflags & kRflagsReserved) != 0 || (s.rflags & 2) == 0) refuse("RFLAGS has reserved bits wrong");
  const uint8_t* fx = s.fxsave.data();
  uint32_t mxcsr = 0;
  for (int i = 0; i < 4; ++i) mxcsr |= static_cast<uint32_t>(fx[CpuState::kFxsaveMxcsr + i]) << (8 * i);
  if ((mxcsr & ~0xFFFFu) != 0) refuse("MXCSR has reserved bits set");

  // The backend's extra bytes, all checked before anything changes.
  const std::vector<uint8_t>& b = saved.backend;
  const auto take = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
    return v;
  };
  if (b.size() < 8 || take(0, 4) != kExtraVersion) refuse("the emu backend's state is missing or of another version");
  const uint64_t apic_bytes = take(4, 4);
  if (b.size() != 8 + apic_bytes + 15) refuse("the emu backend's state has the wrong size");
  const size_t at = 8 + apic_bytes;
  Pending pending;
  pending.valid = b[at] != 0, pending.has_error = b[at + 1] != 0, pending.vector = b[at + 2];
  pending.error = static_cast<uint32_t>(take(at + 3, 4)), pending.rip = take(at + 7, 8);
  if (b[at] > 1 || b[at + 1] > 1 || (pending.valid && pending.vector >= 32))
    refuse("the emu backend's pending exception is not one");
  std::string why;
  if (!lapic_.load(b.data() + 8, apic_bytes, vm_.now_ns(), why)) refuse(why);

  const auto write = [&](int id, uint64_t value, const char* name) {
    if (uc_reg_write(uc_, id, &value) != UC_ERR_OK) refuse(std::string("the engine refused ") + name);
  };
  const auto write_if_changed = [&](int id, uint64_t value, const char* name) {
    if (reg(id) != value) write(id, value, name);
  };
  uc_x86_msr msr{kEfer, 0};
  uc_reg_read(uc_, UC_X86_REG_MSR, &msr);
  if (msr.value != s.efer) {
    msr.value = s.efer;
    if (uc_reg_write(uc_, UC_X86_REG_MSR, &msr) != UC_ERR_OK) refuse("the engine refused EFER");
  }
  write_if_changed(UC_X86_REG_CR3, s.cr3, "CR3");
  write_if_changed(UC_X86_REG_CR4, s.cr4, "CR4");
  write_if_changed(UC_X86_REG_CR0, s.cr0, "CR0");
  for (const auto& [table, id] : {std::pair{&s.gdtr, UC_X86_REG_GDTR}, std::pair{&s.idtr, UC_X86_REG_IDTR}}) {
    uc_x86_mmr mmr{0, table->base, table->limit, 0};
    if (uc_reg_write(uc_, id, &mmr) != UC_ERR_OK) refuse("the engine refused a descriptor table register");
  }
  for (const auto& [seg, id] : {std::pair{&s.tr, UC_X86_REG_TR}, std::pair{&s.ldtr, UC_X86_REG_LDTR}}) {
    uc_x86_mmr mmr{seg->selector, seg->base, seg->limit, static_cast<uint32_t>(seg->attributes) << 8};
    if (uc_reg_write(uc_, id, &mmr) != UC_ERR_OK) refuse("the engine refused TR or LDTR");
  }
  // Selectors load their descriptors from the GDT restored with RAM.
  write_if_changed(UC_X86_REG_ES, s.es.selector, "ES");
  write_if_changed(UC_X86_REG_CS, s.cs.selector, "CS");
  write_if_changed(UC_X86_REG_SS, s.ss.selector, "SS");
  write_if_changed(UC_X86_REG_DS, s.ds.selector, "DS");
  write_if_changed(UC_X86_REG_FS, s.fs.selector, "FS");
  write_if_changed(UC_X86_REG_GS, s.gs.selector, "GS");
  write(UC_X86_REG_FS_BASE, s.fs.base, "FS base");
  write(UC_X86_REG_GS_BASE, s.gs.base, "GS base");
  for (int i = 0; i < 16; ++i) write(kGprIds[i], s.gpr[i], "a general register");
  write(UC_X86_REG_RFLAGS, s.rflags, "RFLAGS");
  write(UC_X86_REG_CR2, s.cr2, "CR2");
  write_if_changed(UC_X86_REG_CR8, s.cr8, "CR8");
  for (const CpuStateMsr& m : kMsrs) {
    msr = {m.index, 0};
    uc_reg_read(uc_, UC_X86_REG_MSR, &msr);
    if (msr.value == s.*m.field) continue;
    msr.value = s.*m.field;
    if (uc_reg_write(uc_, UC_X86_REG_MSR, &msr) != UC_ERR_OK) refuse("the engine refused MSR " + std::to_string(m.index));
  }
  // FSW first: its TOP decides which physical register ST0 is.
  write(UC_X86_REG_FPSW, fx[2] | (fx[3] << 8), "FSW");
  write(UC_X86_REG_FPCW, fx[0] | (fx[1] << 8), "FCW");
  uint64_t tag = 0;
  for (int i = 0; i < 8; ++i)
    if (((fx[4] >> i) & 1) == 0) tag |= 3ull << (2 * i);
  write(UC_X86_REG_FPTAG, tag, "the FPU tag word");
  write(UC_X86_REG_MXCSR, mxcsr, "MXCSR");
  for (int i = 0; i < 8; ++i) {
    uint8_t st[16] = {};
    std::copy(fx + CpuState::kFxsaveSt0 + 16 * i, fx + CpuState::kFxsaveSt0 + 16 * i + 10, st);
    if (uc_reg_write(uc_, UC_X86_REG_ST0 + i, st) != UC_ERR_OK) refuse("the engine refused an x87 register");
  }
  for (int i = 0; i < 16; ++i)
    if (uc_reg_write(uc_, UC_X86_REG_XMM0 + i, fx + CpuState::kFxsaveXmm0 + 16 * i) != UC_ERR_OK)
      refuse("the engine refused an XMM register");
  write(UC_X86_REG_RIP, s.rip, "RIP");
  halted_ = s.halted;
  pending_ = pending;
}

std::vector<VcpuSnapshot> EmuVm::save_vcpus() {
  require_resumable_stop();
  std::vector<VcpuSnapshot> out;
  for (auto& v : impl_->vcpus) out.push_back(v->save());
  return out;
}

void EmuVm::load_vcpus(const std::vector<VcpuSnapshot>& vcpus) {
  require_fresh_for_restore(vcpus.size(), impl_->vcpus.size());
  for (size_t i = 0; i < vcpus.size(); ++i) impl_->vcpus[i]->load(vcpus[i]);
}

}  // namespace enlight::emu
