// C trampolines from enlight_host to the VM. Each validates what a plugin
// passes (a plugin bug must not corrupt the core either) and documents
// whether it is safe on the exit path.
#include "vm/host_services.hpp"

#include "bus/bus_builder.hpp"

#include <enlight/core/metrics.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace enlight {
namespace {

using Rec = Vm::PluginRecord;
Rec& rec(void* ctx) { return *static_cast<Rec*>(ctx); }

// tlb_flush's bitmap on the stack: 64 words name 4096 vCPUs, HV_VP_SET's
// own limit (64 banks), far beyond any VM here.
constexpr uint32_t kMaxTlbFlushWords = 64;

}  // namespace

// Friend of Vm: reaches the state the services operate on.
struct HostServicesImpl {
  static int gpa_read(void* ctx, uint64_t gpa, void* dst, uint64_t len) {
    return rec(ctx).vm->memory_.read(gpa, dst, len) ? 0 : -1;
  }
  static int gpa_write(void* ctx, uint64_t gpa, const void* src, uint64_t len) {
    return rec(ctx).vm->memory_.write(gpa, src, len) ? 0 : -1;
  }
  static uint64_t reference_time(void* ctx) { return rec(ctx).vm->reference_time(); }
  static uint64_t guest_tsc(void* ctx, uint32_t vcpu) { return rec(ctx).vm->guest_tsc(vcpu); }
  static uint64_t tsc_frequency_hz(void* ctx) { return rec(ctx).vm->options_.tsc_frequency_hz; }
  static uint64_t apic_frequency_hz(void* ctx) { return rec(ctx).vm->options_.apic_frequency_hz; }
  static uint64_t vcpu_runtime(void* ctx, uint32_t vcpu) {
    Vm& vm = *rec(ctx).vm;
    if (vcpu >= vm.resolution_.vcpus) return 0;
    // Without a backend that tracks run time, a vCPU counts as running
    // since the VM started (the direct backend has no idle time).
    const uint64_t ns = vm.options_.hooks.vcpu_runtime_ns ? vm.options_.hooks.vcpu_runtime_ns(vcpu) : vm.now_ns();
    return ns / 100;
  }
  static int cpuid_set(void* ctx, uint32_t leaf, uint32_t subleaf, uint32_t reg, uint32_t mask, uint32_t value) {
    Rec& r = rec(ctx);
    if (r.vm->builder_ == nullptr) return -1;  // only while creating
    std::string err = r.vm->builder_->cpuid().set(r.slot, leaf, subleaf, static_cast<uint8_t>(reg), mask, value);
    if (err.empty()) return 0;
    log(ctx, 0, err.c_str());
    return -1;
  }
  static void set_hypercalls_enabled(void* ctx, int enabled) { rec(ctx).vm->bus_.set_hypercalls_enabled(enabled != 0); }
  static int inject_interrupt(void* ctx, uint32_t vcpu, uint8_t vector) {
    Vm& vm = *rec(ctx).vm;
    if (vcpu >= vm.resolution_.vcpus || !vm.options_.hooks.inject_interrupt) return -1;
    return vm.options_.hooks.inject_interrupt(vcpu, vector, 0);
  }
  static int inject_interrupt_flags(void* ctx, uint32_t vcpu, uint8_t vector, uint32_t flags) {
    Vm& vm = *rec(ctx).vm;
    if (vcpu >= vm.resolution_.vcpus || !vm.options_.hooks.inject_interrupt || (flags & ~ENLIGHT_IRQ_AUTO_EOI) != 0)
      return -1;
    return vm.options_.hooks.inject_interrupt(vcpu, vector, flags);
  }
  static int vp_index_set(void* ctx, uint32_t vcpu, uint32_t vp_index) {
    Vm& vm = *rec(ctx).vm;
    if (vcpu >= vm.vcpus_.size() || vp_index >= HV_VP_INDEX_SELF) return -1;
    std::atomic_ref<uint32_t>(vm.vcpus_[vcpu]->vp_index).store(vp_index, std::memory_order_relaxed);
    return 0;
  }
  static uint32_t vcpu_of_vp_index(void* ctx, uint32_t vp_index) {
    Vm& vm = *rec(ctx).vm;
    for (uint32_t i = 0; i < vm.vcpus_.size(); ++i)
      if (std::atomic_ref<uint32_t>(vm.vcpus_[i]->vp_index).load(std::memory_order_relaxed) == vp_index) return i;
    return UINT32_MAX;
  }
  static int tlb_flush(void* ctx, uint32_t caller, const uint64_t* vcpus, uint32_t words) {
    Vm& vm = *rec(ctx).vm;
    const uint32_t count = vm.resolution_.vcpus;
    if (caller >= count || (words != 0 && vcpus == nullptr) || !vm.options_.hooks.tlb_flush) return -1;
    // Bits beyond the VM's vCPUs are dropped here, once, so no backend
    // indexes past its vCPUs; a set naming nobody is already done.
    uint64_t clipped[kMaxTlbFlushWords] = {};
    const uint32_t used = std::min<uint32_t>(std::min<uint32_t>(words, kMaxTlbFlushWords), (count + 63) / 64);
    bool any = false;
    for (uint32_t w = 0; w < used; ++w) {
      uint64_t bits = vcpus[w];
      const uint32_t first = w * 64;
      if (count - first < 64) bits &= (uint64_t{1} << (count - first)) - 1;
      clipped[w] = bits;
      any |= bits != 0;
    }
    if (!any) return 0;
    return vm.options_.hooks.tlb_flush(caller, clipped, used) ? 0 : -1;
  }
  static uint32_t backend_features(void* ctx) { return rec(ctx).vm->options_.hooks.features; }
  static int shutdown_listen(void* ctx, enlight_shutdown_fn fn, void* arg) {
    Rec& r = rec(ctx);
    Vm& vm = *r.vm;
    if (vm.builder_ == nullptr || fn == nullptr) return -1;
    for (const auto& l : vm.shutdown_listeners_)
      if (l.slot == r.slot) return -1;
    vm.shutdown_listeners_.push_back({fn, arg, r.slot});
    return 0;
  }
  static void yield_vcpu(void* ctx, uint32_t vcpu) {
    Vm& vm = *rec(ctx).vm;
    if (vcpu < vm.resolution_.vcpus && vm.options_.hooks.yield_vcpu) vm.options_.hooks.yield_vcpu(vcpu);
  }
  static void request_stop(void* ctx, uint32_t reason, const char* message) {
    Rec& r = rec(ctx);
    StopReason why = reason == ENLIGHT_STOP_GUEST_RESET   ? StopReason::GuestReset
                     : reason == ENLIGHT_STOP_GUEST_CRASH ? StopReason::GuestCrash
                                                          : StopReason::PluginError;
    char text[512];
    std::snprintf(text, sizeof text, "%s (from plugin '%s')", message ? message : "", r.name.c_str());
    r.vm->request_stop(why, text);
  }
  static void report_fault(void* ctx, const char* message) {
    Rec& r = rec(ctx);
    bool expected = false;
    if (!r.fault_claimed.compare_exchange_strong(expected, true)) return;
    std::snprintf(r.fault, sizeof r.fault, "%s", message ? message : "");
    r.fault_set.store(true, std::memory_order_release);
  }
  static void log(void* ctx, uint32_t level, const char* message) {
    Rec& r = rec(ctx);
    const std::string text = message ? message : "";
    if (r.vm->options_.log) {
      r.vm->options_.log(level, r.name, text);
    } else if (level <= 1) {
      std::fprintf(stderr, "enlight: %s: %s: %s\n", level == 0 ? "error" : "warning", r.name.c_str(), text.c_str());
    }
  }
  static int service_register(void* ctx, const char* name, uint32_t major, uint32_t minor, const void* iface) {
    Vm& vm = *rec(ctx).vm;
    if (vm.builder_ == nullptr || name == nullptr || iface == nullptr) return -1;
    for (const auto& s : vm.services_)
      if (s.name == name) return -1;
    vm.services_.push_back({name, major, minor, iface});
    return 0;
  }
  static const void* service_lookup(void* ctx, const char* name, uint32_t major, uint32_t min_minor) {
    Vm& vm = *rec(ctx).vm;
    if (vm.builder_ == nullptr || name == nullptr) return nullptr;
    for (const auto& s : vm.services_)
      if (s.name == name && s.major == major && s.minor >= min_minor) return s.iface;
    return nullptr;
  }
  static int counter_register(void* ctx, const char* name, const char* help, enlight_counter* out) {
    return counter_register_labelled(ctx, name, help, "", "", out);
  }
  static int counter_register_labelled(void* ctx, const char* name, const char* help, const char* label_name,
                                       const char* label_value, enlight_counter* out) {
    Rec& r = rec(ctx);
    Vm& vm = *r.vm;
    if (vm.builder_ == nullptr || name == nullptr || out == nullptr || label_name == nullptr || label_value == nullptr)
      return -1;
    // Names follow enlight_<area>_<what>_<unit>_total so dashboards can rely
    // on them; anything else is a plugin bug reported at create time.
    if (!plugin_metric_name_ok(name, "_total")) {
      log(ctx, 0, (std::string("counter name '") + name + "' must match enlight_<area>_<what>_total").c_str());
      return -1;
    }
    // A fixed list of label names (a user's --label is refused for them),
    // and values in the alphabet of --label values.
    const bool labelled = *label_name != '\0';
    if (labelled && (!plugin_label_name_ok(label_name) || !plugin_label_value_ok(label_value))) {
      log(ctx, 0, (std::string("counter label ") + label_name + "=\"" + label_value +
                   "\": the name must be channel, reason or type, the value 1-64 of [A-Za-z0-9_.:-]").c_str());
      return -1;
    }
    if (!labelled && *label_value != '\0') return -1;
    auto& counters = vm.metrics_.counters;
    for (const auto& c : counters)
      if (c.name == name && c.slot == r.slot && c.label_value == label_value) return -1;
    if (counters.size() >= MetricsStorage::kMaxPluginCounters) return -1;
    const uint32_t id = static_cast<uint32_t>(counters.size());
    counters.push_back({name, help ? help : "", label_name, label_value, r.slot, id});
    out->per_vcpu = vm.metrics_.plugin_counters.get() + id;
    out->stride = MetricsStorage::kMaxPluginCounters;
    out->reserved = 0;
    return 0;
  }

