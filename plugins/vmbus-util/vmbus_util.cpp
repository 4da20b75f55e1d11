// vmbus-util: the heartbeat, shutdown and time sync integration components
// Linux's hv_utils drives (drivers/hv/hv_util.c), as three channels of the
// vmbus service (enlight/services/vmbus.h). The protocol is ic/ (plain code,
// tests/plugins/vmbus-util); this file moves its packets and keeps time.
//
// Threads. The bus calls open, close and notify on vCPU threads; one timer
// on vCPU 0 sends the periodic heartbeats and time samples and a pending
// shutdown; the host's shutdown request arrives on a host thread and only
// sets a flag and arms that timer. Each device's IcChannel has its own
// mutex, and no lock of this plugin is held while it calls the bus (the bus
// may hold its own locks around open and close), so a packet built under
// the lock is sent after it is released: a send that fails is cancelled
// under the lock again.
#include "ic/channel.hpp"
#include "offers.hpp"

#include <enlight/plugin.hpp>
#include <enlight/services/vmbus.h>
#include <enlight/tlfs.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace enlight_vmbus_util {
namespace {

namespace opt = enlight::this_plugin::options;

using enlight::vmbus_util::Device;
using enlight::vmbus_util::Event;
using enlight::vmbus_util::IcChannel;
using enlight::vmbus_util::IcError;
using enlight::vmbus_util::kDeviceCount;
using enlight::vmbus_util::kMaxResponseSize;
using enlight::vmbus_util::Outcome;
using enlight::vmbus_util::Packet;

// enlight_host.log levels (abi.h).
constexpr uint32_t kLogWarning = 1;
constexpr uint32_t kLogInfo = 2;
// Reference time counts 100 ns.
constexpr uint64_t kTicksPerMs = 10'000;
// The timer belongs to vCPU 0: Linux binds util channels to CPU 0
// (channel_mgmt.c init_vp_index), and any vCPU would do.
constexpr uint32_t kTimerVcpu = 0;
// A shutdown the ring had no room for is tried again this much later.
constexpr uint64_t kRetryTicks = 10 * kTicksPerMs;
// Nothing to wait for.
constexpr uint64_t kNever = UINT64_MAX;
constexpr const char* kShutdownMessage = "enlight: the host asked for a shutdown";

struct Vm;

struct IcDevice {
  IcDevice(Vm& v, Device d) : vm(v), ic(d) {}
  Vm& vm;
  std::mutex lock;  // guards ic
  IcChannel ic;
  enlight_vmbus_channel* channel = nullptr;
  // ic.ready(), readable without the lock (the shutdown listener's thread).
  std::atomic<bool> ready{false};
  enlight::Counter negotiations, malformed, refused;
};

int on_open(void* arg, enlight_vmbus_channel* channel) noexcept;
void on_close(void* arg, enlight_vmbus_channel* channel) noexcept;
void on_notify(void* arg, enlight_vmbus_channel* channel, uint32_t vcpu) noexcept;
void on_timer(void* arg, uint64_t now) noexcept;
int on_shutdown_request(void* arg) noexcept;

// Log lines are short; longer ones are cut.
constexpr size_t kLogLineSize = 160;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        vmbus(service<enlight_vmbus_service>(ENLIGHT_VMBUS_SERVICE, ENLIGHT_VMBUS_SERVICE_MAJOR, 0)),
        heartbeat_period(option(opt::heartbeat_interval_ms) * kTicksPerMs),
        timesync_period(option(opt::timesync_interval_ms) * kTicksPerMs),
        heartbeats_answered(counter("enlight_vmbus_util_heartbeats_answered_total",
                                    "heartbeats the guest answered with the next sequence number")),
        shutdown_requests(counter("enlight_vmbus_util_shutdown_requests_total",
                                  "shutdown requests sent to the guest (power off)")),
        timesync_samples(counter("enlight_vmbus_util_timesync_samples_total",
                                 "time sync messages sent to the guest (one SYNC per negotiation, then SAMPLEs)")),
        send_failed(counter("enlight_vmbus_util_send_failed_total",
                            "IC requests not sent: the host-to-guest ring was full, closed or corrupt")) {
    if (vmbus == nullptr)
      throw enlight::PluginError("the vmbus service (major 1) is missing: vmbus-util requires the vmbus plugin");
    timer = VmBase::timer(kTimerVcpu, &on_timer, this);
    const std::array<std::pair<Device, enlight::Option<bool>>, kDeviceCount> wanted = {
        {{Device::Heartbeat, opt::heartbeat}, {Device::Shutdown, opt::shutdown}, {Device::Timesync, opt::timesync}}};
    for (const auto& [which, on] : wanted)
      if (option(on)) add_device(which);
    if (device(Device::Shutdown) != nullptr) shutdown_listen(&on_shutdown_request, this);
  }

