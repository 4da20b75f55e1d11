// The guest programs built from core/guests and embedded in the binary, so
// `enlight run` needs no other file. Each image is a flat binary to load at
// ENLIGHT_GUEST_LOAD_ADDRESS and enter at its first byte (protocol.h);
// docs/guests.md describes the ABI and the 32-byte image header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace enlight::guests {

struct GuestImage {
  const char* name;         // e.g. "conformance-identity"
  const char* description;  // one line
  const uint8_t* data;      // the flat image
  size_t size;              // bytes
};

// The guest `enlight run` uses when none is named.
inline constexpr std::string_view kDefaultGuest = "conformance-identity";

// Every embedded image, in build order. Empty when the build could not
// compile guests (no x86-64 GCC/Clang).
std::span<const GuestImage> all();
// nullptr if no image has that name.
const GuestImage* find(std::string_view name);

// The image header at offset 0 (written by core/guests/lib/start.S).
inline constexpr size_t kImageHeaderSize = 32;
inline constexpr char kImageMagic[8] = {'E', 'N', 'L', 'G', 'U', 'E', 'S', 'T'};
inline constexpr size_t kImageMagicOffset = 8;
inline constexpr size_t kImageLoadEndOffset = 16;  // u64 GPA: end of the loaded bytes
inline constexpr size_t kImageMemoryEndOffset = 24;  // u64 GPA: end of .bss, the RAM needed

}  // namespace enlight::guests
