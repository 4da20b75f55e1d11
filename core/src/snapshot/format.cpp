// Reading a snapshot file: every length, count and CRC is checked against
// what the file itself states, before any VM exists.
#include "snapshot/format.hpp"

#include <boost/crc.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

namespace enlight {

SnapshotError::SnapshotError(const std::string& file, const std::string& what, const std::string& fix)
    : std::runtime_error("snapshot " + file + ": " + what + "\n  fix: " + fix) {}

namespace snapshot_format {

uint32_t crc32(const uint8_t* data, uint64_t size) noexcept {
  boost::crc_32_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

void Decoder::fail(const std::string& what) const {
  throw SnapshotError(file_, std::string("section ") + section_ + ": " + what,
                      "the file is damaged or not an enlight snapshot; take the snapshot again");
}

uint64_t Decoder::fixed(int n) {
  if (static_cast<uint64_t>(n) > n_ - pos_) fail("ends early (" + std::to_string(n_) + " bytes)");
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
  pos_ += n;
  return v;
}

bool Decoder::flag() {
  const uint8_t v = u8();
  if (v > 1) fail("a flag is " + std::to_string(v) + ", not 0 or 1");
  return v == 1;
}

const uint8_t* Decoder::bytes(uint64_t n) {
  if (n > n_ - pos_) fail("ends early (" + std::to_string(n_) + " bytes, " + std::to_string(n) + " more wanted)");
  const uint8_t* p = p_ + pos_;
  pos_ += n;
  return p;
}

std::string Decoder::str(uint32_t max_length) {
  const uint32_t n = u32();
  if (n > max_length) fail("a string of " + std::to_string(n) + " bytes (at most " + std::to_string(max_length) + ")");
  const uint8_t* p = bytes(n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

void Decoder::expect_end() {
  if (pos_ != n_) fail(std::to_string(n_ - pos_) + " bytes left over");
}

namespace {

// One list of the CPU state's fields, walked by both directions.
template <class Io>
void cpu_fields(Io&& io, CpuState& s) {
  for (uint64_t& r : s.gpr) io(r);
  io(s.rip), io(s.rflags);
  for (SegmentState* seg : {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss, &s.tr, &s.ldtr})
    io(seg->base), io(seg->limit), io(seg->selector), io(seg->attributes);
  io(s.gdtr.base), io(s.gdtr.limit), io(s.idtr.base), io(s.idtr.limit);
  io(s.cr0), io(s.cr2), io(s.cr3), io(s.cr4), io(s.cr8), io(s.efer), io(s.xcr0);
  io(s.kernel_gs_base), io(s.star), io(s.lstar), io(s.cstar), io(s.sfmask);
  io(s.sysenter_cs), io(s.sysenter_esp), io(s.sysenter_eip), io(s.pat), io(s.tsc_aux), io(s.tsc);
  for (uint8_t& b : s.fxsave) io(b);
  io(s.halted);
}

}  // namespace

void encode_vcpu(Encoder& e, uint32_t index, const VcpuSnapshot& v) {
  e.u32(index);
  CpuState copy = v.cpu;
  cpu_fields(
      [&e](auto& field) {
        using T = std::remove_reference_t<decltype(field)>;
        if constexpr (std::is_same_v<T, bool>) e.u8(field ? 1 : 0);
        else if constexpr (sizeof(T) == 1) e.u8(field);
        else if constexpr (sizeof(T) == 2) e.u16(field);
        else if constexpr (sizeof(T) == 4) e.u32(field);
        else e.u64(field);
      },
      copy);
  e.u64(v.backend.size());
  e.bytes(v.backend.data(), v.backend.size());
}

VcpuSnapshot decode_vcpu(Decoder& d) {
  VcpuSnapshot v;
  cpu_fields(
      [&d](auto& field) {
        using T = std::remove_reference_t<decltype(field)>;
        if constexpr (std::is_same_v<T, bool>) field = d.flag();
        else if constexpr (sizeof(T) == 1) field = d.u8();
        else if constexpr (sizeof(T) == 2) field = d.u16();
        else if constexpr (sizeof(T) == 4) field = d.u32();
        else field = d.u64();
      },
      v.cpu);
  const uint64_t n = d.u64();
  const uint8_t* p = d.bytes(n);
  v.backend.assign(p, p + n);
  return v;
}

void append_section(std::vector<uint8_t>& out, uint32_t tag, const std::vector<uint8_t>& payload) {
  Encoder h;
  h.u32(tag);
  h.u32(crc32(payload.data(), payload.size()));
  h.u64(payload.size());
  out.insert(out.end(), h.buffer().begin(), h.buffer().end());
  out.insert(out.end(), payload.begin(), payload.end());
}

}  // namespace snapshot_format

using namespace snapshot_format;

namespace {

const char* tag_name(uint32_t tag) {
  switch (tag) {
    case kMachine: return "machine";
    case kPlugins: return "plugins";
    case kBlob: return "plugin-state";
    case kVcpu: return "vcpu";
    case kRam: return "ram";
    case kDevices: return "devices";
    case kEnd: return "end";
  }
  return "unknown";
}

[[noreturn]] void damaged(const std::string& file, const std::string& what) {
  throw SnapshotError(file, what, "the file is damaged or not an enlight snapshot; take the snapshot again");
}

}  // namespace

SnapshotFile::SnapshotFile(SnapshotFile&&) noexcept = default;
SnapshotFile& SnapshotFile::operator=(SnapshotFile&&) noexcept = default;
SnapshotFile::~SnapshotFile() = default;

SnapshotFile SnapshotFile::read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw SnapshotError(path, std::string("cannot open it: ") + std::strerror(errno), "give --restore the path of a snapshot file");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw SnapshotError(path, "is not a regular file", "give --restore the path of a snapshot file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kHeaderBytes) {
    ::close(fd);
    damaged(path, "is " + std::to_string(size) + " bytes, shorter than a snapshot's header");
  }
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw SnapshotError(path, std::string("cannot map it: ") + std::strerror(errno), "check the file");
  std::shared_ptr<const void> mapping(p, [size](const void* q) { munmap(const_cast<void*>(q), size); });
  SnapshotFile f;
  f.name_ = path;
  f.storage_ = mapping;
  f.parse_into(static_cast<const uint8_t*>(p), size);
  return f;
}

SnapshotFile SnapshotFile::parse(std::vector<uint8_t> bytes, const std::string& name) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  SnapshotFile f;
  f.name_ = name;
  f.storage_ = owned;
  f.parse_into(owned->data(), owned->size());
  return f;
}

void SnapshotFile::parse_into(const uint8_t* p, uint64_t size) {
  const std::string& file = name_;
  if (size < kHeaderBytes) damaged(file, "is " + std::to_string(size) + " bytes, shorter than a snapshot's header");
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) damaged(file, "does not start with an enlight snapshot's magic");
  Decoder header(p + 8, 8, file, "header");
  const uint32_t version = header.u32();
  if (version != kFormatVersion)
    throw SnapshotError(file,
                        "is snapshot format version " + std::to_string(version) + "; this enlight reads version " +
                            std::to_string(kFormatVersion),
                        "restore it with the enlight that took it");
  if (header.u32() != 0) damaged(file, "has a non-zero reserved header field");

