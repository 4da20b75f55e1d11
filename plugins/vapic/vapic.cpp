// hv-vapic: the synthetic APIC MSRs HV_X64_MSR_EOI, _ICR and _TPR (TLFS
// Virtual Interrupt Control, "Local APIC MSR Accesses") and the per-VP
// HV_X64_MSR_VP_ASSIST_PAGE with its APIC-assist word, the paravirtual EOI
// (TLFS VP Properties, "Virtual Processor Assist Page"; Virtual Interrupt
// Control, "EOI Assist").
//
// The three APIC MSRs are a faster path to registers of the vCPU's local
// APIC, which the backend owns: this plugin forwards to it through
// enlight_host.apic_read/apic_write (x2APIC MSR indexes) and keeps no APIC
// state of its own, except the last ICR value written (see read_icr).
// The PV EOI bookkeeping (granting the "No EOI required" bit, retiring the
// vector when the guest cleared it) is the backend's too: the plugin only
// tells it where the word is (enlight_host.pv_eoi_set).
//
// MSR semantics follow KVM (arch/x86/kvm/hyperv.c kvm_hv_set_msr(),
// lapic.c kvm_hv_vapic_msr_write()/kvm_lapic_msr_write()), so a guest sees
// what it sees under QEMU+KVM; where KVM and the TLFS differ, the comment
// says so. README.md has the table and every choice.
//
// Exit path: every handler runs on its vCPU's thread and only touches that
// vCPU's state (relaxed atomics, for host save/restore from another thread
// while the vCPU is stopped) and the host services, which do not lock or
// allocate on our side. No lock, no allocation here.
#include <enlight/plugin.hpp>

#include <atomic>

namespace {

// ---- Architectural x86 numbers (Intel SDM Vol. 3A, chapter "Advanced
// Programmable Interrupt Controller (APIC)"), not TLFS ones. -------------

// IA32_APIC_BASE and its x2APIC-mode bit EXTD (SDM "Local APIC Status and
// Location", "x2APIC Mode"): whether the guest runs its APIC in xAPIC or
// x2APIC mode, which decides the ICR's destination layout (below).
constexpr uint32_t kIa32ApicBase = 0x1B;
constexpr uint64_t kApicBaseExtd = uint64_t{1} << 10;

// ICR fields (SDM "Interrupt Command Register (ICR)" and "x2APIC Interrupt
// Command Register"): delivery status is bit 12 ("send pending"), read-only;
// the destination is ICR bits 63:56 in xAPIC mode (ICR-high 31:24) and bits
// 63:32 in x2APIC mode. An all-ones destination is the broadcast in both
// modes (0xFF, 0xFFFFFFFF).
constexpr uint64_t kIcrDeliveryStatus = uint64_t{1} << 12;
constexpr uint32_t kXapicDestShift = 56;
constexpr uint32_t kX2apicDestShift = 32;
constexpr uint64_t kXapicDestMask = uint64_t{0xFF} << kXapicDestShift;
constexpr uint32_t kXapicBroadcast = 0xFF;
constexpr uint32_t kX2apicBroadcast = 0xFFFFFFFF;

// KVM's kvm_lapic_msr_write(): "Bits 63:32 are reserved in all other
// registers" (all but the ICR); a write with any of them set is #GP. The
// TLFS's RsvdZ for the EOI MSR's 63:32 says the same; for TPR it also makes
// 31:8 RsvdZ, which KVM silently drops (kvm_lapic_set_tpr(val & 0xff)).
constexpr uint64_t kApicMsrHighMask = ~HV_X64_MSR_ICR_LOW_MASK;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        eoi_msr(counter("enlight_vapic_eoi_msr_total",
                        "EOIs the guest wrote through HV_X64_MSR_EOI (not those it skipped via the VP assist page)")),
        icr_writes(counter("enlight_vapic_icr_writes_total", "IPIs the guest sent through HV_X64_MSR_ICR")),
        assist_page_enables(counter("enlight_vapic_assist_page_enables_total",
                                    "guest writes of HV_X64_MSR_VP_ASSIST_PAGE that enabled the page")) {
    // The APIC and PV EOI services are ABI 1.1; on a 1.0 core every MSR
    // would #GP, so refuse to start rather than advertise what cannot work.
    if (!host_has_1_1())
      throw enlight::PluginError("hv-vapic needs plugin ABI 1.1 host services (local APIC access, PV EOI); "
                                 "this enlight core offers 1.0");
    // QEMU (target/i386/kvm/kvm.c): hv-vapic sets AccessIntrCtrlRegs, the
    // privilege that gates the four MSRs...
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_INTR_CTRL_REGS});
    // ...and, in hyperv_fill_cpuids(), the "use the APIC MSRs"
    // recommendation unless hv-avic is on. A default, not a bit: the avic
    // plugin owns 0x40000004.EAX[3] as a field of 0 when it is enabled, and
    // the core's composition lets a field win over a default.
    cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX, HV_RECOMMEND_MSR_APIC_ACCESS});
  }

  const enlight::Counter eoi_msr;
  const enlight::Counter icr_writes;
  const enlight::Counter assist_page_enables;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
  // HV_X64_MSR_VP_ASSIST_PAGE as last written (reset 0: disabled).
  std::atomic<uint64_t> vp_assist{0};
  // The ICR as last written through HV_X64_MSR_ICR, delivery status clear
  // (reset 0): what reads return (see read_icr).
  std::atomic<uint64_t> icr{0};

  // Saved state: HV_X64_MSR_VP_ASSIST_PAGE and the last ICR written here.
  // EOI holds nothing, TPR is the backend's APIC (restored with it).
  void save(enlight::StateWriter& w) const {
    w.put(vp_assist);
    w.put(icr);
  }
  void load(enlight::StateReader& r);
};

