// Snapshots of kvm vCPUs: KVM's own vCPU state through its GET/SET
// ioctls, in CpuState where it has a neutral form (registers, segments
// with their attributes, control registers, x87/SSE, the syscall MSRs)
// and as KVM's structures for the rest (the in-kernel LAPIC page, pending
// events, MP state, debug registers, XSAVE and XCRs, and the other
// architectural MSRs a kernel programs: MTRRs, the TSC deadline...). KVM
// checks every value it is given: a state it refuses fails the restore
// with the ioctl's name and errno. The machine around the vCPUs (irqchip,
// PIT, kvmclock, the PC machine's devices) is devices_state.cpp's.
//
// Refused: plugins offloaded to KVM's in-kernel Hyper-V (their state is
// KVM's, which a snapshot does not hold yet).
#include "impl.hpp"
#include "state_codec.hpp"
#include "sys.hpp"
#include "vcpu.hpp"

#include <sys/ioctl.h>
#include <x86intrin.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace enlight::kvm {

namespace {

// The MSRs a 64-bit guest sets besides what SREGS holds (cpu_state.hpp).
constexpr const CpuStateMsr* kMsrs = kCpuStateMsrs;
constexpr uint32_t kMsrCount = kCpuStateMsrCount;

// VMX-style attributes: type 0-3, S 4, DPL 5-6, P 7, AVL 12, L 13, D/B 14, G 15.
uint16_t pack(const kvm_segment& s) {
  return static_cast<uint16_t>((s.type & 15) | (s.s & 1) << 4 | (s.dpl & 3) << 5 | (s.present & 1) << 7 |
                               (s.avl & 1) << 12 | (s.l & 1) << 13 | (s.db & 1) << 14 | (s.g & 1) << 15);
}
SegmentState segment(const kvm_segment& s) {
  return SegmentState{s.base, s.limit, s.selector, s.unusable ? uint16_t{0} : pack(s)};
}
kvm_segment unpack(const SegmentState& s) {
  kvm_segment k{};
  k.base = s.base, k.limit = s.limit, k.selector = s.selector;
  const uint16_t a = s.attributes;
  k.type = a & 15, k.s = (a >> 4) & 1, k.dpl = (a >> 5) & 3, k.present = (a >> 7) & 1;
  k.avl = (a >> 12) & 1, k.l = (a >> 13) & 1, k.db = (a >> 14) & 1, k.g = (a >> 15) & 1;
  k.unusable = k.present ? 0 : 1;
  return k;
}

// The kvm backend's extra bytes, version 2 (state_codec.hpp): the LAPIC
// page, events, MP state, debug registers, APIC base, which of
// kCpuStateMsrs KVM has, flags, then the XSAVE area (its size u32 first)
// and XCRs where KVM has them, and those of kSnapshotMsrs this vCPU has, as
// index, value pairs.
constexpr uint32_t kExtraVersion = 2;
constexpr uint32_t kHasXsave = 1u << 0;
constexpr uint32_t kHasXcrs = 1u << 1;

constexpr uint32_t kMsrTscDeadline = 0x6E0;

// The MSRs a snapshot holds beyond CpuState's: the architectural ones an
// x86-64 kernel programs and KVM keeps per vCPU, as QEMU saves an explicit
// list (target/i386/kvm/kvm.c, kvm_put_msrs) rather than everything KVM's
// KVM_GET_MSR_INDEX_LIST names. That whole list was tried first: in the
// nested stage a 2-vCPU conformance-stimer then lost a vCPU after 3 of 7
// restores (KVM reporting it at an L1 kernel address, TCG's nested SVM
// mishandling some MSR written back, e.g. the PMU's or SVM's own), and 0
// of 12 without it. Not here: the TSC (an offset), the APIC base (SREGS),
// the synthetic range (the plugins'), KVM's paravirtual MSRs (no guest of
// enlight sees KVM's CPUID signature, so they stay 0), the PMU, nested
// virtualisation's.
constexpr uint32_t kSnapshotMsrs[] = {
    0x3B,                                                  // IA32_TSC_ADJUST
    0x48,                                                  // IA32_SPEC_CTRL
    0x17A, 0x17B,                                          // IA32_MCG_STATUS, IA32_MCG_CTL
    0x1A0,                                                 // IA32_MISC_ENABLE
    0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,  // IA32_MTRR_PHYSBASE0..PHYSMASK7
    0x208, 0x209, 0x20A, 0x20B, 0x20C, 0x20D, 0x20E, 0x20F,
    0x250, 0x258, 0x259,                                   // IA32_MTRR_FIX64K_00000, FIX16K_80000, FIX16K_A0000
    0x268, 0x269, 0x26A, 0x26B, 0x26C, 0x26D, 0x26E, 0x26F,  // IA32_MTRR_FIX4K_C0000..F8000
    0x2FF,                                                 // IA32_MTRR_DEF_TYPE
    0xDA0,                                                 // IA32_XSS
    0xC001011F,                                            // AMD's VIRT_SPEC_CTRL
    kMsrTscDeadline,                                       // last: see KvmVcpu::load
};

bool snapshot_msr(uint32_t index) {
  return std::find(std::begin(kSnapshotMsrs), std::end(kSnapshotMsrs), index) != std::end(kSnapshotMsrs);
}

// The size of a vCPU's XSAVE area as KVM exchanges it: what
// KVM_CAP_XSAVE2 states on the VM (at least 4 KiB; more with AMX), 4 KiB
// with XSAVE alone, 0 without (the FPU state then is all there is).
uint32_t xsave_bytes(const KvmVm::Impl& vm) {
  const int size = sys::check_extension(vm.vm_fd.get(), KVM_CAP_XSAVE2);
  if (size > 0) return std::max<uint32_t>(static_cast<uint32_t>(size), sizeof(kvm_xsave));
  return sys::check_extension(vm.kvm.get(), KVM_CAP_XSAVE) > 0 ? sizeof(kvm_xsave) : 0;
}

}  // namespace