  SnapshotState& s = state_;
  bool have_machine = false, have_plugins = false, have_devices = false, have_end = false;
  std::set<std::pair<uint16_t, uint32_t>> blobs_seen;
  uint64_t ram_end = 0;  // RAM runs ascend: each starts at or after this
  uint64_t pos = kHeaderBytes;
  while (pos < size) {
    if (have_end) damaged(file, "has bytes after its end section (offset " + std::to_string(pos) + ")");
    if (size - pos < kSectionHeaderBytes) damaged(file, "ends inside a section header (offset " + std::to_string(pos) + ")");
    Decoder h(p + pos, kSectionHeaderBytes, file, "header");
    const uint32_t tag = h.u32();
    const uint32_t crc = h.u32();
    const uint64_t length = h.u64();
    pos += kSectionHeaderBytes;
    if (length > size - pos)
      damaged(file, std::string("is truncated: its ") + tag_name(tag) + " section at offset " +
                        std::to_string(pos - kSectionHeaderBytes) + " states " + std::to_string(length) +
                        " bytes, the file has " + std::to_string(size - pos));
    const uint8_t* payload = p + pos;
    if (crc32(payload, length) != crc)
      damaged(file, std::string("its ") + tag_name(tag) + " section at offset " + std::to_string(pos - kSectionHeaderBytes) +
                        " fails its CRC");
    pos += length;
    Decoder d(payload, length, file, tag_name(tag));
    if (tag != kMachine && !have_machine) d.fail("comes before the machine section");
    if (tag != kMachine && tag != kPlugins && !have_plugins) d.fail("comes before the plugins section");
    switch (tag) {
      case kMachine: {
        if (have_machine) d.fail("appears twice");
        have_machine = true;
        s.backend = d.str(16);
        if (s.backend != "emu" && s.backend != "kvm") d.fail("names backend '" + s.backend + "'");
        s.guest = d.str(4096);
        s.guest_digest = d.u64();
        s.vcpus = d.u32();
        if (s.vcpus == 0 || s.vcpus > kMaxVcpus) d.fail(std::to_string(s.vcpus) + " vCPUs");
        s.memory_bytes = d.u64();
        if (s.memory_bytes == 0 || s.memory_bytes % kPageBytes != 0 || s.memory_bytes > kMaxMemoryBytes)
          d.fail("a RAM size of " + std::to_string(s.memory_bytes) + " bytes");
        s.tsc_frequency_hz = d.u64();
        s.reference_time = d.u64();
        s.enforce_cpuid = d.flag();
        d.expect_end();
        break;
      }
      case kPlugins: {
        if (have_plugins) d.fail("appears twice");
        have_plugins = true;
        const uint32_t count = d.u32();
        if (count > kMaxPlugins) d.fail(std::to_string(count) + " plugins");
        for (uint32_t i = 0; i < count; ++i) {
          SnapshotPlugin sp;
          sp.name = d.str(256);
          sp.version = d.str(64);
          const uint32_t options = d.u32();
          if (options > 1024) d.fail(std::to_string(options) + " options");
          for (uint32_t o = 0; o < options; ++o) sp.options.push_back(d.str(4096));
          s.plugins.push_back(std::move(sp));
        }
        d.expect_end();
        break;
      }
      case kBlob: {
        SnapshotBlob b;
        b.plugin = d.u16();
        b.vcpu = d.u32();
        if (b.plugin >= s.plugins.size()) d.fail("names plugin " + std::to_string(b.plugin) + " of " + std::to_string(s.plugins.size()));
        if (b.vcpu != SnapshotBlob::kVmState && b.vcpu >= s.vcpus) d.fail("names vCPU " + std::to_string(b.vcpu));
        if (!blobs_seen.insert({b.plugin, b.vcpu}).second)
          d.fail("holds plugin '" + s.plugins[b.plugin].name + "''s state twice");
        const uint64_t n = d.u64();
        const uint8_t* bytes = d.bytes(n);
        b.bytes.assign(bytes, bytes + n);
        d.expect_end();
        s.blobs.push_back(std::move(b));
        break;
      }
      case kVcpu: {
        const uint32_t index = d.u32();
        if (index != s.cpus.size() || index >= s.vcpus)
          d.fail("is vCPU " + std::to_string(index) + " where vCPU " + std::to_string(s.cpus.size()) + " was due");
        s.cpus.push_back(decode_vcpu(d));
        d.expect_end();
        break;
      }
      case kRam: {
        const uint64_t gpa = d.u64();
        const uint64_t bytes = length - 8;
        if (gpa % kPageBytes != 0 || bytes == 0 || bytes % kPageBytes != 0 || bytes > kMaxRamRunBytes)
          d.fail("a run of " + std::to_string(bytes) + " bytes at " + std::to_string(gpa) + " is not whole pages");
        if (gpa < ram_end) d.fail("runs overlap or are out of order");
        if (gpa > s.memory_bytes || bytes > s.memory_bytes - gpa)
          d.fail("a run at " + std::to_string(gpa) + " reaches beyond the " + std::to_string(s.memory_bytes) +
                 "-byte RAM");
        ram_end = gpa + bytes;
        ram_.push_back(RamRun{gpa, bytes, d.bytes(bytes)});
        break;
      }
      case kDevices: {
        if (have_devices) d.fail("appears twice");
        if (s.cpus.size() != s.vcpus) d.fail("comes before every vCPU's section");
        have_devices = true;
        const uint64_t n = d.u64();
        if (n == 0 || n > kMaxDevicesBytes) d.fail(std::to_string(n) + " bytes of devices' state");
        const uint8_t* bytes = d.bytes(n);
        s.devices.assign(bytes, bytes + n);
        d.expect_end();
        break;
      }
      case kEnd:
        d.expect_end();
        have_end = true;
        break;
      default: d.fail("has an unknown tag " + std::to_string(tag));
    }
  }
  if (!have_end) damaged(file, "is truncated: it has no end section");
  if (s.cpus.size() != s.vcpus)
    damaged(file, "holds " + std::to_string(s.cpus.size()) + " vCPUs' state for " + std::to_string(s.vcpus) + " vCPUs");
}

}  // namespace enlight
