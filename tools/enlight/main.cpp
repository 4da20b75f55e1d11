// enlight: the command line. A thin layer over the core: every command is
// "build a profile, resolve it, maybe create a VM, print".
#include "commands.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage = R"(usage: enlight [--plugin-path DIRS] COMMAND [ARGS]

Hyper-V enlightenments for KVM virtual machines, as plugins.

Commands:
  run     [PROFILE | --cpu FLAGS] [--guest NAME|PATH] [--vcpus N] [--duration S]
          [--metrics ADDR|off] [--backend emu|kvm] [--offload PLUGIN,...]
                                          boot the profile with a guest program (default:
                                          the built-in profile and guest), serve Prometheus
                                          metrics while it runs (default 127.0.0.1:0), print
                                          what the guest saw; exit 0 when every check passed.
                                          --duration S: a workload guest runs S seconds
                                          (conformance guests ignore it); the time-out is
                                          the larger of S+10 and 2S (default 30 s).
                                          --offload time,vapic: KVM does those plugins'
                                          work in the kernel (kvm backend only)
          [--kernel BZIMAGE [--initrd FILE] [--append CMDLINE] [--memory SIZE]
           [--serial FILE]] [--timeout S] [--machine flat|pc]
                                          boot a Linux kernel on the PC machine (kvm
                                          backend; the same keys in a profile): console
                                          on stdin/stdout, exit 0 on power-off, 3 on a
                                          reset; memory default 256M, at most 3G.
                                          --timeout S bounds any run (0: none, a kernel's
                                          default). --machine pc gives a guest program
                                          the PC's devices (docs/machine.md)
          [--shutdown-grace S]            SIGTERM asks the guest to power off (vmbus-util's
                                          shutdown device) and waits S s (default 30);
                                          without such a device, or on a second SIGTERM,
                                          it stops the VM; Ctrl-C stops it at once
          [--snapshot-to FILE [--snapshot-after S]] [--restore FILE]
                                          stop the VM at S seconds (default: at
                                          --duration) or on SIGUSR1 and write it to
                                          FILE; start from a snapshot instead, with the
                                          configuration it was taken with (emu backend;
                                          docs/snapshots.md)
          [--label NAME=VALUE]... [--push URL] [--prometheus-sd FILE]
          [--metrics-file FILE] [--report FILE]
                                          labels on every series (variant=a); at the end
                                          push the final counters to a Pushgateway, write
                                          them for node_exporter's textfile collector, and
                                          the run as JSON; --prometheus-sd: the scrape target
                                          for Prometheus file_sd while the VM runs
                                          (docs/metrics.md)
  ab      EXPERIMENT.yaml [--out DIR] [--seed N] [--repetitions N] [--warmup N]
          [--retries N] [--push URL] [--no-plots]
  ab      --from DIR/results.json [--out DIR]
                                          A/B experiment: every variant's runs in a seeded
                                          random order, medians, IQR, bootstrap CI of the
                                          difference, Cliff's delta, Mann-Whitney p; Markdown,
                                          JSON and gnuplot plots in DIR (default
                                          ab-results/NAME); --from: tables and plots again
                                          from recorded runs (docs/ab.md)
  check   [PROFILE | --cpu FLAGS]         resolve, load and create the plugin set;
                                          print the order, or the error and its fix
  cpuid   [PROFILE | --cpu FLAGS] [--json]
                                          the hypervisor CPUID leaves a guest would see
  plugins [--json]                        plugins found on the search path, their
                                          versions, flags and claims
  profiles                                the profiles built into this binary
  guests                                  the guest programs built into this binary
  new-plugin NAME [DIR]                   a plugin folder (manifest, C++, unit test,
                                          CMakeLists) in DIR/NAME that builds against
                                          an installed enlight and passes its test

PROFILE is a path to a profile YAML file or the name of a built-in profile
(default: the built-in 'recommended'). FLAGS are QEMU-style:
  --cpu hv-relaxed,hv-vpindex,hv-spinlocks=0xfff,hv-vendor-id=KVMKVMKVM

Options:
  --plugin-path DIRS   colon-separated plugin directories, searched before
                       $ENLIGHT_PLUGIN_PATH and the built-in defaults
  --help               this text
  --version            the version of enlight and of its plugin ABI
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  enlight::cli::Globals globals;
  // Global options come before the command.
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("enlight %s (plugin ABI %u.%u)\n", ENLIGHT_CLI_VERSION, ENLIGHT_ABI_MAJOR, ENLIGHT_ABI_MINOR);
      return 0;
    }
    if (a == "--plugin-path") {
      if (i + 1 >= args.size()) {
        std::fputs("enlight: --plugin-path needs a value\n", stderr);
        return 2;
      }
      globals.plugin_path = args[++i];
      continue;
    }
    if (a.rfind("--plugin-path=", 0) == 0) {
      globals.plugin_path = a.substr(std::strlen("--plugin-path="));
      continue;
    }
    break;
  }
  if (i >= args.size()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  try {
    if (command == "run") return enlight::cli::run(globals, rest);
    if (command == "check") return enlight::cli::check(globals, rest);
    if (command == "cpuid") return enlight::cli::cpuid(globals, rest);
    if (command == "plugins") return enlight::cli::plugins(globals, rest);
    if (command == "profiles") return enlight::cli::profiles(globals, rest);
    if (command == "guests") return enlight::cli::guests(globals, rest);
    if (command == "new-plugin") return enlight::cli::new_plugin(globals, rest);
#ifdef ENLIGHT_WITH_AB
    if (command == "ab") return enlight::cli::ab(globals, rest);
#else
    if (command == "ab") throw enlight::cli::UsageError("this enlight was built without `enlight ab` (ENLIGHT_CLI_AB=OFF)");
#endif
    if (command == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "enlight: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
  } catch (const enlight::cli::UsageError& e) {
    std::fprintf(stderr, "enlight %s: %s\n(see enlight --help)\n", command.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "enlight: error: %s\n", e.what());
    return 1;
  }
}
