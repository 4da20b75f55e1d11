// hv-stimer (and hv-stimer-direct): the four synthetic timers of every
// vCPU, HV_X64_MSR_STIMER0..3_CONFIG/COUNT (TLFS "Timers", "Synthetic
// Timers"). An expired timer either posts HVMSG_TIMER_EXPIRED to one of
// the vCPU's SynIC message slots through the synic service (message mode),
// or injects its ApicVector (direct mode, TLFS "Direct Synthetic Timers").
//
// Each synthetic timer is backed by one host timer (enlight_host
// timer_create) owned by its vCPU, so its callback runs on that vCPU's
// thread; the synic service's slot-free callback runs there too. Every
// piece of a vCPU's timer state is therefore touched by one thread only:
// no lock, and nothing here allocates after vm_create.
//
// The register rules are in stimer_rules.hpp; this file is the state
// machine and the glue. Semantics follow the TLFS, and KVM's hyperv.c
// (stimer_set_config, stimer_set_count, stimer_start, stimer_expiration)
// where the TLFS leaves a choice; README.md lists every difference.
#include "stimer_rules.hpp"

#include <enlight/plugin.hpp>
#include <enlight/services/synic.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace {

using namespace enlight::stimer;

// One HV_MESSAGE carrying HV_TIMER_MESSAGE_PAYLOAD: the service takes the
// header and the payload only (TLFS datatypes/HV_MESSAGE).
constexpr uint32_t kMessageSize = HV_MESSAGE_HEADER_SIZE + HV_TIMER_MESSAGE_PAYLOAD_SIZE;
static_assert(kMessageSize <= HV_MESSAGE_SIZE);

// Lateness histogram bounds, ns: a 1-2-5 series from 10 us (below which a
// host timer cannot be told from an on-time one) to 100 ms (beyond which the
// guest has lost whole scheduler ticks and the exact figure no longer
// matters; +Inf holds the rest).
constexpr uint64_t kUs = 1'000, kMs = 1'000'000;
constexpr uint64_t kLatenessBoundsNs[] = {10 * kUs,  20 * kUs, 50 * kUs, 100 * kUs, 200 * kUs, 500 * kUs, 1 * kMs,
                                          2 * kMs,   5 * kMs,  10 * kMs, 20 * kMs,  50 * kMs,  100 * kMs};
// An expiration signalled this much after it was due counts as late: 1 ms
// is the shortest clock period Windows programs (timeBeginPeriod(1)) and
// Linux's tick at HZ=1000, so a later signal means a guest ticking that fast
// saw a tick slip. It is one of the histogram bounds, so late_total equals
// the observations above the 1 ms bucket.
constexpr uint64_t kLateNs = 1 * kMs;
constexpr uint64_t kNsPerReferenceUnit = 1'000'000'000 / HV_REFERENCE_TIME_UNITS_PER_SECOND;  // 100 ns

struct Vm;

// One synthetic timer. Only its vCPU's thread touches it (see the top).
struct Stimer {
  Vm* vm = nullptr;
  uint32_t vcpu = 0;
  uint32_t index = 0;
  enlight::Timer host_timer;

  uint64_t config = 0;  // HV_X64_MSR_STIMERn_CONFIG as the guest reads it
  uint64_t count = 0;   // HV_X64_MSR_STIMERn_COUNT

  // Running: the host timer is armed for `expiration`.
  bool running = false;
  // Pending: `expiration` has passed and its signal has not been delivered
  // (slot busy, SynIC unavailable, or the interrupt refused). Retried when
  // the synic says a slot may be free; never re-armed meanwhile, so at most
  // one signal per timer is ever outstanding (no pile-up).
  bool pending = false;
  // A delivery attempt for the pending expiration was refused at least once.
  bool refused = false;
  uint64_t expiration = 0;
  // When the timer was last started: an expiration already in the past at
  // that point (a one-shot COUNT the guest set in the past) is the guest's
  // choice, not lateness, so lateness is measured from here instead.
  uint64_t started_at = 0;

  // The message, built once (type, size, timer index never change); only
  // the two times are written per delivery.
  alignas(8) uint8_t message[kMessageSize] = {};
};

using VcpuTimers = std::array<Stimer, kTimerCount>;

