// The snapshot file's wire format (docs/snapshots.md, "The file"): a
// header, then sections, each with its tag, length and CRC-32. Kept apart
// from what writes and restores them, so the parser can be fuzzed alone.
#pragma once

#include <enlight/core/snapshot.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace enlight::snapshot_format {

inline constexpr char kMagic[8] = {'E', 'N', 'L', 'S', 'N', 'A', 'P', '\0'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kHeaderBytes = 16;         // magic, version, reserved
inline constexpr uint64_t kSectionHeaderBytes = 16;  // tag, crc, length
inline constexpr uint64_t kPageBytes = 4096;
inline constexpr uint64_t kMaxRamRunBytes = 1ull << 20;  // a RAM section holds at most this much
inline constexpr uint64_t kMaxMemoryBytes = 64ull << 30;
inline constexpr uint32_t kMaxVcpus = 4096;
inline constexpr uint32_t kMaxPlugins = 1024;
inline constexpr uint64_t kMaxDevicesBytes = 1ull << 20;  // the kvm PC machine's is ~7 KiB

enum Tag : uint32_t {
  kMachine = 1,   // once, first: SnapshotState's scalars
  kPlugins = 2,   // once, second: the plugin set
  kBlob = 3,      // one per plugin state
  kVcpu = 4,      // one per vCPU, in order
  kRam = 5,       // runs of non-zero pages, ascending, not overlapping
  kDevices = 6,   // at most once, after the vCPUs: the backend's machine devices
  kEnd = 0xFFFF'FFFFu,
};

uint32_t crc32(const uint8_t* data, uint64_t size) noexcept;

// Little-endian encoding into a growing buffer.
class Encoder {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { fixed(v, 2); }
  void u32(uint32_t v) { fixed(v, 4); }
  void u64(uint64_t v) { fixed(v, 8); }
  void bytes(const uint8_t* p, uint64_t n) { out_.insert(out_.end(), p, p + n); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::vector<uint8_t>& buffer() { return out_; }

 private:
  void fixed(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> out_;
};

// Bounded decoding of one section: reading past its end throws
// SnapshotError naming the file and the section.
class Decoder {
 public:
  Decoder(const uint8_t* p, uint64_t n, const std::string& file, const char* section)
      : p_(p), n_(n), file_(file), section_(section) {}
  uint8_t u8() { return static_cast<uint8_t>(fixed(1)); }
  uint16_t u16() { return static_cast<uint16_t>(fixed(2)); }
  uint32_t u32() { return static_cast<uint32_t>(fixed(4)); }
  uint64_t u64() { return fixed(8); }
  bool flag();
  const uint8_t* bytes(uint64_t n);
  std::string str(uint32_t max_length);
  void expect_end();
  [[noreturn]] void fail(const std::string& what) const;

 private:
  uint64_t fixed(int n);
  const uint8_t* p_;
  uint64_t n_, pos_ = 0;
  const std::string& file_;
  const char* section_;
};

// The CPU state's fields in one order for both directions.
void encode_vcpu(Encoder& e, uint32_t index, const VcpuSnapshot& v);
VcpuSnapshot decode_vcpu(Decoder& d);

// Appends a section (header and payload) to `out`.
void append_section(std::vector<uint8_t>& out, uint32_t tag, const std::vector<uint8_t>& payload);

}  // namespace enlight::snapshot_format
