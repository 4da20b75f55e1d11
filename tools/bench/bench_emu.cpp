// enlight-bench, emu backend: what one trapped instruction costs on the
// Unicorn-based backend (a guest loop of N CPUID / RDMSR / WRMSR / fast
// hypercall / OUT round trips), and whether the per-address MSR code hooks
// slow plain guest code down. Method and results: docs/benchmarks.md,
// "Emu backend: trapping cost".
//
// Each benchmark iteration is one whole guest run: the EmuVm is created
// untimed, then EmuVm::run is timed (manual time) and the result divided by
// the guest's N. The guests are tools/bench/guests/*.S, assembled at build
// time into ENLIGHT_BENCH_EMU_GUEST_DIR. The backend has no way to pass a
// run parameter to the guest, so the benchmark writes N into the image's
// header (guests/common.inc) before creating the VM.
#include <enlight/core/backend/emu.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <benchmark/benchmark.h>
#include <unicorn/unicorn.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef ENLIGHT_BENCH_EMU_GUEST_DIR
#error "ENLIGHT_BENCH_EMU_GUEST_DIR must name the directory of the assembled bench guests"
#endif
#ifndef ENLIGHT_BENCH_PLUGIN_DIR
#error "ENLIGHT_BENCH_PLUGIN_DIR must name the build tree's plugin directory"
#endif

void register_emu_benchmarks();