  // ---- ABI 1.1 ----------------------------------------------------------
  static int reference_tsc(void* ctx, uint64_t* scale, int64_t* offset) {
    if (scale == nullptr || offset == nullptr) return -1;
    return rec(ctx).vm->reference_tsc(*scale, *offset) ? 0 : -1;
  }
  static void* gpa_map(void* ctx, uint64_t gpa, uint64_t len) {
    GuestMemory& m = rec(ctx).vm->memory_;
    return m.contains(gpa, len) ? m.base() + gpa : nullptr;
  }
  static int timer_create(void* ctx, uint32_t vcpu, enlight_timer_fn fn, void* arg, uint32_t* timer) {
    Vm& vm = *rec(ctx).vm;
    if (vm.builder_ == nullptr || fn == nullptr || timer == nullptr || vcpu >= vm.resolution_.vcpus) return -1;
    *timer = vm.timers_.create(vcpu, fn, arg);
    return 0;
  }
  static void timer_arm(void* ctx, uint32_t timer, uint64_t deadline) {
    Vm& vm = *rec(ctx).vm;
    if (!vm.timers_.valid(timer)) return;
    vm.timers_.arm(timer, deadline);
    if (vm.options_.hooks.timer_armed) vm.options_.hooks.timer_armed(vm.timers_.vcpu_of(timer));
  }
  static void timer_cancel(void* ctx, uint32_t timer) {
    Vm& vm = *rec(ctx).vm;
    if (vm.timers_.valid(timer)) vm.timers_.cancel(timer);
  }
  static int apic_read(void* ctx, uint32_t vcpu, uint32_t msr, uint64_t* value) {
    Vm& vm = *rec(ctx).vm;
    if (value == nullptr || vcpu >= vm.resolution_.vcpus || !vm.options_.hooks.apic_read) return -1;
    return vm.options_.hooks.apic_read(vcpu, msr, *value) ? 0 : -1;
  }
  static int apic_write(void* ctx, uint32_t vcpu, uint32_t msr, uint64_t value) {
    Vm& vm = *rec(ctx).vm;
    if (vcpu >= vm.resolution_.vcpus || !vm.options_.hooks.apic_write) return -1;
    return vm.options_.hooks.apic_write(vcpu, msr, value) ? 0 : -1;
  }
  static int eoi_listen(void* ctx, enlight_eoi_fn fn, void* arg) {
    Rec& r = rec(ctx);
    if (r.vm->builder_ == nullptr) return -1;
    return r.vm->eoi_.listen(fn, arg, r.slot) >= 0 ? 0 : -1;
  }
  static void eoi_watch(void* ctx, uint32_t vcpu, uint8_t vector, int on) {
    Rec& r = rec(ctx);
    r.vm->eoi_.watch(vcpu, vector, r.vm->eoi_.listener_of(r.slot), on != 0);
  }
  static int pv_eoi_set(void* ctx, uint32_t vcpu, uint64_t gpa) {
    Vm& vm = *rec(ctx).vm;
    if (vcpu >= vm.resolution_.vcpus || !vm.options_.hooks.pv_eoi_set) return -1;
    if (gpa != 0 && !vm.memory_.contains(gpa, 4)) return -1;
    return vm.options_.hooks.pv_eoi_set(vcpu, gpa) ? 0 : -1;
  }
  static int histogram_register(void* ctx, const char* name, const char* help, const uint64_t* bounds,
                                uint32_t bound_count, enlight_histogram* out) {
    Rec& r = rec(ctx);
    Vm& vm = *r.vm;
    if (vm.builder_ == nullptr || name == nullptr || out == nullptr || (bound_count > 0 && bounds == nullptr) ||
        bound_count > 32)
      return -1;
    if (!plugin_metric_name_ok(name, "_seconds")) {
      log(ctx, 0, (std::string("histogram name '") + name + "' must match enlight_<area>_<what>_seconds").c_str());
      return -1;
    }
    for (uint32_t i = 1; i < bound_count; ++i)
      if (bounds[i] <= bounds[i - 1]) {
        log(ctx, 0, (std::string("histogram '") + name + "': bounds must ascend").c_str());
        return -1;
      }
    MetricsStorage& m = vm.metrics_;
    for (const auto& h : m.histograms)
      if (h.name == name && h.slot == r.slot) return -1;
    const uint32_t cells = bound_count + 2;
    if (m.histogram_cells_used + cells > MetricsStorage::kMaxHistogramCells) return -1;
    m.histograms.push_back({name, help ? help : "", r.slot, m.histogram_cells_used,
                            std::vector<uint64_t>(bounds, bounds + bound_count)});
    out->per_vcpu = m.histogram_cells.get() + m.histogram_cells_used;
    out->stride = MetricsStorage::kMaxHistogramCells;
    out->bucket_count = bound_count;
    out->upper_bounds = m.histograms.back().upper_bounds_ns.data();  // moved vector keeps its buffer
    m.histogram_cells_used += cells;
    return 0;
  }
};

