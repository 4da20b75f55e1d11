// The VMBus packet shapes the synthetic NIC uses beyond INBAND: the page
// buffers of a guest's GPA_DIRECT packet, checked, and the transfer page
// header of the host's XFER_PAGES packets (layouts in enlight/tlfs.h).
// Plain code: no plugin ABI, no allocation.
#pragma once

#include <enlight/tlfs.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace enlight::vmbus_net {

// One piece of guest memory: `length` bytes at `offset` in page `pfn`,
// never crossing the page.
struct PageBuffer {
  uint32_t length = 0, offset = 0;
  uint64_t pfn = 0;
};

struct PageBuffers {
  std::array<PageBuffer, MAX_PAGE_BUFFER_COUNT> buffers{};
  uint32_t count = 0;
  uint64_t total = 0;  // bytes over all pieces
};

// The memory a GPA_DIRECT packet names, from the whole packet (descriptor
// on, as recv_packet gives it), in order and one piece per page. Each range
// is {len, offset, pfn[]} with a PFN for every page it touches (struct
// hv_mpb_array: Linux 6.1's stable kernels send ranges over several
// contiguous pages; older ones one page per range, the same layout). None
// when the extension is too short for what the ranges say, the range count
// is 0 or above MAX_PAGE_BUFFER_COUNT, a range is empty or starts outside
// its first page, more than MAX_PAGE_BUFFER_COUNT pages are named in all, or
// a PFN's address does not fit 64 bits. Whether the pages are guest RAM is
// the bus's check when they are read.
std::optional<PageBuffers> parse_page_buffers(std::span<const uint8_t> packet, uint32_t data_offset) noexcept;

// The transfer page header of a host-to-guest XFER_PAGES packet with
// `count` ranges: {pageset id, sender_owns 0, count, ranges}, padded to 8.
struct XferRange {
  uint32_t length = 0, offset = 0;
};
constexpr uint32_t xfer_header_size(uint32_t count) noexcept {
  return (VMBUS_XFER_RANGES_OFFSET + count * VMBUS_XFER_RANGE_SIZE + VMBUS_PACKET_ALIGNMENT - 1) &
         ~(VMBUS_PACKET_ALIGNMENT - 1);
}
// Writes the header into `out` (at least xfer_header_size(ranges.size())
// bytes) and returns its size.
uint32_t write_xfer_header(std::span<uint8_t> out, uint16_t pageset_id, std::span<const XferRange> ranges) noexcept;

}  // namespace enlight::vmbus_net