namespace {

using enlight::emu::EmuVm;
using enlight::emu::Outcome;
using enlight::emu::RunResult;
using Clock = std::chrono::steady_clock;

constexpr size_t kMagicOffset = 8, kCountOffset = 16;
constexpr char kMagic[] = "BENCH_N:";
constexpr uint32_t kFail = 0xBAD;  // guests/common.inc BENCH_FAIL

std::vector<uint8_t> guest_image(const std::string& name, uint64_t n) {
  const std::string path = std::string(ENLIGHT_BENCH_EMU_GUEST_DIR) + "/" + name + ".bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing guest image " + path);
  std::vector<uint8_t> image{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (image.size() < kCountOffset + 8 || std::memcmp(image.data() + kMagicOffset, kMagic, 8) != 0)
    throw std::runtime_error(path + " has no BENCH_N: header");
  std::memcpy(image.data() + kCountOffset, &n, sizeof n);
  return image;
}

const enlight::Catalog& catalog() {
  static const enlight::Catalog c = enlight::Catalog::discover({ENLIGHT_BENCH_PLUGIN_DIR});
  return c;
}

std::unique_ptr<EmuVm> make_emu(const std::string& guest, const std::string& flags, uint64_t n) {
  enlight::Profile profile = enlight::parse_cpu_flags(flags, catalog());
  profile.vcpus = 1;
  enlight::emu::EmuOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image = guest_image(guest, n);
  return EmuVm::create(enlight::resolve(profile, catalog(), enlight::emu::capabilities()), std::move(options));
}

// What the run must have looked like; an empty string when it did.
using Check = std::function<std::string(const RunResult&, uint64_t n)>;

std::string describe(const RunResult& r) {
  return std::string(enlight::emu::to_string(r.outcome)) + ": " + r.message + " (status " +
         std::to_string(r.exit_status) + ")";
}

std::string expect(bool ok, const std::string& what) { return ok ? std::string() : what; }

struct EmuCase {
  const char* guest;
  const char* flags;
  uint64_t n;  // round trips (or loop iterations) per guest run
  Check check;
};

// Times EmuVm::run only; reports ns per round trip and round trips per
// second over every run of this repetition.
void emu_bench(benchmark::State& state, const EmuCase& c) {
  double total_s = 0;
  uint64_t total_n = 0;
  std::string label;
  for (auto _ : state) {
    std::unique_ptr<EmuVm> vm;
    try {
      vm = make_emu(c.guest, c.flags, c.n);
    } catch (const std::exception& e) {
      state.SkipWithError((std::string(c.guest) + " with '" + c.flags + "': " + e.what()).c_str());
      return;
    }
    const auto t0 = Clock::now();
    const RunResult r = vm->run(std::chrono::seconds(120));
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::string bad = r.outcome != Outcome::Exited ? describe(r) : c.check(r, c.n);
    if (!bad.empty()) {
      state.SkipWithError((std::string(c.guest) + ": " + bad).c_str());
      return;
    }
    state.SetIterationTime(s);
    total_s += s;
    total_n += c.n;
    label = "N=" + std::to_string(c.n) + " msr_exits=" + std::to_string(r.stats.msr_exits) +
            " hook_sites=" + std::to_string(r.stats.msr_hook_sites) + " hypercalls=" + std::to_string(r.stats.hypercalls);
  }
  if (total_n == 0) return;
  state.counters["ns_per_op"] = benchmark::Counter(total_s * 1e9 / static_cast<double>(total_n));
  state.counters["ops_per_s"] = benchmark::Counter(static_cast<double>(total_n) / total_s);
  state.SetLabel(label);
}

// ---- The plain loop's hash, as guests/plain.inc computes it -------------------

uint32_t plain_hash(uint64_t n) {
  constexpr uint64_t kMul = 0x5851F42D4C957F2Dull, kInc = 0x14057B7EF767814Full;
  uint64_t a = 1, b = 0;
  for (uint64_t i = 0; i < n; ++i)
    for (int k = 0; k < 40; ++k) {
      a = a * kMul + kInc;
      b ^= a >> 33;
      b = (b << 5) | (b >> 59);
      b += a;
    }
  return static_cast<uint32_t>(b);
}

Check plain_check(uint64_t sites, uint64_t exits) {
  return [sites, exits](const RunResult& r, uint64_t n) -> std::string {
    if (r.exit_status != plain_hash(n))
      return "hash " + std::to_string(r.exit_status) + " != " + std::to_string(plain_hash(n));
    if (r.stats.msr_hook_sites != sites)
      return "msr_hook_sites " + std::to_string(r.stats.msr_hook_sites) + ", want " + std::to_string(sites);
    return expect(r.stats.msr_exits == exits, "msr_exits " + std::to_string(r.stats.msr_exits));
  };
}

// ---- Reference: the same plain loop on a bare Unicorn engine -------------------
//
// Not the backend: one engine, guest RAM, an OUT hook that ends the run at
// ENLIGHT_GUEST_PORT_EXIT, and (WholeCodeHook) an empty UC_HOOK_CODE over
// all code, the alternative to per-site MSR hooks that docs/emu-backend.md
// rejects. The engine is created untimed; uc_emu_start is timed.

struct RawRun {
  uint32_t status = 0;
  bool exited = false;
  uint64_t hook_calls = 0;
};

void raw_on_out(uc_engine* uc, uint32_t port, int, uint32_t value, void* user) {
  auto& run = *static_cast<RawRun*>(user);
  if (port != ENLIGHT_GUEST_PORT_EXIT) return;
  run.status = value;
  run.exited = true;
  uc_emu_stop(uc);
}

void raw_on_code(uc_engine*, uint64_t, uint32_t, void* user) { ++static_cast<RawRun*>(user)->hook_calls; }
uint32_t raw_on_in(uc_engine*, uint32_t, int, void*) { return 0; }
int raw_on_cpuid(uc_engine*, void*) { return 0; }
bool raw_on_invalid(uc_engine*, void*) { return false; }
void raw_on_intr(uc_engine* uc, uint32_t, void*) { uc_emu_stop(uc); }

enum class RawHooks { ExitOnly, BackendSet, WholeCode };

void raw_plain_bench(benchmark::State& state, uint64_t n, RawHooks hooks) {
  const std::vector<uint8_t> image = guest_image("plain_notraps", n);
  std::vector<uint8_t> ram(16u << 20);
  double total_s = 0;
  uint64_t total_n = 0;
  for (auto _ : state) {
    uc_engine* uc = nullptr;
    RawRun run;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) {
      state.SkipWithError("uc_open failed");
      return;
    }
    std::memset(ram.data(), 0, ram.size());
    std::memcpy(ram.data() + ENLIGHT_GUEST_LOAD_ADDRESS, image.data(), image.size());
    uc_hook h;
    bool ok = uc_mem_map_ptr(uc, 0, ram.size(), UC_PROT_ALL, ram.data()) == UC_ERR_OK &&
              uc_hook_add(uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&raw_on_out), &run, 1, 0, UC_X86_INS_OUT) ==
                  UC_ERR_OK;
    if (ok && hooks == RawHooks::WholeCode)
      ok = uc_hook_add(uc, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&raw_on_code), &run, 1, 0) == UC_ERR_OK;
    if (ok && hooks == RawHooks::BackendSet)  // the backend's other hooks (vcpu.cpp), with no code hook
      ok = uc_hook_add(uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&raw_on_in), &run, 1, 0, UC_X86_INS_IN) ==
               UC_ERR_OK &&
           uc_hook_add(uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&raw_on_cpuid), &run, 1, 0, UC_X86_INS_CPUID) ==
               UC_ERR_OK &&
           uc_hook_add(uc, &h, UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(&raw_on_invalid), &run, 1, 0) ==
               UC_ERR_OK &&
           uc_hook_add(uc, &h, UC_HOOK_INTR, reinterpret_cast<void*>(&raw_on_intr), &run, 1, 0) == UC_ERR_OK;
    uint64_t rsp = ENLIGHT_GUEST_STACK_TOP;
    ok = ok && uc_reg_write(uc, UC_X86_REG_RSP, &rsp) == UC_ERR_OK;
    const auto t0 = Clock::now();
    const uc_err err = ok ? uc_emu_start(uc, ENLIGHT_GUEST_LOAD_ADDRESS, ~0ull, 0, 0) : UC_ERR_HOOK;
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    uc_close(uc);
    if (err != UC_ERR_OK || !run.exited || run.status != plain_hash(n)) {
      state.SkipWithError((std::string("bare engine: ") + uc_strerror(err) + (run.exited ? ", wrong hash" : ", no exit"))
                              .c_str());
      return;
    }
    state.SetIterationTime(s);
    total_s += s;
    total_n += n;
    state.SetLabel("N=" + std::to_string(n) + " code_hook_calls=" + std::to_string(run.hook_calls));
  }
  if (total_n == 0) return;
  state.counters["ns_per_op"] = benchmark::Counter(total_s * 1e9 / static_cast<double>(total_n));
  state.counters["ops_per_s"] = benchmark::Counter(static_cast<double>(total_n) / total_s);
}