  IcDevice* device(Device d) const { return devices[static_cast<size_t>(d)].get(); }

  void add_device(Device which) {
    const char* name = enlight::vmbus_util::name(which);
    auto d = std::make_unique<IcDevice>(*this, which);
    d->negotiations = counter("enlight_vmbus_util_negotiations_total",
                              "IC version negotiations the guest completed", "channel", name);
    d->malformed = counter("enlight_vmbus_util_responses_malformed_total",
                           "guest IC answers dropped: malformed, unexpected, or for no waiting request", "channel",
                           name);
    d->refused = counter("enlight_vmbus_util_responses_refused_total",
                         "guest IC answers that refused: no common version, or a shutdown answered E_FAIL", "channel",
                         name);
    enlight_vmbus_device offer{};
    offer.size = sizeof offer;
    offer.name = name;
    enlight::vmbus_util::fill_offer(offer, which);
    offer.ops = {&on_open, &on_close, &on_notify};
    offer.arg = d.get();
    if (vmbus->register_device(vmbus->ctx, &offer, &d->channel) != 0)
      throw enlight::PluginError(std::string("the vmbus service refused the ") + name +
                                 " device (bus full, or its GUIDs are offered already)");
    devices[static_cast<size_t>(which)] = std::move(d);
  }

  // printf-style, without allocating: the bus callbacks must not throw.
  template <typename... Args>
  void say(uint32_t level, const char* format, Args... args) const noexcept {
    char line[kLogLineSize];
    std::snprintf(line, sizeof line, format, args...);
    host().log(host().ctx, level, line);
  }

  bool send(IcDevice& d, const Packet& p, uint32_t vcpu) {
    const enlight_vmbus_result r = vmbus->send(vmbus->ctx, d.channel, VM_PKT_DATA_INBAND, 0, p.transaction_id,
                                               p.bytes.data(), p.size);
    if (r == ENLIGHT_VMBUS_OK) return true;
    send_failed.add(vcpu);
    std::lock_guard<std::mutex> guard(d.lock);
    d.ic.cancel(p.transaction_id);
    return false;
  }

  // ---- Scheduling (the timer's deadlines) --------------------------------

  // Arms the timer for the earliest thing to do. A shutdown request that
  // lands while this runs is seen by the check after the arm, or its own
  // arm comes after this one: either way the timer fires for it.
  void reschedule() {
    {
      std::lock_guard<std::mutex> guard(schedule_lock);
      const uint64_t next = std::min({next_heartbeat, next_timesync, next_shutdown});
      if (next != kNever) timer.arm(next);
    }
    if (shutdown_wanted.load()) timer.arm(0);
  }

  // A device became ready at `now`: its first periodic message is due now.
  void start_periodic(Device which, uint64_t now) {
    {
      std::lock_guard<std::mutex> guard(schedule_lock);
      if (which == Device::Heartbeat) next_heartbeat = now;
      if (which == Device::Timesync) next_timesync = now + timesync_period;  // the SYNC went out already
    }
    reschedule();
  }

  void stop_periodic(Device which) {
    std::lock_guard<std::mutex> guard(schedule_lock);
    if (which == Device::Heartbeat) next_heartbeat = kNever;
    if (which == Device::Timesync) next_timesync = kNever;
    if (which == Device::Shutdown) next_shutdown = kNever;
  }

