// vmbus-net: synthetic NICs for Linux's hv_netvsc, each a channel of the
// vmbus service (enlight/services/vmbus.h, minor 1) with a backend. The
// protocol is nic.cpp and protocol/ (plain code, tests/plugins/vmbus-net);
// this file wires a Nic to its channel, its backend and its metrics, and
// runs one receive thread per NIC.
//
// Threads. The bus calls open, close and notify on vCPU threads; each NIC's
// receive thread reads its backend and delivers frames. Both take the NIC's
// lock (Nic::lock). The receive thread polls the backend only while the NIC
// is not stalled, and an eventfd wakes it when a notify un-stalls the NIC or
// the VM is destroyed.
#include "backend/backend.hpp"
#include "nic.hpp"
#include "nic_config.hpp"

#include <enlight/plugin.hpp>
#include <enlight/services/vmbus.h>
#include <enlight/tlfs.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <poll.h>
#include <string>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace enlight_vmbus_net {
namespace {

namespace opt = enlight::this_plugin::options;
using namespace enlight::vmbus_net;

// Frames read from the backend per lock hold: one XFER_PAGES packet's worth.
constexpr uint32_t kReadBurst = kMaxBatch;
// A received datagram or TAP frame larger than this is cut by the kernel
// and then refused as oversize.
constexpr uint32_t kFrameBuffer = 2048;

struct Vm;

// The channel through the vmbus service.
class ServiceBus final : public NicBus {
 public:
  ServiceBus(const enlight_vmbus_service& s, enlight_vmbus_channel*& channel) : s_(s), channel_(channel) {}
  enlight_vmbus_result recv_packet(std::span<uint8_t> b, enlight_vmbus_packet& info) override {
    return s_.recv_packet(s_.ctx, channel_, b.data(), static_cast<uint32_t>(b.size()), &info);
  }
  enlight_vmbus_result recv_drop() override { return s_.recv_drop(s_.ctx, channel_); }
  enlight_vmbus_result send(uint16_t type, uint16_t flags, uint64_t id, std::span<const uint8_t> ext,
                            std::span<const uint8_t> payload) override {
    return s_.send_extended(s_.ctx, channel_, type, flags, id, ext.data(), static_cast<uint32_t>(ext.size()),
                            payload.data(), static_cast<uint32_t>(payload.size()));
  }
  bool gpadl_size(uint32_t gpadl, uint64_t& bytes) override {
    return s_.gpadl_size(s_.ctx, channel_, gpadl, &bytes) == ENLIGHT_VMBUS_OK;
  }
  bool gpadl_read(uint32_t gpadl, uint64_t offset, std::span<uint8_t> dst) override {
    return s_.gpadl_read(s_.ctx, channel_, gpadl, offset, dst.data(), static_cast<uint32_t>(dst.size())) ==
           ENLIGHT_VMBUS_OK;
  }
  bool gpadl_write(uint32_t gpadl, uint64_t offset, std::span<const uint8_t> src) override {
    return s_.gpadl_write(s_.ctx, channel_, gpadl, offset, src.data(), static_cast<uint32_t>(src.size())) ==
           ENLIGHT_VMBUS_OK;
  }
  bool gpa_read(uint64_t gpa, std::span<uint8_t> dst) override {
    return s_.gpa_read(s_.ctx, channel_, gpa, dst.data(), static_cast<uint32_t>(dst.size())) == ENLIGHT_VMBUS_OK;
  }