// ---- xAPIC / x2APIC destination layout -------------------------------------

// The TLFS describes HV_X64_MSR_ICR as "ICR-high and ICR-low" of the
// memory-mapped (xAPIC) registers, where the destination is ICR-high 31:24.
// Neither Hyper-V nor KVM keeps that layout in x2APIC mode: KVM's
// kvm_apic_send_ipi() takes the destination from ICR-high 31:24 in xAPIC
// mode and from all 32 bits in x2APIC mode, and Linux's hv_apic_init()
// stops using the synthetic ICR in x2APIC mode "since the field layout in
// the ICR register is different". So the layout follows the guest's APIC
// mode, read from IA32_APIC_BASE.EXTD. The ABI promises apic_read only for
// 0x800-0x8FF; a backend that refuses IA32_APIC_BASE is taken to be in
// x2APIC mode, the only interface the ABI exposes.
bool x2apic_mode(const Vcpu& v) noexcept {
  uint64_t base = 0;
  if (!v.vm().apic_read(v.index(), kIa32ApicBase, base)) return true;
  return (base & kApicBaseExtd) != 0;
}

// The backend's APIC takes the x2APIC ICR (destination in 63:32). In xAPIC
// mode the guest's 8-bit destination moves down, and 0xFF, the xAPIC
// broadcast in physical and logical mode alike (SDM "Determining IPI
// Destination"), becomes the x2APIC broadcast 0xFFFFFFFF. Other logical
// (bit 11) destinations are passed as their 8 bits: an xAPIC flat/cluster
// logical ID has no x2APIC equivalent without the guest's LDR/DFR, which
// the backend's APIC owns.
uint64_t icr_to_x2apic(uint64_t hv, bool x2apic) noexcept {
  if (x2apic) return hv;
  uint32_t dest = static_cast<uint32_t>((hv & kXapicDestMask) >> kXapicDestShift);
  if (dest == kXapicBroadcast) dest = kX2apicBroadcast;
  return (hv & HV_X64_MSR_ICR_LOW_MASK) | (uint64_t{dest} << kX2apicDestShift);
}

// ---- HV_X64_MSR_EOI: write-only (no read handler: reads #GP) ---------------

// TLFS: 31:0 "EOI value", 63:32 RsvdZ. The TLFS gives the value no meaning
// and KVM ignores it (kvm_lapic_reg_write(APIC_EOI) just EOIs), as the xAPIC
// EOI register this MSR stands for ignores what is written; 63:32 set is #GP
// (KVM's kvm_lapic_msr_write()). The x2APIC EOI register #GPs on any
// non-zero value (SDM), so the plugin always forwards 0.
// Host writes are accepted and do nothing: EOI holds no state to restore,
// and acting on it would retire a vector the restored APIC has in service.
enlight_access_result write_eoi(Vcpu& v, uint32_t, uint64_t value, enlight_origin origin) {
  if ((value & HV_X64_MSR_EOI_RSVDZ_MASK) != 0) return ENLIGHT_ACCESS_GP;
  if (origin == ENLIGHT_ORIGIN_HOST) return ENLIGHT_ACCESS_OK;
  if (!v.vm().apic_write(v.index(), HV_X64_MSR_EOI_X2APIC_INDEX, 0)) return ENLIGHT_ACCESS_GP;
  v.vm().eoi_msr.add(v.index());
  return ENLIGHT_ACCESS_OK;
}

