#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/machine/lapic.hpp>

#include <cstring>
#include <deque>
#include <stdexcept>

namespace enlight::direct {
namespace {
using machine::IpiRequest;
using machine::Lapic;
constexpr uint32_t kX2apicSvr = 0x80F;
constexpr uint64_t kSvrEnabledSpurious0xFF = 0x1FF;
}  // namespace

struct DirectVm::Apics {
  std::deque<Lapic> lapics;
  Vm* vm = nullptr;
  bool write(uint32_t vcpu, uint32_t msr, uint64_t value) {
    std::optional<IpiRequest> ipi;
    int eoi = -1;
    if (!Lapic::is_apic_msr(msr) || !lapics[vcpu].write(msr, value, vm->now_ns(), ipi, eoi)) return false;
    if (ipi)
      for (uint32_t i = 0; i < lapics.size(); ++i)
        if (ipi->reaches(i, vcpu)) lapics[i].set_irr(ipi->vector);
    if (eoi >= 0) vm->notify_eoi(vcpu, static_cast<uint8_t>(eoi), false);
    return true;
  }
};

uint64_t control(uint16_t code, bool fast, uint16_t rep_count, uint16_t rep_start, uint16_t var_header_qwords) {
  return uint64_t{code} | (fast ? HV_HYPERCALL_FAST : 0) |
         ((uint64_t{var_header_qwords} << HV_HYPERCALL_VARHEAD_SHIFT) & HV_HYPERCALL_VARHEAD_MASK) |
         ((uint64_t{rep_count} << HV_HYPERCALL_REP_COUNT_SHIFT) & HV_HYPERCALL_REP_COUNT_MASK) |
         ((uint64_t{rep_start} << HV_HYPERCALL_REP_START_SHIFT) & HV_HYPERCALL_REP_START_MASK);
}

BackendCaps capabilities() {
  return BackendCaps{"direct", {"intel-vmx", "amd-svm", "in-kernel-lapic"}, true, false, {}, {}};
}

std::unique_ptr<DirectVm> DirectVm::create(const Resolution& resolution, VmOptions options) {
  std::unique_ptr<DirectVm> d(new DirectVm());
  auto now = d->now_ns_;
  auto injected = d->injected_;
  auto yields = d->yields_;
  auto apics = std::make_shared<Apics>();
  d->apics_ = apics;
  // No guest code runs here to set up the APICs: the direct backend plays a
  // guest that has software-enabled its APIC (SVR 0x1FF), as every guest
  // that takes interrupts does first; a reset APIC would refuse them.
  for (uint32_t i = 0; i < resolution.vcpus; ++i) {
    apics->lapics.emplace_back(i, options.apic_frequency_hz);
    std::optional<IpiRequest> none;
    int eoi = -1;
    apics->lapics.back().write(kX2apicSvr, kSvrEnabledSpurious0xFF, 0, none, eoi);
  }
  options.hooks.now_ns = [now] { return now->load(); };
  options.hooks.features = ENLIGHT_BACKEND_AUTO_EOI | ENLIGHT_BACKEND_EOI_NOTIFY;
  options.hooks.inject_interrupt = [injected, apics](uint32_t vcpu, uint8_t vector, uint32_t flags) {
    if (vcpu >= apics->lapics.size() || !apics->lapics[vcpu].set_irr(vector, flags & ENLIGHT_IRQ_AUTO_EOI)) return -1;
    std::lock_guard lock(injected->mutex);
    injected->list.emplace_back(vcpu, vector);
    return 0;
  };
  options.hooks.yield_vcpu = [yields](uint32_t) { yields->fetch_add(1); };
  // No guest code runs here, so no translation is cached: a flush is
  // complete at once. Each one is counted per vCPU for the tests.
  d->flushes_ = std::make_shared<std::vector<std::atomic<uint64_t>>>(resolution.vcpus);
  options.hooks.tlb_flush = [flushes = d->flushes_](uint32_t, const uint64_t* vcpus, uint32_t words) {
    for (uint32_t v = 0; v < flushes->size() && v / 64 < words; ++v)
      if ((vcpus[v / 64] >> (v % 64)) & 1) (*flushes)[v].fetch_add(1);
    return true;
  };
  options.hooks.apic_read = [apics](uint32_t vcpu, uint32_t msr, uint64_t& value) {
    return vcpu < apics->lapics.size() && Lapic::is_apic_msr(msr) && apics->lapics[vcpu].read(msr, value, apics->vm->now_ns());
  };
  options.hooks.apic_write = [apics](uint32_t vcpu, uint32_t msr, uint64_t value) {
    return vcpu < apics->lapics.size() && apics->write(vcpu, msr, value);
  };
  options.hooks.pv_eoi_set = [apics](uint32_t vcpu, uint64_t gpa) {
    if (vcpu >= apics->lapics.size() || (gpa & 3)) return false;
    // Retire a grant the guest already used before the word goes away or
    // moves (the emu backend does the same; see its pv_eoi_set hook).
    const int retired = apics->lapics[vcpu].sync_pv_eoi();
    if (retired >= 0) apics->vm->notify_eoi(vcpu, static_cast<uint8_t>(retired), true);
    apics->lapics[vcpu].set_pv_eoi(gpa == 0 ? nullptr : reinterpret_cast<uint32_t*>(apics->vm->memory().base() + gpa));
    return true;
  };
  d->vm_ = Vm::create(resolution, options);
  apics->vm = d->vm_.get();
  return d;
}

std::unique_ptr<DirectVm> DirectVm::from_flags(const std::string& flags, uint32_t vcpus,
                                               std::vector<std::string> search_path, VmOptions options) {
  const Catalog catalog = Catalog::discover(search_path.empty() ? default_search_path() : search_path);
  Profile profile = parse_cpu_flags(flags, catalog);
  profile.vcpus = vcpus;
  return create(resolve(profile, catalog, capabilities()), std::move(options));
}

CpuidValue DirectVm::cpuid(uint32_t vcpu, uint32_t leaf, uint32_t subleaf) {
  return vm_->bus().cpuid(vm_->vcpu(vcpu), leaf, subleaf);
}

MsrRead DirectVm::rdmsr(uint32_t vcpu, uint32_t index) {
  MsrRead r;
  r.access = vm_->bus().msr_read(vm_->vcpu(vcpu), index, r.value);
  if (r.access != Access::Ok) r.value = 0;
  return r;
}

Access DirectVm::wrmsr(uint32_t vcpu, uint32_t index, uint64_t value) {
  return vm_->bus().msr_write(vm_->vcpu(vcpu), index, value);
}

MsrRead DirectVm::host_rdmsr(uint32_t vcpu, uint32_t index) {
  MsrRead r;
  r.access = vm_->bus().msr_read(vm_->vcpu(vcpu), index, r.value, ENLIGHT_ORIGIN_HOST);
  if (r.access != Access::Ok) r.value = 0;
  return r;
}

Access DirectVm::host_wrmsr(uint32_t vcpu, uint32_t index, uint64_t value) {
  return vm_->bus().msr_write(vm_->vcpu(vcpu), index, value, ENLIGHT_ORIGIN_HOST);
}

HypercallOutcome DirectVm::hypercall_regs(uint32_t vcpu, HypercallRegs& regs) {
  HypercallOutcome out;
  // A continuation re-executes the same call; a guest would take pending
  // interrupts in between. Bounded: at most one pass per rep.
  for (uint32_t pass = 0; pass <= HV_HYPERCALL_REP_MAX + 1; ++pass) {
    out.action = vm_->bus().hypercall(vm_->vcpu(vcpu), regs);
    if (out.action != HypercallAction::Continue) break;
    ++out.continuations;
  }
  if (out.action == HypercallAction::Continue) throw std::logic_error("hypercall continuation did not terminate");
  out.rax = regs.long_mode ? regs.rax : ((regs.rdx & 0xFFFFFFFFull) << 32) | (regs.rax & 0xFFFFFFFFull);
  return out;
}

HypercallOutcome DirectVm::hypercall(uint32_t vcpu, uint64_t ctl, uint64_t input_gpa, uint64_t output_gpa) {
  HypercallRegs regs;
  regs.rcx = ctl;
  regs.rdx = input_gpa;
  regs.r8 = output_gpa;
  return hypercall_regs(vcpu, regs);
}

HypercallOutcome DirectVm::fast_hypercall(uint32_t vcpu, uint64_t ctl, uint64_t rdx, uint64_t r8,
                                          const std::array<uint8_t, 96>* xmm) {
  HypercallRegs regs;
  regs.rcx = ctl | HV_HYPERCALL_FAST;
  regs.rdx = rdx;
  regs.r8 = r8;
  if (xmm != nullptr) std::memcpy(regs.xmm, xmm->data(), sizeof regs.xmm);
  return hypercall_regs(vcpu, regs);
}

Access DirectVm::io_in(uint32_t vcpu, uint16_t port, uint8_t size, uint32_t& value) {
  return vm_->bus().io_in(vm_->vcpu(vcpu), port, size, value);
}

Access DirectVm::io_out(uint32_t vcpu, uint16_t port, uint8_t size, uint32_t value) {
  return vm_->bus().io_out(vm_->vcpu(vcpu), port, size, value);
}

void DirectVm::set_time_ns(uint64_t ns) {
  now_ns_->store(ns);
  for (uint32_t v = 0; v < vm_->vcpu_count(); ++v) run_timers(v);
}

uint32_t DirectVm::run_timers(uint32_t vcpu) { return vm_->run_timers(vcpu); }

void DirectVm::clear_injected() {
  std::lock_guard lock(injected_->mutex);
  injected_->list.clear();
}

std::optional<uint8_t> DirectVm::take_interrupt(uint32_t vcpu) {
  Lapic& apic = apics_->lapics.at(vcpu);
  const int retired = apic.sync_pv_eoi();
  if (retired >= 0) vm_->notify_eoi(vcpu, static_cast<uint8_t>(retired), true);
  const auto vector = apic.deliverable();
  if (vector) apic.accept(*vector);
  return vector;
}

bool DirectVm::apic_read(uint32_t vcpu, uint32_t msr, uint64_t& value) {
  return vcpu < apics_->lapics.size() && Lapic::is_apic_msr(msr) && apics_->lapics[vcpu].read(msr, value, vm_->now_ns());
}

bool DirectVm::apic_write(uint32_t vcpu, uint32_t msr, uint64_t value) {
  return vcpu < apics_->lapics.size() && apics_->write(vcpu, msr, value);
}

bool DirectVm::in_service(uint32_t vcpu, uint8_t vector) { return apics_->lapics.at(vcpu).in_service(vector); }

std::vector<std::pair<uint32_t, uint8_t>> DirectVm::injected() const {
  std::lock_guard lock(injected_->mutex);
  return injected_->list;
}

}  // namespace enlight::direct
