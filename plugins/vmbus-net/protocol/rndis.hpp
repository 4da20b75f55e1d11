// RNDIS, the messages NVSP carries (numbers in enlight/tlfs.h): the guest's
// stream of concatenated messages walked and each checked, the frames of its
// data packets located, its control requests parsed, and the host's
// completions, indications and data packets encoded into caller buffers.
// Plain code: no plugin ABI, no allocation.
#pragma once

#include <enlight/tlfs.h>

#include <cstdint>
#include <optional>
#include <span>

namespace enlight::vmbus_net {

// One message of the stream: its type and all msg_len bytes of it.
struct RndisMessage {
  uint32_t type = 0;
  std::span<const uint8_t> bytes;
};

// Walks the messages of one send section or page-buffer run. Linux batches
// several data messages per section, each padded to the alignment the host
// gave in INIT_C and with msg_len covering the padding (netvsc.c
// netvsc_copy_to_send_buf), so msg_len alone steps from one to the next.
class RndisStream {
 public:
  explicit RndisStream(std::span<const uint8_t> bytes) : rest_(bytes) {}
  // The next message; none at the end or when the framing is bad (msg_len
  // below the header or past the data), then malformed() says which.
  std::optional<RndisMessage> next() noexcept;
  bool malformed() const noexcept { return malformed_; }

 private:
  std::span<const uint8_t> rest_;
  bool malformed_ = false;
};

// The Ethernet frame of an RNDIS_MSG_PACKET: data_offset (from the body)
// and data_len must lie inside msg_len. Per-packet info is skipped (the
// host offers no offloads, so it carries nothing the host must act on).
std::optional<std::span<const uint8_t>> rndis_packet_frame(const RndisMessage& m) noexcept;

struct RndisInit {
  uint32_t request_id = 0, major = 0, minor = 0, max_transfer_size = 0;
};
// QUERY and SET: the object id and the information buffer the request
// carries (a SET's value; a QUERY's input, e.g. the NDIS object header
// Linux puts in its OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES query).
struct RndisOidRequest {
  uint32_t request_id = 0, oid = 0;
  std::span<const uint8_t> info;
};
std::optional<RndisInit> parse_rndis_init(const RndisMessage& m) noexcept;
std::optional<RndisOidRequest> parse_rndis_oid_request(const RndisMessage& m) noexcept;
// HALT and KEEPALIVE: their request id.
std::optional<uint32_t> parse_rndis_request_id(const RndisMessage& m) noexcept;

// Encoders: each writes one message at the start of `out` and returns its
// length, or 0 when `out` is too small.
uint32_t rndis_init_complete(std::span<uint8_t> out, uint32_t request_id, uint32_t max_packets_per_message,
                             uint32_t max_transfer_size, uint32_t alignment_log2) noexcept;
uint32_t rndis_query_complete(std::span<uint8_t> out, uint32_t request_id, uint32_t status,
                              std::span<const uint8_t> info) noexcept;
// SET_C and KEEPALIVE_C share a layout.
uint32_t rndis_status_complete(std::span<uint8_t> out, uint32_t type, uint32_t request_id, uint32_t status) noexcept;
uint32_t rndis_indicate_status(std::span<uint8_t> out, uint32_t status) noexcept;
// The header of a data packet whose frame of `frame_length` bytes follows
// it directly (data_offset = RNDIS_PACKET_BODY_SIZE, no per-packet info:
// Linux 6.1's rndis_get_ppi loops forever on some malformed entries, so
// none are sent). Writes RNDIS_PACKET_SIZE bytes.
void rndis_packet_header(std::span<uint8_t, RNDIS_PACKET_SIZE> out, uint32_t frame_length) noexcept;

}  // namespace enlight::vmbus_net
