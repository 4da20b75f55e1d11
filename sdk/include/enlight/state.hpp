// A plugin's saved state (snapshot, restore; docs/snapshots.md): what a
// plugin's Vm or Vcpu writes in `save` and reads back in `load`.
//
//   void save(enlight::StateWriter& w) const { w.put(simp); w.put(sint); }
//   void load(enlight::StateReader& r) {
//     simp = r.get<uint64_t>();
//     r.get(sint);                                   // an array, element by element
//     if (r.ok() && (simp & 0xFFE) != 0) r.fail("SIMP has reserved bits set");
//   }
//
// Fields are little-endian and fixed width, in the order written: the blob
// is the plugin's own format, versioned by the plugin's version (the core
// refuses a snapshot whose plugin versions differ) and by `kStateVersion`
// if the type declares one. Both sides are bounded: a writer past its
// capacity reports it (the core retries with more room), a reader past the
// end fails and returns zeros, so `load` never reads outside the blob
// whatever the file holds. A snapshot file is input like any other: `load`
// validates every value it restores (r.fail says why), and the core
// destroys a VM whose load failed before it runs.
//
// No exceptions are needed: failures are recorded in the reader.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace enlight {

class StateWriter {
 public:
  StateWriter(uint8_t* buffer, uint64_t capacity) noexcept : buffer_(buffer), capacity_(capacity) {}

  void bytes(const void* data, uint64_t size) noexcept {
    if (used_ > capacity_ || size > capacity_ - used_) {
      overflow_ = true;
      used_ += size;
      return;
    }
    if (size != 0) std::memcpy(buffer_ + used_, data, size);
    used_ += size;
  }
  template <class T>
  void put(const T& value) noexcept {
    if constexpr (std::is_enum_v<T>) {
      put(static_cast<std::underlying_type_t<T>>(value));
    } else if constexpr (std::is_same_v<T, bool>) {
      put(static_cast<uint8_t>(value ? 1 : 0));
    } else if constexpr (std::is_integral_v<T>) {
      uint8_t le[sizeof(T)];
      using U = std::make_unsigned_t<T>;
      U u = static_cast<U>(value);
      for (size_t i = 0; i < sizeof(T); ++i) le[i] = static_cast<uint8_t>(u >> (8 * i));
      bytes(le, sizeof le);
    } else if constexpr (requires { value.load(std::memory_order_relaxed); }) {
      put(value.load(std::memory_order_relaxed));  // std::atomic<integral>
    } else if constexpr (requires { std::size(value); value[0]; }) {
      for (const auto& element : value) put(element);
    } else {
      static_assert(sizeof(T) == 0, "StateWriter::put: integers, enums, bools, atomics and arrays of them");
    }
  }

  // Bytes written, or -1 when the capacity was too small (ABI: the core
  // retries with more).
  int64_t result() const noexcept { return overflow_ ? -1 : static_cast<int64_t>(used_); }

 private:
  uint8_t* buffer_;
  uint64_t capacity_;
  uint64_t used_ = 0;
  bool overflow_ = false;
};

class StateReader {
 public:
  StateReader(const uint8_t* data, uint64_t size) noexcept : data_(data), size_(size) {}

  bool bytes(void* out, uint64_t size) noexcept {
    if (failed_ || size > size_ - pos_) {
      if (!failed_) fail("the saved state ends early (" + std::to_string(size_) + " bytes)");
      std::memset(out, 0, size);
      return false;
    }
    if (size != 0) std::memcpy(out, data_ + pos_, size);
    pos_ += size;
    return true;
  }
  template <class T>
  void get(T& value) noexcept {
    if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> raw{};
      get(raw);
      value = static_cast<T>(raw);
    } else if constexpr (std::is_same_v<T, bool>) {
      uint8_t raw = 0;
      get(raw);
      if (raw > 1) fail("a flag in the saved state is neither 0 nor 1");
      value = raw == 1;
    } else if constexpr (std::is_integral_v<T>) {
      uint8_t le[sizeof(T)];
      bytes(le, sizeof le);
      std::make_unsigned_t<T> u = 0;
      for (size_t i = 0; i < sizeof(T); ++i) u |= static_cast<std::make_unsigned_t<T>>(le[i]) << (8 * i);
      value = static_cast<T>(u);
    } else if constexpr (requires { value.store(value.load()); }) {
      decltype(value.load()) raw{};
      get(raw);
      value.store(raw, std::memory_order_relaxed);
    } else if constexpr (requires { std::size(value); value[0]; }) {
      for (auto& element : value) get(element);
    } else {
      static_assert(sizeof(T) == 0, "StateReader::get: integers, enums, bools, atomics and arrays of them");
    }
  }
  template <class T>
  T get() noexcept {
    T value{};
    get(value);
    return value;
  }

  // A value the plugin refuses (out of range, reserved bits): the load fails
  // with this message; the first failure is kept.
  void fail(std::string why) noexcept {
    if (!failed_) message_ = std::move(why);
    failed_ = true;
  }
  // The same for one restored value, named with the value in hex:
  //   r.refuse("HV_X64_MSR_SINT3", value, "vector below 16 while unmasked")
  // fails with "HV_X64_MSR_SINT3 = 0x0000000000000005: vector below 16 ...".
  void refuse(std::string_view what, uint64_t value, std::string_view why) noexcept {
    if (failed_) return;
    static constexpr char kDigits[] = "0123456789abcdef";
    char hex[19] = {'0', 'x'};
    for (int i = 0; i < 16; ++i) hex[2 + i] = kDigits[(value >> (60 - 4 * i)) & 0xF];
    std::string m(what);
    m += " = ";
    m.append(hex, 18);
    m += ": ";
    m += why;
    fail(std::move(m));
  }
  bool ok() const noexcept { return !failed_; }
  // Call after reading the last field and before applying anything: fails
  // (as the load thunk would afterwards) when bytes are left unread, so a
  // load that then returns changes nothing.
  bool complete() noexcept {
    if (!failed_ && pos_ != size_) fail(std::to_string(size_ - pos_) + " bytes of the saved state were left unread");
    return !failed_;
  }
  const std::string& message() const noexcept { return message_; }
  uint64_t remaining() const noexcept { return size_ - pos_; }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  bool failed_ = false;
  std::string message_;
};

}  // namespace enlight
