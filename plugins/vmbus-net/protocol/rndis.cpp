#include "rndis.hpp"

#include "wire.hpp"

#include <cstring>

namespace enlight::vmbus_net {
namespace {

// Offsets inside a body (info_buf_offset, data_offset) count from the end
// of the 8-byte header.
constexpr uint32_t kBody = RNDIS_HEADER_SIZE;

void header(std::span<uint8_t> out, uint32_t type, uint32_t length) noexcept {
  wire::store<uint32_t>(out, RNDIS_MSG_TYPE_OFFSET, type);
  wire::store<uint32_t>(out, RNDIS_MSG_LEN_OFFSET, length);
}

}  // namespace

std::optional<RndisMessage> RndisStream::next() noexcept {
  if (rest_.empty() || malformed_) return std::nullopt;
  if (rest_.size() < RNDIS_HEADER_SIZE) {
    malformed_ = true;
    return std::nullopt;
  }
  const uint32_t length = wire::u32(rest_, RNDIS_MSG_LEN_OFFSET);
  if (length < RNDIS_HEADER_SIZE || length > rest_.size()) {
    malformed_ = true;
    return std::nullopt;
  }
  RndisMessage m{wire::u32(rest_, RNDIS_MSG_TYPE_OFFSET), rest_.first(length)};
  rest_ = rest_.subspan(length);
  return m;
}

std::optional<std::span<const uint8_t>> rndis_packet_frame(const RndisMessage& m) noexcept {
  if (m.type != RNDIS_MSG_PACKET || m.bytes.size() < RNDIS_PACKET_SIZE) return std::nullopt;
  const uint64_t offset = wire::u32(m.bytes, RNDIS_PACKET_DATA_OFFSET_OFFSET);
  const uint64_t length = wire::u32(m.bytes, RNDIS_PACKET_DATA_LEN_OFFSET);
  const uint64_t body = m.bytes.size() - kBody;
  // The frame cannot overlap the fixed part of the body.
  if (offset < RNDIS_PACKET_BODY_SIZE || offset > body || length > body - offset) return std::nullopt;
  return m.bytes.subspan(kBody + offset, length);
}

std::optional<RndisInit> parse_rndis_init(const RndisMessage& m) noexcept {
  if (m.type != RNDIS_MSG_INIT || m.bytes.size() < RNDIS_INIT_SIZE) return std::nullopt;
  return RndisInit{wire::u32(m.bytes, RNDIS_REQ_ID_OFFSET), wire::u32(m.bytes, RNDIS_INIT_MAJOR_OFFSET),
                   wire::u32(m.bytes, RNDIS_INIT_MINOR_OFFSET), wire::u32(m.bytes, RNDIS_INIT_MAX_XFER_SIZE_OFFSET)};
}

std::optional<RndisOidRequest> parse_rndis_oid_request(const RndisMessage& m) noexcept {
  if ((m.type != RNDIS_MSG_QUERY && m.type != RNDIS_MSG_SET) || m.bytes.size() < RNDIS_OID_REQ_SIZE)
    return std::nullopt;
  const uint64_t length = wire::u32(m.bytes, RNDIS_OID_REQ_INFO_BUFLEN_OFFSET);
  const uint64_t offset = wire::u32(m.bytes, RNDIS_OID_REQ_INFO_BUF_OFFSET_OFFSET);
  const uint64_t body = m.bytes.size() - kBody;
  RndisOidRequest r{wire::u32(m.bytes, RNDIS_REQ_ID_OFFSET), wire::u32(m.bytes, RNDIS_OID_REQ_OID_OFFSET), {}};
  if (length == 0) return r;  // Linux's queries carry no input, at any offset
  if (offset < RNDIS_OID_REQ_SIZE - kBody || offset > body || length > body - offset) return std::nullopt;
  r.info = m.bytes.subspan(kBody + offset, length);
  return r;
}

std::optional<uint32_t> parse_rndis_request_id(const RndisMessage& m) noexcept {
  if (m.bytes.size() < RNDIS_REQ_ID_OFFSET + 4) return std::nullopt;
  return wire::u32(m.bytes, RNDIS_REQ_ID_OFFSET);
}

uint32_t rndis_init_complete(std::span<uint8_t> out, uint32_t request_id, uint32_t max_packets_per_message,
                             uint32_t max_transfer_size, uint32_t alignment_log2) noexcept {
  if (out.size() < RNDIS_INIT_C_SIZE) return 0;
  std::memset(out.data(), 0, RNDIS_INIT_C_SIZE);
  header(out, RNDIS_MSG_INIT_C, RNDIS_INIT_C_SIZE);
  wire::store<uint32_t>(out, RNDIS_REQ_ID_OFFSET, request_id);
  wire::store<uint32_t>(out, RNDIS_INIT_C_STATUS_OFFSET, RNDIS_STATUS_SUCCESS);
  wire::store<uint32_t>(out, RNDIS_INIT_C_MAJOR_OFFSET, RNDIS_MAJOR_VERSION);
  wire::store<uint32_t>(out, RNDIS_INIT_C_MINOR_OFFSET, RNDIS_MINOR_VERSION);
  wire::store<uint32_t>(out, RNDIS_INIT_C_DEV_FLAGS_OFFSET, RNDIS_DF_CONNECTIONLESS);
  wire::store<uint32_t>(out, RNDIS_INIT_C_MEDIUM_OFFSET, RNDIS_MEDIUM_802_3);
  wire::store<uint32_t>(out, RNDIS_INIT_C_MAX_PKT_PER_MSG_OFFSET, max_packets_per_message);
  wire::store<uint32_t>(out, RNDIS_INIT_C_MAX_XFER_SIZE_OFFSET, max_transfer_size);
  wire::store<uint32_t>(out, RNDIS_INIT_C_PKT_ALIGNMENT_OFFSET, alignment_log2);
  return RNDIS_INIT_C_SIZE;
}

uint32_t rndis_query_complete(std::span<uint8_t> out, uint32_t request_id, uint32_t status,
                              std::span<const uint8_t> info) noexcept {
  const uint64_t length = uint64_t{RNDIS_QUERY_C_SIZE} + info.size();
  if (out.size() < length) return 0;
  header(out, RNDIS_MSG_QUERY_C, static_cast<uint32_t>(length));
  wire::store<uint32_t>(out, RNDIS_REQ_ID_OFFSET, request_id);
  wire::store<uint32_t>(out, RNDIS_COMPLETE_STATUS_OFFSET, status);
  wire::store<uint32_t>(out, RNDIS_QUERY_C_INFO_BUFLEN_OFFSET, static_cast<uint32_t>(info.size()));
  // Linux checks info_buf_offset >= sizeof(struct rndis_query_complete)
  // (rndis_filter_query_device): the data follows the body directly.
  wire::store<uint32_t>(out, RNDIS_QUERY_C_INFO_BUF_OFFSET_OFFSET, RNDIS_QUERY_C_SIZE - kBody);
  if (!info.empty()) std::memcpy(out.data() + RNDIS_QUERY_C_SIZE, info.data(), info.size());
  return static_cast<uint32_t>(length);
}

uint32_t rndis_status_complete(std::span<uint8_t> out, uint32_t type, uint32_t request_id, uint32_t status) noexcept {
  if (out.size() < RNDIS_SET_C_SIZE) return 0;
  header(out, type, RNDIS_SET_C_SIZE);
  wire::store<uint32_t>(out, RNDIS_REQ_ID_OFFSET, request_id);
  wire::store<uint32_t>(out, RNDIS_COMPLETE_STATUS_OFFSET, status);
  return RNDIS_SET_C_SIZE;
}

uint32_t rndis_indicate_status(std::span<uint8_t> out, uint32_t status) noexcept {
  if (out.size() < RNDIS_INDICATE_SIZE) return 0;
  std::memset(out.data(), 0, RNDIS_INDICATE_SIZE);
  header(out, RNDIS_MSG_INDICATE, RNDIS_INDICATE_SIZE);
  wire::store<uint32_t>(out, RNDIS_INDICATE_STATUS_OFFSET, status);
  return RNDIS_INDICATE_SIZE;
}

void rndis_packet_header(std::span<uint8_t, RNDIS_PACKET_SIZE> out, uint32_t frame_length) noexcept {
  std::memset(out.data(), 0, out.size());
  header(out, RNDIS_MSG_PACKET, RNDIS_PACKET_SIZE + frame_length);
  wire::store<uint32_t>(out, RNDIS_PACKET_DATA_OFFSET_OFFSET, RNDIS_PACKET_BODY_SIZE);
  wire::store<uint32_t>(out, RNDIS_PACKET_DATA_LEN_OFFSET, frame_length);
}

}  // namespace enlight::vmbus_net
