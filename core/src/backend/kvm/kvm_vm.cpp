// KvmVm: builds the Vm with this backend's host-service hooks, the KVM VM
// (irqchip, MSR filter, one memory slot over the Vm's RAM, CPUID), one
// vCPU per Vm vCPU, and runs them on host threads under a monitor that
// enforces the time-out and kicks vCPUs whose plugin timers are due.
#include "impl.hpp"
#include "pc.hpp"
#include "setup.hpp"
#include "sys.hpp"
#include "vcpu.hpp"

#include <enlight/core/guest/protocol.h>

#include <sched.h>
#include <sys/ioctl.h>
#include <x86intrin.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace enlight::kvm {

namespace {
// The Hyper-V CPUID leaves KVM says it supports (KVM_GET_SUPPORTED_HV_CPUID
// on /dev/kvm, KVM_CAP_SYS_HYPERV_CPUID), for hv-passthrough; or why not.
std::string supported_hv_cpuid(std::vector<HvCpuidLeaf>& out) {
  sys::Fd fd;
  try {
    fd = sys::open_device("/dev/kvm");
  } catch (const std::exception& e) {
    return e.what();
  }
  if (::ioctl(fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_SYS_HYPERV_CPUID) <= 0)
    return "this KVM has no KVM_GET_SUPPORTED_HV_CPUID (a kernel without Hyper-V support, e.g. PVM's)";
  constexpr uint32_t kMax = 64;
  std::vector<uint8_t> buf(sys::kFlexHeader + kMax * sizeof(kvm_cpuid_entry2), 0);
  std::memcpy(buf.data(), &kMax, 4);
  if (::ioctl(fd.get(), sys::kGetSupportedHvCpuid, buf.data()) != 0)
    return std::string("KVM_GET_SUPPORTED_HV_CPUID failed: ") + std::strerror(errno);
  uint32_t n = 0;
  std::memcpy(&n, buf.data(), 4);
  for (uint32_t i = 0; i < n && i < kMax; ++i) {
    kvm_cpuid_entry2 e;
    std::memcpy(&e, buf.data() + sys::kFlexHeader + i * sizeof e, sizeof e);
    out.push_back(HvCpuidLeaf{e.function, {e.eax, e.ebx, e.ecx, e.edx}});
  }
  return "";
}
}  // namespace

