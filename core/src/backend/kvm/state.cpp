// Snapshots of kvm vCPUs (guest programs on the flat machine): KVM's own
// vCPU state through its GET/SET ioctls, in CpuState where it has a
// neutral form (registers, segments with their attributes, control
// registers, x87/SSE, the syscall MSRs) and as KVM's structures for the
// rest (the in-kernel LAPIC page, pending events, MP state, XCRs, debug
// registers). KVM checks every value it is given: a state it refuses
// fails the restore with the ioctl's name and errno.
//
// Not covered, and refused: the PC machine (a booted kernel: the
// irqchip's PIC and IOAPIC, the PIT, kvmclock, the machine's devices) and
// plugins offloaded to KVM's in-kernel Hyper-V (their state is KVM's).
#include "impl.hpp"
#include "sys.hpp"
#include "vcpu.hpp"

#include <sys/ioctl.h>
#include <x86intrin.h>

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

// The kvm backend's extra bytes, version 1: each KVM structure as KVM
// lays it out, with its size first, so a build with other headers refuses
// instead of misreading.
constexpr uint32_t kExtraVersion = 1;

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
template <class T>
void put_struct(std::vector<uint8_t>& out, const T& v) {
  put_u32(out, sizeof v);
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}
template <class T>
void take_struct(const std::vector<uint8_t>& in, size_t& at, T& v, const char* what) {
  uint32_t n = 0;
  if (in.size() - at < 4) throw std::runtime_error(std::string("the kvm backend's state ends before ") + what);
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(in[at + i]) << (8 * i);
  at += 4;
  if (n != sizeof v || in.size() - at < n)
    throw std::runtime_error(std::string("the kvm backend's ") + what + " is " + std::to_string(n) + " bytes, not " +
                             std::to_string(sizeof v));
  std::memcpy(&v, in.data() + at, n);
  at += n;
}