  // Takes what is due at `now` off the schedule and puts its next time on.
  struct Due {
    bool heartbeat = false, timesync = false, shutdown = false;
  };
  Due take_due(uint64_t now) {
    Due due;
    std::lock_guard<std::mutex> guard(schedule_lock);
    if (shutdown_wanted.exchange(false)) next_shutdown = now;
    if (next_heartbeat <= now) {
      due.heartbeat = true;
      next_heartbeat = now + heartbeat_period;
    }
    if (next_timesync <= now) {
      due.timesync = true;
      next_timesync = now + timesync_period;
    }
    if (next_shutdown <= now) {
      due.shutdown = true;
      next_shutdown = kNever;
    }
    return due;
  }

  // ---- Requests -----------------------------------------------------------

  void send_heartbeat(uint32_t vcpu) {
    IcDevice* d = device(Device::Heartbeat);
    if (d == nullptr) return;
    std::optional<Packet> p;
    {
      std::lock_guard<std::mutex> guard(d->lock);
      p = d->ic.heartbeat();
    }
    if (p) send(*d, *p, vcpu);
  }

  void send_timesync(uint32_t vcpu) {
    IcDevice* d = device(Device::Timesync);
    if (d == nullptr) return;
    std::optional<Packet> p;
    {
      std::lock_guard<std::mutex> guard(d->lock);
      // Read together, as late as possible: the guest adds its own delay
      // since `reference` to `parent` (Linux adj_guesttime).
      const uint64_t parent = enlight::vmbus_util::filetime(std::chrono::system_clock::now());
      const uint64_t reference = reference_time();
      p = d->ic.timesync(parent, reference);
    }
    if (p && send(*d, *p, vcpu)) timesync_samples.add(vcpu);
  }

  // false: try again later (the ring was full).
  bool send_shutdown(uint32_t vcpu) {
    IcDevice* d = device(Device::Shutdown);
    if (d == nullptr) return true;
    std::optional<Packet> p;
    {
      std::lock_guard<std::mutex> guard(d->lock);
      p = d->ic.shutdown(kShutdownMessage);
    }
    if (!p) return true;  // closed since the request: the core stops the VM when its wait runs out
    if (!send(*d, *p, vcpu)) return false;
    shutdown_requests.add(vcpu);
    say(kLogInfo, "%s", "shutdown: asked the guest to power off");
    return true;
  }

  void tick(uint64_t now) {
    const Due due = take_due(now);
    if (due.shutdown && !send_shutdown(kTimerVcpu)) {
      std::lock_guard<std::mutex> guard(schedule_lock);
      next_shutdown = now + kRetryTicks;
    }
    if (due.heartbeat) send_heartbeat(kTimerVcpu);
    if (due.timesync) send_timesync(kTimerVcpu);
    reschedule();
  }

  // ---- Guest answers ------------------------------------------------------

  void handle(IcDevice& d, const Outcome& o, uint32_t vcpu) {
    const char* name = enlight::vmbus_util::name(d.ic.device());
    if (o.error) {
      if (*o.error == IcError::NoCommonVersion) {
        d.refused.add(vcpu);
        say(kLogWarning, "%s: the guest supports none of the versions offered", name);
      } else {
        d.malformed.add(vcpu);
      }
      return;
    }
    switch (o.event) {
      case Event::Negotiated: {
        d.negotiations.add(vcpu);
        d.ready.store(true);
        const auto& v = d.ic.versions();
        say(kLogInfo, "%s: framework %u.%u, message %u.%u", name, unsigned{v.framework.major},
            unsigned{v.framework.minor}, unsigned{v.message.major}, unsigned{v.message.minor});
        break;
      }
      case Event::HeartbeatAnswered: heartbeats_answered.add(vcpu); break;
      case Event::ShutdownAnswered:
        if (d.ic.shutdown_status() != HV_S_OK) {
          d.refused.add(vcpu);
          say(kLogWarning, "%s", "shutdown: the guest refused (status E_FAIL)");
        } else {
          say(kLogInfo, "%s", "shutdown: the guest accepted (status S_OK)");
        }
        break;
      case Event::TimesyncAnswered:
      case Event::None: break;
    }
  }

  const enlight_vmbus_service* const vmbus;
  const uint64_t heartbeat_period;
  const uint64_t timesync_period;
  std::array<std::unique_ptr<IcDevice>, kDeviceCount> devices;
  enlight::Timer timer;
  std::mutex schedule_lock;  // guards next_*
  uint64_t next_heartbeat = kNever;
  uint64_t next_timesync = kNever;
  uint64_t next_shutdown = kNever;
  std::atomic<bool> shutdown_wanted{false};
  enlight::Counter heartbeats_answered, shutdown_requests, timesync_samples, send_failed;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  Vcpu(Vm& vm, uint32_t index) : VcpuBase(vm, index) {}
};

