// kvm-exit-bench ENLIGHT PLUGIN_DIR: the kvm backend's cost per exit over a
// bare KVM_RUN loop that takes the same exits, for the two exits a booted
// Linux takes most from userspace: a filtered MSR (`rdmsr
// HV_X64_MSR_VP_INDEX`, KVM_EXIT_X86_RDMSR) and a port read (`in` from the
// ACPI PM timer, KVM_EXIT_IO, through the PC machine's device model). The
// guest is the same few bytes in both loops: N exits, then `out 0xF4` (the
// harness exit port). The bare loop answers an MSR with a constant and the
// PM timer from the steady clock (the least any VMM must do for it); the
// backend goes through the bus to the vpindex plugin, or to AcpiPm.
// Under software emulation only ratios mean anything (platform-facts.md),
// and the time per exit there is noisy: interruptions only ever add time,
// so each variant's figure is its best (minimum) over interleaved rounds,
// as a cost floor is measured; the medians are printed beside them.
#include "backend/kvm/setup.hpp"
#include "backend/kvm/sys.hpp"

#include <enlight/core/backend/kvm.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/machine/acpi_pm.hpp>
#include <enlight/machine/layout.hpp>
#include <enlight/tlfs.h>

#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

constexpr uint32_t kExits = 10000;
constexpr int kRounds = 5;
constexpr uint64_t kRam = 16ull << 20;

enum class Kind { Msr, Io };

std::vector<uint8_t> le32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}

std::vector<uint8_t> image(Kind kind, uint32_t n) {
  std::vector<uint8_t> c;
  auto add = [&](std::initializer_list<uint8_t> b) { c.insert(c.end(), b); };
  auto add32 = [&](uint32_t v) {
    const auto b = le32(v);
    c.insert(c.end(), b.begin(), b.end());
  };
  add({0xB9});  // mov ecx, HV_X64_MSR_VP_INDEX
  add32(HV_X64_MSR_VP_INDEX);
  add({0xBA});  // mov edx, PM timer port
  add32(enlight::machine::kAcpiPmTimer);
  add({0xBB});  // mov ebx, n
  add32(n);
  if (kind == Kind::Msr) add({0x0F, 0x32});  // loop: rdmsr
  else add({0xED});                          // loop: in eax, dx
  const int8_t back = kind == Kind::Msr ? -6 : -5;
  add({0xFF, 0xCB, 0x75, static_cast<uint8_t>(back)});  // dec ebx; jnz loop
  add({0x31, 0xC0, 0xE7, static_cast<uint8_t>(ENLIGHT_GUEST_PORT_EXIT), 0xF4});  // xor eax,eax; out 0xF4,eax; hlt
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The floor: one vCPU, the same long-mode entry state and MSR filter, and a
// loop that does nothing but answer the exit. `sync` is what KVM copies
// into kvm_run at every exit (KVM_SYNC_X86_REGS, _SREGS): the same loop
// with it shows what that copy costs.
double bare_on_this_thread(Kind kind, uint32_t n, uint64_t sync) {
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
  const std::vector<uint8_t> code = image(kind, n);
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
  run->kvm_valid_regs = sync;
  const auto t0 = std::chrono::steady_clock::now();
  uint32_t exits = 0;
  for (;;) {
    if (ioctl(vcpu.get(), KVM_RUN, 0) < 0) continue;
    if (run->exit_reason == KVM_EXIT_X86_RDMSR) {
      run->msr.data = 0;
      run->msr.error = 0;
      ++exits;
      continue;
    }
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == ENLIGHT_GUEST_PORT_EXIT) break;
    if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN) {
      // What any VMM's PM timer must do: read a clock. (A loop answering a
      // constant would make the backend's clock read look like overhead.)
      const uint32_t v = enlight::machine::pm_timer_count(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
      std::memcpy(reinterpret_cast<uint8_t*>(run) + run->io.data_offset, &v, run->io.size);
      ++exits;
      continue;
    }
    std::fprintf(stderr, "bare: unexpected exit %u\n", run->exit_reason);
    break;
  }
  const double t = seconds_since(t0);
  munmap(run, size);
  munmap(ram, kRam);
  if (exits != n) std::fprintf(stderr, "bare: %u exits, expected %u\n", exits, n);
  return t;
}

// The bare loop on a thread of its own, as the backend runs each vCPU: the
// two differ in what they do per exit, not in where they run.
double bare(Kind kind, uint32_t n, uint64_t sync) {
  double t = 0;
  std::thread([&] { t = bare_on_this_thread(kind, n, sync); }).join();
  return t;
}