void set_tsc_offset(int vcpu_fd, uint64_t offset) {
  kvm_device_attr attr{};
  attr.group = KVM_VCPU_TSC_CTRL;
  attr.attr = KVM_VCPU_TSC_OFFSET;
  attr.addr = reinterpret_cast<uint64_t>(&offset);
  if (::ioctl(vcpu_fd, KVM_SET_DEVICE_ATTR, &attr) == 0) return;
  if (!sys::set_msr(vcpu_fd, 0x10 /* IA32_TSC */, __rdtsc() + offset)) throw std::runtime_error("kvm: cannot set the guest TSC");
}

VcpuSnapshot KvmVcpu::save() {
  // An exit userspace answered (an IN's data, an MMIO read) completes on
  // the next KVM_RUN: run it with immediate_exit so KVM finishes the
  // instruction and returns at once, before its state is read.
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (::ioctl(fd_.get(), KVM_RUN, 0) != 0 && errno != EINTR)
    throw std::runtime_error(std::string("KVM_RUN (completing an exit before saving): ") + std::strerror(errno));
  __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);

  VcpuSnapshot out;
  CpuState& c = out.cpu;
  kvm_regs r{};
  codec::ioctl_or_throw(fd_.get(), KVM_GET_REGS, "KVM_GET_REGS", &r);
  const uint64_t gprs[16] = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
                             r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  std::copy(gprs, gprs + 16, c.gpr.begin());
  c.rip = r.rip, c.rflags = r.rflags;
  kvm_sregs s{};
  codec::ioctl_or_throw(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s);
  c.cs = segment(s.cs), c.ds = segment(s.ds), c.es = segment(s.es), c.fs = segment(s.fs);
  c.gs = segment(s.gs), c.ss = segment(s.ss), c.tr = segment(s.tr), c.ldtr = segment(s.ldt);
  c.gdtr = {s.gdt.base, s.gdt.limit}, c.idtr = {s.idt.base, s.idt.limit};
  c.cr0 = s.cr0, c.cr2 = s.cr2, c.cr3 = s.cr3, c.cr4 = s.cr4, c.cr8 = s.cr8, c.efer = s.efer;
  c.tsc = vm_.stopped_tsc;  // with the stop's reference time (kvm_vm.cpp)
  kvm_fpu f{};
  codec::ioctl_or_throw(fd_.get(), KVM_GET_FPU, "KVM_GET_FPU", &f);
  uint8_t* fx = c.fxsave.data();
  fx[0] = static_cast<uint8_t>(f.fcw), fx[1] = static_cast<uint8_t>(f.fcw >> 8);
  fx[2] = static_cast<uint8_t>(f.fsw), fx[3] = static_cast<uint8_t>(f.fsw >> 8);
  fx[4] = f.ftwx;
  std::memcpy(fx + 6, &f.last_opcode, 2);
  std::memcpy(fx + 8, &f.last_ip, 8);
  std::memcpy(fx + 16, &f.last_dp, 8);
  std::memcpy(fx + CpuState::kFxsaveMxcsr, &f.mxcsr, 4);
  for (int i = 0; i < 8; ++i) std::memcpy(fx + CpuState::kFxsaveSt0 + 16 * i, f.fpr[i], 16);
  for (int i = 0; i < 16; ++i) std::memcpy(fx + CpuState::kFxsaveXmm0 + 16 * i, f.xmm[i], 16);
  // One host read each (sys::get_msr); a bit per MSR this KVM has.
  uint32_t have = 0;
  for (uint32_t i = 0; i < kMsrCount; ++i)
    if (sys::get_msr(fd_.get(), kMsrs[i].index, c.*kMsrs[i].field)) have |= 1u << i;

  kvm_lapic_state lapic{};
  codec::ioctl_or_throw(fd_.get(), KVM_GET_LAPIC, "KVM_GET_LAPIC", &lapic);
  kvm_vcpu_events events{};
  codec::ioctl_or_throw(fd_.get(), KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", &events);
  kvm_mp_state mp{};
  codec::ioctl_or_throw(fd_.get(), KVM_GET_MP_STATE, "KVM_GET_MP_STATE", &mp);
  kvm_debugregs debug{};
  codec::ioctl_or_throw(fd_.get(), KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", &debug);
  c.halted = mp.mp_state == KVM_MP_STATE_HALTED;
  uint32_t flags = 0;
  std::vector<uint8_t> xsave(xsave_bytes(vm_));
  kvm_xcrs xcrs{};
  const int kvm = vm_.kvm.get();
  if (!xsave.empty()) {
    // KVM_GET_XSAVE refuses a vCPU whose XSAVE area outgrew its 4 KiB
    // (AMX); XSAVE2 takes the size KVM states. PVM's KVM refuses both
    // (EINVAL) while offering the capability: the FPU state above is then
    // all that is saved, and the wider registers (AVX) are not.
    const unsigned long request = xsave.size() > sizeof(kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
    if (::ioctl(fd_.get(), request, xsave.data()) == 0) flags |= kHasXsave;
    else if (errno != EINVAL) throw std::runtime_error(std::string("KVM_GET_XSAVE: ") + std::strerror(errno));
  }
  if (sys::check_extension(kvm, KVM_CAP_XCRS) > 0) {
    codec::ioctl_or_throw(fd_.get(), KVM_GET_XCRS, "KVM_GET_XCRS", &xcrs);
    flags |= kHasXcrs;
  }
  using namespace codec;
  put_u32(out.backend, kExtraVersion);
  put_struct(out.backend, lapic);
  put_struct(out.backend, events);
  put_struct(out.backend, mp);
  put_struct(out.backend, debug);
  put_struct(out.backend, s.apic_base);  // x2APIC or xAPIC mode: how KVM reads the LAPIC page
  put_u32(out.backend, have);
  put_u32(out.backend, flags);
  if ((flags & kHasXsave) != 0) {
    put_u32(out.backend, static_cast<uint32_t>(xsave.size()));
    out.backend.insert(out.backend.end(), xsave.begin(), xsave.end());
  }
  if ((flags & kHasXcrs) != 0) put_struct(out.backend, xcrs);
  // Those this vCPU has (one without the CPUID bit refuses the read).
  std::vector<std::pair<uint32_t, uint64_t>> msrs;
  for (uint32_t index : kSnapshotMsrs) {
    uint64_t value = 0;
    if (sys::get_msr(fd_.get(), index, value)) msrs.emplace_back(index, value);
  }
  put_u32(out.backend, static_cast<uint32_t>(msrs.size()));
  for (const auto& [index, value] : msrs) {
    put_u32(out.backend, index);
    put_u64(out.backend, value);
  }
  return out;
}

void KvmVcpu::load(const VcpuSnapshot& saved) {
  const CpuState& c = saved.cpu;
  codec::Reader b(saved.backend, "the kvm backend's vCPU state");
  kvm_lapic_state lapic{};
  kvm_vcpu_events events{};
  kvm_mp_state mp{};
  kvm_debugregs debug{};
  uint64_t apic_base = 0;
  std::vector<uint8_t> xsave;
  kvm_xcrs xcrs{};
  if (b.u32("its version") != kExtraVersion) b.fail("is of another version");
  b.take(lapic, "LAPIC state");
  b.take(events, "vCPU events");
  b.take(mp, "MP state");
  b.take(debug, "debug registers");
  b.take(apic_base, "APIC base");
  const uint32_t have = b.u32("the MSRs it has");
  if ((have >> kMsrCount) != 0) b.fail("names MSRs it does not save");
  const uint32_t flags = b.u32("its flags");
  if ((flags & ~(kHasXsave | kHasXcrs)) != 0) b.fail("has unknown flags");
  if ((flags & kHasXsave) != 0) {
    const uint32_t n = b.u32("the XSAVE area's size");
    if (n != xsave_bytes(vm_))
      b.fail("holds a " + std::to_string(n) + "-byte XSAVE area; this KVM's is " + std::to_string(xsave_bytes(vm_)));
    const uint8_t* p = b.bytes(n, "the XSAVE area");
    xsave.assign(p, p + n);
  }
  if ((flags & kHasXcrs) != 0) b.take(xcrs, "XCRs");
  const uint32_t count = b.u32("the MSR count");
  if (count > std::size(kSnapshotMsrs)) b.fail("holds " + std::to_string(count) + " MSRs");
  std::vector<std::pair<uint32_t, uint64_t>> msrs;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t index = b.u32("an MSR index");
    const uint64_t value = b.u64("an MSR value");
    // Only the MSRs a snapshot holds: a file naming another (the APIC
    // base, a Hyper-V MSR) is refused.
    if (!snapshot_msr(index)) b.fail("holds MSR " + std::to_string(index) + ", which a snapshot does not restore");
    msrs.emplace_back(index, value);
  }
  b.expect_end();
  const int kvm = vm_.kvm.get();
  if (((flags & kHasXcrs) != 0) != (sys::check_extension(kvm, KVM_CAP_XCRS) > 0))
    b.fail("was saved by a KVM with other XSAVE capabilities");

  using codec::ioctl_or_throw;
  kvm_sregs s{};
  ioctl_or_throw(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s);  // keeps the interrupt bitmap's form
  s.cs = unpack(c.cs), s.ds = unpack(c.ds), s.es = unpack(c.es), s.fs = unpack(c.fs);
  s.gs = unpack(c.gs), s.ss = unpack(c.ss), s.tr = unpack(c.tr), s.ldt = unpack(c.ldtr);
  s.gdt.base = c.gdtr.base, s.gdt.limit = c.gdtr.limit, s.idt.base = c.idtr.base, s.idt.limit = c.idtr.limit;
  s.cr0 = c.cr0, s.cr2 = c.cr2, s.cr3 = c.cr3, s.cr4 = c.cr4, s.cr8 = c.cr8, s.efer = c.efer;
  s.apic_base = apic_base;  // before KVM_SET_LAPIC, which reads the page in this mode
  std::memset(s.interrupt_bitmap, 0, sizeof s.interrupt_bitmap);  // pending ones travel in the events
  ioctl_or_throw(fd_.get(), KVM_SET_SREGS, "KVM_SET_SREGS", &s);
  kvm_regs r{};
  __u64* gprs[16] = {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
                     &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  for (int i = 0; i < 16; ++i) *gprs[i] = c.gpr[i];
  r.rip = c.rip, r.rflags = c.rflags;
  ioctl_or_throw(fd_.get(), KVM_SET_REGS, "KVM_SET_REGS", &r);
  kvm_fpu f{};
  const uint8_t* fx = c.fxsave.data();
  f.fcw = static_cast<uint16_t>(fx[0] | fx[1] << 8), f.fsw = static_cast<uint16_t>(fx[2] | fx[3] << 8);
  f.ftwx = fx[4];
  std::memcpy(&f.last_opcode, fx + 6, 2);
  std::memcpy(&f.last_ip, fx + 8, 8);
  std::memcpy(&f.last_dp, fx + 16, 8);
  std::memcpy(&f.mxcsr, fx + CpuState::kFxsaveMxcsr, 4);
  if ((f.mxcsr & ~0xFFFFu) != 0) throw std::runtime_error("MXCSR has reserved bits set");
  for (int i = 0; i < 8; ++i) std::memcpy(f.fpr[i], fx + CpuState::kFxsaveSt0 + 16 * i, 16);
  for (int i = 0; i < 16; ++i) std::memcpy(f.xmm[i], fx + CpuState::kFxsaveXmm0 + 16 * i, 16);
  ioctl_or_throw(fd_.get(), KVM_SET_FPU, "KVM_SET_FPU", &f);
  // XSAVE holds what the FPU state does and the wider registers (AVX):
  // it goes after it, and KVM checks its header against the vCPU's CPUID.
  if ((flags & kHasXsave) != 0) ioctl_or_throw(fd_.get(), KVM_SET_XSAVE, "KVM_SET_XSAVE", xsave.data());
  if ((flags & kHasXcrs) != 0) ioctl_or_throw(fd_.get(), KVM_SET_XCRS, "KVM_SET_XCRS", &xcrs);
  ioctl_or_throw(fd_.get(), KVM_SET_LAPIC, "KVM_SET_LAPIC", &lapic);
  for (uint32_t i = 0; i < kMsrCount; ++i)
    if (((have >> i) & 1) != 0 && !sys::set_msr(fd_.get(), kMsrs[i].index, c.*kMsrs[i].field))
      throw std::runtime_error("KVM refused MSR " + std::to_string(kMsrs[i].index) + "'s saved value");
  // The TSC deadline last, whatever order the file has (KVM keeps it only
  // in TSC-deadline mode: after the LAPIC, QEMU's order; load_vcpus arms it
  // again against the restored TSC). Only values that differ from the
  // new vCPU's: an MSR the guest never wrote is left as KVM made it.
  for (const bool deadline : {false, true})
    for (const auto& [index, value] : msrs) {
      uint64_t now = 0;
      if ((index == kMsrTscDeadline) != deadline || (sys::get_msr(fd_.get(), index, now) && now == value)) continue;
      if (!sys::set_msr(fd_.get(), index, value))
        throw std::runtime_error("KVM refused MSR " + std::to_string(index) + "'s saved value " + std::to_string(value));
    }
  events.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW;
  ioctl_or_throw(fd_.get(), KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", &events);
  ioctl_or_throw(fd_.get(), KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", &debug);
  ioctl_or_throw(fd_.get(), KVM_SET_MP_STATE, "KVM_SET_MP_STATE", &mp);
}

void KvmVm::refuse_what_is_not_saved(const char* verb) const {
  if (offloads_any_)
    throw std::runtime_error(std::string("a plugin is offloaded to KVM, whose in-kernel Hyper-V state a snapshot cannot ") +
                             "hold yet (not " + verb + ")");
}

std::vector<VcpuSnapshot> KvmVm::save_vcpus() {
  refuse_what_is_not_saved("written");
  require_resumable_stop();
  std::vector<VcpuSnapshot> out;
  for (auto& v : impl_->vcpus) out.push_back(v->save());
  return out;
}

void KvmVm::load_vcpus(const std::vector<VcpuSnapshot>& vcpus) {
  refuse_what_is_not_saved("restored");
  require_fresh_for_restore(vcpus.size(), impl_->vcpus.size());
  // The guest's TSC goes on from the saved one (vCPU 0's: KVM keeps them
  // in step), and with it the reference time the core defines from it;
  // the restore sets reference time right after this (snapshot.cpp).
  for (size_t i = 0; i < vcpus.size(); ++i) impl_->vcpus[i]->load(vcpus[i]);
  // The TSC last, after every load (an ioctl per MSR takes time): set at
  // their start it ran on meanwhile, and reference time, set next, started
  // behind it (conformance-time's rate check saw 12 % over its 28 ms window
  // in the nested stage). A TSC deadline the loads armed against the new
  // vCPU's TSC is written again, to be armed against this one.
  const uint64_t offset = vcpus[0].cpu.tsc - static_cast<uint64_t>(__rdtsc());
  for (auto& v : impl_->vcpus) {
    uint64_t deadline = 0;
    const bool armed = sys::get_msr(v->fd(), kMsrTscDeadline, deadline) && deadline != 0;
    set_tsc_offset(v->fd(), offset);
    if (armed && !sys::set_msr(v->fd(), kMsrTscDeadline, deadline))
      throw std::runtime_error("KVM refused the TSC deadline it had just given");
  }
  // What KVM made of it: without KVM_VCPU_TSC_OFFSET, a host write of
  // IA32_TSC within a second of the value KVM expects is taken as "keep
  // the vCPUs in sync" and leaves the old offset (kvm_synchronize_tsc). The
  // reference time must follow the TSC the guest really reads, continuous
  // or not, or the TSC page and the reference counter MSR disagree.
  uint64_t guest = 0;
  if (!sys::get_msr(impl_->vcpus[0]->fd(), 0x10 /* IA32_TSC */, guest))
    throw std::runtime_error("KVM_GET_MSRS refused IA32_TSC");
  impl_->tsc_offset.store(guest - static_cast<uint64_t>(__rdtsc()), std::memory_order_relaxed);
}

}  // namespace enlight::kvm
