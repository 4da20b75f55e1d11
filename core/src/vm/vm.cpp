// VM lifecycle: load, create (VM state, then each vCPU, in dependency order,
// unwinding in reverse on failure), freeze, tear down in reverse. The shape
// of Xen viridian's domain/vcpu init and deinit.
#include <enlight/core/vm.hpp>

#include "bus/bus_builder.hpp"
#include "vm/host_services.hpp"

#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace enlight {

const char* to_string(StopReason r) noexcept {
  switch (r) {
    case StopReason::None: return "none";
    case StopReason::GuestReset: return "guest-reset";
    case StopReason::GuestCrash: return "guest-crash";
    case StopReason::PluginError: return "plugin-error";
    case StopReason::Requested: return "requested";
  }
  return "?";
}

void Vm::RamDeleter::operator()(uint8_t* p) const noexcept {
  if (p != nullptr) munmap(p, size);
}

uint64_t Vm::steady_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

uint64_t Vm::guest_tsc(uint32_t vcpu) const {
  if (options_.hooks.guest_tsc) return options_.hooks.guest_tsc(vcpu);
  // One virtual TSC for the partition, running at tsc_frequency_hz from 0.
  return static_cast<uint64_t>((static_cast<unsigned __int128>(now_ns()) * options_.tsc_frequency_hz) / 1'000'000'000u);
}

uint64_t Vm::reference_time() const noexcept {
  if (ref_scale_ == 0) return static_cast<uint64_t>(static_cast<int64_t>(now_ns() / 100) + ref_offset_);
  // TLFS 12.7.3.2: ReferenceTime = ((VirtualTsc * TscScale) >> 64) + TscOffset.
  // One TSC for the partition (vCPU 0's): backends keep vCPU TSCs in sync.
  const uint64_t tsc = guest_tsc(0);
  return static_cast<uint64_t>(static_cast<int64_t>((static_cast<unsigned __int128>(tsc) * ref_scale_) >> 64) +
                               ref_offset_);
}

void Vm::set_reference_time(uint64_t value) noexcept {
  ref_offset_ += static_cast<int64_t>(value - reference_time());
}

const std::string& Vm::plugin_name(uint16_t slot) const {
  static const std::string none = "none";
  return slot < records_.size() ? records_[slot]->name : none;
}

std::unique_ptr<Vm> Vm::create(const Resolution& resolution, const VmOptions& options) {
  std::unique_ptr<Vm> vm(new Vm());
  vm->resolution_ = resolution;
  // The VM owns copies of its manifests: the catalog they came from is
  // usually gone long before the VM (metrics read versions at scrape time).
  for (ResolvedPlugin& rp : vm->resolution_.plugins) {
    vm->manifests_.push_back(std::make_unique<Manifest>(*rp.manifest));
    rp.manifest = vm->manifests_.back().get();
  }
  vm->options_ = options;
  vm->start_ns_ = steady_ns();
  if (resolution.vcpus == 0 || resolution.vcpus > 4096) throw std::invalid_argument("vCPU count must be 1..4096");
  // The reference TSC scale: 100 ns ticks per TSC cycle as a 0.64 fixed
  // point number, which needs a TSC faster than 10 MHz to be below 1.
  // Rounded up, so a TSC value that is an exact number of ticks gives
  // exactly that many (rounding down would answer one less); the excess,
  // tsc / 2^64 ticks, never shows.
  if (options.tsc_frequency_hz > 10'000'000u && options.tsc_reliable) {
    const unsigned __int128 one = static_cast<unsigned __int128>(10'000'000u) << 64;
    vm->ref_scale_ = static_cast<uint64_t>((one + options.tsc_frequency_hz - 1) / options.tsc_frequency_hz);
    const uint64_t tsc0 = vm->guest_tsc(0);
    vm->ref_offset_ = -static_cast<int64_t>((static_cast<unsigned __int128>(tsc0) * vm->ref_scale_) >> 64);
  }

  // Guest RAM: anonymous, lazily backed, zero-filled; MAP_NORESERVE so a
  // large guest costs only what it touches.
  const uint64_t ram = options.memory_bytes;
  void* p = mmap(nullptr, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot map " + std::to_string(ram) + " bytes of guest memory");
  vm->ram_ = std::unique_ptr<uint8_t, RamDeleter>(static_cast<uint8_t*>(p), RamDeleter{ram});
  // 2 MiB pages where the host offers them (THP "madvise" is Debian's
  // default): a booted kernel touches tens of MiB at once, and under
  // nested virtualisation every first touch of a 4 KiB page is an exit
  // of the outer hypervisor. Advice only: failure changes nothing.
  (void)madvise(p, ram, MADV_HUGEPAGE);
  vm->memory_ = GuestMemory(static_cast<uint8_t*>(p), ram);

  vm->load_and_create();
  return vm;
}

void Vm::load_and_create() {
  // Load every binary first: a bad .so fails before any plugin has state.
  for (const ResolvedPlugin& rp : resolution_.plugins) loaded_.push_back(load_plugin(*rp.manifest));
  const uint16_t count = static_cast<uint16_t>(loaded_.size());
  const uint32_t vcpus = resolution_.vcpus;

  // Metrics storage is sized once here; the exit path only indexes it.
  metrics_.exit_block = static_cast<size_t>(count + 1) * static_cast<size_t>(ExitKind::Count) * static_cast<size_t>(Result::Count);
  if (options_.metrics) metrics_.exits.reset(new uint64_t[metrics_.exit_block * vcpus]());
  else metrics_.exit_scratch.reset(new uint64_t[metrics_.exit_block * vcpus]());
  if (options_.metrics && options_.latency_histograms)
    metrics_.latency.reset(new LatencyCell[static_cast<size_t>(count + 1) * static_cast<size_t>(ExitKind::Count) * vcpus]());
  metrics_.plugin_counters.reset(new uint64_t[static_cast<size_t>(MetricsStorage::kMaxPluginCounters) * vcpus]());
  metrics_.histogram_cells.reset(new uint64_t[static_cast<size_t>(MetricsStorage::kMaxHistogramCells) * vcpus]());
  metrics_.core_counters.reset(new uint64_t[static_cast<size_t>(MetricsStorage::kCoreCounterCount) * vcpus]());
  eoi_.resize(vcpus);

  BusBuilder builder(bus_);
  builder_ = &builder;
  for (uint16_t slot = 0; slot < count; ++slot) {
    auto rec = std::make_unique<PluginRecord>();
    rec->vm = this;
    rec->slot = slot;
    rec->name = loaded_[slot].manifest->name;
    rec->descriptor = loaded_[slot].descriptor;
    for (const TypedOption& o : resolution_.plugins[slot].options) rec->option_strings.push_back(o.name), rec->option_strings.push_back(o.str);
    for (size_t i = 0; i < resolution_.plugins[slot].options.size(); ++i) {
      const TypedOption& o = resolution_.plugins[slot].options[i];
      rec->options.push_back(enlight_option{rec->option_strings[2 * i].c_str(), static_cast<uint32_t>(o.type), 0, o.u64,
                                            rec->option_strings[2 * i + 1].c_str()});
    }
    HostServices::fill(*rec);
    builder.add_plugin(slot, *loaded_[slot].manifest, *loaded_[slot].descriptor);
    records_.push_back(std::move(rec));
  }

  try {
    for (uint16_t slot = 0; slot < count; ++slot) {
      PluginRecord& rec = *records_[slot];
      if (rec.descriptor->vm_create != nullptr) {
        enlight_vm_params params{};
        params.size = sizeof params;
        params.vcpu_count = vcpus;
        params.host = &rec.host;
        params.options = rec.options.data();
        params.option_count = static_cast<uint32_t>(rec.options.size());
        params.enforce_cpuid = resolution_.enforce_cpuid ? 1 : 0;
        char message[512] = {};
        enlight_error error{message, sizeof message, 0};
        if (rec.descriptor->vm_create(&params, &rec.vm_ctx, &error) != 0)
          throw std::runtime_error("plugin '" + rec.name + "' could not create its VM state: " +
                                   (message[0] ? message : "no reason given"));
      }
      rec.created = true;
    }
    builder.finish(resolution_.enforce_cpuid, memory_, count);
    timers_.freeze(vcpus);
    builder_ = nullptr;
    services_.clear();
    create_vcpus();
  } catch (...) {
    builder_ = nullptr;
    destroy_plugins();
    throw;
  }
}

void Vm::create_vcpus() {
  const uint16_t count = plugin_count();
  for (uint32_t v = 0; v < resolution_.vcpus; ++v) {
    auto state = std::make_unique<VcpuState>();
    state->index = v;
    state->vp_index = v;
    state->vm = this;
    // Listed before the plugins create their part of it, so a plugin may
    // give this vCPU its VP index from vcpu_create (vp_index_set; the
    // vpindex plugin's `base` option). Only the VP index is read from it
    // until creation completes.
    VcpuState& created = *state;
    vcpus_.push_back(std::move(state));
    vcpu_ctx_.emplace_back(count, nullptr);
    std::vector<void*>& ctx = vcpu_ctx_.back();
    for (uint16_t slot = 0; slot < count; ++slot) {
      PluginRecord& rec = *records_[slot];
      if (rec.descriptor->vcpu_create == nullptr) {
        ctx[slot] = rec.vm_ctx;
        continue;
      }
      char message[512] = {};
      enlight_error error{message, sizeof message, 0};
      if (rec.descriptor->vcpu_create(rec.vm_ctx, v, &ctx[slot], &error) != 0) {
        // Unwind this vCPU's plugins in reverse; earlier vCPUs are handled by
        // destroy_plugins() in the caller.
        for (uint16_t s = slot; s-- > 0;)
          if (records_[s]->descriptor->vcpu_create != nullptr && records_[s]->descriptor->vcpu_destroy != nullptr)
            records_[s]->descriptor->vcpu_destroy(ctx[s]);
        vcpu_ctx_.pop_back();
        vcpus_.pop_back();
        throw std::runtime_error("plugin '" + rec.name + "' could not create vCPU " + std::to_string(v) + ": " +
                                 (message[0] ? message : "no reason given"));
      }
    }
    created.plugin_ctx = ctx.data();
    created.exit_counts = (metrics_.exits ? metrics_.exits.get() : metrics_.exit_scratch.get()) + metrics_.exit_block * v;
    if (metrics_.latency)
      created.latency = metrics_.latency.get() + static_cast<size_t>(count + 1) * static_cast<size_t>(ExitKind::Count) * v;
  }
}

void Vm::destroy_plugins() noexcept {
  // Reverse of creation: every vCPU (last first, each in reverse dependency
  // order), then the VM states in reverse dependency order.
  for (size_t v = vcpu_ctx_.size(); v-- > 0;)
    for (size_t s = records_.size(); s-- > 0;)
      if (records_[s]->descriptor->vcpu_create != nullptr && records_[s]->descriptor->vcpu_destroy != nullptr)
        records_[s]->descriptor->vcpu_destroy(vcpu_ctx_[v][s]);
  vcpu_ctx_.clear();
  vcpus_.clear();
  for (size_t s = records_.size(); s-- > 0;) {
    PluginRecord& rec = *records_[s];
    if (rec.created && rec.descriptor->vm_destroy != nullptr) rec.descriptor->vm_destroy(rec.vm_ctx);
    rec.created = false;
  }
}

Vm::~Vm() {
  destroy_plugins();
  records_.clear();
  // loaded_ (and with it the libraries) goes last, after every object that
  // may point into them.
}

void Vm::request_stop(StopReason reason, const char* message) noexcept {
  bool expected = false;
  if (!stop_claimed_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return;
  std::snprintf(stop_message_, sizeof stop_message_, "%s", message ? message : "");
  stop_reason_.store(reason, std::memory_order_release);
}

std::string Vm::stop_message() const {
  return stop_reason() == StopReason::None ? std::string() : std::string(stop_message_);
}

void Vm::plugin_fault(uint16_t slot, const char* message) noexcept {
  char text[512];
  const char* name = slot < records_.size() ? records_[slot]->name.c_str() : "?";
  const char* what = message;
  if (what == nullptr && slot < records_.size() && records_[slot]->fault_set.load(std::memory_order_acquire))
    what = records_[slot]->fault;
  if (what == nullptr) what = "a handler failed without saying why";
  std::snprintf(text, sizeof text, "plugin '%s' failed: %s", name, what);
  request_stop(StopReason::PluginError, text);
}

}  // namespace enlight

namespace enlight {

bool Vm::request_guest_shutdown() noexcept {
  bool passed_on = false;
  // Every listener is asked, not only the first that accepts: a VM with two
  // ways to reach its guest tries both.
  for (const ShutdownListener& l : shutdown_listeners_) passed_on |= l.fn(l.arg) != 0;
  return passed_on;
}

}  // namespace enlight
