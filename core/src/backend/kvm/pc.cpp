// The PC machine on KVM: the in-kernel interrupt controllers and PIT, the
// machine's devices behind port exits, the kernel and ACPI tables in guest
// RAM, and the boot vCPU's entry state by the 64-bit boot protocol.
// Everything a booted kernel needs that a flat guest does not.
#include "pc.hpp"

#include "impl.hpp"
#include "sys.hpp"

#include <enlight/core/config_error.hpp>
#include <enlight/core/loader.hpp>
#include <enlight/machine/acpi_tables.hpp>

#include <sys/ioctl.h>

#include <cstring>
#include <ctime>
#include <functional>
#include <stdexcept>

namespace enlight::kvm {

void KvmMachineSignals::set_irq(uint32_t irq, bool high) {
  kvm_irq_level line{};
  line.irq = irq;
  line.level = high ? 1 : 0;
  // Fails only for a GSI outside the routing table, which no device of
  // the machine uses; nothing a guest does can make it fail.
  (void)::ioctl(vm_.vm_fd.get(), KVM_IRQ_LINE, &line);
}

void KvmMachineSignals::power_off() { vm_.finish(Outcome::PoweredOff, "guest powered off (ACPI S5)"); }

void KvmMachineSignals::reset(const char* how) { vm_.finish(Outcome::Reset, std::string("guest reset (") + how + ")"); }

namespace {
// Model-specific registers a BIOS leaves set (Firecracker's boot MSRs):
// fast strings on, and the MTRRs enabled with write-back as the default
// type, so the kernel's MTRR code sees an ordinary PC rather than caching
// disabled everywhere.
constexpr uint32_t kMsrMiscEnable = 0x1A0;
constexpr uint64_t kMiscEnableFastString = 1u << 0;
constexpr uint32_t kMsrMtrrDefType = 0x2FF;
constexpr uint64_t kMtrrEnable = 1u << 11;
constexpr uint64_t kMtrrTypeWriteBack = 6;

// The local APIC's LINT pins as a BIOS wires them for virtual wire mode:
// LINT0 from the 8259 (ExtINT), LINT1 as NMI (Intel SDM vol. 3, 10.5.1;
// Firecracker's set_lint). The mask bits stay as KVM reset them.
constexpr size_t kApicLvtLint0 = 0x350;
constexpr size_t kApicLvtLint1 = 0x360;
constexpr uint32_t kApicDeliveryModeMask = 0x700;
constexpr uint32_t kApicDeliveryExtInt = 0x700;
constexpr uint32_t kApicDeliveryNmi = 0x400;

void set_lint(int vcpu_fd) {
  kvm_lapic_state lapic{};
  sys::xioctl(vcpu_fd, KVM_GET_LAPIC, "KVM_GET_LAPIC", &lapic);
  auto set_mode = [&](size_t reg, uint32_t mode) {
    uint32_t v;
    std::memcpy(&v, lapic.regs + reg, 4);
    v = (v & ~kApicDeliveryModeMask) | mode;
    std::memcpy(lapic.regs + reg, &v, 4);
  };
  set_mode(kApicLvtLint0, kApicDeliveryExtInt);
  set_mode(kApicLvtLint1, kApicDeliveryNmi);
  sys::xioctl(vcpu_fd, KVM_SET_LAPIC, "KVM_SET_LAPIC", &lapic);
}
}  // namespace

namespace {

// The devices the loaded plugins' manifests add to \_SB (`acpi-devices`).
// Two plugins may not name the same device: the guest would see one.
std::vector<machine::aml::Bytes> declared_acpi_devices(const Vm& vm) {
  std::vector<machine::aml::Bytes> out;
  std::vector<std::pair<const AcpiDeviceDecl*, const Manifest*>> seen;
  for (const LoadedPlugin& p : vm.plugins())
    for (const AcpiDeviceDecl& d : p.manifest->acpi_devices) {
      for (const auto& [other, owner] : seen)
        if (other->name == d.name)
          throw ConfigError(d.where, "plugins '" + owner->name + "' and '" + p.manifest->name +
                                         "' both add the ACPI device " + d.name + " (also at " + other->where.str() + ")",
                            "rename one of them in its manifest's acpi-devices");
      seen.emplace_back(&d, p.manifest);
      out.push_back(machine::simple_device({d.name, d.hid, d.uid, d.ddn, d.irq}));
    }
  return out;
}

}  // namespace

void create_pc(KvmVm::Impl& impl, std::function<void(uint8_t)> serial_out) {
  const int vmfd = impl.vm_fd.get();
  // The PIT in the kernel (Linux calibrates against it when nothing else
  // tells it the TSC rate). SPEAKER_DUMMY puts port 0x61 in the kernel too,
  // with bit 5 following the PIT's channel 2 as pit_calibrate_tsc() needs.
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  sys::xioctl(vmfd, KVM_CREATE_PIT2, "KVM_CREATE_PIT2", &pit);

  Vm& vm = *impl.vm;
  machine::PcConfig pc;
  pc.vcpus = vm.vcpu_count();
  pc.ram_bytes = vm.memory().size();
  pc.serial_out = serial_out ? std::move(serial_out) : [](uint8_t) {};
  pc.now_ns = [&vm] { return vm.now_ns(); };
  pc.wall_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  };
  pc.sb_devices = declared_acpi_devices(vm);
  impl.pc = std::make_unique<machine::PcMachine>(pc, impl.machine_signals);
}