// ---- Bus callbacks ---------------------------------------------------------

int on_open(void* arg, enlight_vmbus_channel* /*channel*/) noexcept {
  IcDevice& d = *static_cast<IcDevice*>(arg);
  Packet p;
  {
    std::lock_guard<std::mutex> guard(d.lock);
    d.ready.store(false);
    p = d.ic.open();
  }
  // A fresh ring has room for a negotiate many times over: a send that
  // fails means the channel is unusable, and the guest is told so.
  const enlight_vmbus_service& bus = *d.vm.vmbus;
  if (bus.send(bus.ctx, d.channel, VM_PKT_DATA_INBAND, 0, p.transaction_id, p.bytes.data(), p.size) !=
      ENLIGHT_VMBUS_OK) {
    std::lock_guard<std::mutex> guard(d.lock);
    d.ic.close();
    d.vm.say(kLogWarning, "%s: cannot send the version negotiation; open refused",
             enlight::vmbus_util::name(d.ic.device()));
    return -1;
  }
  return 0;
}

void on_close(void* arg, enlight_vmbus_channel* /*channel*/) noexcept {
  IcDevice& d = *static_cast<IcDevice*>(arg);
  {
    std::lock_guard<std::mutex> guard(d.lock);
    d.ready.store(false);
    d.ic.close();
  }
  d.vm.stop_periodic(d.ic.device());
}

void on_notify(void* arg, enlight_vmbus_channel* /*channel*/, uint32_t vcpu) noexcept {
  IcDevice& d = *static_cast<IcDevice*>(arg);
  Vm& vm = d.vm;
  const enlight_vmbus_service& bus = *vm.vmbus;
  alignas(8) uint8_t buffer[kMaxResponseSize];
  for (;;) {
    enlight_vmbus_packet info{};
    const enlight_vmbus_result r = bus.recv(bus.ctx, d.channel, buffer, sizeof buffer, &info);
    if (r == ENLIGHT_VMBUS_TOO_LARGE) {
      // Longer than any answer to what this host sends.
      bus.recv_drop(bus.ctx, d.channel);
      d.malformed.add(vcpu);
      continue;
    }
    if (r != ENLIGHT_VMBUS_OK) return;  // EMPTY, or the channel is closed or corrupt
    const uint32_t length = std::min<uint32_t>(info.length, sizeof buffer);
    Outcome o;
    bool became_ready = false;
    {
      std::lock_guard<std::mutex> guard(d.lock);
      const bool was_ready = d.ic.ready();
      o = d.ic.on_packet(info.type, info.transaction_id, {buffer, length});
      became_ready = !was_ready && d.ic.ready();
      vm.handle(d, o, vcpu);
    }
    if (!became_ready) continue;
    const Device which = d.ic.device();
    if (which == Device::Timesync) vm.send_timesync(vcpu);  // the SYNC
    vm.start_periodic(which, vm.reference_time());
    // A shutdown the host asked for before the guest was ready was refused
    // (the listener answered 0); nothing is waiting for this one.
  }
}

void on_timer(void* arg, uint64_t now) noexcept {
  try {
    static_cast<Vm*>(arg)->tick(now);
  } catch (...) {
    // std::mutex::lock can throw std::system_error; there is nothing to undo.
  }
}

// A host thread: no lock, no bus call; the timer does the work.
int on_shutdown_request(void* arg) noexcept {
  Vm& vm = *static_cast<Vm*>(arg);
  const IcDevice* d = vm.device(Device::Shutdown);
  if (d == nullptr || !d->ready.load()) return 0;
  vm.shutdown_wanted.store(true);
  vm.timer.arm(0);
  return 1;
}

}  // namespace
}  // namespace enlight_vmbus_util

namespace {
using UtilVm = enlight_vmbus_util::Vm;
using UtilVcpu = enlight_vmbus_util::Vcpu;
}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<UtilVm, UtilVcpu>{})
