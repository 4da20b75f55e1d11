#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>

#include <cstring>
#include <stdexcept>

namespace enlight::direct {

uint64_t control(uint16_t code, bool fast, uint16_t rep_count, uint16_t rep_start, uint16_t var_header_qwords) {
  return uint64_t{code} | (fast ? HV_HYPERCALL_FAST : 0) |
         ((uint64_t{var_header_qwords} << HV_HYPERCALL_VARHEAD_SHIFT) & HV_HYPERCALL_VARHEAD_MASK) |
         ((uint64_t{rep_count} << HV_HYPERCALL_REP_COUNT_SHIFT) & HV_HYPERCALL_REP_COUNT_MASK) |
         ((uint64_t{rep_start} << HV_HYPERCALL_REP_START_SHIFT) & HV_HYPERCALL_REP_START_MASK);
}

BackendCaps capabilities() {
  return BackendCaps{"direct", {"intel-vmx", "amd-svm", "in-kernel-lapic"}, true};
}

std::unique_ptr<DirectVm> DirectVm::create(const Resolution& resolution, VmOptions options) {
  std::unique_ptr<DirectVm> d(new DirectVm());
  auto now = d->now_ns_;
  auto injected = d->injected_;
  auto yields = d->yields_;
  options.hooks.now_ns = [now] { return now->load(); };
  options.hooks.inject_interrupt = [injected](uint32_t vcpu, uint8_t vector) {
    std::lock_guard lock(injected->mutex);
    injected->list.emplace_back(vcpu, vector);
    return 0;
  };
  options.hooks.yield_vcpu = [yields](uint32_t) { yields->fetch_add(1); };
  d->vm_ = Vm::create(resolution, options);
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

std::vector<std::pair<uint32_t, uint8_t>> DirectVm::injected() const {
  std::lock_guard lock(injected_->mutex);
  return injected_->list;
}

}  // namespace enlight::direct