void load_kernel(KvmVm::Impl& impl, machine::LinuxBootConfig& boot) {
  GuestMemory& mem = impl.vm->memory();
  const machine::AcpiTables& acpi = impl.pc->acpi();
  if (!mem.write(acpi.base, acpi.bytes.data(), acpi.bytes.size()))
    throw std::runtime_error("kvm: the ACPI tables do not fit in guest RAM");
  boot.acpi_rsdp = acpi.rsdp;
  machine::write_linux_boot(boot, *impl.boot, mem.base(), mem.size());
}

void enter_kernel(int vcpu_fd, uint32_t index, const machine::LinuxBootPlan& plan) {
  if (!sys::set_msr(vcpu_fd, kMsrMtrrDefType, kMtrrEnable | kMtrrTypeWriteBack))
    throw std::runtime_error("kvm: cannot set IA32_MTRR_DEF_TYPE");
  uint64_t misc = 0;
  if (sys::get_msr(vcpu_fd, kMsrMiscEnable, misc)) (void)sys::set_msr(vcpu_fd, kMsrMiscEnable, misc | kMiscEnableFastString);
  set_lint(vcpu_fd);
  // The application processors stay as KVM created them with the in-kernel
  // irqchip: waiting for INIT/SIPI, which the kernel sends itself.
  if (index != 0) return;

  kvm_sregs s{};
  sys::xioctl(vcpu_fd, KVM_GET_SREGS, "KVM_GET_SREGS", &s);
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xFFFFFFFF;
  code.selector = plan.code_selector;
  code.type = 0xB;  // execute/read, accessed
  code.present = 1;
  code.s = 1;
  code.l = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = plan.data_selector;
  data.type = 0x3;  // read/write, accessed
  data.l = 0;
  data.db = 1;
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.gdt.base = plan.gdt;
  s.gdt.limit = plan.gdt_limit;
  s.idt.base = 0;
  s.idt.limit = 0;  // interrupts stay off until the kernel loads its IDT
  s.cr3 = plan.pml4;
  s.cr4 = 0x20;                                   // PAE
  s.cr0 = 0x80000000u | 0x10 | 0x1;               // PG, ET, PE
  s.efer = 0x500;                                 // LME | LMA
  sys::xioctl(vcpu_fd, KVM_SET_SREGS, "KVM_SET_SREGS", &s);

  kvm_regs r{};
  r.rip = plan.entry_rip;
  r.rsi = plan.zero_page;  // boot.rst: %rsi holds the base of boot_params
  r.rsp = plan.entry_rsp;
  r.rbp = plan.entry_rsp;
  r.rflags = 0x2;  // IF = 0
  sys::xioctl(vcpu_fd, KVM_SET_REGS, "KVM_SET_REGS", &r);

  kvm_fpu fpu{};
  fpu.fcw = 0x37F;
  fpu.mxcsr = 0x1F80;
  sys::xioctl(vcpu_fd, KVM_SET_FPU, "KVM_SET_FPU", &fpu);
}

}  // namespace enlight::kvm