// Reference for the hypercall: the emu backend's yield_vcpu host service,
// which HvCallNotifyLongSpinWait calls once per hypercall.
void this_thread_yield(benchmark::State& state) {
  for (auto _ : state) std::this_thread::yield();
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

// Registered by bench_main.cpp's main(). --enlight_iterations does not
// apply: one iteration here is a whole guest run.
void register_emu_benchmarks() {
  const auto round_trip = [](const char* name, EmuCase c) {
    benchmark::RegisterBenchmark(name, [c](benchmark::State& s) { emu_bench(s, c); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  };
  round_trip("BM_Emu/CpuidRoundTrip", {"cpuid_loop", "hv-vpindex", 2'000'000, [](const RunResult& r, uint64_t) {
                                         return expect(r.exit_status == 0, "a cpuid answer was wrong");
                                       }});
  round_trip("BM_Emu/MsrReadRoundTrip", {"rdmsr_loop", "hv-vpindex", 1'000'000, [](const RunResult& r, uint64_t n) {
                                           return expect(r.exit_status == 0 && r.stats.msr_exits == n,
                                                         "status " + std::to_string(r.exit_status) + ", msr_exits " +
                                                             std::to_string(r.stats.msr_exits));
                                         }});
  round_trip("BM_Emu/MsrWriteRoundTrip", {"wrmsr_loop", "hv-crash", 1'000'000, [](const RunResult& r, uint64_t n) {
                                            return expect(r.exit_status == 0 && r.stats.msr_exits == n,
                                                          "msr_exits " + std::to_string(r.stats.msr_exits));
                                          }});
  round_trip("BM_Emu/HypercallRoundTrip",
             {"hypercall_loop", "hv-spinlocks=0xfff", 200'000, [](const RunResult& r, uint64_t n) {
                return expect(r.exit_status == 0 && r.stats.hypercalls == n,
                              "status " + std::to_string(r.exit_status) + ", hypercalls " +
                                  std::to_string(r.stats.hypercalls) + (r.exit_status == kFail ? " (bad HV status)" : ""));
              }});
  // Informative: the same trap without the plugin's handler and its
  // yield_vcpu (std::this_thread::yield), i.e. #UD, engine stop, decoder, restart.
  round_trip("BM_Emu/HypercallUnclaimedRoundTrip",
             {"hypercall_unclaimed", "hv-spinlocks=0xfff", 500'000, [](const RunResult& r, uint64_t n) {
                return expect(r.exit_status == 0 && r.stats.hypercalls == n,
                              "status " + std::to_string(r.exit_status) + ", hypercalls " +
                                  std::to_string(r.stats.hypercalls));
              }});
  round_trip("BM_Emu/IoOutRoundTrip", {"out_loop", "hv-vpindex", 2'000'000, [](const RunResult& r, uint64_t) {
                                         return expect(r.exit_status == 0, "status " + std::to_string(r.exit_status));
                                       }});
  // The same VM configuration for the three images; only the hooks differ.
  constexpr uint64_t kPlainN = 400'000;
  round_trip("BM_Emu/PlainLoop/NoTraps", {"plain_notraps", "hv-vpindex,hv-crash", kPlainN, plain_check(0, 0)});
  round_trip("BM_Emu/PlainLoop/TrapsInstalled", {"plain_traps", "hv-vpindex,hv-crash", kPlainN, plain_check(2, 2)});
  round_trip("BM_Emu/PlainLoop/TrapsNearby", {"plain_nearby", "hv-vpindex,hv-crash", kPlainN, plain_check(4, 2)});
  benchmark::RegisterBenchmark("BM_Emu/PlainLoop/BareUnicorn",
                               [](benchmark::State& s) { raw_plain_bench(s, kPlainN, RawHooks::ExitOnly); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Emu/PlainLoop/BareUnicornBackendHooks",
                               [](benchmark::State& s) { raw_plain_bench(s, kPlainN, RawHooks::BackendSet); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Emu/PlainLoop/WholeCodeHook",
                               [](benchmark::State& s) { raw_plain_bench(s, kPlainN / 16, RawHooks::WholeCode); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Emu/Ref/ThisThreadYield", this_thread_yield);
}