namespace {
bool has_evmcs_capability() {
  try {
    sys::Fd fd = sys::open_device("/dev/kvm");
    return sys::check_extension(fd.get(), KVM_CAP_HYPERV_ENLIGHTENED_VMCS) > 0;
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace

BackendCaps capabilities() {
  BackendCaps caps{"kvm", host_features(host_is_amd(), has_evmcs_capability()), true, false, {}, {}};
  caps.narrows_passthrough = true;
  caps.hv_supported_missing = supported_hv_cpuid(caps.hv_supported);
  return caps;
}

bool available(std::string* why, const std::string& device) {
  try {
    sys::Fd fd = sys::open_device(device);
    const std::string missing = sys::missing_capabilities(fd.get());
    if (why) *why = missing.empty() ? "" : device + ": " + missing;
    return missing.empty();
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return false;
  }
}

namespace {
// The guest reads the host's TSC unscaled (its offset is set to 0 below),
// so its rate is the host's: the bus's per-process measurement, in kHz.
uint64_t host_tsc_hz() {
  const double hz = tsc_hz();
  if (hz <= 0) return VmOptions{}.tsc_frequency_hz;
  return static_cast<uint64_t>(hz / 1000.0 + 0.5) * 1000;
}

// Whether the host's Linux trusts its TSC. KVM keeps a guest's TSC a fixed
// offset from the host's only then: on a host whose TSC the clocksource
// watchdog marked unstable (seen in the nested stage: Linux under QEMU's
// TCG keeps hpet and acpi_pm only), KVM rewrites each vCPU's offset when
// the vCPU moves between host CPUs, so the guest TSC drifts from the host
// TSC the reference time is computed from, differently on each vCPU
// (conformance-time saw 2 ms backwards across vCPUs). An unstable TSC is
// dropped from available_clocksource (it loses CLOCK_SOURCE_VALID_FOR_HRES).
bool host_tsc_reliable() {
  std::ifstream in("/sys/devices/system/clocksource/clocksource0/available_clocksource");
  for (std::string name; in >> name;)
    if (name == "tsc") return true;
  return false;
}

// Guest TSC = host TSC: the same counter on every vCPU and the same one the
// core's reference time was defined from at Vm creation (docs/timers.md).
void zero_tsc_offset(int vcpu_fd) { set_tsc_offset(vcpu_fd, 0); }

// The identity plugin fills the hypercall page. KVM keeps VMCALL/VMMCALL
// in the kernel (its own KVM or Hyper-V hypercalls), so on this backend
// the page's instruction is an OUT to ENLIGHT_HYPERCALL_IO_PORT, which
// always exits (docs/kvm-backend.md).
//
// Hypercalls of a plugin offloaded to KVM (tlbflush, ipi) must reach KVM's
// own Hyper-V code instead, which answers VMCALL/VMMCALL in the kernel: the
// page then tests the call code and sends those calls there (identity's
// kernel-hypercalls), with the host's native instruction, so KVM never
// patches it.
Resolution with_kvm_hypercall_page(Resolution r) {
  std::string kernel_codes;
  for (const ResolvedPlugin& p : r.plugins) {
    if (p.manifest == nullptr || p.offload != "kvm") continue;
    for (const HypercallClaim& h : p.manifest->hypercalls) {
      char code[8];
      std::snprintf(code, sizeof code, "%s%x", kernel_codes.empty() ? "" : ",", h.code);
      kernel_codes += code;
    }
  }
  for (ResolvedPlugin& p : r.plugins)
    if (p.manifest != nullptr && p.manifest->name == "identity")
      for (TypedOption& o : p.options) {
        if (o.name == "instruction") o.str = "ioport";
        if (o.name == "kernel-hypercalls") o.str = kernel_codes;
        if (o.name == "kernel-instruction" && !kernel_codes.empty()) o.str = host_is_amd() ? "vmmcall" : "vmcall";
      }
  return r;
}

// KVM answers a VMCALL/VMMCALL as a Hyper-V hypercall only once its own
// GUEST_OS_ID is non-zero (kvm_hv_hypercall_enabled), and names VPs by its
// own VP index registers. Both MSRs stay enlight's for the guest (the MSR
// filter sends the guest's accesses to the identity and vpindex plugins),
// so KVM's copies are set here by host writes, which the filter does not
// govern: a fixed non-zero OS ID (the guest's own is enlight's to keep;
// KVM uses this one only as "hypercalls on") and each vCPU's VP index as
// the core holds it (vpindex's base option moves them).
constexpr uint64_t kKernelGuestOsId = HV_GUEST_OS_ID_OPEN_SOURCE | 1;

bool offloads_hypercalls(const Resolution& r);

void enable_kernel_hypercalls(KvmVm::Impl& impl) {
  if (impl.vcpus.empty()) return;
  if (!sys::set_msr(impl.vcpus[0]->fd(), HV_X64_MSR_GUEST_OS_ID, kKernelGuestOsId))
    throw std::runtime_error("kvm: KVM refused its GUEST_OS_ID, so offloaded hypercalls could not reach it");
  for (uint32_t i = 0; i < impl.vcpus.size(); ++i)
    if (!sys::set_msr(impl.vcpus[i]->fd(), HV_X64_MSR_VP_INDEX, impl.vm->vcpu(i).vp_index))
      throw std::runtime_error("kvm: KVM refused the VP index of vCPU " + std::to_string(i) +
                               " for offloaded hypercalls");
}

bool offloads_hypercalls(const Resolution& r) {
  for (const ResolvedPlugin& p : r.plugins)
    if (p.manifest != nullptr && p.offload == "kvm" && !p.manifest->hypercalls.empty()) return true;
  return false;
}
}  // namespace

void KvmVm::Impl::finish(Outcome outcome, std::string message, uint32_t status) {
  recorder.decide(outcome, std::move(message), status);
  over.store(true);
  kick_all();
  poke_monitor();
}

void KvmVm::Impl::kick_all() {
  for (auto& v : vcpus) v->kick();
}

void KvmVm::Impl::poke_monitor() {
  {
    std::lock_guard lock(monitor_mutex);
    monitor_poke = true;
  }
  monitor_cv.notify_all();
}

int KvmVm::Impl::inject(uint32_t vcpu, uint8_t vector, uint32_t flags) {
  if (vcpu >= vcpus.size() || vector < 16) return -1;
  // AutoEOI needs the APIC to retire the vector as it is accepted; KVM's
  // in-kernel APIC does that only for its own SynIC, not for an MSI.
  if (flags & ENLIGHT_IRQ_AUTO_EOI) return -1;
  // Physical destination = APIC ID = vCPU index; fixed delivery, edge.
  return signal_msi(0xFEE00000u | (vcpu << 12), vector) > 0 ? 0 : -1;  // 0: the APIC refused it (disabled)
}

int KvmVm::Impl::signal_msi(uint32_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = address;
  msi.data = data;
  int r;
  {
    std::shared_lock lock(apic_lock);
    r = ::ioctl(vm_fd.get(), KVM_SIGNAL_MSI, &msi);
  }
  if (r > 0) interrupts.fetch_add(1, std::memory_order_relaxed);
  return r;
}

std::unique_ptr<KvmVm> KvmVm::create(const Resolution& resolution, KvmOptions options) {
  sys::install_kick_handler();
  std::unique_ptr<KvmVm> e(new KvmVm());
  auto impl = std::make_shared<Impl>();
  e->impl_ = impl;
  for (const ResolvedPlugin& p : resolution.plugins) e->offloads_any_ |= !p.offload.empty();
  impl->kvm = sys::open_device(options.device);
  if (const std::string missing = sys::missing_capabilities(impl->kvm.get()); !missing.empty())
    throw std::runtime_error("kvm: " + options.device + ": " + missing);

  std::weak_ptr<Impl> weak = impl;
  options.vm.hooks.inject_interrupt = [weak](uint32_t vcpu, uint8_t vector, uint32_t flags) {
    auto p = weak.lock();
    return p ? p->inject(vcpu, vector, flags) : -1;
  };
  options.vm.hooks.yield_vcpu = [](uint32_t) { sched_yield(); };
  options.vm.hooks.tlb_flush = tlb_flush_hook(weak);
  options.vm.hooks.now_ns = [weak] {
    auto p = weak.lock();
    return p ? p->now_ns() : uint64_t{0};
  };
  options.vm.hooks.vcpu_runtime_ns = [weak](uint32_t vcpu) {
    auto p = weak.lock();
    return p && vcpu < p->vcpus.size() ? p->vcpus[vcpu]->runtime_ns() : uint64_t{0};
  };
  options.vm.hooks.guest_tsc = [weak](uint32_t) {
    auto p = weak.lock();
    return static_cast<uint64_t>(__rdtsc()) + (p ? p->tsc_offset.load(std::memory_order_relaxed) : 0);
  };
  options.vm.hooks.apic_read = [weak](uint32_t vcpu, uint32_t msr, uint64_t& value) {
    auto p = weak.lock();
    return p && vcpu < p->vcpus.size() && p->vcpus[vcpu]->apic_read(msr, value);
  };
  options.vm.hooks.apic_write = [weak](uint32_t vcpu, uint32_t msr, uint64_t value) {
    auto p = weak.lock();
    return p && vcpu < p->vcpus.size() && p->vcpus[vcpu]->apic_write(msr, value);
  };
  // PV EOI needs to see the guest's EOIs; KVM's APIC keeps them in the
  // kernel (docs/kvm-backend.md).
  options.vm.hooks.pv_eoi_set = [](uint32_t, uint64_t) { return false; };
  // Neither AutoEOI nor EOI notifications for an interrupt enlight injects
  // (an MSI into KVM's APIC): features stay 0, and SynIC asks the guest
  // not to use AutoEOI (docs/kvm-backend.md).
  options.vm.hooks.features = 0;
  options.vm.hooks.timer_armed = [weak](uint32_t) {
    if (auto p = weak.lock()) p->poke_monitor();
  };
  if (options.vm.memory_bytes & 0xFFF) throw std::runtime_error("kvm: guest RAM must be a multiple of 4 KiB");
  // A kernel, its initrd, command line and memory are checked before any
  // plugin is loaded or any KVM object exists (BootError names the fix).
  if (options.kernel) {
    options.kernel->boot.ram_bytes = options.vm.memory_bytes;
    impl->boot = machine::plan_linux_boot(options.kernel->boot);
  }
  options.vm.tsc_frequency_hz = host_tsc_hz();
  options.vm.tsc_reliable = host_tsc_reliable();
  // hv-evmcs: refused before anything is created when KVM could not use it
  // (the capability itself is resolution's host feature; the version range
  // is checked on each vCPU below).
  const bool evmcs = std::any_of(resolution.plugins.begin(), resolution.plugins.end(),
                                 [](const ResolvedPlugin& p) { return p.manifest && p.manifest->name == "evmcs"; });
  if (const std::string why = evmcs_refusal(resolution); !why.empty()) throw std::runtime_error(why);
  // hv-no-nonarch-coresharing=auto copies what KVM reports (QEMU
  // hyperv_fill_cpuids); the plugin only sees its options.
  Resolution adjusted = with_kvm_hypercall_page(resolution);
  if (std::any_of(resolution.plugins.begin(), resolution.plugins.end(),
                  [](const ResolvedPlugin& p) { return p.manifest && p.manifest->name == "no-nonarch-coresharing"; })) {
    std::vector<HvCpuidLeaf> supported;
    const bool known = supported_hv_cpuid(supported).empty();
    adjusted = with_host_reports(std::move(adjusted), supported, known);
  }
  e->vm_ = Vm::create(adjusted, options.vm);
  Vm& vm = *e->vm_;
  impl->vm = &vm;
  impl->run_ms = options.run_ms;

  const int kvm = impl->kvm.get();
  impl->vm_fd = sys::Fd(sys::xioctl(kvm, KVM_CREATE_VM, "KVM_CREATE_VM"));
  const int vmfd = impl->vm_fd.get();
  impl->run_mmap_size = sys::xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE");
  if (static_cast<size_t>(impl->run_mmap_size) < sizeof(kvm_run))
    throw std::runtime_error("kvm: KVM_GET_VCPU_MMAP_SIZE smaller than struct kvm_run");
  // Intel needs a TSS area below 4 GiB outside RAM for real-mode emulation;
  // AMD ignores it. The guests never leave long mode, so failure is harmless.
  (void)::ioctl(vmfd, KVM_SET_TSS_ADDR, 0xFFFBD000ul);
  sys::xioctl(vmfd, KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP");  // before any vCPU
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
  cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;  // only filtered MSRs leave the kernel
  sys::xioctl(vmfd, KVM_ENABLE_CAP, "KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)", &cap);
  // offload: kvm hands a plugin's MSRs to KVM's own Hyper-V code, which a
  // kernel without CONFIG_KVM_HYPERV (PVM's, for one) does not have.
  for (const ResolvedPlugin& p : resolution.plugins)
    if (p.offload == "kvm" && ::ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV) <= 0)
      throw std::runtime_error("kvm: '" + p.manifest->name +
                               "' is offloaded to KVM, but this kernel's KVM has no Hyper-V support (KVM_CAP_HYPERV)"
                               "\n  fix: remove the offload (enlight's plugin then does the work), or use a kernel "
                               "built with CONFIG_KVM_HYPERV");
  install_msr_filter(vmfd, resolution);

  GuestMemory& mem = vm.memory();
  if (options.kernel) {
    create_pc(*impl, options.kernel->serial_out);
    load_kernel(*impl, options.kernel->boot);
  } else {
    // A guest program may have the PC's devices too (its console then
    // also gets COM1's output): how the hostile port test reaches them.
    if (options.pc_devices) create_pc(*impl, [raw = impl.get()](uint8_t b) { raw->recorder.console(static_cast<char>(b)); });
    write_long_mode_tables(mem.base(), mem.size());
    if (!mem.write(ENLIGHT_GUEST_LOAD_ADDRESS, options.image.data(), options.image.size()))
      throw std::runtime_error("kvm: the guest image does not fit in RAM");
  }
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = mem.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(mem.base());
  sys::xioctl(vmfd, KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION", &region);

  const std::vector<kvm_cpuid_entry2> cpuid = compose_cpuid(kvm, vm.bus().cpuid_table());
  for (uint32_t i = 0; i < vm.vcpu_count(); ++i) {
    impl->vcpus.push_back(std::make_unique<KvmVcpu>(*impl, i, cpuid));
    KvmVcpu& v = *impl->vcpus.back();
    if (impl->boot) enter_kernel(v.fd(), i, *impl->boot);
    else v.enter_flat_guest();
    zero_tsc_offset(v.fd());
    if (evmcs) enable_evmcs(v.fd(), i);
  }
  if (offloads_hypercalls(resolution)) enable_kernel_hypercalls(*impl);
  return e;
}

KvmVm::~KvmVm() {
  // vCPUs and the VM fd go before the Vm whose RAM the memory slot maps.
  if (impl_) {
    impl_->vcpus.clear();
    impl_->vm_fd = sys::Fd();
  }
}

int KvmVm::inject_interrupt(uint32_t vcpu, uint8_t vector) { return impl_->inject(vcpu, vector, 0); }

size_t KvmVm::serial_input(const uint8_t* data, size_t n) { return impl_->pc ? impl_->pc->com1().receive(data, n) : 0; }

void KvmVm::stop(const char* message) {
  vm_->request_stop(StopReason::Requested, message);
  impl_->kick_all();
  impl_->poke_monitor();
}

RunResult KvmVm::run(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  ran_ = true;
  std::vector<std::thread> threads;
  threads.reserve(s.vcpus.size());
  for (auto& v : s.vcpus) threads.emplace_back([&v] { v->run(); });

  // The monitor: time-out, stops from outside the vCPUs, and plugin
  // timers. A vCPU with a due timer is kicked out of KVM_RUN (even from an
  // in-kernel HLT) and runs the timer on its own thread before it
  // re-enters. Everything that can end the run or arm an earlier timer
  // pokes the monitor (finish, stop, timer_armed), so it sleeps until the
  // next deadline instead of polling: a wake-up per millisecond costs the
  // vCPUs time on a small host, and most in the nested stage.
  const auto deadline = timeout.count() > 0 ? std::chrono::steady_clock::now() + timeout
                                            : std::chrono::steady_clock::time_point::max();  // 0: none
  while (!s.over.load()) {
    if (auto verdict = monitor_verdict(*vm_, deadline, timeout)) {
      s.finish(verdict->outcome, std::move(verdict->message));
      break;
    }
    // Reference time is read only when some timer is armed: with none (a
    // kernel without synthetic timers, most of the benchmark) the monitor
    // reads no clock but the steady one it sleeps on.
    uint64_t ref_now = 0, earliest = 0;
    bool have_now = false, kicked = false;
    for (auto& v : s.vcpus) {
      const uint64_t due = vm_->next_timer_deadline(v->index());
      if (due == 0) continue;
      if (!have_now) {
        ref_now = vm_->reference_time();
        have_now = true;
      }
      if (due <= ref_now) {
        v->kick();
        kicked = true;
      } else if (earliest == 0 || due < earliest) {
        earliest = due;
      }
    }
    // Sleep to the next timer (after a kick give the vCPU 50 us to run it
    // before looking again), the time-out, or a poke; at most 100 ms, a
    // safety net that costs nothing.
    auto nap = std::chrono::microseconds(100'000);
    if (earliest != 0) nap = std::min(nap, std::chrono::microseconds((earliest - ref_now) / 10));  // 100 ns units
    if (kicked) nap = std::max(std::min(nap, std::chrono::microseconds(1000)), std::chrono::microseconds(50));
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    nap = std::max(std::chrono::microseconds(0), std::min(nap, left + std::chrono::microseconds(1)));
    std::unique_lock lock(s.monitor_mutex);
    s.monitor_cv.wait_for(lock, nap, [&] { return s.monitor_poke; });
    s.monitor_poke = false;
  }
  for (auto& t : threads) t.join();
  stopped_reference_time_ = vm_->reference_time();
  s.stopped_tsc = vm_->guest_tsc(0);
  s.stopped_ns = vm_->now_ns();

  std::vector<uint64_t> rips;
  for (auto& v : s.vcpus) rips.push_back(v->last_rip());
  RunResult r = final_result(s.recorder, *vm_, rips);
  for (auto& v : s.vcpus) {
    const VcpuCounters& c = v->counters();
    r.stats.exits += c.exits;
    r.stats.io_exits += c.io;
    r.stats.pm_timer_reads += c.pm_timer;
    r.stats.hypercalls += c.hypercalls;
    r.stats.msr_exits_synthetic += c.msr_synthetic;
    r.stats.msr_exits_other += c.msr_other;
    r.stats.mmio_unbacked += c.mmio;
  }
  r.stats.msr_exits = r.stats.msr_exits_synthetic + r.stats.msr_exits_other;
  r.stats.interrupts_delivered = s.interrupts.load();
  last_outcome_ = r.outcome;
  return r;
}

}  // namespace enlight::kvm

