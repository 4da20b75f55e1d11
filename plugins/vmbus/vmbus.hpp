// The vmbus plugin's partition state: the bus, its channels, and the
// service devices reach them through. See vmbus.cpp for the locking.
#pragma once

#include "channel.hpp"
#include "protocol/bus.hpp"

#include <enlight/plugin.hpp>
#include <enlight/services/synic.h>
#include <enlight/services/vmbus.h>

#include <array>
#include <deque>
#include <mutex>
#include <variant>

namespace enlight_vmbus {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p);

  bool open_channel(const enlight::vmbus::ChannelState& c, const enlight::vmbus::Gpadl& ring);
  void close_channel(const enlight::vmbus::ChannelState& c);
  bool fail_open();
  void pump(uint32_t vcpu_hint);

  const enlight_synic_service* const synic;
  std::recursive_mutex lock;
  enlight::vmbus::Bus bus;
  // One per offered channel, index relid - 1; a deque because a channel
  // holds a mutex and its address is the device's handle.
  std::deque<enlight_vmbus_channel> channels;
  // Devices register during their own vm_create; once a vCPU exists the
  // channel list is fixed (the event ports and offers with it).
  bool registration_closed = false;
  enlight_vmbus_service iface{};
  enlight::Counter received, sent, malformed, refused, queue_full, slot_busy, open_failed;
  std::array<enlight::Counter, std::variant_size_v<enlight::vmbus::GuestMessage>> by_type;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  Vcpu(Vm& vm, uint32_t index) : VcpuBase(vm, index) { vm.registration_closed = true; }
};

// Fills vm.iface (service.cpp).
void fill_service(Vm& vm) noexcept;

}  // namespace enlight_vmbus
