#include "packets.hpp"

#include "wire.hpp"

#include <algorithm>
#include <cstring>

namespace enlight::vmbus_net {

std::optional<PageBuffers> parse_page_buffers(std::span<const uint8_t> packet, uint32_t data_offset) noexcept {
  // The extension sits between the descriptor and the data offset.
  if (data_offset > packet.size() || data_offset < VMBUS_PACKET_DESCRIPTOR_SIZE + VMBUS_GPA_DIRECT_RANGES_OFFSET)
    return std::nullopt;
  const auto ext = packet.subspan(VMBUS_PACKET_DESCRIPTOR_SIZE, data_offset - VMBUS_PACKET_DESCRIPTOR_SIZE);
  const uint32_t ranges = wire::u32(ext, VMBUS_GPA_DIRECT_RANGE_COUNT_OFFSET);
  if (ranges == 0 || ranges > MAX_PAGE_BUFFER_COUNT) return std::nullopt;
  PageBuffers pb;
  uint64_t at = VMBUS_GPA_DIRECT_RANGES_OFFSET;
  for (uint32_t r = 0; r < ranges; ++r) {
    // A range: {u32 len, u32 offset, u64 pfn[]} with one PFN per page that
    // offset .. offset + len touches (struct hv_mpb_array). Linux's old
    // vmbus_sendpacket_pagebuffer sent one page per range, which is the
    // same layout with one PFN; its 2025 stable backport of
    // vmbus_sendpacket_mpb_desc groups contiguous pages into one range.
    if (ext.size() < at + VMBUS_MPB_RANGE_PFN_OFFSET) return std::nullopt;
    const uint32_t length = wire::u32(ext, static_cast<uint32_t>(at + VMBUS_PAGE_BUFFER_LEN_OFFSET));
    const uint32_t offset = wire::u32(ext, static_cast<uint32_t>(at + VMBUS_PAGE_BUFFER_OFFSET_OFFSET));
    if (length == 0 || offset >= HV_PAGE_SIZE) return std::nullopt;
    const uint64_t pages = (uint64_t{offset} + length + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
    if (pages > MAX_PAGE_BUFFER_COUNT - pb.count) return std::nullopt;
    const uint64_t pfns = at + VMBUS_MPB_RANGE_PFN_OFFSET;
    if (ext.size() < pfns + pages * sizeof(uint64_t)) return std::nullopt;
    // Flattened into one piece per page, each inside its page.
    uint32_t left = length, in_page = offset;
    for (uint64_t i = 0; i < pages; ++i) {
      const uint64_t pfn = wire::load<uint64_t>(ext, static_cast<uint32_t>(pfns + i * sizeof(uint64_t)));
      if (pfn > (UINT64_MAX >> HV_PAGE_SHIFT)) return std::nullopt;
      const uint32_t n = std::min<uint32_t>(left, HV_PAGE_SIZE - in_page);
      pb.buffers[pb.count++] = {n, in_page, pfn};
      pb.total += n;
      left -= n;
      in_page = 0;
    }
    at = pfns + pages * sizeof(uint64_t);
  }
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
