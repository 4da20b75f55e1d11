#include "packets.hpp"

#include "wire.hpp"

#include <cstring>

namespace enlight::vmbus_net {

std::optional<PageBuffers> parse_page_buffers(std::span<const uint8_t> packet, uint32_t data_offset) noexcept {
  // The extension sits between the descriptor and the data offset.
  if (data_offset > packet.size() || data_offset < VMBUS_PACKET_DESCRIPTOR_SIZE + VMBUS_GPA_DIRECT_RANGES_OFFSET)
    return std::nullopt;
  const auto ext = packet.subspan(VMBUS_PACKET_DESCRIPTOR_SIZE, data_offset - VMBUS_PACKET_DESCRIPTOR_SIZE);
  const uint32_t count = wire::u32(ext, VMBUS_GPA_DIRECT_RANGE_COUNT_OFFSET);
  if (count == 0 || count > MAX_PAGE_BUFFER_COUNT ||
      ext.size() < VMBUS_GPA_DIRECT_RANGES_OFFSET + uint64_t{count} * VMBUS_PAGE_BUFFER_SIZE)
    return std::nullopt;
  PageBuffers pb;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t at = VMBUS_GPA_DIRECT_RANGES_OFFSET + i * VMBUS_PAGE_BUFFER_SIZE;
    PageBuffer b{wire::u32(ext, at + VMBUS_PAGE_BUFFER_LEN_OFFSET), wire::u32(ext, at + VMBUS_PAGE_BUFFER_OFFSET_OFFSET),
                 wire::load<uint64_t>(ext, at + VMBUS_PAGE_BUFFER_PFN_OFFSET)};
    // Linux's hv_page_buffer never crosses its page (one entry per page).
    if (b.offset >= HV_PAGE_SIZE || b.length > HV_PAGE_SIZE - b.offset || b.pfn > (UINT64_MAX >> HV_PAGE_SHIFT))
      return std::nullopt;
    pb.buffers[i] = b;
    pb.total += b.length;
  }
  pb.count = count;
  return pb;
}

uint32_t write_xfer_header(std::span<uint8_t> out, uint16_t pageset_id, std::span<const XferRange> ranges) noexcept {
  const uint32_t size = xfer_header_size(static_cast<uint32_t>(ranges.size()));
  if (out.size() < size) return 0;
  std::memset(out.data(), 0, size);
  wire::store<uint16_t>(out, VMBUS_XFER_PAGESET_ID_OFFSET, pageset_id);
  wire::store<uint32_t>(out, VMBUS_XFER_RANGE_COUNT_OFFSET, static_cast<uint32_t>(ranges.size()));
  for (size_t i = 0; i < ranges.size(); ++i) {
    const uint32_t at = VMBUS_XFER_RANGES_OFFSET + static_cast<uint32_t>(i) * VMBUS_XFER_RANGE_SIZE;
    wire::store<uint32_t>(out, at + VMBUS_XFER_RANGE_BYTE_COUNT_OFFSET, ranges[i].length);
    wire::store<uint32_t>(out, at + VMBUS_XFER_RANGE_BYTE_OFFSET_OFFSET, ranges[i].offset);
  }
  return size;
}

}  // namespace enlight::vmbus_net
