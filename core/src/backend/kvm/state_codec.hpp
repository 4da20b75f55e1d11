// How the kvm backend writes KVM's own structures into a snapshot
// (state.cpp: a vCPU's; devices_state.cpp: the machine's): each one as
// KVM lays it out, with its size first, so a build with other kernel
// headers refuses a state instead of misreading it. Reading is bounded:
// a short or oversized field throws std::runtime_error naming it.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace enlight::kvm::codec {

inline void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
inline void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
template <class T>
void put_struct(std::vector<uint8_t>& out, const T& v) {
  put_u32(out, sizeof v);
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

// A cursor over saved bytes that never reads past their end. Out of
// line and not inlined: the minimal build's size budget (docs/size.md).
class Reader {
 public:
  Reader(const std::vector<uint8_t>& in, const char* whose) : in_(in), whose_(whose) {}
  uint32_t u32(const char* what) { return static_cast<uint32_t>(fixed(4, what)); }
  uint64_t u64(const char* what) { return fixed(8, what); }
  template <class T>
  void take(T& v, const char* what) {
    take_sized(&v, sizeof v, what);
  }
  [[gnu::noinline]] const uint8_t* bytes(uint64_t n, const char* what) {
    if (in_.size() - at_ < n) fail(std::string("ends inside ") + what);
    const uint8_t* p = in_.data() + at_;
    at_ += n;
    return p;
  }
  void expect_end() {
    if (at_ != in_.size()) fail("has " + std::to_string(in_.size() - at_) + " bytes too many");
  }
  [[noreturn, gnu::noinline, gnu::cold]] void fail(const std::string& what) const {
    throw std::runtime_error(std::string(whose_) + " " + what);
  }

 private:
  // A structure as put_struct wrote it: its size, then its bytes.
  [[gnu::noinline]] void take_sized(void* v, uint32_t size, const char* what) {
    const uint32_t n = u32(what);
    if (n != size || in_.size() - at_ < n)
      fail(std::string(what) + " is " + std::to_string(n) + " bytes, not " + std::to_string(size));
    std::memcpy(v, in_.data() + at_, n);
    at_ += n;
  }
  [[gnu::noinline]] uint64_t fixed(int n, const char* what) {
    if (in_.size() - at_ < static_cast<size_t>(n)) fail(std::string("ends before ") + what);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(in_[at_ + i]) << (8 * i);
    at_ += n;
    return v;
  }
  const std::vector<uint8_t>& in_;
  const char* whose_;
  size_t at_ = 0;
};

// An ioctl whose failure is the snapshot's: throws "<what>: <errno text>".
inline void ioctl_or_throw(int fd, unsigned long request, const char* what, void* arg) {
  if (::ioctl(fd, request, arg) != 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace enlight::kvm::codec