void on_host_timer(void* arg, uint64_t now) noexcept;
void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        direct_available(option(enlight::this_plugin::options::direct)),
        synic(service<enlight_synic_service>(ENLIGHT_SYNIC_SERVICE, ENLIGHT_SYNIC_SERVICE_MAJOR, 0)),
        expirations_message(counter("enlight_stimer_expirations_message_total",
                                    "synthetic timer expirations delivered as HVMSG_TIMER_EXPIRED messages")),
        expirations_direct(counter("enlight_stimer_expirations_direct_total",
                                   "synthetic timer expirations delivered as direct-mode interrupts")),
        redeliveries(counter("enlight_stimer_redeliveries_total",
                             "timer signals delivered after an earlier attempt found the message slot busy "
                             "(or the SynIC, or the interrupt, unavailable)")),
        late(counter("enlight_stimer_late_total", "timer signals delivered 1 ms or more after their expiration time")),
        missed_periods(counter("enlight_stimer_missed_periods_total",
                               "periods of periodic timers skipped because the previous signal was late")),
        lateness(histogram("enlight_stimer_lateness_seconds",
                           "delivery time minus expiration time of synthetic timer signals", kLatenessBoundsNs)),
        timers(std::make_unique<VcpuTimers[]>(p.vcpu_count)) {
    // QEMU: hv-stimer sets AccessSyntheticTimerRegs (0x40000003.EAX[3]);
    // hv-stimer-direct adds 0x40000003.EDX[19] (hyperv-facts.md section 1).
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_SYNTHETIC_TIMER_REGS});
    if (direct_available)
      cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE});

    // The manifest requires synic, so the core created it first and its
    // service is registered; a missing one is a broken synic plugin.
    if (synic == nullptr) throw enlight::PluginError("the synic plugin offers no 'synic' service of major 1");
    if (synic->on_slot_free(synic->ctx, &on_slot_free, this) != 0)
      throw enlight::PluginError("the synic service refused the slot-free callback");

    // Host timers can only be created during vm_create (the core freezes
    // its timer table before any vCPU is created), so every vCPU's timers
    // are made here rather than in the Vcpu constructor.
    for (uint32_t v = 0; v < p.vcpu_count; ++v) {
      for (uint32_t n = 0; n < kTimerCount; ++n) {
        Stimer& s = timers[v][n];
        s.vm = this;
        s.vcpu = v;
        s.index = n;
        s.host_timer = timer(v, &on_host_timer, &s);
        const uint32_t type = HvMessageTypeTimerExpired;
        const uint8_t payload_size = static_cast<uint8_t>(HV_TIMER_MESSAGE_PAYLOAD_SIZE);
        std::memcpy(s.message + HV_MESSAGE_TYPE_OFFSET, &type, sizeof type);
        std::memcpy(s.message + HV_MESSAGE_PAYLOAD_SIZE_OFFSET, &payload_size, sizeof payload_size);
        // Origin (sender) 0, flags 0, reserved 0: as zero-initialised.
        std::memcpy(s.message + HV_MESSAGE_PAYLOAD_OFFSET + HV_TIMER_MESSAGE_TIMER_INDEX_OFFSET, &n, sizeof n);
      }
    }
  }

  const bool direct_available;
  const enlight_synic_service* const synic;
  const enlight::Counter expirations_message, expirations_direct, redeliveries, late, missed_periods;
  const enlight::Histogram lateness;
  const std::unique_ptr<VcpuTimers[]> timers;  // [vcpu][timer]
};

struct Vcpu : enlight::VcpuBase<Vm> {
  Vcpu(Vm& vm, uint32_t index) : VcpuBase(vm, index), timers(vm.timers[index]) {}
  VcpuTimers& timers;

  // Saved state (below the state machine).
  void save(enlight::StateWriter& w) const;
  void load(enlight::StateReader& r);
};

// ---- The state machine -------------------------------------------------------

// KVM stimer_cleanup(): no host timer, nothing pending.
void stop(Stimer& s) noexcept {
  s.host_timer.cancel();
  s.running = false;
  s.pending = false;
  s.refused = false;
}