 private:
  const enlight_vmbus_service& s_;
  enlight_vmbus_channel*& channel_;
};

// Metrics. Per-NIC counters are written under that NIC's lock (one writer,
// vCPU slot 0); the drop counters are shared by the NICs and written under
// the VM's drop lock. Counter labels are one pair (ABI 1.3), hence per-NIC
// traffic (channel="net0", as the bus's own channel counters) and
// per-reason drops rather than both on one series.
struct DropCounters {
  std::mutex lock;
  std::array<enlight::Counter, static_cast<size_t>(Drop::kCount)> by_reason;
};

class Metrics final : public NicObserver {
 public:
  Metrics(const enlight::VmBase& vm, const char* nic, DropCounters& drops)
      : drops_(drops),
        rx_frames_(vm.counter("enlight_vmbus_net_rx_frames_total", "frames delivered to the guest", "channel", nic)),
        rx_bytes_(vm.counter("enlight_vmbus_net_rx_bytes_total", "bytes of the frames delivered to the guest",
                             "channel", nic)),
        tx_frames_(vm.counter("enlight_vmbus_net_tx_frames_total", "frames the guest sent to the backend", "channel", nic)),
        tx_bytes_(vm.counter("enlight_vmbus_net_tx_bytes_total", "bytes of the frames the guest sent", "channel", nic)),
        batches_(vm.counter("enlight_vmbus_net_rx_batches_total",
                            "XFER_PAGES packets sent to the guest (frames per packet = rx_frames / rx_batches)",
                            "channel", nic)),
        stalls_(vm.counter("enlight_vmbus_net_ring_full_stalls_total",
                           "times the host-to-guest ring was full and receiving paused", "channel", nic)) {}
  void rx(uint64_t frames, uint64_t bytes) override {
    rx_frames_.add(0, frames);
    rx_bytes_.add(0, bytes);
  }
  void tx(uint64_t bytes) override {
    tx_frames_.add(0);
    tx_bytes_.add(0, bytes);
  }
  void batch() override { batches_.add(0); }
  void stall() override { stalls_.add(0); }
  void dropped(Drop reason) override {
    std::lock_guard<std::mutex> guard(drops_.lock);
    drops_.by_reason[static_cast<size_t>(reason)].add(0);
  }

 private:
  DropCounters& drops_;
  enlight::Counter rx_frames_, rx_bytes_, tx_frames_, tx_bytes_, batches_, stalls_;
};

int on_open(void* arg, enlight_vmbus_channel* channel) noexcept;
void on_close(void* arg, enlight_vmbus_channel* channel) noexcept;
void on_notify(void* arg, enlight_vmbus_channel* channel, uint32_t vcpu) noexcept;

// One NIC: channel, backend, protocol, metrics and receive thread.
struct NicDevice {
  NicDevice(const enlight::VmBase& vm, const enlight_vmbus_service& service, const NicConfig& config, std::string name_,
            std::unique_ptr<Backend> backend_, DropCounters& drops)
      : name(std::move(name_)),
        backend(std::move(backend_)),
        bus(service, channel),
        metrics(vm, name.c_str(), drops),
        nic(config, bus, *backend, &metrics),
        wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~NicDevice() {
    stop.store(true);
    poke();
    if (thread.joinable()) thread.join();
    if (wake >= 0) ::close(wake);
  }

  void poke() const noexcept {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake, &one, sizeof one);
  }

  void receive_loop() noexcept {
    std::vector<std::array<uint8_t, kFrameBuffer>> frames(kReadBurst);
    std::array<uint32_t, kReadBurst> lengths{};
    while (!stop.load()) {
      bool stalled;
      {
        std::lock_guard<std::mutex> guard(nic.lock());
        stalled = nic.stalled();
      }
      pollfd fds[2] = {{wake, POLLIN, 0}, {backend->receive_fd(), POLLIN, 0}};
      if (::poll(fds, stalled ? 1 : 2, -1) < 0) continue;
      if (fds[0].revents & POLLIN) {
        uint64_t count;
        [[maybe_unused]] const ssize_t n = ::read(wake, &count, sizeof count);
      }
      if (stalled || !(fds[1].revents & (POLLIN | POLLERR | POLLHUP))) continue;
      // Read a burst without the lock, then queue it and send it as one
      // XFER_PAGES packet: one guest signal for up to kReadBurst frames.
      uint32_t got = 0;
      for (; got < kReadBurst; ++got) {
        const ssize_t n = backend->receive(frames[got]);
        if (n < 0) return;  // the backend is gone; the guest sees no more frames
        if (n == 0) break;
        lengths[got] = static_cast<uint32_t>(n);
      }
      std::lock_guard<std::mutex> guard(nic.lock());
      for (uint32_t i = 0; i < got; ++i) nic.deliver({frames[i].data(), lengths[i]});
      nic.flush();
    }
  }

