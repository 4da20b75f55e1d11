// C trampolines from enlight_host to the VM. Each validates what a plugin
// passes (a plugin bug must not corrupt the core either) and documents
// whether it is safe on the exit path.
#include "vm/host_services.hpp"

#include "bus/bus_builder.hpp"

#include <cstdio>
#include <cstring>
#include <regex>

namespace enlight {
namespace {

using Rec = Vm::PluginRecord;
Rec& rec(void* ctx) { return *static_cast<Rec*>(ctx); }

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
    return vm.options_.hooks.inject_interrupt(vcpu, vector);
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
    Rec& r = rec(ctx);
    Vm& vm = *r.vm;
    if (vm.builder_ == nullptr || name == nullptr || out == nullptr) return -1;
    // Names follow enlight_<area>_<what>_<unit>_total so dashboards can rely
    // on them; anything else is a plugin bug reported at create time.
    static const std::regex valid("enlight_[a-z0-9_]+_total");
    if (!std::regex_match(name, valid)) {
      log(ctx, 0, (std::string("counter name '") + name + "' must match enlight_<area>_<what>_total").c_str());
      return -1;
    }
    auto& counters = vm.metrics_.counters;
    for (const auto& c : counters)
      if (c.name == name && c.slot == r.slot) return -1;
    if (counters.size() >= MetricsStorage::kMaxPluginCounters) return -1;
    const uint32_t id = static_cast<uint32_t>(counters.size());
    counters.push_back({name, help ? help : "", r.slot, id});
    out->per_vcpu = vm.metrics_.plugin_counters.get() + id;
    out->stride = MetricsStorage::kMaxPluginCounters;
    out->reserved = 0;
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
}

}  // namespace enlight
