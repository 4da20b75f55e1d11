// EmuVm: builds the Vm with this backend's host-service hooks, one engine
// per vCPU over the shared RAM, and runs them on host threads under a
// monitor that enforces the time-out, fires APIC timers and repeats kicks.
#include "emu_impl.hpp"
#include "vcpu.hpp"

#include <enlight/core/guest/protocol.h>

#include <x86intrin.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace enlight::emu {

BackendCaps capabilities() { return BackendCaps{"emu", {"emu-lapic"}, true, false, {}, {}}; }

namespace {
// The rate of the host's TSC, which is what RDTSC returns inside Unicorn
// (its helper reads the host counter; UC_HOOK_INSN refuses RDTSC in 2.0.1,
// so it cannot be replaced by Vm::guest_tsc). The bus's per-process
// measurement, rounded to kHz: the figure is a frequency, not a measurement
// artefact.
uint64_t host_tsc_hz() {
  const double hz = tsc_hz();
  if (hz <= 0) return VmOptions{}.tsc_frequency_hz;
  return static_cast<uint64_t>(hz / 1000.0 + 0.5) * 1000;
}
}  // namespace

void EmuVm::Impl::finish(Outcome outcome, std::string message, uint32_t status) {
  recorder.decide(outcome, std::move(message), status);
  over.store(true);
  kick_all();
}

void EmuVm::Impl::kick_all() {
  for (auto& v : vcpus) v->kick();
}

int EmuVm::Impl::inject(uint32_t vcpu, uint8_t vector, bool auto_eoi) {
  if (vcpu >= vcpus.size() || !vcpus[vcpu]->lapic().set_irr(vector, auto_eoi)) return -1;
  vcpus[vcpu]->kick();
  return 0;
}

void EmuVm::Impl::route_ipi(uint32_t from, const IpiRequest& ipi) {
  for (uint32_t i = 0; i < vcpus.size(); ++i)
    if (ipi.reaches(i, from)) inject(i, ipi.vector);  // a bad vector is dropped (a real APIC sets ESR)
}

std::unique_ptr<EmuVm> EmuVm::create(const Resolution& resolution, EmuOptions options) {
  if (options.kernel || options.pc_devices)
    throw std::runtime_error("emu: this backend has no PC machine: it runs flat guest programs only, "
                             "neither a kernel nor the PC's devices (docs/emu-backend.md)");
  std::unique_ptr<EmuVm> e(new EmuVm());
  auto impl = std::make_shared<Impl>();
  e->impl_ = impl;
  // The hooks hold a weak reference: a plugin calling a host service while
  // the Vm is torn down must not reach freed backend state.
  std::weak_ptr<Impl> weak = impl;
  // enlight's own local APIC model: it retires AutoEOI vectors and sees EOIs.
  options.vm.hooks.features = ENLIGHT_BACKEND_AUTO_EOI | ENLIGHT_BACKEND_EOI_NOTIFY;
  options.vm.hooks.inject_interrupt = [weak](uint32_t vcpu, uint8_t vector, uint32_t flags) {
    auto p = weak.lock();
    return p ? p->inject(vcpu, vector, (flags & ENLIGHT_IRQ_AUTO_EOI) != 0) : -1;
  };
  options.vm.hooks.yield_vcpu = [](uint32_t) { std::this_thread::yield(); };
  options.vm.hooks.tlb_flush = tlb_flush_hook(weak);
  options.vm.hooks.now_ns = [weak] {
    auto p = weak.lock();
    return p ? p->now_ns() : uint64_t{0};
  };
  options.vm.hooks.vcpu_runtime_ns = [weak](uint32_t vcpu) {
    auto p = weak.lock();
    return p && vcpu < p->vcpus.size() ? p->vcpus[vcpu]->runtime_ns() : uint64_t{0};
  };
  // RDTSC inside Unicorn is the host's TSC, unscaled and unoffset: that is
  // the guest's TSC, and so the base of reference time (Vm::reference_time).
  options.vm.hooks.guest_tsc = [](uint32_t) { return static_cast<uint64_t>(__rdtsc()); };
  // The hooks below run on the vCPU's own thread (the ABI's rule), while the
  // EmuVcpu exists; the vCPU list is fixed before any vCPU runs.
  options.vm.hooks.apic_read = [weak](uint32_t vcpu, uint32_t msr, uint64_t& value) {
    auto p = weak.lock();
    return p && vcpu < p->vcpus.size() && Lapic::is_apic_msr(msr) && p->vcpus[vcpu]->apic_msr_read(msr, value);
  };
  options.vm.hooks.apic_write = [weak](uint32_t vcpu, uint32_t msr, uint64_t value) {
    auto p = weak.lock();
    return p && vcpu < p->vcpus.size() && Lapic::is_apic_msr(msr) && p->vcpus[vcpu]->apic_msr_write(msr, value);
  };
  options.vm.hooks.pv_eoi_set = [weak](uint32_t vcpu, uint64_t gpa) {
    auto p = weak.lock();
    if (!p || vcpu >= p->vcpus.size()) return false;
    uint32_t* word = gpa == 0 ? nullptr : reinterpret_cast<uint32_t*>(p->vm->memory().base() + gpa);
    if (gpa & 3) return false;  // the host updates the word atomically
    Lapic& apic = p->vcpus[vcpu]->lapic();
    // A grant the guest has already used (assist bit cleared, EOI skipped)
    // must retire its vector before the word goes away or moves, else it
    // stays in service for good: the guest disabling its VP assist page
    // right after a PV EOI (no delivery in between) blocked that vector and
    // every lower class. The MSR write is an exit on this vCPU's thread,
    // as KVM syncs PV EOI on every exit.
    const int retired = apic.sync_pv_eoi();
    if (retired >= 0) p->vm->notify_eoi(vcpu, static_cast<uint8_t>(retired), true);
    apic.set_pv_eoi(word);
    return true;
  };
  options.vm.hooks.timer_armed = [weak](uint32_t vcpu) {
    auto p = weak.lock();
    if (p && vcpu < p->vcpus.size()) p->vcpus[vcpu]->wake();
  };
  if (options.vm.memory_bytes & 0xFFF) throw std::runtime_error("emu: guest RAM must be a multiple of 4 KiB");
  options.vm.tsc_frequency_hz = host_tsc_hz();
  e->vm_ = Vm::create(resolution, options.vm);
  impl->vm = e->vm_.get();
  impl->run_ms = options.run_ms;
  GuestMemory& mem = e->vm_->memory();
  if (!mem.write(ENLIGHT_GUEST_LOAD_ADDRESS, options.image.data(), options.image.size()))
    throw std::runtime_error("emu: the guest image does not fit in RAM");
  const std::vector<uint64_t> sites =
      scan_msr_sites(options.image.data(), options.image.size(), ENLIGHT_GUEST_LOAD_ADDRESS);
  impl->msr_sites = sites.size();
  const NativeLeaf1 leaf1 = probe_native_leaf1();
  for (uint32_t i = 0; i < e->vm_->vcpu_count(); ++i)
    impl->vcpus.push_back(std::make_unique<EmuVcpu>(*impl, i, sites, leaf1));
  return e;
}