  std::string name;
  std::unique_ptr<Backend> backend;
  enlight_vmbus_channel* channel = nullptr;
  ServiceBus bus;
  Metrics metrics;
  Nic nic;
  int wake;
  std::atomic<bool> stop{false};
  std::thread thread;
};

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        vmbus(service<enlight_vmbus_service>(ENLIGHT_VMBUS_SERVICE, ENLIGHT_VMBUS_SERVICE_MAJOR, 1)) {
    if (vmbus == nullptr)
      throw enlight::PluginError("the vmbus service (1.1 or later) is missing: vmbus-net requires vmbus >= 0.3");
    for (size_t i = 0; i < drops.by_reason.size(); ++i)
      drops.by_reason[i] = counter("enlight_vmbus_net_dropped_total",
                                   "frames and messages dropped, by reason (docs/vmbus-net.md)", "reason",
                                   drop_name(static_cast<Drop>(i)));
    std::string error;
    const auto configs = parse_nics(option(opt::nics), &error);
    if (configs.empty()) throw enlight::PluginError("option " + error);
    for (size_t i = 0; i < configs.size(); ++i) add_nic(configs[i], "net" + std::to_string(i));
    // Threads start once every NIC registered: a failure above destroys
    // the NICs made so far without any thread to stop.
    for (auto& d : nics) d->thread = std::thread([dev = d.get()] { dev->receive_loop(); });
  }

  void add_nic(const NicConfig& config, const std::string& name) {
    std::string error;
    auto backend = Backend::open(config, &error);
    if (!backend) throw enlight::PluginError(name + ": " + error);
    auto d = std::make_unique<NicDevice>(*this, *vmbus, config, name, std::move(backend), drops);
    if (d->wake < 0) throw enlight::PluginError(name + ": eventfd failed");
    enlight_vmbus_device offer{};
    offer.size = sizeof offer;
    offer.name = d->name.c_str();
    const uint8_t type[16] = HV_NIC_GUID_BYTES;
    std::memcpy(offer.interface_type, type, sizeof type);
    // This project's instance GUID, the NIC's number in its last byte
    // (unique per type is all Linux needs; it names the sysfs device).
    const uint8_t instance[16] = {0x6e, 0x65, 0x74, 0x76, 0x73, 0x63, 0x65, 0x4e,
                                  0x96, 0x4c, 0x17, 0x2d, 0xe4, 0x1f, 0x00, static_cast<uint8_t>(nics.size())};
    std::memcpy(offer.interface_instance, instance, sizeof instance);
    offer.ops = {&on_open, &on_close, &on_notify};
    offer.arg = d.get();
    if (vmbus->register_device(vmbus->ctx, &offer, &d->channel) != 0)
      throw enlight::PluginError(name + ": the vmbus service refused the NIC (bus full?)");
    char line[128];
    std::snprintf(line, sizeof line, "%s: %s, mac %s", name.c_str(), backend_name(config.backend),
                  format_mac(config.mac).c_str());
    host().log(host().ctx, 2, line);
    nics.push_back(std::move(d));
  }

  static const char* backend_name(BackendKind k) {
    switch (k) {
      case BackendKind::Tap: return "tap";
      case BackendKind::Socket: return "socket";
      case BackendKind::Loopback: return "loopback";
    }
    return "?";
  }

  const enlight_vmbus_service* const vmbus;
  DropCounters drops;
  std::vector<std::unique_ptr<NicDevice>> nics;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  Vcpu(Vm& vm, uint32_t index) : VcpuBase(vm, index) {}
};

int on_open(void* arg, enlight_vmbus_channel*) noexcept {
  try {
    static_cast<NicDevice*>(arg)->nic.on_open();
  } catch (...) {
    return -1;  // std::mutex::lock failed
  }
  return 0;
}

void on_close(void* arg, enlight_vmbus_channel*) noexcept {
  try {
    static_cast<NicDevice*>(arg)->nic.on_close();
  } catch (...) {
  }
}

void on_notify(void* arg, enlight_vmbus_channel*, uint32_t) noexcept {
  auto* d = static_cast<NicDevice*>(arg);
  try {
    if (d->nic.on_notify()) d->poke();
  } catch (...) {
  }
}

}  // namespace
}  // namespace enlight_vmbus_net

namespace {
using NetVm = enlight_vmbus_net::Vm;
using NetVcpu = enlight_vmbus_net::Vcpu;
}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<NetVm, NetVcpu>{})
