// `enlight run`: boot a profile with a guest program on a backend, serve
// metrics while it runs, print what the guest discovered and did, and exit
// 0 only when the guest finished cleanly with every check passing.
#include "commands.hpp"
#include "run_outputs.hpp"
#include "serial_console.hpp"

#include <enlight/core/backend/backend.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/images.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/metrics.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/core/snapshot.hpp>
#include <enlight/machine/linux_boot.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <enlight/core/snapshot.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <iterator>
#include <optional>
#include <sstream>
#include <thread>

namespace enlight::cli {
namespace {

// Signals only count; the watcher thread acts on them (docs/machine.md):
// Ctrl-C stops the VM; SIGTERM first asks the guest to power off.
std::atomic<int> g_interrupts{0};
std::atomic<int> g_terms{0};
std::atomic<int> g_snapshot_requests{0};
extern "C" void on_interrupt_signal(int) { g_interrupts.fetch_add(1); }
extern "C" void on_term_signal(int) { g_terms.fetch_add(1); }
extern "C" void on_snapshot_signal(int) { g_snapshot_requests.fetch_add(1); }

struct RunArgs {
  std::string profile, flags, guest, metrics = "127.0.0.1:0", backend = "auto";
  bool have_flags = false;
  uint32_t vcpus = 0;  // 0: the profile's
  // --duration: the run-length hint for the guest (RDX at entry); unset, a
  // guest gets no hint (workloads then run their default) and the run
  // times out after kDefaultTimeout.
  double duration = 0;
  double timeout = -1;  // --timeout S; < 0: the default (0 = none)
  double shutdown_grace = 30;  // --shutdown-grace S: how long SIGTERM waits for the guest to power off
  std::string offload;  // --offload time,vapic: plugins whose work KVM does
  // A booted kernel: --kernel etc. override the profile's keys.
  MachineRequest machine;
  bool have_memory = false;
  std::string machine_kind;  // --machine flat|pc; empty: pc for a kernel, flat for a guest program
  // What the run leaves for tools (docs/metrics.md).
  MetricLabels labels;        // --label k=v, on every series and in the report
  std::string push;           // --push URL: the final counters to a Pushgateway
  std::string scrape_target;  // --prometheus-sd FILE: file_sd target while running
  std::string metrics_file;   // --metrics-file FILE: the final exposition text
  std::string report;         // --report FILE: the run as JSON (enlight ab reads it)
  // Snapshots (docs/snapshots.md): --snapshot-to FILE stops the VM and
  // writes it at --snapshot-after S (default: at --duration), or on
  // SIGUSR1; --restore FILE starts from one instead of the guest's start.
  std::string snapshot_to, restore;
  double snapshot_after = 0;
};

constexpr double kDefaultTimeoutSeconds = 30;
// How long past the requested duration a run may go before it is a
// time-out: the guest's set-up (calibration, other vCPUs starting) and its
// report, with room for a slow host. The larger of +10 s and 2x.
double timeout_seconds(double duration) {
  if (duration <= 0) return kDefaultTimeoutSeconds;
  return std::max(duration + 10, 2 * duration);
}

RunArgs parse(const std::vector<std::string>& args) {
  RunArgs r;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--cpu") r.flags = option_value(args, i), r.have_flags = true;
    else if (a == "--guest") r.guest = option_value(args, i);
    else if (a == "--vcpus") {
      r.vcpus = static_cast<uint32_t>(parse_number(a, option_value(args, i), 0, 32));  // the guest library's limit
      if (r.vcpus == 0) throw UsageError("--vcpus must be at least 1");
    }
    else if (a == "--duration") {
      const std::string v = option_value(args, i);
      try {
        r.duration = std::stod(v);
      } catch (const std::exception&) {
        throw UsageError("--duration needs seconds, not '" + v + "'");
      }
      if (!(r.duration > 0 && r.duration <= 86400)) throw UsageError("--duration must be in (0, 86400] seconds");
    } else if (a == "--timeout") {
      const std::string v = option_value(args, i);
      try {
        r.timeout = std::stod(v);
      } catch (const std::exception&) {
        throw UsageError("--timeout needs seconds, not '" + v + "'");
      }
      if (!(r.timeout >= 0 && r.timeout <= 86400 * 365)) throw UsageError("--timeout must be 0 (none) or more seconds");
    } else if (a == "--shutdown-grace") {
      r.shutdown_grace = static_cast<double>(parse_number("--shutdown-grace", option_value(args, i), 0, 3600));
    } else if (a == "--machine") {
      r.machine_kind = option_value(args, i);
      if (r.machine_kind != "flat" && r.machine_kind != "pc")
        throw UsageError("--machine must be 'flat' (a guest program alone) or 'pc' (with the PC's devices), not '" +
                         r.machine_kind + "'");
    } else if (a == "--kernel") r.machine.kernel = option_value(args, i);
    else if (a == "--initrd") r.machine.initrd = option_value(args, i);
    else if (a == "--append") r.machine.append = option_value(args, i), r.machine.has_append = true;
    else if (a == "--serial") r.machine.serial = option_value(args, i);
    else if (a == "--memory") {
      const std::string v = option_value(args, i);
      try {
        r.machine.memory = parse_memory_size(v);
      } catch (const std::exception& e) {
        throw UsageError(std::string("--memory: ") + e.what() + " (write e.g. 256M or 1G)");
      }
      r.have_memory = true;
    } else if (a == "--metrics") r.metrics = option_value(args, i);
    else if (a == "--backend") r.backend = option_value(args, i);
    else if (a == "--offload") r.offload = option_value(args, i);
    else if (a == "--label") {
      try {
        r.labels.push_back(parse_metric_label(option_value(args, i)));
        check_metric_labels(r.labels);
      } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--label: ") + e.what());
      }
    } else if (a == "--push") r.push = option_value(args, i);
    else if (a == "--prometheus-sd") r.scrape_target = option_value(args, i);
    else if (a == "--metrics-file") r.metrics_file = option_value(args, i);
    else if (a == "--report") r.report = option_value(args, i);
    else if (a == "--snapshot-to") r.snapshot_to = option_value(args, i);
    else if (a == "--restore") r.restore = option_value(args, i);
    else if (a == "--snapshot-after") {
      const std::string v = option_value(args, i);
      try {
        r.snapshot_after = std::stod(v);
      } catch (const std::exception&) {
        throw UsageError("--snapshot-after needs seconds, not '" + v + "'");
      }
      if (!(r.snapshot_after > 0 && r.snapshot_after <= 86400)) throw UsageError("--snapshot-after must be in (0, 86400] seconds");
    }
    else if (!a.empty() && a[0] == '-') throw UsageError("unknown option '" + a + "'");
    else if (r.profile.empty()) r.profile = a;
    else throw UsageError("more than one profile given ('" + r.profile + "' and '" + a + "')");
  }
  if (r.have_flags && !r.profile.empty()) throw UsageError("give a profile or --cpu, not both");
  if (r.snapshot_after > 0 && r.snapshot_to.empty())
    throw UsageError("--snapshot-after says when to write the snapshot that --snapshot-to names\n"
                     "  fix: add --snapshot-to FILE, or leave --snapshot-after out");
#ifndef ENLIGHT_WITH_METRICS
  const std::pair<const char*, const std::string*> needs_metrics[] = {
      {"--push", &r.push}, {"--prometheus-sd", &r.scrape_target}, {"--metrics-file", &r.metrics_file}};
  for (const auto& [option, v] : needs_metrics)
    if (!v->empty())
      throw UsageError(std::string(option) + " needs Prometheus metrics, and this enlight was built with "
                       "ENLIGHT_METRICS=OFF\n  fix: rebuild with -DENLIGHT_METRICS=ON, or leave " + option + " out");
#endif
  if (!r.scrape_target.empty() && r.metrics == "off")
    throw UsageError("--prometheus-sd names the metrics endpoint for Prometheus, and --metrics off turns it off\n"
                     "  fix: leave out one of them");
  return r;
}