// ---- HV_X64_MSR_ICR ---------------------------------------------------------

// TLFS: read/write, ICR-high 63:32, ICR-low 31:0. A guest write sends the
// IPI (the APIC's ICR write does); delivery status (bit 12) is dropped as
// KVM drops it (kvm_x2apic_icr_write(): delivery is instant, the bit always
// reads 0). Other reserved bits are the APIC's business, as in KVM, which
// checks none.
// Host write (restore): only the stored value changes, no IPI: the source
// VM already delivered it. KVM would send it again; QEMU never writes this
// MSR (the ICR travels with the LAPIC state).
enlight_access_result write_icr(Vcpu& v, uint32_t, uint64_t value, enlight_origin origin) {
  const uint64_t stored = value & ~kIcrDeliveryStatus;
  if (origin == ENLIGHT_ORIGIN_HOST) {
    v.icr.store(stored, std::memory_order_relaxed);
    return ENLIGHT_ACCESS_OK;
  }
  const uint64_t x2apic_icr = icr_to_x2apic(stored, x2apic_mode(v));
  if (!v.vm().apic_write(v.index(), HV_X64_MSR_ICR_X2APIC_INDEX, x2apic_icr)) return ENLIGHT_ACCESS_GP;
  v.icr.store(stored, std::memory_order_relaxed);
  v.vm().icr_writes.add(v.index());
  return ENLIGHT_ACCESS_OK;
}

