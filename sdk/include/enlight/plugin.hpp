// The C++ side of the SDK: what a plugin author writes against.
//
// It turns typed C++ handlers into the plain-C descriptor of abi.h, and it is
// the exception firewall: every thunk here is noexcept and converts an
// exception into ENLIGHT_ACCESS_FAULT / ENLIGHT_HV_FAULT plus a reported
// message, so no C++ exception ever reaches the core through the C ABI.
//
// A plugin is its manifest and three things in C++ (see plugins/relaxed for
// the smallest, plugins/identity for a full one):
//   struct Vm   : enlight::VmBase          { ... partition state ... };
//   struct Vcpu : enlight::VcpuBase<Vm>    { ... per-vCPU state ... };
//   handler tables built with enlight::msr<>, enlight::hypercall<>,
//   enlight::io<>, and
//   ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs, .hypercalls = kHypercalls});
// The name, version, claims, CPUID bits and options are the manifest's:
// enlight_add_plugin generates enlight/this_plugin.hpp from it, included
// below, and the compiler checks every handler table and CPUID contribution
// against it (docs/sdk.md, "Each fact once").
#pragma once

// Stated once, here, with the fix: the helpers below use C++20 (atomic_ref,
// std::span, designated initialisers, constexpr claim checks), and without
// this check a C++17 build fails deep inside them.
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "enlight/plugin.hpp needs C++20: compile the plugin with -std=c++20 (CMake: link enlight::sdk, which requires cxx_std_20; pkg-config: enlight-sdk's cflags)"
#endif
// Exceptions are optional. With them, a lifecycle helper that the core
// refuses throws PluginError and every thunk below catches whatever a
// handler throws. Built with -fno-exceptions, the same helpers record the
// failure instead (VmBase::fail), return an inert value, and VM or vCPU
// creation is refused with the message once the constructor returns.

