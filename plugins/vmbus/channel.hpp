// One offered channel as its device sees it (enlight_vmbus_channel in
// services/vmbus.h): the device's callbacks, the two rings while the guest
// has the channel open, and the channel's counters.
//
// Locking: one mutex per channel guards both rings and the per-channel
// counters. Devices call recv/send from a vCPU thread (notify, their
// timers) or a host thread; the lock is uncontended unless two of those
// touch one channel at once, and it never covers a device callback.
// Counters written under it use vCPU slot 0: the lock makes it one writer.
#pragma once

#include "protocol/ring.hpp"

#include <enlight/plugin.hpp>
#include <enlight/services/synic.h>
#include <enlight/services/vmbus.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>

struct enlight_vmbus_channel {
  enlight_vmbus_channel(const enlight_vmbus_device& device, uint32_t relid, const enlight::VmBase& vm);

  // Fixed at registration.
  std::string name;
  enlight_vmbus_device_ops ops{};
  void* arg = nullptr;
  uint32_t relid = 0;

  // Maps the ring GPADL's pages: [0, downstream) is the guest-to-host ring,
  // [downstream, n) the host-to-guest ring (Linux vmbus_open). false when
  // a ring cannot be taken over (bad indices; counted as corrupt).
  bool attach(std::span<uint8_t* const> pages, uint32_t downstream, uint32_t target_vcpu);
  void detach();

  // The service's calls (services/vmbus.h).
  // recv copies the data part, recv_packet the whole packet (descriptor on).
  enlight_vmbus_result recv(void* buffer, uint32_t capacity, enlight_vmbus_packet* info) {
    return take(buffer, capacity, info, false);
  }
  enlight_vmbus_result recv_packet(void* buffer, uint32_t capacity, enlight_vmbus_packet* info) {
    return take(buffer, capacity, info, true);
  }
  enlight_vmbus_result recv_drop();
  enlight_vmbus_result send(uint16_t type, uint16_t flags, uint64_t trans_id, std::span<const uint8_t> payload,
                            std::span<const uint8_t> extension = {});

  // The guest's HvSignalEvent: the device drains with the guest's signals
  // masked, and again when packets arrived meanwhile.
  void on_guest_signal(uint32_t vcpu);

  bool is_open() const noexcept { return open.load(std::memory_order_acquire); }

  // Where host-to-guest signals go: the synic service and the target vCPU.
  const enlight_synic_service* synic = nullptr;
  const enlight::VmBase* vm = nullptr;

 private:
  enlight_vmbus_result take(void* buffer, uint32_t capacity, enlight_vmbus_packet* info, bool whole_packet);
  void signal_guest();  // under lock
  // The next guest packet's framing, validated (under lock): OK, EMPTY,
  // CLOSED or CORRUPT.
  enlight_vmbus_result peek(enlight::vmbus::PacketInfo& p);
  enlight_vmbus_result corrupt(enlight::vmbus::RingStatus s);  // under lock

  std::mutex lock;
  std::optional<enlight::vmbus::RingReader> reader;  // guest-to-host
  std::optional<enlight::vmbus::RingWriter> writer;  // host-to-guest
  bool broken = false;                                // a ring was found corrupt: stop until reopened
  uint32_t target_vcpu = 0;
  std::atomic<bool> open{false};

 public:
  enlight::Counter packets_received, bytes_received, packets_sent, bytes_sent, guest_signals, host_signals, ring_full,
      ring_corrupt;
};
