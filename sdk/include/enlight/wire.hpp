// Little-endian fields of guest-visible structures (VMBus messages, ring
// descriptors, device protocols) read and written at byte offsets: the
// wire is little-endian whatever the host is, and a byte-wise copy never
// makes an unaligned access. A device plugin decodes its protocol with
// these and the offsets of enlight/tlfs.h.
#pragma once

#include <cstdint>

namespace enlight::wire {

inline uint16_t load16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t load32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
inline uint64_t load64(const uint8_t* p) noexcept { return uint64_t{load32(p)} | (uint64_t{load32(p + 4)} << 32); }

inline void store16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void store32(uint8_t* p, uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void store64(uint8_t* p, uint64_t v) noexcept {
  store32(p, static_cast<uint32_t>(v));
  store32(p + 4, static_cast<uint32_t>(v >> 32));
}

}  // namespace enlight::wire