#include <enlight/abi.h>
#include <enlight/manifest_facts.hpp>
#include <enlight/state.hpp>
#include <enlight/tlfs.h>
#if __has_include(<enlight/this_plugin.hpp>)
#include <enlight/this_plugin.hpp>  // generated from the manifest by enlight_add_plugin
#endif

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace enlight {

// ---- Errors a plugin throws from lifecycle code ---------------------------

// Thrown by the helpers below when the core refuses a request; caught by the
// lifecycle thunks and returned as an enlight_error.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- Counters --------------------------------------------------------------

// A per-vCPU counter slot. add() is a relaxed load and store on memory only
// the calling vCPU's thread writes: no lock prefix, no contention.
class Counter {
 public:
  Counter() = default;
  explicit Counter(const enlight_counter& raw) : raw_(raw) {}
  void add(uint32_t vcpu, uint64_t n = 1) const noexcept {
    if (raw_.per_vcpu == nullptr) return;
    std::atomic_ref<uint64_t> slot(raw_.per_vcpu[static_cast<uint64_t>(vcpu) * raw_.stride]);
    slot.store(slot.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

 private:
  enlight_counter raw_{};
};

// A per-vCPU histogram (ABI 1.1): observations in nanoseconds, bucketed
// against the bounds given at registration. Same single-writer rule as
// Counter: only vCPU `vcpu`'s thread observes into its row.
class Histogram {
 public:
  Histogram() = default;
  explicit Histogram(const enlight_histogram& raw) : raw_(raw) {}
  void observe(uint32_t vcpu, uint64_t ns) const noexcept {
    if (raw_.per_vcpu == nullptr) return;
    uint64_t* row = raw_.per_vcpu + static_cast<uint64_t>(vcpu) * raw_.stride;
    uint32_t b = 0;
    while (b < raw_.bucket_count && ns > raw_.upper_bounds[b]) ++b;
    bump(row[b], 1);
    bump(row[raw_.bucket_count + 1], ns);
  }

 private:
  static void bump(uint64_t& cell, uint64_t n) noexcept {
    std::atomic_ref<uint64_t> slot(cell);
    slot.store(slot.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  enlight_histogram raw_{};
};

// A one-shot timer on partition reference time (ABI 1.1, enlight_host
// timer_*). Its callback runs on the owning vCPU's thread.
class Timer {
 public:
  Timer() = default;
  Timer(const enlight_host* host, uint32_t id) : host_(host), id_(id) {}
  // deadline: reference time, 100 ns units. Re-arming replaces it.
  void arm(uint64_t deadline) const noexcept {
    if (host_ != nullptr) host_->timer_arm(host_->ctx, id_, deadline);
  }
  void cancel() const noexcept {
    if (host_ != nullptr) host_->timer_cancel(host_->ctx, id_);
  }
  explicit operator bool() const noexcept { return host_ != nullptr; }

 private:
  const enlight_host* host_ = nullptr;
  uint32_t id_ = 0;
};

// ---- CPUID contributions ---------------------------------------------------

// Bits of one CPUID register a plugin sets at VM creation. The constructor
// is consteval: with the generated manifest header, bits outside the
// manifest's `claims: cpuid` are a compile error naming the manifest.
struct CpuidBits {
  consteval CpuidBits(uint32_t leaf_, enlight_cpuid_reg reg_, uint32_t bits_) : leaf(leaf_), reg(reg_), bits(bits_) {
#ifdef ENLIGHT_THIS_PLUGIN
    this_plugin::check_cpuid_contribution(leaf_, static_cast<uint8_t>(reg_), bits_);
#endif
  }
  uint32_t leaf;
  enlight_cpuid_reg reg;
  uint32_t bits;
};

// A field (mask) of one CPUID register whose value the plugin computes.
struct CpuidField {
  consteval CpuidField(uint32_t leaf_, enlight_cpuid_reg reg_, uint32_t mask_ = 0xFFFFFFFFu)
      : leaf(leaf_), reg(reg_), mask(mask_) {
#ifdef ENLIGHT_THIS_PLUGIN
    this_plugin::check_cpuid_contribution(leaf_, static_cast<uint8_t>(reg_), mask_);
#endif
  }
  uint32_t leaf;
  enlight_cpuid_reg reg;
  uint32_t mask;
};

// ---- Partition and vCPU bases ----------------------------------------------

class VmBase {
 public:
  explicit VmBase(const enlight_vm_params& params) : params_(params), host_(*params.host) {}
  VmBase(const VmBase&) = delete;
  VmBase& operator=(const VmBase&) = delete;
  virtual ~VmBase() = default;

  uint32_t vcpu_count() const noexcept { return params_.vcpu_count; }
  bool enforce_cpuid() const noexcept { return params_.enforce_cpuid != 0; }
  const enlight_host& host() const noexcept { return host_; }

  // Options: the core has checked names and types against the manifest and
  // filled defaults, so a missing option here is a bug in the plugin.
  uint64_t option_u64(std::string_view name) const { return find_option(name, ENLIGHT_OPT_U64).u64; }
  bool option_bool(std::string_view name) const { return find_option(name, ENLIGHT_OPT_BOOL).u64 != 0; }
  std::string_view option_string(std::string_view name) const {
    const char* s = find_option(name, ENLIGHT_OPT_STRING).str;
    return s ? std::string_view(s) : std::string_view();
  }
  // Typed: option(this_plugin::options::max_vps) is a uint64_t, and an
  // option the manifest does not declare does not compile.
  template <class T>
  T option(Option<T> key) const {
    if constexpr (std::is_same_v<T, bool>) return option_bool(key.name);
    else if constexpr (std::is_same_v<T, uint64_t>) return option_u64(key.name);
    else return option_string(key.name);
  }

  // CPUID contributions, during construction only: cpuid_bits({leaf, reg,
  // bits}) sets bits; cpuid_field({leaf, reg[, mask]}, value) sets a field.
  void cpuid_bits(CpuidBits c) { cpuid_set(c.leaf, c.reg, c.bits, c.bits); }
  void cpuid_field(CpuidField f, uint32_t value) { cpuid_set(f.leaf, f.reg, f.mask, value & f.mask); }

  // Guest memory; false when any byte is outside guest RAM.
  bool read_guest(uint64_t gpa, void* dst, uint64_t len) const noexcept {
    return host_.gpa_read(host_.ctx, gpa, dst, len) == 0;
  }
  bool write_guest(uint64_t gpa, const void* src, uint64_t len) const noexcept {
    return host_.gpa_write(host_.ctx, gpa, src, len) == 0;
  }

  uint64_t reference_time() const noexcept { return host_.reference_time(host_.ctx); }
  uint64_t tsc_frequency_hz() const noexcept { return host_.tsc_frequency_hz(host_.ctx); }
  uint64_t apic_frequency_hz() const noexcept { return host_.apic_frequency_hz(host_.ctx); }
  uint64_t vcpu_runtime(uint32_t vcpu) const noexcept { return host_.vcpu_runtime(host_.ctx, vcpu); }
  void set_hypercalls_enabled(bool on) const noexcept { host_.set_hypercalls_enabled(host_.ctx, on ? 1 : 0); }
  void request_stop(uint32_t reason, const char* message) const noexcept {
    host_.request_stop(host_.ctx, reason, message);
  }
  void yield_vcpu(uint32_t vcpu) const noexcept { host_.yield_vcpu(host_.ctx, vcpu); }
  void report_fault(const char* message) const noexcept { host_.report_fault(host_.ctx, message); }
  void log(uint32_t level, const std::string& message) const { host_.log(host_.ctx, level, message.c_str()); }

  Counter counter(const char* name, const char* help) const {
    enlight_counter raw{};
    if (host_.counter_register(host_.ctx, name, help, &raw) != 0) {
      raise(std::string("cannot register counter ") + name);
      return Counter();
    }
    return Counter(raw);
  }

  // Refuses the VM with `message` (the first one counts) without an
  // exception: creation fails once the constructor returns. A plugin built
  // with -fno-exceptions calls this where it would throw; the helpers here
  // do too in that build.
  void fail(std::string message) const {
    if (failure_.empty()) failure_ = message.empty() ? "plugin refused the VM" : std::move(message);
  }
  bool failed() const noexcept { return !failure_.empty(); }
  const char* failure() const noexcept { return failure_.c_str(); }

  // ---- ABI 1.1 services. Creation-time ones throw on an ABI 1.0 core, whose
  // enlight_host ends before them; exit-path ones answer "not available".
  bool host_has_1_1() const noexcept { return host_.size >= ENLIGHT_HOST_SIZE_1_1; }

  // The reference TSC parameters; false when the TSC page must be invalid.
  bool reference_tsc(uint64_t& scale, int64_t& offset) const noexcept {
    return host_has_1_1() && host_.reference_tsc(host_.ctx, &scale, &offset) == 0;
  }
  // A host pointer into guest RAM, or nullptr when any byte is outside it.
  void* map_guest(uint64_t gpa, uint64_t len) const noexcept {
    return host_has_1_1() ? host_.gpa_map(host_.ctx, gpa, len) : nullptr;
  }
  // A timer owned by `vcpu`, firing fn(arg, now) on that vCPU's thread.
  Timer timer(uint32_t vcpu, enlight_timer_fn fn, void* arg) const {
    require_1_1("timers");
    if (!host_has_1_1()) return Timer();
    uint32_t id = 0;
    if (host_.timer_create(host_.ctx, vcpu, fn, arg, &id) != 0) {
      raise("cannot create a timer");
      return Timer();
    }
    return Timer(&host_, id);
  }
  // The local APIC through its x2APIC MSRs; false means #GP (or no APIC).
  bool apic_read(uint32_t vcpu, uint32_t x2apic_msr, uint64_t& value) const noexcept {
    return host_has_1_1() && host_.apic_read(host_.ctx, vcpu, x2apic_msr, &value) == 0;
  }
  bool apic_write(uint32_t vcpu, uint32_t x2apic_msr, uint64_t value) const noexcept {
    return host_has_1_1() && host_.apic_write(host_.ctx, vcpu, x2apic_msr, value) == 0;
  }
  void eoi_listen(enlight_eoi_fn fn, void* arg) const {
    require_1_1("EOI notifications");
    if (host_has_1_1() && host_.eoi_listen(host_.ctx, fn, arg) != 0) raise("cannot listen to EOIs");
  }
  void eoi_watch(uint32_t vcpu, uint8_t vector, bool on) const noexcept {
    if (host_has_1_1()) host_.eoi_watch(host_.ctx, vcpu, vector, on ? 1 : 0);
  }
  // Injects `vector` into `vcpu` (ENLIGHT_IRQ_* flags need ABI 1.1); false
  // when the backend cannot deliver it.
  bool inject_interrupt(uint32_t vcpu, uint8_t vector, uint32_t flags = 0) const noexcept {
    if (flags == 0) return host_.inject_interrupt(host_.ctx, vcpu, vector) == 0;
    return host_has_1_1() && host_.inject_interrupt_flags(host_.ctx, vcpu, vector, flags) == 0;
  }
  bool pv_eoi_set(uint32_t vcpu, uint64_t gpa) const noexcept {
    return host_has_1_1() && host_.pv_eoi_set(host_.ctx, vcpu, gpa) == 0;
  }
  Histogram histogram(const char* name, const char* help, std::span<const uint64_t> upper_bounds_ns) const {
    require_1_1("histograms");
    enlight_histogram raw{};
    if (!host_has_1_1()) return Histogram();
    if (host_.histogram_register(host_.ctx, name, help, upper_bounds_ns.data(),
                                 static_cast<uint32_t>(upper_bounds_ns.size()), &raw) != 0) {
      raise(std::string("cannot register histogram ") + name);
      return Histogram();
    }
    return Histogram(raw);
  }

  // ---- ABI 1.2: VP indexes. On an older core every vCPU's VP index is its
  // number, which is what that core passed as enlight_hypercall.vp_index.
  bool host_has_1_2() const noexcept { return host_.size >= ENLIGHT_HOST_SIZE_1_2; }
  bool set_vp_index(uint32_t vcpu, uint32_t vp_index) const noexcept {
    return host_has_1_2() && host_.vp_index_set(host_.ctx, vcpu, vp_index) == 0;
  }
  // The vCPU a guest means by `vp_index`, or UINT32_MAX for none.
  uint32_t vcpu_of_vp_index(uint32_t vp_index) const noexcept {
    if (host_has_1_2()) return host_.vcpu_of_vp_index(host_.ctx, vp_index);
    return vp_index < host_.vcpu_count ? vp_index : UINT32_MAX;
  }

  // ---- ABI 1.3. On an older core: no backend features known (a plugin
  // then assumes the least, e.g. no AutoEOI), and no shutdown requests.
  bool host_has_1_3() const noexcept { return host_.size >= ENLIGHT_HOST_SIZE_1_3; }
  uint32_t backend_features() const noexcept { return host_has_1_3() ? host_.backend_features(host_.ctx) : 0; }
  // false on an older core (the plugin then never hears SIGTERM).
  bool shutdown_listen(enlight_shutdown_fn fn, void* arg) const {
    if (!host_has_1_3()) return false;
    if (host_.shutdown_listen(host_.ctx, fn, arg) != 0) {
      raise("cannot listen to shutdown requests");
      return false;
    }
    return true;
  }
  // A counter with one more label (e.g. channel="heartbeat"); needs ABI 1.3.
  Counter counter(const char* name, const char* help, const char* label_name, const char* label_value) const {
    if (!host_has_1_3()) {
      raise(std::string("labelled counters need plugin ABI 1.3; this enlight core is older (") + name + ")");
      return Counter();
    }
    enlight_counter raw{};
    if (host_.counter_register_labelled(host_.ctx, name, help, label_name, label_value, &raw) != 0) {
      raise(std::string("cannot register counter ") + name + "{" + label_name + "=\"" + label_value + "\"}");
      return Counter();
    }
    return Counter(raw);
  }

  // ---- ABI 1.4. On an older core there is no way to flush another vCPU's
  // TLB: the call answers false and a flush plugin must not claim success.
  bool host_has_1_4() const noexcept { return host_.size >= ENLIGHT_HOST_SIZE_1_4; }
  // Every vCPU set in `vcpus` (bit n = vCPU n) stops using translations it
  // cached before the call (enlight_host.tlb_flush). Exit path; waits.
  bool tlb_flush(uint32_t caller, std::span<const uint64_t> vcpus) const noexcept {
    return host_has_1_4() &&
           host_.tlb_flush(host_.ctx, caller, vcpus.data(), static_cast<uint32_t>(vcpus.size())) == 0;
  }

  template <class Iface>
  void provide_service(const char* name, uint32_t major, uint32_t minor, const Iface* iface) const {
    if (host_.service_register(host_.ctx, name, major, minor, iface) != 0)
      raise(std::string("service already registered: ") + name);
  }
  template <class Iface>
  const Iface* service(const char* name, uint32_t major, uint32_t min_minor) const noexcept {
    return static_cast<const Iface*>(host_.service_lookup(host_.ctx, name, major, min_minor));
  }

 private:
  const enlight_option& find_option(std::string_view name, enlight_option_type type) const {
    for (uint32_t i = 0; i < params_.option_count; ++i) {
      const enlight_option& o = params_.options[i];
      if (name == o.name && o.type == static_cast<uint32_t>(type)) return o;
    }
    raise("option '" + std::string(name) + "' missing or of another type");
    static const enlight_option missing{};
    return missing;
  }
  void require_1_1(const char* what) const {
    if (!host_has_1_1())
      raise(std::string(what) + " need plugin ABI 1.1; this enlight core offers 1.0 host services");
  }
  void cpuid_set(uint32_t leaf, enlight_cpuid_reg reg, uint32_t mask, uint32_t value) {
    if (host_.cpuid_set(host_.ctx, leaf, 0, reg, mask, value) != 0)
      raise("CPUID contribution outside the plugin's claims");
  }
  // A refusal from a helper: thrown where exceptions exist, else recorded.
  void raise(std::string message) const {
#if defined(__cpp_exceptions)
    throw PluginError(message);
#else
    fail(std::move(message));
#endif
  }

  enlight_vm_params params_;
  const enlight_host& host_;
  mutable std::string failure_;
};

template <class VmT>
class VcpuBase {
 public:
  using Vm = VmT;
  VcpuBase(Vm& vm, uint32_t index) : vm_(vm), index_(index) {}
  VcpuBase(const VcpuBase&) = delete;
  VcpuBase& operator=(const VcpuBase&) = delete;
  virtual ~VcpuBase() = default;

  Vm& vm() const noexcept { return vm_; }
  // The vCPU's number, which is also its default VP index.
  uint32_t index() const noexcept { return index_; }

 private:
  Vm& vm_;
  uint32_t index_;
};

namespace detail {

template <class T>
struct handler_traits;
template <class R, class Vcpu, class... Args>
struct handler_traits<R (*)(Vcpu&, Args...)> {
  using vcpu_type = Vcpu;
};

template <class Vcpu>
void report(void* ctx, const char* what) noexcept {
  static_cast<Vcpu*>(ctx)->vm().report_fault(what);
}

// Runs a handler; with exceptions on, anything it throws is reported as a
// plugin fault and the access answers `failed` instead of crossing the C ABI.
template <class Vcpu, class R, class F>
R guarded(void* ctx, const char* what, R failed, F&& handler) noexcept {
#if defined(__cpp_exceptions)
  try {
    return handler();
  } catch (const std::exception& e) {
    report<Vcpu>(ctx, e.what());
  } catch (...) {
    report<Vcpu>(ctx, what);
  }
  return failed;
#else
  (void)ctx, (void)what, (void)failed;
  return handler();
#endif
}

template <auto Fn>
enlight_access_result msr_read_thunk(void* ctx, uint32_t index, uint64_t* value, enlight_origin origin) noexcept {
  using Vcpu = typename handler_traits<decltype(Fn)>::vcpu_type;
  return guarded<Vcpu>(ctx, "unknown exception in MSR read handler", ENLIGHT_ACCESS_FAULT,
                       [&] { return Fn(*static_cast<Vcpu*>(ctx), index, *value, origin); });
}

template <auto Fn>
enlight_access_result msr_write_thunk(void* ctx, uint32_t index, uint64_t value, enlight_origin origin) noexcept {
  using Vcpu = typename handler_traits<decltype(Fn)>::vcpu_type;
  return guarded<Vcpu>(ctx, "unknown exception in MSR write handler", ENLIGHT_ACCESS_FAULT,
                       [&] { return Fn(*static_cast<Vcpu*>(ctx), index, value, origin); });
}

template <auto Fn>
enlight_hypercall_result hypercall_thunk(void* ctx, const enlight_hypercall* call) noexcept {
  using Vcpu = typename handler_traits<decltype(Fn)>::vcpu_type;
  return guarded<Vcpu>(ctx, "unknown exception in hypercall handler", enlight_hypercall_result{ENLIGHT_HV_FAULT, 0},
                       [&] { return Fn(*static_cast<Vcpu*>(ctx), *call); });
}

template <auto Fn>
enlight_access_result io_in_thunk(void* ctx, uint16_t port, uint8_t size, uint32_t* value) noexcept {
  using Vcpu = typename handler_traits<decltype(Fn)>::vcpu_type;
  return guarded<Vcpu>(ctx, "unknown exception in I/O handler", ENLIGHT_ACCESS_FAULT,
                       [&] { return Fn(*static_cast<Vcpu*>(ctx), port, size, *value); });
}

template <auto Fn>
enlight_access_result io_out_thunk(void* ctx, uint16_t port, uint8_t size, uint32_t value) noexcept {
  using Vcpu = typename handler_traits<decltype(Fn)>::vcpu_type;
  return guarded<Vcpu>(ctx, "unknown exception in I/O handler", ENLIGHT_ACCESS_FAULT,
                       [&] { return Fn(*static_cast<Vcpu*>(ctx), port, size, value); });
}

inline void copy_error(enlight_error* error, const char* text) noexcept {
  if (error == nullptr || error->message == nullptr || error->capacity == 0) return;
  std::strncpy(error->message, text, error->capacity - 1);
  error->message[error->capacity - 1] = '\0';
}

// Builds a state object; a refusal is an exception (with exceptions on) or
// VmBase::fail during the constructor (either way, `vm` ends up refused).
template <class T, class Vm, class Make>
int create(const Vm* (*vm_of)(const T*), Make&& make, void** out, enlight_error* error, const char* what) noexcept {
#if defined(__cpp_exceptions)
  try {
#endif
    T* made = make();
    if (made == nullptr) {
      copy_error(error, "out of memory");
      return -1;
    }
    if (vm_of(made)->failed()) {
      copy_error(error, vm_of(made)->failure());
      delete made;
      return -1;
    }
    *out = made;
    return 0;
#if defined(__cpp_exceptions)
  } catch (const std::exception& e) {
    copy_error(error, e.what());
  } catch (...) {
    copy_error(error, what);
  }
  return -1;
#else
  (void)what;
#endif
}

template <class Vm>
int vm_create_thunk(const enlight_vm_params* params, void** vm_ctx, enlight_error* error) noexcept {
  return create<Vm, Vm>([](const Vm* vm) { return vm; }, [&] { return new (std::nothrow) Vm(*params); }, vm_ctx,
                        error, "unknown exception while creating the VM state");
}

template <class Vm>
void vm_destroy_thunk(void* vm_ctx) noexcept {
  delete static_cast<Vm*>(vm_ctx);
}

// A vCPU's constructor refuses through its VM (vm().fail(...)).
template <class Vcpu>
int vcpu_create_thunk(void* vm_ctx, uint32_t index, void** vcpu_ctx, enlight_error* error) noexcept {
  using Vm = typename Vcpu::Vm;
  Vm& vm = *static_cast<Vm*>(vm_ctx);
  return create<Vcpu, Vm>([](const Vcpu* v) -> const Vm* { return &v->vm(); },
                          [&] { return new (std::nothrow) Vcpu(vm, index); }, vcpu_ctx, error,
                          "unknown exception while creating a vCPU state");
}

template <class Vcpu>
void vcpu_destroy_thunk(void* vcpu_ctx) noexcept {
  delete static_cast<Vcpu*>(vcpu_ctx);
}

// Saved state (docs/snapshots.md): a type saves when it has
//   void save(enlight::StateWriter&) const;  void load(enlight::StateReader&);
// Its blob starts with a magic and the type's kStateVersion (1 unless it
// declares one), so a blob of another type or version is refused by name
// rather than misread.
template <class T>
concept saves_state = requires(const T& c, T& m, StateWriter& w, StateReader& r) {
  c.save(w);
  m.load(r);
};
inline constexpr uint32_t kStateMagic = 0x5453'4E45;  // "ENST"
template <class T>
constexpr uint32_t state_version() {
  if constexpr (requires { T::kStateVersion; }) return T::kStateVersion;
  else return 1;
}

template <class T>
int64_t save_thunk(void* ctx, uint8_t* buffer, uint64_t capacity) noexcept {
  StateWriter w(buffer, capacity);
  w.put(kStateMagic);
  w.put(state_version<T>());
#if defined(__cpp_exceptions)
  try {
    static_cast<const T*>(ctx)->save(w);
  } catch (...) {
    return -2;
  }
#else
  static_cast<const T*>(ctx)->save(w);
#endif
  return w.result();
}

template <class T>
int load_thunk(void* ctx, const uint8_t* buffer, uint64_t size, enlight_error* error) noexcept {
  StateReader r(buffer, size);
  const uint32_t magic = r.get<uint32_t>();
  const uint32_t version = r.get<uint32_t>();
  if (!r.ok() || magic != kStateMagic) {
    copy_error(error, "the saved state is not this plugin's (no state header)");
    return -1;
  }
  if (version != state_version<T>()) {
    const std::string m = "the saved state has format version " + std::to_string(version) + "; this plugin reads " +
                          std::to_string(state_version<T>());
    copy_error(error, m.c_str());
    return -1;
  }
#if defined(__cpp_exceptions)
  try {
    static_cast<T*>(ctx)->load(r);
  } catch (const std::exception& e) {
    r.fail(e.what());
  } catch (...) {
    r.fail("unknown exception while loading the saved state");
  }
#else
  static_cast<T*>(ctx)->load(r);
#endif
  if (r.ok() && r.remaining() != 0)
    r.fail(std::to_string(r.remaining()) + " bytes of the saved state were left unread");
  if (!r.ok()) {
    copy_error(error, r.message().c_str());
    return -1;
  }
  return 0;
}

}  // namespace detail

// ---- Claims ---------------------------------------------------------------

// An MSR range with its handlers. Pass nullptr for a handler to make that
// direction #GP (write-only or read-only registers, TLFS semantics); not
// both. That is checked here, on the handlers' types, and not by comparing
// the pointers in msr_claims_valid: a handler's thunk is a template
// instance (a weak symbol), and under -fsanitize=null (UBSan) GCC takes a
// weak symbol's address as possibly null, so `thunk == nullptr` is not a
// constant expression there (docs/sanitizers.md).
template <auto Read, auto Write>
constexpr enlight_msr_claim msr(uint32_t first, uint32_t last) {
  static_assert(!std::is_null_pointer_v<decltype(Read)> || !std::is_null_pointer_v<decltype(Write)>,
                "enlight::msr<nullptr, nullptr>: an MSR claim needs a read or a write handler");
  enlight_msr_claim c{first, last, nullptr, nullptr};
  if constexpr (!std::is_null_pointer_v<decltype(Read)>) c.read = &detail::msr_read_thunk<Read>;
  if constexpr (!std::is_null_pointer_v<decltype(Write)>) c.write = &detail::msr_write_thunk<Write>;
  return c;
}
template <auto Read, auto Write>
constexpr enlight_msr_claim msr(uint32_t index) {
  return msr<Read, Write>(index, index);
}

// A hypercall with its TLFS shape (ENLIGHT_HC_* flags and parameter sizes).
template <auto Handler>
constexpr enlight_hypercall_claim hypercall(uint16_t code, uint16_t flags, uint16_t input_header_size,
                                            uint16_t input_rep_size = 0, uint16_t output_header_size = 0,
                                            uint16_t output_rep_size = 0) {
  return {code, flags, input_header_size, input_rep_size, output_header_size, output_rep_size,
          &detail::hypercall_thunk<Handler>};
}

template <auto In, auto Out>
constexpr enlight_io_claim io(uint16_t first, uint16_t last) {
  enlight_io_claim c{first, last, nullptr, nullptr};
  if constexpr (!std::is_null_pointer_v<decltype(In)>) c.in = &detail::io_in_thunk<In>;
  if constexpr (!std::is_null_pointer_v<decltype(Out)>) c.out = &detail::io_out_thunk<Out>;
  return c;
}

constexpr enlight_cpuid_claim cpuid_bits(uint32_t leaf, enlight_cpuid_reg reg, uint32_t mask) {
  return {leaf, 0, static_cast<uint8_t>(reg), ENLIGHT_CPUID_BITS, 0, mask};
}
constexpr enlight_cpuid_claim cpuid_field(uint32_t leaf, enlight_cpuid_reg reg, uint32_t mask = 0xFFFFFFFFu) {
  return {leaf, 0, static_cast<uint8_t>(reg), ENLIGHT_CPUID_FIELD, 0, mask};
}
constexpr enlight_cpuid_claim cpuid_default(uint32_t leaf, enlight_cpuid_reg reg, uint32_t mask = 0xFFFFFFFFu) {
  return {leaf, 0, static_cast<uint8_t>(reg), ENLIGHT_CPUID_DEFAULT, 0, mask};
}

// Compile-time checks of a plugin's own claims (used by ENLIGHT_PLUGIN):
// ranges well-formed and pairwise disjoint, so a plugin cannot even build
// with an overlap the resolver would later reject. An MSR claim without
// any handler is refused by msr<>() at compile time and by the loader at
// load time (a descriptor written by hand); these never compare handler
// pointers, which is not a constant expression under UBSan (see msr<>()).
constexpr bool msr_claims_valid(std::span<const enlight_msr_claim> claims) {
  const std::size_t N = claims.size();
  for (std::size_t i = 0; i < N; ++i) {
    if (claims[i].first > claims[i].last) return false;
    for (std::size_t j = i + 1; j < N; ++j)
      if (claims[i].first <= claims[j].last && claims[j].first <= claims[i].last) return false;
  }
  return true;
}
constexpr bool hypercall_claims_valid(std::span<const enlight_hypercall_claim> claims) {
  const std::size_t N = claims.size();
  for (std::size_t i = 0; i < N; ++i) {
    const auto& c = claims[i];
    if ((c.flags & ENLIGHT_HC_XMM_FAST) && !(c.flags & ENLIGHT_HC_FAST)) return false;
    if (!(c.flags & ENLIGHT_HC_REP) && (c.input_rep_size || c.output_rep_size)) return false;
    if (c.input_header_size > HV_PAGE_SIZE || c.output_header_size > HV_PAGE_SIZE) return false;
    for (std::size_t j = i + 1; j < N; ++j)
      if (claims[i].code == claims[j].code) return false;
  }
  return true;
}
constexpr bool io_claims_valid(std::span<const enlight_io_claim> claims) {
  const std::size_t N = claims.size();
  for (std::size_t i = 0; i < N; ++i) {
    if (claims[i].first > claims[i].last) return false;
    for (std::size_t j = i + 1; j < N; ++j)
      if (claims[i].first <= claims[j].last && claims[j].first <= claims[i].last) return false;
  }
  return true;
}

template <class T>
constexpr const T* data_or_null(std::span<const T> s) {
  return s.empty() ? nullptr : s.data();
}

// What a plugin states in C++: its state types and the handlers bound to
// the manifest's claims. Fields by name, each optional:
//   ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs, .io_ports = kPorts});
template <class VmT, class VcpuT>
struct Plugin {
  using Vm = VmT;
  using Vcpu = VcpuT;
  std::span<const enlight_msr_claim> msrs{};
  std::span<const enlight_hypercall_claim> hypercalls{};
  std::span<const enlight_io_claim> io_ports{};
};

template <class Vm, class Vcpu>
constexpr enlight_plugin_descriptor make_descriptor(const char* name, const char* version,
                                                    std::span<const enlight_msr_claim> msrs,
                                                    std::span<const enlight_hypercall_claim> hypercalls,
                                                    std::span<const enlight_io_claim> io_ports,
                                                    std::span<const enlight_cpuid_claim> cpuid) {
  enlight_plugin_descriptor d{};
  d.abi_major = ENLIGHT_ABI_MAJOR;
  d.abi_minor = ENLIGHT_ABI_MINOR;
  d.size = sizeof(enlight_plugin_descriptor);
  d.name = name;
  d.version = version;
  d.msrs = data_or_null(msrs);
  d.msr_count = static_cast<uint32_t>(msrs.size());
  d.hypercalls = data_or_null(hypercalls);
  d.hypercall_count = static_cast<uint32_t>(hypercalls.size());
  d.io_ports = data_or_null(io_ports);
  d.io_port_count = static_cast<uint32_t>(io_ports.size());
  d.cpuid = data_or_null(cpuid);
  d.cpuid_count = static_cast<uint32_t>(cpuid.size());
  d.vm_create = &detail::vm_create_thunk<Vm>;
  d.vm_destroy = &detail::vm_destroy_thunk<Vm>;
  d.vcpu_create = &detail::vcpu_create_thunk<Vcpu>;
  d.vcpu_destroy = &detail::vcpu_destroy_thunk<Vcpu>;
  if constexpr (detail::saves_state<Vm>) {
    d.vm_save = &detail::save_thunk<Vm>;
    d.vm_load = &detail::load_thunk<Vm>;
  }
  if constexpr (detail::saves_state<Vcpu>) {
    d.vcpu_save = &detail::save_thunk<Vcpu>;
    d.vcpu_load = &detail::load_thunk<Vcpu>;
  }
  return d;
}

#ifdef ENLIGHT_THIS_PLUGIN
// The descriptor of a Plugin spec: name, version and CPUID claims from the
// generated manifest header, handlers from the spec.
template <class Spec>
constexpr enlight_plugin_descriptor make_descriptor(const Spec& spec) {
  return make_descriptor<typename Spec::Vm, typename Spec::Vcpu>(this_plugin::name, this_plugin::version, spec.msrs,
                                                                 spec.hypercalls, spec.io_ports, this_plugin::cpuid);
}
#endif

template <class T>
constexpr std::array<T, 0> none{};

}  // namespace enlight

#ifdef ENLIGHT_PLUGIN_STATIC
// Statically linked build: the descriptor is registered with the core's
// built-in registry under the plugin's name (it refuses a second one).
extern "C" void enlight_static_plugin_register(const char* name, enlight_plugin_entry_fn entry);
#define ENLIGHT_PLUGIN_EXPORT_(name)                                                                   \
  namespace {                                                                                          \
  const enlight_plugin_descriptor* enlight_static_entry_() { return &kDescriptor; }                    \
  [[maybe_unused]] const int enlight_static_registered_ =                                              \
      (enlight_static_plugin_register(name, &enlight_static_entry_), 0);                               \
  }
#else
#define ENLIGHT_PLUGIN_EXPORT_(name)                                                                   \
  extern "C" ENLIGHT_EXPORT const enlight_plugin_descriptor* enlight_plugin_entry_v1(void) {          \
    return &kDescriptor;                                                                               \
  }
#endif

// Defines the plugin's descriptor and its one entry point from a Plugin
// spec (one argument, written with designated initialisers). The manifest
// is the source of the name, version, claims and CPUID bits; each handler
// table must cover exactly the manifest's claims, or the build fails with
// an error naming the manifest line (docs/sdk.md, "Each fact once").
#ifdef ENLIGHT_THIS_PLUGIN
#define ENLIGHT_PLUGIN(...)                                                                            \
  namespace {                                                                                          \
  constexpr auto kPluginSpec = __VA_ARGS__;                                                            \
  static_assert(::enlight::msr_claims_valid(kPluginSpec.msrs), "MSR handler ranges overlap or are malformed"); \
  static_assert(::enlight::hypercall_claims_valid(kPluginSpec.hypercalls), "hypercall handlers malformed"); \
  static_assert(::enlight::io_claims_valid(kPluginSpec.io_ports), "I/O handler ranges overlap or are malformed"); \
  static_assert(::enlight::this_plugin::check_msr_handlers(kPluginSpec.msrs),                          \
                "the MSR handlers differ from the manifest's claims: msrs (see the function named above)"); \
  static_assert(::enlight::this_plugin::check_hypercall_handlers(kPluginSpec.hypercalls),              \
                "the hypercall handlers differ from the manifest's claims: hypercalls");               \
  static_assert(::enlight::this_plugin::check_io_handlers(kPluginSpec.io_ports),                       \
                "the I/O handlers differ from the manifest's claims: io-ports");                       \
  constexpr enlight_plugin_descriptor kDescriptor = ::enlight::make_descriptor(kPluginSpec);          \
  }                                                                                                    \
  ENLIGHT_PLUGIN_EXPORT_(::enlight::this_plugin::name)
#else
#define ENLIGHT_PLUGIN(...)                                                                            \
  static_assert(sizeof(char) == 0,                                                                     \
                "ENLIGHT_PLUGIN takes the name, version and claims from the plugin's manifest, and "   \
                "enlight/this_plugin.hpp was not generated: build the plugin with enlight_add_plugin, " \
                "or run enlight-manifest-header MANIFEST DIR/enlight/this_plugin.hpp and add DIR to the " \
                "include path (docs/sdk.md)");
#endif

// The same descriptor with every fact written in C++, for builds without a
// manifest header (test fixtures that differ from their manifest on
// purpose, hand-rolled builds). The loader still checks it against the
// manifest, at run time (and enlight-plugin-check at build time).
#define ENLIGHT_PLUGIN_EXPLICIT(name, version, Vm, Vcpu, msrs, hypercalls, io_ports, cpuid)            \
  static_assert(::enlight::msr_claims_valid(msrs), "MSR claims overlap or are malformed");           \
  static_assert(::enlight::hypercall_claims_valid(hypercalls), "hypercall claims malformed");        \
  static_assert(::enlight::io_claims_valid(io_ports), "I/O claims overlap or are malformed");        \
  namespace {                                                                                          \
  constexpr enlight_plugin_descriptor kDescriptor =                                                   \
      ::enlight::make_descriptor<Vm, Vcpu>(name, version, msrs, hypercalls, io_ports, cpuid);        \
  }                                                                                                    \
  ENLIGHT_PLUGIN_EXPORT_(name)