// The profile's machine keys, overridden by the command line's.
MachineRequest merge_machine(const MachineRequest& from_profile, const RunArgs& a) {
  MachineRequest m = from_profile;
  const MachineRequest& c = a.machine;
  if (!c.kernel.empty()) m.kernel = c.kernel;
  if (!c.initrd.empty()) m.initrd = c.initrd;
  if (c.has_append) m.append = c.append, m.has_append = true;
  if (!c.serial.empty()) m.serial = c.serial;
  if (a.have_memory) m.memory = c.memory;
  if (m.kernel.empty()) {
    const char* orphan = !c.initrd.empty() ? "--initrd" : c.has_append ? "--append" : a.have_memory ? "--memory"
                         : !c.serial.empty() ? "--serial" : nullptr;
    if (orphan != nullptr)
      throw UsageError(std::string(orphan) + " describes a booted kernel, but no kernel is given\n"
                       "  fix: add --kernel PATH (a bzImage), or leave " + orphan + " out");
  }
  return m;
}

// The command line a kernel gets when none is given: the console on COM1,
// and a panic that resets the machine at once (so a failed boot ends the
// run as "guest reset" instead of hanging). docs/machine.md has the
// nested-friendly line the test stage uses.
constexpr const char* kDefaultAppend = "console=ttyS0 panic=-1";
constexpr uint64_t kDefaultKernelMemory = 256ull << 20;

