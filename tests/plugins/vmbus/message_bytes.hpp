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

// A little-endian field of a message the host wrote.
template <typename T>
T field(const uint8_t* message, size_t offset) {
  T v;
  std::memcpy(&v, message + offset, sizeof v);
  return v;
}

}  // namespace enlight::vmbus::test