double backend(Kind kind, uint32_t n, const std::string& plugin_dir, uint64_t& exits) {
  // Parsed once: what is measured is the run, not the YAML.
  static const enlight::Catalog catalog = enlight::Catalog::discover({plugin_dir});
  static const enlight::Profile profile = [] {
    enlight::Profile p = enlight::parse_cpu_flags("hv-vpindex", catalog);
    p.vcpus = 1;
    return p;
  }();
  enlight::kvm::KvmOptions o;
  o.vm.memory_bytes = kRam;
  o.vm.metrics = false;
  o.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  o.image = image(kind, n);
  o.pc_devices = true;  // the PM timer through the PC machine's AcpiPm, as a booted kernel reads it
  auto vm = enlight::kvm::KvmVm::create(enlight::resolve(profile, catalog, enlight::kvm::capabilities()), std::move(o));
  const auto t0 = std::chrono::steady_clock::now();
  const enlight::RunResult r = vm->run(std::chrono::seconds(120));
  const double t = seconds_since(t0);
  if (r.outcome != enlight::Outcome::Exited) std::fprintf(stderr, "backend: %s: %s\n", enlight::to_string(r.outcome), r.message.c_str());
  exits = kind == Kind::Msr ? r.stats.msr_exits : r.stats.pm_timer_reads;
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void measure(Kind kind, const char* what, const std::string& plugin_dir) {
  std::vector<double> bare_t, regs_t, sregs_t, backend_t;
  uint64_t exits = 0;
  const auto us = [](double t) { return t / kExits * 1e6; };
  for (int i = 0; i < kRounds; ++i) {
    bare_t.push_back(bare(kind, kExits, 0));
    regs_t.push_back(bare(kind, kExits, KVM_SYNC_X86_REGS));
    sregs_t.push_back(bare(kind, kExits, KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS));
    backend_t.push_back(backend(kind, kExits, plugin_dir, exits));
    // One line per round: the figures, and a sign of life for a watcher
    // that takes silence for a stall.
    std::printf("round %d %s: bare %.1f us, synced GPRs %.1f us, GPRs and sregs %.1f us, kvm backend %.1f us\n", i + 1,
                what, us(bare_t.back()), us(regs_t.back()), us(sregs_t.back()), us(backend_t.back()));
    std::fflush(stdout);
  }
  std::printf("per %s exit (%u exits, best of %d interleaved rounds): bare KVM_RUN loop %.1f us "
              "(with synced GPRs %.1f us, GPRs and sregs %.1f us), kvm backend %.1f us (%llu exits), ratio %.2f; "
              "medians %.1f / %.1f / %.1f / %.1f us, ratio %.2f\n",
              what, kExits, kRounds, us(minimum(bare_t)), us(minimum(regs_t)), us(minimum(sregs_t)),
              us(minimum(backend_t)), static_cast<unsigned long long>(exits), minimum(backend_t) / minimum(bare_t),
              us(median(bare_t)), us(median(regs_t)), us(median(sregs_t)), us(median(backend_t)),
              median(backend_t) / median(bare_t));
}

}  // namespace

int main(int argc, char** argv) {
  // --hold: one empty VM kept until killed. KVM enables virtualisation on
  // every CPU (EFER.SVME, by IPIs) when the number of VMs goes from 0 to
  // 1, and disables it when it drops back; the nested stage's L1 stalled
  // in those moments under TCG, so it keeps one VM for its whole life
  // (docs/kvm-backend.md, "The nested stage").
  if (argc == 2 && std::string(argv[1]) == "--hold") {
    try {
      enlight::kvm::sys::Fd kvm = enlight::kvm::sys::open_device("/dev/kvm");
      enlight::kvm::sys::Fd vm(enlight::kvm::sys::xioctl(kvm.get(), KVM_CREATE_VM, "KVM_CREATE_VM"));
      for (;;) pause();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kvm-exit-bench --hold: %s\n", e.what());
      return 1;
    }
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: kvm-exit-bench ENLIGHT PLUGIN_DIR [bare|backend msr|io]\n");
    return 2;
  }
  try {
    // Every thread of the benchmark on one CPU (the last): the variants
    // then run where the others ran, and no migration between host CPUs
    // (costly for a vCPU under nested virtualisation) lands in one
    // variant's figure and not another's.
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)) - 1), &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) std::perror("kvm-exit-bench: sched_setaffinity");
    // One variant alone, for counting instructions with callgrind (where
    // the host has no usable performance counters): what each exit costs
    // in user space, whatever the noise of the time measurement.
    if (argc >= 5) {
      const Kind kind = std::string(argv[4]) == "io" ? Kind::Io : Kind::Msr;
      uint64_t exits = 0;
      const double t = std::string(argv[3]) == "bare" ? bare(kind, kExits, 0) : backend(kind, kExits, argv[2], exits);
      std::printf("%s %s: %.1f us per exit\n", argv[3], argv[4], t / kExits * 1e6);
      return 0;
    }
    measure(Kind::Msr, "MSR (rdmsr VP_INDEX)", argv[2]);
    measure(Kind::Io, "port I/O (in PM timer)", argv[2]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvm-exit-bench: %s\n", e.what());
    return 1;
  }
}
