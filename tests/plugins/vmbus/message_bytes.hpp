// Channel messages laid out by hand, at the offsets Linux uses, for the
// VMBus tests: a builder of little-endian fields and a reader of them.
#pragma once

#include "protocol/channel_messages.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace enlight::vmbus::test {

// A guest message under construction: `size` bytes, message type at 0.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes(size_t size, uint32_t type) : b(size, 0) {
    if (size >= 4) u32(0, type);
  }
  Bytes& u8(size_t off, uint8_t v) {
    b.at(off) = v;
    return *this;
  }
  Bytes& u16(size_t off, uint16_t v) { return le(off, v, 2); }
  Bytes& u32(size_t off, uint32_t v) { return le(off, v, 4); }
  Bytes& u64(size_t off, uint64_t v) { return le(off, v, 8); }
  uint32_t size() const { return static_cast<uint32_t>(b.size()); }
  // Parses from a buffer of exactly the message's size, so a read past the
  // end is a heap overflow a sanitizer build reports.
  Parsed parse() const {
    auto exact = std::make_unique<uint8_t[]>(b.size());
    std::memcpy(exact.get(), b.data(), b.size());
    return parse_guest_message(exact.get(), b.size());
  }

 private:
  Bytes& le(size_t off, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
    return *this;
  }
};

// A whole GPADL_HEADER in one message (at most 26 PFNs), as Linux sends a
// small one: one range, byte_offset 0, byte_count covering every page.
inline Bytes gpadl_header(uint32_t relid, uint32_t handle, const std::vector<uint64_t>& pfns) {
  const uint32_t n = static_cast<uint32_t>(pfns.size());
  Bytes m(VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET + n * VMBUS_GPADL_PFN_SIZE, CHANNELMSG_GPADL_HEADER);
  m.u32(VMBUS_GPADL_HEADER_CHILD_RELID_OFFSET, relid);
  m.u32(VMBUS_GPADL_HEADER_GPADL_OFFSET, handle);
  m.u16(VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET,
        static_cast<uint16_t>(VMBUS_GPA_RANGE_HEADER_SIZE + n * VMBUS_GPADL_PFN_SIZE));
  m.u16(VMBUS_GPADL_HEADER_RANGECOUNT_OFFSET, 1);
  m.u32(VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET, n * HV_PAGE_SIZE);
  m.u32(VMBUS_GPADL_HEADER_BYTE_OFFSET_OFFSET, 0);
  for (uint32_t i = 0; i < n; ++i) m.u64(VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET + i * VMBUS_GPADL_PFN_SIZE, pfns[i]);
  return m;
}

// `n` consecutive PFNs from `first`.
inline std::vector<uint64_t> pfn_run(uint64_t first, uint32_t n) {
  std::vector<uint64_t> pfns(n);
  for (uint32_t i = 0; i < n; ++i) pfns[i] = first + i;
  return pfns;
}

// A little-endian field of a message the host wrote.
template <typename T>
T field(const uint8_t* message, size_t offset) {
  T v;
  std::memcpy(&v, message + offset, sizeof v);
  return v;
}

}  // namespace enlight::vmbus::test