// Starts the timer if its registers say it runs: enabled with a non-zero
// COUNT (an enabled timer with COUNT 0 stays enabled and idle, as in KVM).
// A deadline already past fires at the host timer's next opportunity,
// before the vCPU runs guest code again.
void start(Stimer& s, uint64_t now) noexcept {
  if (!enabled(s.config) || s.count == 0) return;
  s.started_at = now;
  s.expiration = first_expiration(s.config, s.count, now);
  s.running = true;
  s.host_timer.arm(s.expiration);
}

// What a successful delivery of `s.expiration` at `delivered` accounts.
void account(Stimer& s, uint64_t delivered) noexcept {
  Vm& vm = *s.vm;
  (direct_mode(s.config) ? vm.expirations_direct : vm.expirations_message).add(s.vcpu);
  if (s.refused) vm.redeliveries.add(s.vcpu);
  const uint64_t due = std::max(s.expiration, s.started_at);
  const uint64_t units = delivered > due ? delivered - due : 0;
  const uint64_t ns = units > kNever / kNsPerReferenceUnit ? kNever : units * kNsPerReferenceUnit;
  vm.lateness.observe(s.vcpu, ns);
  if (ns >= kLateNs) vm.late.add(s.vcpu);
}

// Signals the pending expiration: KVM stimer_expiration(). On success a
// one-shot timer is disabled ("When a one-shot timer expires, it is
// automatically marked as disabled"), a periodic one moves to the next
// point of its grid. On failure the expiration stays pending.
void deliver(Stimer& s) noexcept {
  Vm& vm = *s.vm;
  const uint64_t now = vm.reference_time();
  bool delivered = false;
  if (direct_mode(s.config)) {
    // TLFS "Direct Synthetic Timers": assert ApicVector, a fixed interrupt
    // as KVM's stimer_notify_direct() sends. If the backend refuses it the
    // expiration stays pending until the guest rewrites the timer (KVM does
    // the same: direct timers are not retried on EOM/EOI).
    delivered = vm.inject_interrupt(s.vcpu, apic_vector(s.config));
  } else {
    // DeliveryTime is when the message is written to the slot (TLFS
    // datatypes/HV_TIMER_MESSAGE_PAYLOAD); a retry writes the retry's time.
    std::memcpy(s.message + HV_MESSAGE_PAYLOAD_OFFSET + HV_TIMER_MESSAGE_EXPIRATION_TIME_OFFSET, &s.expiration,
                sizeof s.expiration);
    std::memcpy(s.message + HV_MESSAGE_PAYLOAD_OFFSET + HV_TIMER_MESSAGE_DELIVERY_TIME_OFFSET, &now, sizeof now);
    // BUSY: the service has set MessagePending in the slot, so the guest
    // will write EOM once it empties it and on_slot_free retries us.
    // UNAVAILABLE (SIMP or SCONTROL off): kept, as KVM keeps it, and retried
    // on the next EOM/EOI of that SINT.
    delivered = vm.synic->post_message(vm.synic->ctx, s.vcpu, sintx(s.config), s.message, kMessageSize) ==
                ENLIGHT_SYNIC_DELIVERED;
  }
  if (!delivered) {
    s.refused = true;
    return;
  }
  account(s, now);
  s.pending = false;
  s.refused = false;
  if (!periodic(s.config)) {
    s.config &= ~HV_STIMER_CONFIG_ENABLE;
    return;
  }
  const uint64_t skipped = skipped_periods(s.expiration, s.count, now);
  if (skipped != 0) vm.missed_periods.add(s.vcpu, skipped);
  s.expiration = next_periodic_expiration(s.expiration, s.count, now);
  s.running = true;
  s.host_timer.arm(s.expiration);
}

// The host timer fired: either the expiration is due, or a pending signal
// is to be retried (on_slot_free armed us for "now").
void on_host_timer(void* arg, uint64_t now) noexcept {
  // Nothing below throws; the catch keeps the C callback noexcept even if
  // that ever changes (an exception must not reach the core).
  try {
    Stimer& s = *static_cast<Stimer*>(arg);
    if (!enabled(s.config)) {
      stop(s);
      return;
    }
    if (!s.pending) {
      if (!s.running) return;  // a stale firing after a rewrite
      if (now < s.expiration) {
        s.host_timer.arm(s.expiration);  // early (never on a conforming backend): wait again
        return;
      }
      s.running = false;
      s.pending = true;
    }
    deliver(s);
  } catch (...) {
    // No handler returns FAULT for a timer callback, so report_fault would
    // not stop anything: stop the VM directly, since the timer's state is
    // no longer one the plugin vouches for (docs/abi-policy.md).
    static_cast<Stimer*>(arg)->vm->request_stop(ENLIGHT_STOP_PLUGIN_ERROR,
                                                "unexpected exception in a synthetic timer callback");
  }
}