EmuVm::~EmuVm() {
  // Engines go before the Vm whose RAM they map.
  if (impl_) impl_->vcpus.clear();
}

int EmuVm::inject_interrupt(uint32_t vcpu, uint8_t vector) { return impl_->inject(vcpu, vector); }

void EmuVm::stop(const char* message) {
  vm_->request_stop(StopReason::Requested, message);
  impl_->kick_all();  // each vCPU sees Vm::stopped() at the top of its loop
}

RunResult EmuVm::run(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  ran_ = true;
  std::vector<std::thread> threads;
  threads.reserve(s.vcpus.size());
  for (auto& v : s.vcpus) threads.emplace_back([&v] { v->run(); });

  // The monitor: time-out, VM stop from any source, APIC timers, and
  // kicks a vCPU has not acted on yet (see EmuVcpu::kick).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!s.over.load()) {
    if (auto verdict = monitor_verdict(*vm_, deadline, timeout)) {
      s.finish(verdict->outcome, std::move(verdict->message));
      break;
    }
    const uint64_t now = s.now_ns();
    const uint64_t ref_now = vm_->reference_time();
    uint64_t earliest = 0;
    for (auto& v : s.vcpus) {
      const uint64_t due = vm_->next_timer_deadline(v->index());
      const bool timer_due = due != 0 && due <= ref_now;
      if (due != 0 && !timer_due && (earliest == 0 || due < earliest)) earliest = due;
      // A due plugin timer stops a running engine so that the vCPU runs it
      // between two blocks (on its own thread, as the ABI promises).
      if (v->lapic().poll_timer(now) || timer_due || v->pending_kick() || v->lapic().deliverable()) v->kick();
    }
    // Sleep to the next plugin timer deadline, at most 250 us (the APIC
    // timer, stops and the time-out are polled at that granularity).
    auto nap = std::chrono::microseconds(250);
    if (earliest != 0) {
      const auto until = std::chrono::microseconds((earliest - ref_now) / 10);
      if (until < nap) nap = until;
    }
    std::this_thread::sleep_for(nap);
  }
  for (auto& t : threads) t.join();
  stopped_reference_time_ = vm_->reference_time();

  std::vector<uint64_t> rips;
  for (auto& v : s.vcpus) rips.push_back(v->rip_after_run());
  RunResult r = final_result(s.recorder, *vm_, rips);
  r.stats.msr_exits = s.msr_exits.load();
  r.stats.msr_hook_sites = s.msr_sites;
  r.stats.hypercalls = s.hypercalls.load();
  r.stats.pm_timer_reads = s.pm_timer_reads.load();
  r.stats.interrupts_delivered = s.interrupts.load();
  last_outcome_ = r.outcome;
  return r;
}

}  // namespace enlight::emu