std::vector<uint8_t> read_whole_file(const std::string& path, const char* what, const char* fix) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(std::string("cannot read the ") + what + " '" + path + "': " + std::strerror(errno) +
                             "\n  fix: " + fix);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> load_guest(const std::string& name_or_path, std::string& label) {
  const std::string name = name_or_path.empty() ? std::string(guests::kDefaultGuest) : name_or_path;
  if (const guests::GuestImage* img = guests::find(name)) {
    label = std::string(img->name) + " (built in)";
    return {img->data, img->data + img->size};
  }
  std::ifstream in(name, std::ios::binary);
  if (!in) {
    std::string known;
    for (const guests::GuestImage& g : guests::all()) known += std::string(known.empty() ? "" : ", ") + g.name;
    throw std::runtime_error("no built-in guest named '" + name + "' and no such file\n  fix: use one of: " + known +
                             ", or a path to a flat x86-64 image");
  }
  label = name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A short report of the guest's own words: checks by name, failures in full.
void print_report(const RunResult& r, const Vm& vm, const std::string& guest, std::chrono::duration<double> took) {
  uint32_t passed = 0, failed = 0;
  for (const CheckRecord& c : r.records) {
    if (c.kind == ENLIGHT_GUEST_CHECK_PASS) ++passed;
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL) ++failed;
  }
  std::printf("\n== guest %s on %u vCPU(s): %s", guest.c_str(), vm.vcpu_count(), to_string(r.outcome));
  if (r.outcome == Outcome::Exited) std::printf(", exit status %u", r.exit_status);
  std::printf(" after %.2f s\n", took.count());
  if (!r.message.empty()) std::printf("   %s\n", r.message.c_str());
  std::printf("   checks: %u passed, %u failed\n", passed, failed);
  for (const CheckRecord& c : r.records) {
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL)
      std::printf("   FAIL vcpu %u line %u: %s: expected 0x%llx, got 0x%llx\n", c.vcpu, c.line, c.name.c_str(),
                  static_cast<unsigned long long>(c.expected), static_cast<unsigned long long>(c.actual));
    if (c.kind == ENLIGHT_GUEST_METRIC)
      std::printf("   metric vcpu %u: %s = %llu\n", c.vcpu, c.name.c_str(), static_cast<unsigned long long>(c.actual));
  }
  std::printf("   exits: %llu MSR, %llu hypercall, %llu PM timer, %llu interrupt(s) delivered\n",
              static_cast<unsigned long long>(r.stats.msr_exits), static_cast<unsigned long long>(r.stats.hypercalls),
              static_cast<unsigned long long>(r.stats.pm_timer_reads),
              static_cast<unsigned long long>(r.stats.interrupts_delivered));
  if (r.stats.exits != 0)  // kvm: where the MSR exits went (an architectural MSR never leaves KVM)
    std::printf("   kvm: %llu exit(s), %llu I/O, MSR exits %llu synthetic, %llu other\n",
                static_cast<unsigned long long>(r.stats.exits), static_cast<unsigned long long>(r.stats.io_exits),
                static_cast<unsigned long long>(r.stats.msr_exits_synthetic),
                static_cast<unsigned long long>(r.stats.msr_exits_other));
  if (r.stats.bad_records) std::printf("   ignored %llu malformed report(s)\n", static_cast<unsigned long long>(r.stats.bad_records));
}

