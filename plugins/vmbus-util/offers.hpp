// What the bus offers the guest for each IC: interface and instance GUIDs
// in wire (Windows GUID) order, and the pipe-mode channel flags.
#pragma once

#include "ic/devices.hpp"

#include <enlight/services/vmbus.h>
#include <enlight/tlfs.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace enlight::vmbus_util {

using Guid = std::array<uint8_t, VMBUS_GUID_SIZE>;

inline constexpr Guid kHeartbeatInterface = HV_HEART_BEAT_GUID_BYTES;
inline constexpr Guid kShutdownInterface = HV_SHUTDOWN_GUID_BYTES;
inline constexpr Guid kTimesyncInterface = HV_TS_GUID_BYTES;

// Instance GUIDs only need to be unique per interface; fixed ones keep the
// guest's /sys/bus/vmbus/devices/<instance> names stable across boots.
// {2d0be463-c3b4-4b78-a74e-a60f1dadbf03}: this project's, random (OpenVMM
// has no heartbeat device to copy one from).
inline constexpr Guid kHeartbeatInstance = {0x63, 0xe4, 0x0b, 0x2d, 0xb4, 0xc3, 0x78, 0x4b,
                                            0xa7, 0x4e, 0xa6, 0x0f, 0x1d, 0xad, 0xbf, 0x03};
// {b6650ff7-33bc-4840-8048-e0676786f393}: OpenVMM's shutdown IC
// (hyperv_ic_protocol::shutdown::INSTANCE_ID).
inline constexpr Guid kShutdownInstance = {0xf7, 0x0f, 0x65, 0xb6, 0xbc, 0x33, 0x40, 0x48,
                                           0x80, 0x48, 0xe0, 0x67, 0x67, 0x86, 0xf3, 0x93};
// {2dd1ce17-079e-403c-b352-a1921ee207ee}: OpenVMM's time sync IC.
inline constexpr Guid kTimesyncInstance = {0x17, 0xce, 0xd1, 0x2d, 0x9e, 0x07, 0x3c, 0x40,
                                           0xb3, 0x52, 0xa1, 0x92, 0x1e, 0xe2, 0x07, 0xee};

inline constexpr const Guid& interface_guid(Device d) {
  switch (d) {
    case Device::Heartbeat: return kHeartbeatInterface;
    case Device::Shutdown: return kShutdownInterface;
    case Device::Timesync: return kTimesyncInterface;
  }
  return kHeartbeatInterface;
}

inline constexpr const Guid& instance_guid(Device d) {
  switch (d) {
    case Device::Heartbeat: return kHeartbeatInstance;
    case Device::Shutdown: return kShutdownInstance;
    case Device::Timesync: return kTimesyncInstance;
  }
  return kHeartbeatInstance;
}

// OpenVMM offers its ICs as message-mode pipes (ChannelType::Pipe {
// message_mode: true }), as the pipe header in every packet suggests;
// Linux's hv_utils does not look at either.
inline void fill_offer(enlight_vmbus_device& d, Device which) {
  std::memcpy(d.interface_type, interface_guid(which).data(), VMBUS_GUID_SIZE);
  std::memcpy(d.interface_instance, instance_guid(which).data(), VMBUS_GUID_SIZE);
  d.channel_flags = static_cast<uint16_t>(VMBUS_CHANNEL_NAMED_PIPE_MODE);
  const uint32_t pipe_mode = VMBUS_PIPE_TYPE_MESSAGE;
  for (uint32_t i = 0; i < sizeof pipe_mode; ++i) d.user_defined[i] = static_cast<uint8_t>(pipe_mode >> (8 * i));
}

}  // namespace enlight::vmbus_util
