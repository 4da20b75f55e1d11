#include "nvsp.hpp"

#include "wire.hpp"

#include <algorithm>

namespace enlight::vmbus_net {
namespace {

constexpr std::array<uint32_t, 6> kVersions = {NVSP_PROTOCOL_VERSION_1, NVSP_PROTOCOL_VERSION_2,
                                               NVSP_PROTOCOL_VERSION_4, NVSP_PROTOCOL_VERSION_5,
                                               NVSP_PROTOCOL_VERSION_6, NVSP_PROTOCOL_VERSION_61};

bool known(uint32_t v) { return std::find(kVersions.begin(), kVersions.end(), v) != kVersions.end(); }

NvspBytes start(uint32_t type) noexcept {
  NvspBytes b{};
  wire::store<uint32_t>(b, NVSP_MESSAGE_TYPE_OFFSET, type);
  return b;
}

}  // namespace

NvspParse parse_nvsp(std::span<const uint8_t> d) noexcept {
  NvspParse r;
  if (d.size() < NVSP_MESSAGE_BODY_OFFSET) return r;
  const uint32_t type = wire::u32(d, NVSP_MESSAGE_TYPE_OFFSET);
  // Each body's last field must be inside the data; Linux sends the full
  // NVSP_MESSAGE_SIZE, but a shorter message that holds its fields is taken.
  auto has = [&](uint32_t end) { return d.size() >= end; };
  switch (type) {
    case NVSP_MSG_TYPE_INIT:
      if (!has(NVSP_INIT_MAX_VERSION_OFFSET + 4)) return r;
      r.message = NvspInit{wire::u32(d, NVSP_INIT_MIN_VERSION_OFFSET), wire::u32(d, NVSP_INIT_MAX_VERSION_OFFSET)};
      return r;
    case NVSP_MSG2_TYPE_SEND_NDIS_CONFIG:
      if (!has(NVSP_NDIS_CONFIG_CAPABILITY_OFFSET + 8)) return r;
      r.message = NvspNdisConfig{wire::u32(d, NVSP_NDIS_CONFIG_MTU_OFFSET),
                                 wire::load<uint64_t>(d, NVSP_NDIS_CONFIG_CAPABILITY_OFFSET)};
      return r;
    case NVSP_MSG1_TYPE_SEND_NDIS_VER:
      if (!has(NVSP_NDIS_VER_MINOR_OFFSET + 4)) return r;
      r.message = NvspNdisVersion{wire::u32(d, NVSP_NDIS_VER_MAJOR_OFFSET), wire::u32(d, NVSP_NDIS_VER_MINOR_OFFSET)};
      return r;
    case NVSP_MSG1_TYPE_SEND_RECV_BUF:
    case NVSP_MSG1_TYPE_SEND_SEND_BUF:
      if (!has(NVSP_SEND_BUF_ID_OFFSET + 2)) return r;
      r.message = NvspBuffer{type == NVSP_MSG1_TYPE_SEND_RECV_BUF, wire::u32(d, NVSP_SEND_BUF_GPADL_OFFSET),
                             wire::load<uint16_t>(d, NVSP_SEND_BUF_ID_OFFSET)};
      return r;
    case NVSP_MSG1_TYPE_REVOKE_RECV_BUF:
    case NVSP_MSG1_TYPE_REVOKE_SEND_BUF:
      if (!has(NVSP_REVOKE_BUF_ID_OFFSET + 2)) return r;
      r.message = NvspRevoke{type == NVSP_MSG1_TYPE_REVOKE_RECV_BUF, wire::load<uint16_t>(d, NVSP_REVOKE_BUF_ID_OFFSET)};
      return r;
    case NVSP_MSG1_TYPE_SEND_RNDIS_PKT:
      if (!has(NVSP_RNDIS_PKT_SECTION_SIZE_OFFSET + 4)) return r;
      r.message = NvspRndisPacket{wire::u32(d, NVSP_RNDIS_PKT_CHANNEL_TYPE_OFFSET),
                                  wire::u32(d, NVSP_RNDIS_PKT_SECTION_INDEX_OFFSET),
                                  wire::u32(d, NVSP_RNDIS_PKT_SECTION_SIZE_OFFSET)};
      return r;
    case NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE:
      if (!has(NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET + 4)) return r;
      r.message = NvspRndisPacketComplete{wire::u32(d, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET)};
      return r;
    case NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION:
    case NVSP_MSG4_TYPE_SWITCH_DATA_PATH:
    case NVSP_MSG5_TYPE_OID_QUERY_EX:
    case NVSP_MSG5_TYPE_SUBCHANNEL:
    case NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE:
      r.message = NvspIgnored{type};
      return r;
    default:
      r.error = NvspError::UnknownType;
      return r;
  }
}

std::optional<uint32_t> negotiate_nvsp(uint32_t min_version, uint32_t max_version) noexcept {
  if (min_version > max_version || !known(max_version)) return std::nullopt;
  return max_version;
}

NvspBytes nvsp_init_complete(uint32_t version, uint32_t status) noexcept {
  NvspBytes b = start(NVSP_MSG_TYPE_INIT_COMPLETE);
  wire::store<uint32_t>(b, NVSP_INIT_COMPLETE_VERSION_OFFSET, version);
  wire::store<uint32_t>(b, NVSP_INIT_COMPLETE_MAX_MDL_CHAIN_OFFSET, 0);
  wire::store<uint32_t>(b, NVSP_INIT_COMPLETE_STATUS_OFFSET, status);
  return b;
}

NvspBytes nvsp_recv_buf_complete(uint32_t status, uint32_t size, uint32_t count) noexcept {
  NvspBytes b = start(NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE);
  wire::store<uint32_t>(b, NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET, status);
  if (status != NVSP_STAT_SUCCESS) return b;
  wire::store<uint32_t>(b, NVSP_RECV_BUF_COMPLETE_NUM_SECTIONS_OFFSET, 1);
  wire::store<uint32_t>(b, NVSP_RECV_BUF_SECTION_OFFSET_OFFSET, 0);
  wire::store<uint32_t>(b, NVSP_RECV_BUF_SECTION_SUB_ALLOC_SIZE_OFFSET, size);
  wire::store<uint32_t>(b, NVSP_RECV_BUF_SECTION_NUM_SUB_ALLOCS_OFFSET, count);
  wire::store<uint32_t>(b, NVSP_RECV_BUF_SECTION_END_OFFSET_OFFSET, size * count);
  return b;
}

NvspBytes nvsp_send_buf_complete(uint32_t status, uint32_t section_size) noexcept {
  NvspBytes b = start(NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE);
  wire::store<uint32_t>(b, NVSP_SEND_BUF_COMPLETE_STATUS_OFFSET, status);
  wire::store<uint32_t>(b, NVSP_SEND_BUF_COMPLETE_SECTION_SIZE_OFFSET, status == NVSP_STAT_SUCCESS ? section_size : 0);
  return b;
}

NvspBytes nvsp_rndis_packet_complete(uint32_t status) noexcept {
  NvspBytes b = start(NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE);
  wire::store<uint32_t>(b, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET, status);
  return b;
}

NvspBytes nvsp_send_rndis_packet(uint32_t channel_type) noexcept {
  NvspBytes b = start(NVSP_MSG1_TYPE_SEND_RNDIS_PKT);
  wire::store<uint32_t>(b, NVSP_RNDIS_PKT_CHANNEL_TYPE_OFFSET, channel_type);
  wire::store<uint32_t>(b, NVSP_RNDIS_PKT_SECTION_INDEX_OFFSET, NETVSC_INVALID_INDEX);
  wire::store<uint32_t>(b, NVSP_RNDIS_PKT_SECTION_SIZE_OFFSET, 0);
  return b;
}

}  // namespace enlight::vmbus_net