// The synic: slot `sint` of `vcpu` may be free (the guest wrote EOM, or
// EOI'd the SINT's vector). KVM kvm_hv_notify_acked_sint(): retry every
// pending message-mode timer of that vCPU aimed at that SINT. The retry
// runs from our own host timer, armed for now, rather than from inside the
// synic's callback: it then happens before the vCPU next runs guest code,
// as KVM's KVM_REQ_HV_STIMER does, without re-entering the synic while it
// is handling EOM.
void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept {
  Vm& vm = *static_cast<Vm*>(arg);
  if (vcpu >= vm.vcpu_count()) return;
  for (Stimer& s : vm.timers[vcpu])
    if (s.pending && enabled(s.config) && !direct_mode(s.config) && sintx(s.config) == sint)
      s.host_timer.arm(vm.reference_time());
}

// ---- Saved state ---------------------------------------------------------------

// Per timer: CONFIG, COUNT, running, pending, refused, expiration and
// started_at. Times are partition reference time, which the core makes
// continue from its saved value before plugins load, so an absolute
// expiration means the same instant in the restored VM: a timer armed for
// 3 ms from the save fires 3 ms of guest time after the restore, a period
// due before the save and still undelivered is delivered once, and a
// periodic timer keeps its grid.
void Vcpu::save(enlight::StateWriter& w) const {
  for (const Stimer& s : timers) {
    w.put(s.config);
    w.put(s.count);
    w.put(s.running);
    w.put(s.pending);
    w.put(s.refused);
    w.put(s.expiration);
    w.put(s.started_at);
  }
}

namespace {

struct SavedTimer {
  uint64_t config = 0, count = 0, expiration = 0, started_at = 0;
  bool running = false, pending = false, refused = false;
};

constexpr const char* kConfigNames[kTimerCount] = {"HV_X64_MSR_STIMER0_CONFIG", "HV_X64_MSR_STIMER1_CONFIG",
                                                   "HV_X64_MSR_STIMER2_CONFIG", "HV_X64_MSR_STIMER3_CONFIG"};
constexpr const char* kTimerNames[kTimerCount] = {"synthetic timer 0", "synthetic timer 1", "synthetic timer 2",
                                                  "synthetic timer 3"};

// A saved timer is one this state machine can be in: CONFIG passes the MSR
// write's checks (and SINT 0 never stays enabled outside direct mode);
// running and pending exclude each other and need an enabled timer with a
// non-zero COUNT, and an enabled timer with a COUNT is one or the other;
// a retry (refused) only exists for a pending signal; a
// one-shot expires at COUNT; a pending expiration has passed and a running
// one was set after its start; nothing started after `now`.
bool check(enlight::StateReader& r, uint32_t n, const SavedTimer& t, bool direct_available, uint64_t now) {
  const auto refuse = [&](uint64_t value, const char* why) {
    r.refuse(kTimerNames[n], value, why);
    return false;
  };
  switch (check_config(t.config, direct_available)) {
    case ConfigCheck::Ok: break;
    case ConfigCheck::Reserved: r.refuse(kConfigNames[n], t.config, "reserved bits set"); return false;
    case ConfigCheck::DirectUnavailable:
      r.refuse(kConfigNames[n], t.config, "direct mode without hv-stimer-direct");
      return false;
    case ConfigCheck::DirectVector:
      r.refuse(kConfigNames[n], t.config, "direct mode with a vector below 16");
      return false;
  }
  if (enforce_sint(t.config) != t.config) {
    r.refuse(kConfigNames[n], t.config, "enabled in message mode with SINT 0");
    return false;
  }
  if (t.running && t.pending) return refuse(t.expiration, "both running and pending");
  if ((t.running || t.pending) && (!enabled(t.config) || t.count == 0))
    return refuse(t.config, "running or pending while disabled or with COUNT 0");
  // start() runs every enabled timer with a COUNT, and it stays running or
  // pending until disabled: an idle one would never fire again.
  if (enabled(t.config) && t.count != 0 && !t.running && !t.pending)
    return refuse(t.config, "enabled with a COUNT but neither running nor pending");
  if (t.refused && !t.pending) return refuse(t.expiration, "a refused delivery without a pending signal");
  if ((t.running || t.pending) && !periodic(t.config) && t.expiration != t.count)
    return refuse(t.expiration, "a one-shot expiration other than its COUNT");
  if (t.running && periodic(t.config) && t.expiration <= t.started_at)
    return refuse(t.expiration, "a periodic expiration not after its start");
  if (t.pending && t.expiration > now) return refuse(t.expiration, "pending before its expiration time");
  if ((t.running || t.pending) && t.started_at > now) return refuse(t.started_at, "started after the restored time");
  return true;
}

}  // namespace

