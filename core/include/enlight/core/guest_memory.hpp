// Guest physical memory as the core sees it: one flat RAM region from GPA 0,
// mapped in the host. Every access a guest value can steer goes through the
// bounds checks here.
#pragma once

#include <cstdint>
#include <cstring>

namespace enlight {

class GuestMemory {
 public:
  GuestMemory() = default;
  GuestMemory(uint8_t* base, uint64_t size) : base_(base), size_(size) {}

  uint64_t size() const noexcept { return size_; }
  uint8_t* base() const noexcept { return base_; }

  // True when [gpa, gpa+len) lies inside RAM; written so that no sum can
  // overflow whatever the guest passes.
  bool contains(uint64_t gpa, uint64_t len) const noexcept {
    return gpa <= size_ && len <= size_ - gpa;
  }
  // An empty copy is valid and may come with a null buffer (an empty
  // vector's data()), which memcpy must never be given (UBSan).
  bool read(uint64_t gpa, void* dst, uint64_t len) const noexcept {
    if (!contains(gpa, len)) return false;
    if (len != 0) std::memcpy(dst, base_ + gpa, len);
    return true;
  }
  bool write(uint64_t gpa, const void* src, uint64_t len) const noexcept {
    if (!contains(gpa, len)) return false;
    if (len != 0) std::memcpy(base_ + gpa, src, len);
    return true;
  }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace enlight
