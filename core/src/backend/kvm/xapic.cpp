// The host's APIC services (enlight_host.apic_read/apic_write, x2APIC MSR
// indexes and layouts) on a vCPU whose in-kernel APIC is in xAPIC mode.
//
// KVM refuses KVM_GET_MSRS/KVM_SET_MSRS on 0x800-0x8FF unless the APIC is
// in x2APIC mode, but Hyper-V's synthetic EOI/ICR/TPR MSRs exist precisely
// for xAPIC-mode guests (a Windows guest told to use them stops touching
// the APIC page), and KVM's own implementation (kvm_hv_vapic_msr_write)
// works in both modes. So in xAPIC mode each register is reached another
// way (docs/kvm-backend.md, "The APIC in xAPIC mode"):
//   reads  KVM_GET_LAPIC, the register page (race-free: a snapshot);
//   TPR    the CR8 view of it through the synced sregs (KVM applies it with
//          kvm_set_cr8 at the next KVM_RUN), so TPR bits 3:0 read back 0;
//   ICR    decoded and sent as MSIs, the way an IPI reaches another APIC;
//   EOI    KVM_GET_LAPIC, clear the highest ISR bit, KVM_SET_LAPIC, under
//          the VM's APIC lock held exclusively: every injection enlight
//          makes holds it shared, so none can land between the two ioctls
//          and be overwritten. IPIs KVM delivers in the kernel (a guest
//          vCPU writing its own APIC page's ICR) are not covered.
// Cost: one or two ioctls per access in xAPIC mode, one in x2APIC mode;
// the mode comes from kvm_run's apic_base, which KVM stores at every exit.
// Only vapic's MSRs come here.
#include "impl.hpp"
#include "sys.hpp"
#include "vcpu.hpp"

#include <sys/ioctl.h>

#include <cstring>
#include <mutex>
#include <shared_mutex>

namespace enlight::kvm {
namespace {

constexpr uint32_t kIa32ApicBase = 0x1B;
constexpr uint64_t kApicBaseExtd = uint64_t{1} << 10;
constexpr uint32_t kX2apicFirst = 0x800, kX2apicLast = 0x8FF;
constexpr uint32_t kX2apicTpr = 0x808, kX2apicEoi = 0x80B, kX2apicIcr = 0x830;
// xAPIC page offsets (SDM "Local APIC Register Address Map"): x2APIC MSR
// 0x800 + n is the register at offset n << 4.
constexpr uint32_t kXapicTpr = 0x80, kXapicIsr = 0x100, kXapicIcrLow = 0x300, kXapicIcrHigh = 0x310;
constexpr uint32_t kXapicDestShift = 24;
constexpr uint32_t kIsrWords = 8;
// ICR fields (x2APIC layout, which the ABI uses).
constexpr uint64_t kIcrVector = 0xFF;
constexpr uint32_t kIcrDeliveryShift = 8, kIcrDeliveryMask = 7;
constexpr uint64_t kIcrLogical = uint64_t{1} << 11;
constexpr uint32_t kIcrShorthandShift = 18, kIcrShorthandMask = 3;
constexpr uint32_t kX2apicBroadcast = 0xFFFFFFFFu, kXapicBroadcast = 0xFF;
// MSI address/data (SDM "Message Signalled Interrupts").
constexpr uint32_t kMsiBase = 0xFEE00000u, kMsiDestShift = 12, kMsiLogical = 1u << 2;

uint32_t reg32(const kvm_lapic_state& s, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, 4);
  return v;
}
void set_reg32(kvm_lapic_state& s, uint32_t off, uint32_t v) { std::memcpy(s.regs + off, &v, 4); }

}  // namespace

// IA32_APIC_BASE as of the last exit (kvm_run.apic_base, stored by KVM on
// every return from KVM_RUN; the guest cannot change it without running).
// Before the first exit it is 0, no valid base: then it is asked for.
bool KvmVcpu::apic_base(uint64_t& base) {
  base = run_->apic_base;
  return base != 0 || sys::get_msr(fd_.get(), kIa32ApicBase, base);
}

bool KvmVcpu::apic_in_x2apic_mode(bool& x2apic) {
  uint64_t base = 0;
  if (!apic_base(base)) return false;
  x2apic = (base & kApicBaseExtd) != 0;
  return true;
}