// A booted kernel's end: how it ended in words a user knows, what the
// machine and the plugins counted.
void print_kernel_report(const RunResult& r, const Vm& vm, std::chrono::duration<double> took) {
  switch (r.outcome) {
    case Outcome::PoweredOff: std::printf("\n== guest powered off after %.2f s\n", took.count()); break;
    case Outcome::Reset: std::printf("\n== %s after %.2f s\n", r.message.c_str(), took.count()); break;
    default:
      std::printf("\n== guest %s after %.2f s%s%s\n", to_string(r.outcome), took.count(), r.message.empty() ? "" : ": ",
                  r.message.c_str());
  }
  const auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("   kvm: %llu exit(s), %llu I/O, %llu PM timer read(s), MSR exits %llu synthetic, %llu other, "
              "%llu hypercall(s), %llu unbacked MMIO, %llu interrupt(s) injected\n",
              u(r.stats.exits), u(r.stats.io_exits), u(r.stats.pm_timer_reads), u(r.stats.msr_exits_synthetic),
              u(r.stats.msr_exits_other), u(r.stats.hypercalls), u(r.stats.mmio_unbacked), u(r.stats.interrupts_delivered));
  for (const CounterTotal& c : counter_totals(vm))
    if (c.value != 0) std::printf("   counter %s %s = %llu\n", c.plugin.c_str(), c.name.c_str(), u(c.value));
}

// `enlight run`'s exit status when a booted kernel reset the machine (its
// reboot, or a panic with panic=-1): not a failure of enlight, not a clean
// power-off either; scripts tell the three apart (docs/machine.md).
constexpr int kExitGuestReset = 3;

// auto: kvm when /dev/kvm is usable, else emu. A forced backend that
// cannot run is an error, never a silent fallback.
BackendKind choose_backend(const std::string& requested, std::string& why, bool needs_pc) {
  if (requested == "direct")
    throw UsageError("--backend direct runs no guest code (it drives exits from tests and benchmarks)\n"
                     "  fix: use --backend kvm or --backend emu, or leave --backend out");
  const std::optional<BackendKind> forced = backend_kind(requested);
  if (requested != "auto" && !forced)
    throw UsageError("--backend must be kvm, emu or direct, not '" + requested + "'");
  const bool have_emu = backend_compiled(BackendKind::Emu);
  if (forced == BackendKind::Emu) {
    if (!have_emu)
      throw UsageError("this enlight was built without the emu backend (ENLIGHT_BACKENDS=kvm)\n"
                       "  fix: use --backend kvm, or a build with -DENLIGHT_BACKENDS=\"emu;kvm\"");
    why = "forced with --backend emu";
    return BackendKind::Emu;
  }
  std::string missing;
  const bool kvm_ok = backend_available(BackendKind::Kvm, &missing);
  if (forced == BackendKind::Kvm) {
    if (!kvm_ok)
      throw std::runtime_error("the kvm backend cannot run here: " + missing +
                               "\n  fix: run where /dev/kvm is usable (load kvm_intel or kvm_amd), or use --backend emu");
    why = "forced with --backend kvm";
    return BackendKind::Kvm;
  }
  if (kvm_ok) {
    why = "/dev/kvm is usable";
    return BackendKind::Kvm;
  }
  if (needs_pc)
    throw std::runtime_error("there is no usable /dev/kvm: " + missing +
                             "\n  fix: run where /dev/kvm is usable (load kvm_intel or kvm_amd); the emu backend "
                             "has no PC machine and cannot boot a kernel");
  if (!have_emu)
    throw std::runtime_error("there is no usable /dev/kvm: " + missing +
                             "\n  fix: run where /dev/kvm is usable (load kvm_intel or kvm_amd); this build has no "
                             "emu backend (ENLIGHT_BACKENDS=kvm)");
  why = "no usable /dev/kvm: " + missing;
  return BackendKind::Emu;
}