// Nothing is applied unless every timer is accepted. Then: a running
// timer's host timer is armed for its saved expiration (at once when it
// has passed); a pending message-mode signal is retried at once, as after
// an EOM (a retry armed by an EOM just before the save would otherwise be
// lost; a slot still full only sets MessagePending again, so it is never
// delivered twice); a pending direct-mode signal waits for a rewrite, as
// it would have.
void Vcpu::load(enlight::StateReader& r) {
  std::array<SavedTimer, kTimerCount> saved{};
  for (SavedTimer& t : saved) {
    r.get(t.config);
    r.get(t.count);
    r.get(t.running);
    r.get(t.pending);
    r.get(t.refused);
    r.get(t.expiration);
    r.get(t.started_at);
  }
  if (!r.complete()) return;
  Vm& v = vm();
  const uint64_t now = v.reference_time();
  for (uint32_t n = 0; n < kTimerCount; ++n)
    if (!check(r, n, saved[n], v.direct_available, now)) return;
  for (uint32_t n = 0; n < kTimerCount; ++n) {
    Stimer& s = timers[n];
    const SavedTimer& t = saved[n];
    stop(s);
    s.config = t.config;
    s.count = t.count;
    s.running = t.running;
    s.pending = t.pending;
    s.refused = t.refused;
    s.expiration = t.expiration;
    s.started_at = t.started_at;
    if (s.running) s.host_timer.arm(s.expiration == 0 ? 1 : s.expiration);
    else if (s.pending && !direct_mode(s.config)) s.host_timer.arm(now == 0 ? 1 : now);
  }
}

// ---- MSRs ----------------------------------------------------------------------

Stimer* timer_of(Vcpu& v, uint32_t index) noexcept {
  if (index < kFirstMsr || index > kLastMsr) return nullptr;  // the bus never sends one; be safe
  return &v.timers[(index - kFirstMsr) / kMsrStride];
}
bool is_count(uint32_t index) noexcept { return (index - kFirstMsr) % kMsrStride == kCountOffset; }

// TLFS: both registers read back what was written (CONFIG with Enable as
// the timer has since changed it); reset value 0.
enlight_access_result read_stimer(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  Stimer* s = timer_of(v, index);
  if (s == nullptr) return ENLIGHT_ACCESS_GP;
  value = is_count(index) ? s->count : s->config;
  return ENLIGHT_ACCESS_OK;
}

// Every write restarts the timer from the new register values, as KVM's
// stimer_set_config()/stimer_set_count() do (stimer_cleanup, then start):
// the TLFS calls rewriting an enabled timer undefined, and restarting is
// the one behaviour a guest can reason about.
//
// Host writes (state restore) take the same checks, but a host COUNT write
// has none of the guest's side effects (COUNT 0 disabling, AutoEnable),
// as in KVM, so a restore can write CONFIG and COUNT in either order.
enlight_access_result write_stimer(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin) {
  Stimer* s = timer_of(v, index);
  if (s == nullptr) return ENLIGHT_ACCESS_GP;
  if (is_count(index)) {
    stop(*s);
    s->count = value;
    if (origin == ENLIGHT_ORIGIN_GUEST) s->config = config_after_count_write(s->config, value);
  } else {
    if (check_config(value, v.vm().direct_available) != ConfigCheck::Ok) return ENLIGHT_ACCESS_GP;
    stop(*s);
    s->config = enforce_sint(value);
  }
  start(*s, v.vm().reference_time());
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{enlight::msr<read_stimer, write_stimer>(kFirstMsr, kLastMsr)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
