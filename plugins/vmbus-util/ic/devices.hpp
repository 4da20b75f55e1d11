// The three ICs this plugin offers and the versions each negotiates.
//
// The host offers lists; the guest picks the first of its own versions that
// is offered (Linux vmbus_prep_negotiate_resp). Offering exactly Linux 6.1's
// lists (drivers/hv/hv_util.c fw_versions, hb_versions, sd_versions,
// ts_versions) makes a 6.1 guest pick its newest, and an older one its own
// newest too. Order within a list does not matter to Linux; newest first
// reads as a preference.
#pragma once

#include "ic/wire.hpp"

#include <array>
#include <cstdint>
#include <span>

namespace enlight::vmbus_util {

enum class Device : uint8_t { Heartbeat, Shutdown, Timesync };
inline constexpr size_t kDeviceCount = 3;

inline constexpr std::array<IcVersion, 2> kFrameworkVersions = {
    IcVersion::from_packed(UTIL_FW_VERSION), IcVersion::from_packed(UTIL_WS2K8_FW_VERSION)};

inline constexpr std::array<IcVersion, 2> kHeartbeatVersions = {IcVersion::from_packed(IC_HB_VERSION),
                                                                 IcVersion::from_packed(IC_HB_VERSION_1)};
inline constexpr std::array<IcVersion, 4> kShutdownVersions = {
    IcVersion::from_packed(IC_SD_VERSION_3_2), IcVersion::from_packed(IC_SD_VERSION_3_1),
    IcVersion::from_packed(IC_SD_VERSION), IcVersion::from_packed(IC_SD_VERSION_1)};
inline constexpr std::array<IcVersion, 3> kTimesyncVersions = {
    IcVersion::from_packed(IC_TS_VERSION), IcVersion::from_packed(IC_TS_VERSION_3),
    IcVersion::from_packed(IC_TS_VERSION_1)};

inline constexpr std::span<const IcVersion> message_versions(Device d) {
  switch (d) {
    case Device::Heartbeat: return kHeartbeatVersions;
    case Device::Shutdown: return kShutdownVersions;
    case Device::Timesync: return kTimesyncVersions;
  }
  return {};
}

// The device's one request type besides NEGOTIATE.
inline constexpr uint16_t request_type(Device d) {
  switch (d) {
    case Device::Heartbeat: return ICMSGTYPE_HEARTBEAT;
    case Device::Shutdown: return ICMSGTYPE_SHUTDOWN;
    case Device::Timesync: return ICMSGTYPE_TIMESYNC;
  }
  return ICMSGTYPE_NEGOTIATE;
}

// Metrics label and log name, [a-z0-9_-].
inline constexpr const char* name(Device d) {
  switch (d) {
    case Device::Heartbeat: return "heartbeat";
    case Device::Shutdown: return "shutdown";
    case Device::Timesync: return "timesync";
  }
  return "unknown";
}

}  // namespace enlight::vmbus_util