bool KvmVcpu::apic_read(uint32_t msr, uint64_t& value) {
  if (msr == kIa32ApicBase) return apic_base(value);
  if (msr < kX2apicFirst || msr > kX2apicLast) return false;
  bool x2apic = false;
  if (!apic_in_x2apic_mode(x2apic)) return false;
  if (x2apic) return sys::get_msr(fd_.get(), msr, value);
  kvm_lapic_state s{};
  if (::ioctl(fd_.get(), KVM_GET_LAPIC, &s) != 0) return false;
  const uint32_t off = (msr - kX2apicFirst) << 4;
  if (msr == kX2apicIcr) {
    const uint32_t dest = reg32(s, kXapicIcrHigh) >> kXapicDestShift;
    value = reg32(s, kXapicIcrLow) | (uint64_t{dest == kXapicBroadcast ? kX2apicBroadcast : dest} << 32);
    return true;
  }
  value = reg32(s, off);
  return true;
}

bool KvmVcpu::apic_write(uint32_t msr, uint64_t value) {
  if (msr < kX2apicFirst || msr > kX2apicLast) return false;
  bool x2apic = false;
  if (!apic_in_x2apic_mode(x2apic)) return false;
  if (x2apic) return sys::set_msr(fd_.get(), msr, value);
  switch (msr) {
    case kX2apicTpr:
      if (value > 0xFF) return false;
      run_->s.regs.sregs.cr8 = value >> 4;
      run_->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
      return true;
    case kX2apicIcr: return xapic_send_ipi(value);
    case kX2apicEoi: return xapic_eoi();
    default: return false;  // the ABI's users write only these three
  }
}

bool KvmVcpu::xapic_eoi() {
  std::unique_lock lock(vm_.apic_lock);
  kvm_lapic_state s{};
  if (::ioctl(fd_.get(), KVM_GET_LAPIC, &s) != 0) return false;
  for (int w = kIsrWords - 1; w >= 0; --w) {
    const uint32_t off = kXapicIsr + 0x10 * static_cast<uint32_t>(w);
    const uint32_t isr = reg32(s, off);
    if (isr == 0) continue;
    set_reg32(s, off, isr & ~(1u << (31 - __builtin_clz(isr))));
    return ::ioctl(fd_.get(), KVM_SET_LAPIC, &s) == 0;
  }
  return true;  // no vector in service: an EOI with nothing to retire is a no-op
}

// An xAPIC ICR write never faults (it is a memory write): an IPI that no
// APIC accepts, or with an illegal vector, is lost, not refused. So KVM's
// answer is not passed on: Debian 12's KVM answers -1 (EPERM) for an MSI
// that matched no APIC where 6.18 answers 0, which made the garbage guest
// see #GP on one kernel and not on the other (the nested stage caught it).
bool KvmVcpu::xapic_send_ipi(uint64_t icr) {
  const uint32_t vector = static_cast<uint32_t>(icr & kIcrVector);
  const uint32_t delivery = static_cast<uint32_t>(icr >> kIcrDeliveryShift) & kIcrDeliveryMask;
  const uint32_t shorthand = static_cast<uint32_t>(icr >> kIcrShorthandShift) & kIcrShorthandMask;
  const uint32_t data = (delivery << kIcrDeliveryShift) | vector;
  if (shorthand == 0) {  // the destination field, physical or logical: KVM matches it
    const uint32_t dest32 = static_cast<uint32_t>(icr >> 32);
    const uint32_t dest = dest32 == kX2apicBroadcast ? kXapicBroadcast : (dest32 & 0xFF);
    const uint32_t address = kMsiBase | (dest << kMsiDestShift) | ((icr & kIcrLogical) ? kMsiLogical : 0);
    (void)vm_.signal_msi(address, data);
    return true;
  }
  for (uint32_t target = 0; target < vm_.vcpus.size(); ++target) {
    const bool reaches = shorthand == 1 ? target == index_ : shorthand == 2 ? true : target != index_;
    if (reaches) (void)vm_.signal_msi(kMsiBase | (target << kMsiDestShift), data);
  }
  return true;
}

}  // namespace enlight::kvm