// Reads answer the value last written here, not the APIC's register: the
// ICR holds nothing but the last command (delivery status aside, always 0
// here), and the shared emu/direct APIC model answers an x2APIC ICR read
// (0x830) with a masked LVT's value, because its LVT range 0x82F-0x837
// includes the ICR. The difference from KVM, where both paths share one
// register: a guest that sends through x2APIC MSR 0x830 and then reads
// HV_X64_MSR_ICR sees its last synthetic-MSR command. No APIC at all (TPR
// refused) is #GP, as for the other two MSRs.
enlight_access_result read_icr(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  uint64_t tpr = 0;
  if (!v.vm().apic_read(v.index(), HV_X64_MSR_TPR_X2APIC_INDEX, tpr)) return ENLIGHT_ACCESS_GP;
  value = v.icr.load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

// ---- HV_X64_MSR_TPR ---------------------------------------------------------

// TLFS: 7:0 TPR, 63:8 RsvdZ. As KVM: 63:32 set is #GP, 31:8 are dropped
// (the TLFS would allow #GP there too; a guest sees KVM's answer). Host
// writes restore the APIC's TPR the same way.
enlight_access_result read_tpr(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  uint64_t tpr = 0;
  if (!v.vm().apic_read(v.index(), HV_X64_MSR_TPR_X2APIC_INDEX, tpr)) return ENLIGHT_ACCESS_GP;
  value = tpr & HV_X64_MSR_TPR_VALUE_MASK;
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_tpr(Vcpu& v, uint32_t, uint64_t value, enlight_origin) {
  if ((value & kApicMsrHighMask) != 0) return ENLIGHT_ACCESS_GP;
  const bool ok = v.vm().apic_write(v.index(), HV_X64_MSR_TPR_X2APIC_INDEX, value & HV_X64_MSR_TPR_VALUE_MASK);
  return ok ? ENLIGHT_ACCESS_OK : ENLIGHT_ACCESS_GP;
}

// ---- HV_X64_MSR_VP_ASSIST_PAGE ----------------------------------------------

enlight_access_result read_vp_assist(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vp_assist.load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

// TLFS: bit 0 Enable, 11:1 RsvdP, 63:12 the page's GPA frame. As KVM's
// kvm_hv_set_msr():
//  - the value is stored as written (RsvdP bits included) and read back;
//  - disabling turns PV EOI off (a grant in flight is taken back by the
//    backend, so the guest's next EOI goes through the MSR);
//  - enabling with a page not entirely in guest RAM is #GP and leaves the
//    register unchanged. The TLFS calls the page an overlay, which genuine
//    Hyper-V can place at any GPA; like KVM we use guest RAM itself and
//    cannot back a page outside it, and never touch memory there;
//  - enabling clears only the 32-bit APIC-assist word (current KVM; older
//    KVM cleared the whole page, but "there can be valuable data in the
//    rest which needs to be preserved e.g. on migration"), then gives the
//    word's GPA to the backend's PV EOI.
// A backend without PV EOI refuses pv_eoi_set: the write still succeeds,
// the guest just never sees "No EOI required" and EOIs through the MSR.
// That is architectural: the TLFS has the hypervisor set the bit only when
// it chooses to, and "conventional EOIs can still be performed" at any
// time. (KVM cannot refuse here: its PV EOI is software.)
// Host writes (restore) take the same path, as in KVM: QEMU restores this
// MSR after guest memory, and the assist word is cleared again.
enlight_access_result write_vp_assist(Vcpu& v, uint32_t, uint64_t value, enlight_origin origin) {
  Vm& vm = v.vm();
  const uint32_t vcpu = v.index();
  if ((value & HV_X64_MSR_VP_ASSIST_PAGE_ENABLE) == 0) {
    vm.pv_eoi_set(vcpu, 0);  // refused only where there is no PV EOI to stop
    v.vp_assist.store(value, std::memory_order_relaxed);
    return ENLIGHT_ACCESS_OK;
  }
  const uint64_t page = value & HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK;
  if (vm.map_guest(page, HV_PAGE_SIZE) == nullptr) return ENLIGHT_ACCESS_GP;
  const uint64_t word = page + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET;
  const uint32_t zero = 0;
  if (!vm.write_guest(word, &zero, sizeof zero)) return ENLIGHT_ACCESS_GP;
  v.vp_assist.store(value, std::memory_order_relaxed);
  // If the backend refuses the new word, make sure it does not keep using a
  // previous page's either.
  if (!vm.pv_eoi_set(vcpu, word)) vm.pv_eoi_set(vcpu, 0);
  if (origin == ENLIGHT_ORIGIN_GUEST) vm.assist_page_enables.add(vcpu);
  return ENLIGHT_ACCESS_OK;
}

// The load validates as the MSR writes do (an enabled assist page must lie
// in guest RAM; the ICR is stored without delivery status, so a saved ICR
// with bit 12 set never came from this plugin) and redoes the enable's
// side effect: PV EOI on the restored page's APIC-assist word. The page is
// guest RAM, restored with it; the order differs from the MSR write on
// purpose: pv_eoi_set comes first, so the backend retires a grant the
// guest already used (word cleared) and takes back one it did not, then
// the word is cleared, since after pv_eoi_set no grant stands and a set
// "No EOI required" bit would make the guest skip an EOI nobody retires.
void Vcpu::load(enlight::StateReader& r) {
  const uint64_t assist = r.get<uint64_t>();
  const uint64_t icr_value = r.get<uint64_t>();
  if (!r.complete()) return;
  Vm& v = vm();
  const bool enabled = (assist & HV_X64_MSR_VP_ASSIST_PAGE_ENABLE) != 0;
  const uint64_t page = assist & HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK;
  if (enabled && v.map_guest(page, HV_PAGE_SIZE) == nullptr)
    return r.refuse("HV_X64_MSR_VP_ASSIST_PAGE", assist, "the enabled page is outside guest RAM");
  if ((icr_value & kIcrDeliveryStatus) != 0)
    return r.refuse("HV_X64_MSR_ICR", icr_value, "delivery status (bit 12) is never stored");
  icr.store(icr_value, std::memory_order_relaxed);
  vp_assist.store(assist, std::memory_order_relaxed);
  if (!enabled) {
    v.pv_eoi_set(index(), 0);
    return;
  }
  const uint64_t word = page + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET;
  if (!v.pv_eoi_set(index(), word)) v.pv_eoi_set(index(), 0);
  const uint32_t zero = 0;
  v.write_guest(word, &zero, sizeof zero);
}

// Gates (manifest): AccessIntrCtrlRegs, 0x40000003.EAX[4], for all four, as
// KVM's hv_check_msr_access() does.
constexpr std::array kMsrs{
    enlight::msr<nullptr, write_eoi>(HV_X64_MSR_EOI),
    enlight::msr<read_icr, write_icr>(HV_X64_MSR_ICR),
    enlight::msr<read_tpr, write_tpr>(HV_X64_MSR_TPR),
    enlight::msr<read_vp_assist, write_vp_assist>(HV_X64_MSR_VP_ASSIST_PAGE),
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