void get(int fd, unsigned long request, const char* what, void* arg) {
  if (::ioctl(fd, request, arg) != 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
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
  get(fd_.get(), KVM_GET_REGS, "KVM_GET_REGS", &r);
  const uint64_t gprs[16] = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
                             r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  std::copy(gprs, gprs + 16, c.gpr.begin());
  c.rip = r.rip, c.rflags = r.rflags;
  kvm_sregs s{};
  get(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s);
  c.cs = segment(s.cs), c.ds = segment(s.ds), c.es = segment(s.es), c.fs = segment(s.fs);
  c.gs = segment(s.gs), c.ss = segment(s.ss), c.tr = segment(s.tr), c.ldtr = segment(s.ldt);
  c.gdtr = {s.gdt.base, s.gdt.limit}, c.idtr = {s.idt.base, s.idt.limit};
  c.cr0 = s.cr0, c.cr2 = s.cr2, c.cr3 = s.cr3, c.cr4 = s.cr4, c.cr8 = s.cr8, c.efer = s.efer;
  c.tsc = vm_.stopped_tsc;  // with the stop's reference time (kvm_vm.cpp)
  kvm_fpu f{};
  get(fd_.get(), KVM_GET_FPU, "KVM_GET_FPU", &f);
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
  get(fd_.get(), KVM_GET_LAPIC, "KVM_GET_LAPIC", &lapic);
  kvm_vcpu_events events{};
  get(fd_.get(), KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", &events);
  kvm_mp_state mp{};
  get(fd_.get(), KVM_GET_MP_STATE, "KVM_GET_MP_STATE", &mp);
  kvm_debugregs debug{};
  get(fd_.get(), KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", &debug);
  c.halted = mp.mp_state == KVM_MP_STATE_HALTED;
  put_u32(out.backend, kExtraVersion);
  put_struct(out.backend, lapic);
  put_struct(out.backend, events);
  put_struct(out.backend, mp);
  put_struct(out.backend, debug);
  put_struct(out.backend, s.apic_base);  // x2APIC or xAPIC mode: how KVM reads the LAPIC page
  put_u32(out.backend, have);
  return out;
}

void KvmVcpu::load(const VcpuSnapshot& saved) {
  const CpuState& c = saved.cpu;
  const std::vector<uint8_t>& b = saved.backend;
  size_t at = 0;
  kvm_lapic_state lapic{};
  kvm_vcpu_events events{};
  kvm_mp_state mp{};
  kvm_debugregs debug{};
  if (b.size() < 4 || (b[0] | b[1] << 8 | b[2] << 16 | static_cast<uint32_t>(b[3]) << 24) != kExtraVersion)
    throw std::runtime_error("the kvm backend's state is missing or of another version");
  at = 4;
  take_struct(b, at, lapic, "LAPIC state");
  take_struct(b, at, events, "vCPU events");
  take_struct(b, at, mp, "MP state");
  take_struct(b, at, debug, "debug registers");
  uint64_t apic_base = 0;
  take_struct(b, at, apic_base, "APIC base");
  uint32_t have = 0;
  if (b.size() - at != 4) throw std::runtime_error("the kvm backend's state has the wrong size");
  for (int i = 0; i < 4; ++i) have |= static_cast<uint32_t>(b[at + i]) << (8 * i);
  if ((have >> kMsrCount) != 0) throw std::runtime_error("the kvm backend's state names MSRs it does not save");

  kvm_sregs s{};
  get(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s);  // keeps apic_base and the interrupt bitmap's form
  s.cs = unpack(c.cs), s.ds = unpack(c.ds), s.es = unpack(c.es), s.fs = unpack(c.fs);
  s.gs = unpack(c.gs), s.ss = unpack(c.ss), s.tr = unpack(c.tr), s.ldt = unpack(c.ldtr);
  s.gdt.base = c.gdtr.base, s.gdt.limit = c.gdtr.limit, s.idt.base = c.idtr.base, s.idt.limit = c.idtr.limit;
  s.cr0 = c.cr0, s.cr2 = c.cr2, s.cr3 = c.cr3, s.cr4 = c.cr4, s.cr8 = c.cr8, s.efer = c.efer;
  s.apic_base = apic_base;  // before KVM_SET_LAPIC, which reads the page in this mode
  std::memset(s.interrupt_bitmap, 0, sizeof s.interrupt_bitmap);  // pending ones travel in the events
  get(fd_.get(), KVM_SET_SREGS, "KVM_SET_SREGS", &s);
  kvm_regs r{};
  __u64* gprs[16] = {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
                        &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  for (int i = 0; i < 16; ++i) *gprs[i] = c.gpr[i];
  r.rip = c.rip, r.rflags = c.rflags;
  get(fd_.get(), KVM_SET_REGS, "KVM_SET_REGS", &r);
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
  get(fd_.get(), KVM_SET_FPU, "KVM_SET_FPU", &f);
  for (uint32_t i = 0; i < kMsrCount; ++i)
    if (((have >> i) & 1) != 0 && !sys::set_msr(fd_.get(), kMsrs[i].index, c.*kMsrs[i].field))
      throw std::runtime_error("KVM refused MSR " + std::to_string(kMsrs[i].index) + "'s saved value");
  get(fd_.get(), KVM_SET_LAPIC, "KVM_SET_LAPIC", &lapic);
  events.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW;
  get(fd_.get(), KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", &events);
  get(fd_.get(), KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", &debug);
  get(fd_.get(), KVM_SET_MP_STATE, "KVM_SET_MP_STATE", &mp);
}

void KvmVm::refuse_what_is_not_saved(const char* verb) const {
  if (impl_->pc)
    throw std::runtime_error(std::string("snapshots of the PC machine (a booted kernel, --machine pc) are not ") + verb +
                             " yet");
  if (offloads_any_)
    throw std::runtime_error("a plugin is offloaded to KVM, whose in-kernel Hyper-V state a snapshot cannot hold yet");
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
  for (size_t i = 0; i < vcpus.size(); ++i) impl_->vcpus[i]->load(vcpus[i]);
  // The guest's TSC goes on from the saved one (vCPU 0's: KVM keeps them
  // in step), and with it the reference time the core defines from it;
  // the restore sets reference time after this (snapshot.cpp).
  const uint64_t offset = vcpus[0].cpu.tsc - static_cast<uint64_t>(__rdtsc());
  for (auto& v : impl_->vcpus) set_tsc_offset(v->fd(), offset);
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
