// Little-endian fields of NVSP and RNDIS messages at byte offsets. Callers
// check lengths first; these only move bytes (memcpy: messages in guest
// buffers have no alignment).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

namespace enlight::vmbus_net::wire {

static_assert(std::endian::native == std::endian::little, "wire fields are copied as host integers");

template <typename T>
T load(std::span<const uint8_t> bytes, uint32_t offset) noexcept {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

template <typename T>
void store(std::span<uint8_t> bytes, uint32_t offset, T v) noexcept {
  std::memcpy(bytes.data() + offset, &v, sizeof v);
}

inline uint32_t u32(std::span<const uint8_t> bytes, uint32_t offset) noexcept { return load<uint32_t>(bytes, offset); }

}  // namespace enlight::vmbus_net::wire