void HostServices::fill(Vm::PluginRecord& r) {
  enlight_host& h = r.host;
  h.size = sizeof(enlight_host);
  h.vcpu_count = r.vm->resolution().vcpus;
  h.ctx = &r;
  h.gpa_read = &HostServicesImpl::gpa_read;
  h.gpa_write = &HostServicesImpl::gpa_write;
  h.reference_time = &HostServicesImpl::reference_time;
  h.guest_tsc = &HostServicesImpl::guest_tsc;
  h.tsc_frequency_hz = &HostServicesImpl::tsc_frequency_hz;
  h.apic_frequency_hz = &HostServicesImpl::apic_frequency_hz;
  h.vcpu_runtime = &HostServicesImpl::vcpu_runtime;
  h.cpuid_set = &HostServicesImpl::cpuid_set;
  h.set_hypercalls_enabled = &HostServicesImpl::set_hypercalls_enabled;
  h.inject_interrupt = &HostServicesImpl::inject_interrupt;
  h.yield_vcpu = &HostServicesImpl::yield_vcpu;
  h.request_stop = &HostServicesImpl::request_stop;
  h.report_fault = &HostServicesImpl::report_fault;
  h.log = &HostServicesImpl::log;
  h.service_register = &HostServicesImpl::service_register;
  h.service_lookup = &HostServicesImpl::service_lookup;
  h.counter_register = &HostServicesImpl::counter_register;
  h.reference_tsc = &HostServicesImpl::reference_tsc;
  h.gpa_map = &HostServicesImpl::gpa_map;
  h.timer_create = &HostServicesImpl::timer_create;
  h.timer_arm = &HostServicesImpl::timer_arm;
  h.timer_cancel = &HostServicesImpl::timer_cancel;
  h.apic_read = &HostServicesImpl::apic_read;
  h.apic_write = &HostServicesImpl::apic_write;
  h.eoi_listen = &HostServicesImpl::eoi_listen;
  h.eoi_watch = &HostServicesImpl::eoi_watch;
  h.pv_eoi_set = &HostServicesImpl::pv_eoi_set;
  h.histogram_register = &HostServicesImpl::histogram_register;
  h.inject_interrupt_flags = &HostServicesImpl::inject_interrupt_flags;
  h.vp_index_set = &HostServicesImpl::vp_index_set;
  h.vcpu_of_vp_index = &HostServicesImpl::vcpu_of_vp_index;
  h.backend_features = &HostServicesImpl::backend_features;
  h.shutdown_listen = &HostServicesImpl::shutdown_listen;
  h.counter_register_labelled = &HostServicesImpl::counter_register_labelled;
  h.tlb_flush = &HostServicesImpl::tlb_flush;
}

}  // namespace enlight