// --offload a,b: the same as `offload: kvm` on those profile entries.
void apply_offload(const std::string& list, Profile& profile) {
  size_t start = 0;
  while (start < list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, comma - start);
    start = comma + 1;
    if (name.empty()) continue;
    auto it = std::find_if(profile.plugins.begin(), profile.plugins.end(),
                           [&](const PluginRequest& r) { return r.name == name; });
    if (it == profile.plugins.end())
      throw UsageError("--offload " + name + ": the profile does not enable '" + name +
                       "'\n  fix: enable it (its flag, or an entry in the profile) or leave it out of --offload");
    it->offload = "kvm";
    it->offload_where = {"--offload", 0, 0};
  }
}

}  // namespace

int run(const Globals& g, const std::vector<std::string>& args) {
  const RunArgs a = parse(args);
  const Catalog catalog = Catalog::discover(search_path(g));
  Profile profile = a.have_flags ? parse_cpu_flags(a.flags, catalog)
                                 : load_profile(a.profile.empty() ? default_profile_name() : a.profile);
  if (a.vcpus != 0) profile.vcpus = a.vcpus;
  const MachineRequest machine_request = merge_machine(profile.machine, a);
  const bool boot_kernel = !machine_request.kernel.empty();
  if (boot_kernel && !a.guest.empty())
    throw UsageError("--guest runs a built-in guest program and --kernel boots a kernel: give one of them");
  if (boot_kernel && a.duration > 0)
    throw UsageError("--duration is the run-length hint of a built-in workload guest; a kernel runs until it powers off\n"
                     "  fix: use --timeout S to bound a kernel's run");
  if (boot_kernel && a.machine_kind == "flat")
    throw UsageError("a kernel boots on the PC machine: leave out --machine flat");
  const bool pc_devices = boot_kernel || a.machine_kind == "pc";
  const bool snapshots = !a.snapshot_to.empty() || !a.restore.empty();
  if (snapshots && !a.offload.empty())
    throw UsageError(std::string(!a.snapshot_to.empty() ? "--snapshot-to" : "--restore") +
                     ": an offloaded plugin's state is KVM's in-kernel Hyper-V state, which a snapshot cannot hold "
                     "yet (docs/snapshots.md, \"Status\")\n  fix: leave out --offload");
  if (pc_devices && a.backend == "emu" && !boot_kernel)
    throw UsageError("the PC machine's devices exist on the kvm backend only (docs/machine.md)\n"
                     "  fix: use --backend kvm, or leave out --machine pc");
  if (boot_kernel && a.backend == "emu")
    throw UsageError("the emu backend cannot boot a kernel: its software CPU (Unicorn 2.0) runs only identity-mapped "
                     "guests and has no PC machine (docs/emu-backend.md)\n"
                     "  fix: use --backend kvm (or leave --backend out) on a host with /dev/kvm");
  // A kernel, its initrd, command line and memory are read and checked
  // before anything else: each mistake is an error naming its fix, on any
  // host, before a plugin is loaded or a vCPU exists.
  std::optional<KernelBoot> kernel;
  uint64_t memory = ENLIGHT_GUEST_DEFAULT_RAM;
  const std::string cmdline = machine_request.has_append ? machine_request.append : kDefaultAppend;
  if (boot_kernel) {
    kernel.emplace();
    machine::LinuxBootConfig& boot = kernel->boot;
    boot.kernel = read_whole_file(machine_request.kernel, "kernel",
                                  "give --kernel the path of a bzImage (e.g. /boot/vmlinuz-*)");
    if (!machine_request.initrd.empty())
      boot.initrd = read_whole_file(machine_request.initrd, "initrd", "give --initrd the path of an initramfs");
    boot.cmdline = cmdline;
    memory = machine_request.memory != 0 ? machine_request.memory : kDefaultKernelMemory;
    boot.ram_bytes = memory;
    try {
      (void)machine::plan_linux_boot(boot);
    } catch (const machine::BootError& e) {
      throw std::runtime_error("cannot boot '" + machine_request.kernel + "': " + e.what());
    }
  }
  std::string backend_why;
  BackendKind backend;
  try {
    backend = choose_backend(a.backend, backend_why, pc_devices);
  } catch (const std::runtime_error& e) {
    if (!boot_kernel) throw;
    throw std::runtime_error(std::string("booting a kernel needs the kvm backend, and ") + e.what());
  }
  apply_offload(a.offload, profile);
  const Resolution resolution = resolve(profile, catalog, backend_capabilities(backend));
  for (const std::string& w : resolution.warnings) std::printf("warning: %s\n", w.c_str());

  // What the run boots: the kernel read above, or a guest program.
  std::string guest_label;
  std::vector<uint8_t> image;
  std::unique_ptr<SerialOut> serial;
  ab::GuestLineMetrics line_metrics;
  if (boot_kernel) {
    serial = std::make_unique<SerialOut>(machine_request.serial);
    SerialOut* out = serial.get();
    ab::GuestLineMetrics* lines = &line_metrics;
    kernel->serial_out = [out, lines](uint8_t b) {
      out->put(b);
      lines->put(b);
    };
    guest_label = machine_request.kernel;
  } else {
    image = load_guest(a.guest, guest_label);
  }
  const uint64_t image_digest = boot_kernel ? kernel_boot_digest(kernel->boot.kernel, kernel->boot.initrd, cmdline)
                                            : guest_image_digest(image);
  // A snapshot to restore is read and checked before the VM exists: a
  // damaged file creates nothing. It is matched against the VM itself,
  // whose plugin options the backend may have completed for this host
  // (the kvm backend picks identity's hypercall instruction).
  std::optional<SnapshotFile> restoring;
  if (!a.restore.empty()) restoring.emplace(SnapshotFile::read(a.restore));
  // The PC machine (kernel, pc_devices) was checked above to be asked of
  // kvm only; the emu backend would refuse it.
  BackendOptions options;
  options.image = std::move(image);
  options.kernel = std::move(kernel);
  options.pc_devices = pc_devices;
  options.vm.memory_bytes = memory;
  options.run_ms = static_cast<uint32_t>(a.duration * 1000 + 0.5);
  const std::unique_ptr<Backend> machine = Backend::create(backend, resolution, std::move(options));
  Vm& vmref = machine->vm();
  if (restoring) {
    restoring->check_matches(to_string(backend), vmref.resolution(), vmref.memory().size(), image_digest);
    restoring->restore(*machine);  // throws SnapshotError; the VM is then destroyed unrun
    std::printf("enlight: restored %s (guest %s, reference time %.3f s)\n", a.restore.c_str(),
                restoring->state().guest.c_str(), static_cast<double>(restoring->state().reference_time) / 1e7);
    restoring.reset();  // its mapping of the file is no longer needed
  }

  std::printf("enlight: backend %s (%s), profile %s, %u vCPU(s), %zu plugin(s):", to_string(machine->kind()),
              backend_why.c_str(), profile.source.c_str(), vmref.vcpu_count(), vmref.plugins().size());
  for (const LoadedPlugin& p : vmref.plugins()) std::printf(" %s", p.manifest->name.c_str());
  std::printf("\n");
  if (boot_kernel)
    std::printf("enlight: kernel %s%s%s, %llu MiB, command line '%s'\n", machine_request.kernel.c_str(),
                machine_request.initrd.empty() ? "" : ", initrd ", machine_request.initrd.c_str(),
                static_cast<unsigned long long>(memory >> 20),
                cmdline.c_str());

#ifdef ENLIGHT_WITH_METRICS
  std::unique_ptr<MetricsServer> server;
  std::unique_ptr<MetricsServer::Attachment> attachment;
  std::unique_ptr<ScrapeTargetFile> scrape_target;
  if (a.metrics != "off") {
    server = std::make_unique<MetricsServer>(a.metrics);
    attachment = server->attach(vmref, a.labels);
    std::printf("enlight: metrics at %s\n", server->url().c_str());
    if (!a.scrape_target.empty())
      scrape_target = std::make_unique<ScrapeTargetFile>(a.scrape_target, server->host_port(), a.labels);
  }
#endif
  std::fflush(stdout);

  // Ctrl-C stops the VM at once. SIGTERM asks the guest to power off
  // through a plugin that can (vmbus-util's shutdown device), waits up to
  // --shutdown-grace seconds for it, and stops the VM when none can, when
  // the grace runs out, or on a second SIGTERM. The handlers only count;
  // this watcher thread acts.
  g_interrupts.store(0);
  g_terms.store(0);
  auto previous_int = std::signal(SIGINT, on_interrupt_signal);
  auto previous_term = std::signal(SIGTERM, on_term_signal);
  g_snapshot_requests.store(0);
  auto previous_usr1 = a.snapshot_to.empty() ? SIG_DFL : std::signal(SIGUSR1, on_snapshot_signal);
  std::atomic<bool> done{false};
  std::atomic<bool> snapshot_signalled{false};
  std::thread watcher([&] {
    using clock = std::chrono::steady_clock;
    std::optional<clock::time_point> grace_end;
    while (!done.load()) {
      if (g_interrupts.load() > 0) {
        machine->stop("interrupted (Ctrl-C)");
        return;
      }
      if (g_snapshot_requests.load() > 0) {
        snapshot_signalled.store(true);
        machine->stop("snapshot requested (SIGUSR1)");
        return;
      }
      const int terms = g_terms.load();
      if (terms > 0 && !grace_end) {
        if (!vmref.request_guest_shutdown()) {
          machine->stop("interrupted (SIGTERM; no plugin could ask the guest to power off)");
          return;
        }
        std::fprintf(stderr, "enlight: SIGTERM: asked the guest to power off (%g s grace; SIGTERM again stops it now)\n",
                     a.shutdown_grace);
        grace_end = clock::now() + std::chrono::duration_cast<clock::duration>(
                                       std::chrono::duration<double>(a.shutdown_grace));
      } else if (grace_end && (terms > 1 || clock::now() >= *grace_end)) {
        machine->stop(terms > 1 ? "interrupted (second SIGTERM while the guest shut down)"
                               : "interrupted (SIGTERM; the guest did not power off within the grace period)");
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // A booted kernel runs until it powers off (or --timeout); a guest
  // program has its time-out (docs above timeout_seconds).
  double timeout_s = a.timeout >= 0 ? a.timeout : boot_kernel ? 0 : timeout_seconds(a.duration);
  // The snapshot's moment: the run stops there (a time-out by design).
  const double snapshot_at = a.snapshot_to.empty() ? 0 : a.snapshot_after > 0 ? a.snapshot_after : a.duration;
  if (snapshot_at > 0) timeout_s = snapshot_at;
  const auto start = std::chrono::steady_clock::now();
  line_metrics.start_clock();
  RunResult result;
  {
    std::unique_ptr<SerialInputPump> input;
    if (boot_kernel)
      input = std::make_unique<SerialInputPump>(
          [&machine](const uint8_t* d, size_t n) { return machine->serial_input(d, n); });
    result = machine->run(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  }
  const auto took = std::chrono::steady_clock::now() - start;
  done.store(true);
  watcher.join();
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (!a.snapshot_to.empty()) std::signal(SIGUSR1, previous_usr1);

  // --snapshot-to: the run ended where the snapshot is due (its time-out,
  // SIGUSR1), or earlier on its own, when there is nothing to resume.
  if (!a.snapshot_to.empty()) {
    const bool due = (snapshot_at > 0 && result.outcome == Outcome::Timeout) ||
                     (snapshot_signalled.load() && result.outcome == Outcome::Stopped);
    if (!result.console.empty()) {
      std::printf("-- guest console --\n%s", result.console.c_str());
      if (result.console.back() != '\n') std::printf("\n");
    }
    if (!due) {
      print_report(result, vmref, guest_label, took);
      std::fprintf(stderr, "enlight: no snapshot written: the run ended '%s'%s%s before it was due\n",
                   to_string(result.outcome), result.message.empty() ? "" : ": ", result.message.c_str());
      return 1;
    }
    write_snapshot(*machine, a.snapshot_to, guest_label, image_digest);
    std::printf("enlight: snapshot written to %s after %.3f s (%zu check(s) so far)\n", a.snapshot_to.c_str(),
                std::chrono::duration<double>(took).count(), result.records.size());
    return 0;
  }

  // The run's verdict, then what it leaves for tools: the final counters
  // (a file, a Pushgateway) and the report. A failure to deliver them fails
  // the run, since a batch job's result that never arrived is lost.
  uint32_t failed_checks = 0;
  for (const CheckRecord& c : result.records) failed_checks += c.kind == ENLIGHT_GUEST_CHECK_FAIL;
  const bool clean = boot_kernel ? result.outcome == Outcome::PoweredOff
                                 : result.outcome == Outcome::Exited && result.exit_status == 0 && failed_checks == 0;
  bool delivered = true;
  const auto deliver = [&](const char* what, const std::function<void()>& step) {
    try {
      step();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "enlight: %s: %s\n", what, e.what());
      delivered = false;
    }
  };
#ifdef ENLIGHT_WITH_METRICS
  scrape_target.reset();
  attachment.reset();
  server.reset();
  if (!a.metrics_file.empty())
    deliver("--metrics-file", [&] { write_file_atomically(a.metrics_file, metrics_text(vmref, a.labels), "metrics file"); });
  if (!a.push.empty()) deliver("--push", [&] { push_metrics(vmref, a.push, a.labels); });
#endif
  if (!a.report.empty())
    deliver("--report", [&] {
      RunReportInput in;
      in.result = &result;
      in.vm = &vmref;
      in.backend = to_string(machine->kind());
      in.profile = profile.source;
      in.guest = guest_label;
      in.labels = a.labels;
      in.seconds = std::chrono::duration<double>(took).count();
      in.clean = clean;
      in.lines = boot_kernel ? &line_metrics : nullptr;
      write_run_report(a.report, in);
    });

  if (boot_kernel) {
    serial->flush();
    if (machine_request.serial.empty() && !serial->at_line_start()) std::printf("\n");
    print_kernel_report(result, vmref, took);
    std::fflush(stdout);
    if (!delivered) return 1;
    // Exit codes (docs/machine.md): 0 powered off, 3 reset, 1 anything else.
    if (result.outcome == Outcome::PoweredOff) return 0;
    if (result.outcome == Outcome::Reset) return kExitGuestReset;
    std::fprintf(stderr, "enlight: run failed: %s%s%s\n", to_string(result.outcome),
                 result.message.empty() ? "" : ": ", result.message.c_str());
    return 1;
  }

  if (!result.console.empty()) {
    std::printf("-- guest console --\n%s", result.console.c_str());
    if (result.console.back() != '\n') std::printf("\n");
  }
  print_report(result, vmref, guest_label, took);
  if (!clean) {
    std::fprintf(stderr, "enlight: run failed: %s%s%s\n", to_string(result.outcome),
                 result.message.empty() ? "" : ": ", result.message.c_str());
  }
  return clean && delivered ? 0 : 1;
}

}  // namespace enlight::cli
