// kvm-exit-bench ENLIGHT PLUGIN_DIR: the kvm backend's cost per exit over a
// bare KVM_RUN loop that takes the same exits. The guest is the same few
// bytes in both: N x `rdmsr HV_X64_MSR_VP_INDEX` (a filtered MSR, so every
// one is a KVM_EXIT_X86_RDMSR), then `out 0xF4` (the harness exit port).
// The bare loop answers each exit with 0; the backend goes through the bus
// to the vpindex plugin. Under software emulation only the ratio means
// anything (platform-facts.md), so that is what is printed.
#include "backend/kvm/setup.hpp"
#include "backend/kvm/sys.hpp"

#include <enlight/core/backend/kvm.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/tlfs.h>

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

constexpr uint32_t kExits = 2000;
constexpr int kRounds = 3;
constexpr uint64_t kRam = 16ull << 20;

std::vector<uint8_t> image(uint32_t n) {
  std::vector<uint8_t> c = {0xB9};  // mov ecx, HV_X64_MSR_VP_INDEX
  for (int i = 0; i < 4; ++i) c.push_back(static_cast<uint8_t>(HV_X64_MSR_VP_INDEX >> (8 * i)));
  c.push_back(0xBB);  // mov ebx, n
  for (int i = 0; i < 4; ++i) c.push_back(static_cast<uint8_t>(n >> (8 * i)));
  const std::vector<uint8_t> loop = {0x0F, 0x32,  // rdmsr
                                     0xFF, 0xCB,  // dec ebx
                                     0x75, 0xFA,  // jnz rdmsr (-6)
                                     0x31, 0xC0,  // xor eax, eax
                                     0xE7, static_cast<uint8_t>(ENLIGHT_GUEST_PORT_EXIT),  // out 0xF4, eax
                                     0xF4};       // hlt
  c.insert(c.end(), loop.begin(), loop.end());
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The floor: one vCPU, the same long-mode entry state and MSR filter, and a
// loop that does nothing but answer the exit.
double bare(uint32_t n) {
  using namespace enlight::kvm;
  sys::Fd kvm = sys::open_device("/dev/kvm");
  sys::Fd vm(sys::xioctl(kvm.get(), KVM_CREATE_VM, "KVM_CREATE_VM"));
  sys::xioctl(vm.get(), KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP");
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
  cap.args[0] = KVM_MSR_EXIT_REASON_FILTER;
  sys::xioctl(vm.get(), KVM_ENABLE_CAP, "KVM_ENABLE_CAP", &cap);
  install_msr_filter(vm.get(), enlight::Resolution{});
  auto* ram = static_cast<uint8_t*>(mmap(nullptr, kRam, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  write_long_mode_tables(ram, kRam);
  const std::vector<uint8_t> code = image(n);
  std::memcpy(ram + ENLIGHT_GUEST_LOAD_ADDRESS, code.data(), code.size());
  kvm_userspace_memory_region region{0, 0, 0, kRam, reinterpret_cast<uint64_t>(ram)};
  sys::xioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION", &region);
  sys::Fd vcpu(sys::xioctl(vm.get(), KVM_CREATE_VCPU, "KVM_CREATE_VCPU", 0ul));
  const int size = sys::xioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE");
  auto* run = static_cast<kvm_run*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.get(), 0));
  kvm_sregs s{};
  sys::xioctl(vcpu.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s);
  long_mode_sregs(s);
  sys::xioctl(vcpu.get(), KVM_SET_SREGS, "KVM_SET_SREGS", &s);
  kvm_regs r{};
  r.rip = ENLIGHT_GUEST_LOAD_ADDRESS;
  r.rsp = ENLIGHT_GUEST_STACK_TOP;
  r.rflags = 2;
  sys::xioctl(vcpu.get(), KVM_SET_REGS, "KVM_SET_REGS", &r);
  const auto t0 = std::chrono::steady_clock::now();
  uint32_t msr_exits = 0;
  for (;;) {
    if (ioctl(vcpu.get(), KVM_RUN, 0) < 0) continue;
    if (run->exit_reason == KVM_EXIT_X86_RDMSR) {
      run->msr.data = 0;
      run->msr.error = 0;
      ++msr_exits;
      continue;
    }
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == ENLIGHT_GUEST_PORT_EXIT) break;
    std::fprintf(stderr, "bare: unexpected exit %u\n", run->exit_reason);
    break;
  }
  const double t = seconds_since(t0);
  munmap(run, size);
  munmap(ram, kRam);
  if (msr_exits != n) std::fprintf(stderr, "bare: %u MSR exits, expected %u\n", msr_exits, n);
  return t;
}

double backend(uint32_t n, const std::string& plugin_dir, uint64_t& msr_exits) {
  const enlight::Catalog catalog = enlight::Catalog::discover({plugin_dir});
  enlight::Profile profile = enlight::parse_cpu_flags("hv-vpindex", catalog);
  profile.vcpus = 1;
  enlight::kvm::KvmOptions o;
  o.vm.memory_bytes = kRam;
  o.vm.metrics = false;
  o.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  o.image = image(n);
  auto vm = enlight::kvm::KvmVm::create(enlight::resolve(profile, catalog, enlight::kvm::capabilities()), std::move(o));
  const auto t0 = std::chrono::steady_clock::now();
  const enlight::RunResult r = vm->run(std::chrono::seconds(120));
  const double t = seconds_since(t0);
  if (r.outcome != enlight::Outcome::Exited) std::fprintf(stderr, "backend: %s: %s\n", enlight::to_string(r.outcome), r.message.c_str());
  msr_exits = r.stats.msr_exits;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: kvm-exit-bench ENLIGHT PLUGIN_DIR\n");
    return 2;
  }
  try {
    double best_bare = 1e9, best_backend = 1e9;
    uint64_t msr_exits = 0;
    for (int i = 0; i < kRounds; ++i) {
      best_bare = std::min(best_bare, bare(kExits));
      best_backend = std::min(best_backend, backend(kExits, argv[2], msr_exits));
    }
    std::printf("per MSR exit (rdmsr VP_INDEX, %u exits, best of %d): bare KVM_RUN loop %.1f us, kvm backend %.1f us "
                "(%llu MSR exits), ratio %.2f\n",
                kExits, kRounds, best_bare / kExits * 1e6, best_backend / kExits * 1e6,
                static_cast<unsigned long long>(msr_exits), best_backend / best_bare);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvm-exit-bench: %s\n", e.what());
    return 1;
  }
}
