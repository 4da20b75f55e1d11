// Bad snapshot files (docs/snapshots.md, "The file"): each is refused with
// a message naming the file and what is wrong, before a VM is created
// (SnapshotFile::read, check_matches) or before it runs (restore), and
// never crashes. The damaged files are made from a real snapshot, edited
// as the format documents it: a 16-byte header, then sections of tag,
// CRC-32, length and payload.
#include "snapshot_test_util.hpp"

#include <boost/crc.hpp>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

namespace {

using namespace enlight::test::snapshots;
using enlight::SnapshotError;
using enlight::SnapshotFile;

constexpr uint32_t kMachine = 1, kPlugins = 2, kBlob = 3, kVcpu = 4, kRam = 5, kDevices = 6;

struct Section {
  uint32_t tag;
  size_t header;  // offset of its 16-byte header
  size_t payload, length;
};

uint64_t le(const std::vector<uint8_t>& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
  return v;
}
void set_le(std::vector<uint8_t>& b, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<Section> sections(const std::vector<uint8_t>& b) {
  std::vector<Section> out;
  for (size_t pos = 16; pos + 16 <= b.size();) {
    Section s{static_cast<uint32_t>(le(b, pos, 4)), pos, pos + 16, static_cast<size_t>(le(b, pos + 8, 8))};
    out.push_back(s);
    pos = s.payload + s.length;
  }
  return out;
}

// A section's CRC made right again after an edit: what a hand-crafted
// file would carry, so the check that follows the CRC is what refuses it.
void fix_crc(std::vector<uint8_t>& b, const Section& s) {
  boost::crc_32_type crc;
  crc.process_bytes(b.data() + s.payload, s.length);
  set_le(b, s.header + 4, crc.checksum(), 4);
}

// By value: callers pass the temporary that sections() returns.
Section first(const std::vector<Section>& all, uint32_t tag) {
  for (const Section& s : all)
    if (s.tag == tag) return s;
  throw std::runtime_error("no section " + std::to_string(tag));
}

class BadSnapshot : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    c_ = new Config(config("conformance-stimer", 2));
    TempFile file("bad-snapshot-source");
    auto vm = create(*c_);
    ASSERT_EQ(vm->run(std::chrono::milliseconds(200)).outcome, enlight::Outcome::Timeout);
    enlight::write_snapshot(*vm, file.path, "conformance-stimer", enlight::guest_image_digest(c_->image));
    std::ifstream in(file.path, std::ios::binary);
    good_ = new std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  static void TearDownTestSuite() {
    delete c_;
    delete good_;
  }
  // The message of the SnapshotError that parsing `bytes` throws; "" if none.
  static std::string parse_error(std::vector<uint8_t> bytes) {
    try {
      SnapshotFile::parse(std::move(bytes), "test.snap");
    } catch (const SnapshotError& e) {
      return e.what();
    }
    return "";
  }
  static std::string match_error(const SnapshotFile& f, const Config& c) {
    try {
      f.check_matches("emu", c.resolution, c.memory, enlight::guest_image_digest(c.image));
    } catch (const SnapshotError& e) {
      return e.what();
    }
    return "";
  }
  static std::string restore_error(std::vector<uint8_t> bytes) {
    const SnapshotFile f = SnapshotFile::parse(std::move(bytes), "test.snap");
    auto vm = create(*c_);
    try {
      f.restore(*vm);
    } catch (const SnapshotError& e) {
      return e.what();  // the VM is destroyed here, never run
    }
    return "";
  }
  static Config* c_;
  static std::vector<uint8_t>* good_;
};
Config* BadSnapshot::c_ = nullptr;
std::vector<uint8_t>* BadSnapshot::good_ = nullptr;

TEST_F(BadSnapshot, TheGoodOneParsesMatchesAndRestores) {
  const SnapshotFile f = SnapshotFile::parse(*good_, "test.snap");
  EXPECT_EQ(match_error(f, *c_), "");
  EXPECT_EQ(f.state().vcpus, 2u);
  EXPECT_EQ(f.state().plugins.size(), c_->resolution.plugins.size());
  EXPECT_EQ(restore_error(*good_), "");
}

// Cut at every section boundary, inside every section header, and at a
// spread of offsets inside the payloads (every 997th byte).
TEST_F(BadSnapshot, TruncatedAnywhere) {
  std::vector<size_t> cuts = {0, 1, 8, 15};
  for (const Section& s : sections(*good_)) {
    cuts.push_back(s.header), cuts.push_back(s.header + 7), cuts.push_back(s.payload);
    if (s.length > 1) cuts.push_back(s.payload + s.length / 2);
  }
  for (size_t at = 16; at < good_->size(); at += 997) cuts.push_back(at);
  for (size_t at : cuts) {
    if (at >= good_->size()) continue;
    const std::string e = parse_error(std::vector<uint8_t>(good_->begin(), good_->begin() + at));
    EXPECT_NE(e, "") << "cut at " << at;
    EXPECT_NE(e.find("test.snap"), std::string::npos) << e;
    EXPECT_TRUE(e.find("truncated") != std::string::npos || e.find("ends") != std::string::npos ||
                e.find("shorter") != std::string::npos)
        << "cut at " << at << ": " << e;
  }
}

TEST_F(BadSnapshot, NotASnapshot) {
  std::vector<uint8_t> b = *good_;
  b[0] = 'X';
  EXPECT_NE(parse_error(b).find("magic"), std::string::npos);
}

TEST_F(BadSnapshot, WrongFormatVersion) {
  std::vector<uint8_t> b = *good_;
  set_le(b, 8, 2, 4);
  const std::string e = parse_error(b);
  EXPECT_NE(e.find("format version 2"), std::string::npos) << e;
  EXPECT_NE(e.find("reads version 1"), std::string::npos) << e;
}

// One byte flipped in each section's payload: its CRC refuses it.
TEST_F(BadSnapshot, CorruptedSections) {
  for (const Section& s : sections(*good_)) {
    if (s.length == 0) continue;
    std::vector<uint8_t> b = *good_;
    b[s.payload + s.length / 3] ^= 0x40;
    const std::string e = parse_error(b);
    EXPECT_NE(e.find("fails its CRC"), std::string::npos) << "tag " << s.tag << ": " << e;
  }
}

TEST_F(BadSnapshot, BytesAfterTheEnd) {
  std::vector<uint8_t> b = *good_;
  b.push_back(0);
  EXPECT_NE(parse_error(b), "");
}

// A plugin's state damaged with its CRC made good again: the plugin's own
// load refuses it (the SDK's header and bounds, or the plugin's checks),
// the restore fails naming the plugin, and the VM never runs.
TEST_F(BadSnapshot, CorruptedPluginStateIsRefusedByThePlugin) {
  const std::vector<Section> all = sections(*good_);
  int refused = 0, tried = 0;
  for (const Section& s : all) {
    if (s.tag != kBlob) continue;
    // blob: u16 plugin, u32 vcpu, u64 length, bytes (the SDK's 8-byte header first)
    for (const size_t offset : {size_t{14}, size_t{14 + 4}}) {  // its magic, its state version
      std::vector<uint8_t> b = *good_;
      b[s.payload + offset] ^= 0x01;
      fix_crc(b, s);
      ++tried;
      const std::string e = restore_error(b);
      EXPECT_NE(e, "") << "blob at " << s.header;
      EXPECT_NE(e.find("plugin '"), std::string::npos) << e;
      refused += !e.empty();
    }
    // Cut short by one byte, lengths adjusted: ends early.
    std::vector<uint8_t> b = *good_;
    const uint64_t n = le(b, s.payload + 6, 8);
    if (n == 0) continue;
    set_le(b, s.payload + 6, n - 1, 8);
    b.erase(b.begin() + static_cast<std::ptrdiff_t>(s.payload + 14 + n - 1));
    set_le(b, s.header + 8, s.length - 1, 8);
    Section shorter = s;
    shorter.length -= 1;
    fix_crc(b, shorter);
    ++tried;
    const std::string e = restore_error(b);
    EXPECT_NE(e.find("plugin '"), std::string::npos) << e;
    refused += !e.empty();
  }
  EXPECT_GT(tried, 0);
  EXPECT_EQ(refused, tried);
}

TEST_F(BadSnapshot, WrongPluginSet) {
  const SnapshotFile f = SnapshotFile::parse(*good_, "test.snap");
  const Config fewer = config("conformance-stimer", 2, "hv-relaxed,hv-vapic,hv-vpindex,hv-runtime,hv-time,hv-synic");
  const std::string e = match_error(f, fewer);
  EXPECT_NE(e.find("this run does not enable"), std::string::npos) << e;
  const Config more = config("conformance-stimer", 2, std::string(kFlags) + ",hv-tlbflush");
  EXPECT_NE(match_error(f, more).find("was taken without plugin 'tlbflush'"), std::string::npos) << match_error(f, more);
  const Config other_option =
      config("conformance-stimer", 2, std::string(kFlags).replace(std::string(kFlags).find("0x1fff"), 6, "0x2fff"));
  EXPECT_NE(match_error(f, other_option).find("other options"), std::string::npos)
      << match_error(f, other_option) << " / " << other_option.resolution.plugins.size();
}

// Another plugin version in the file (its CRC made good): refused by name.
TEST_F(BadSnapshot, WrongPluginVersion) {
  std::vector<uint8_t> b = *good_;
  const Section s = first(sections(b), kPlugins);
  // The first plugin's version string: u32 count, then name (u32 + bytes), version (u32 + bytes).
  const size_t name_len = le(b, s.payload + 4, 4);
  const size_t version_at = s.payload + 8 + name_len + 4;
  b[version_at] = b[version_at] == '9' ? '8' : '9';
  fix_crc(b, s);
  const SnapshotFile f = SnapshotFile::parse(b, "test.snap");
  const std::string e = match_error(f, *c_);
  EXPECT_NE(e.find("this run loads version"), std::string::npos) << e;
}

TEST_F(BadSnapshot, RamSizeVcpusBackendAndGuestMismatch) {
  const SnapshotFile f = SnapshotFile::parse(*good_, "test.snap");
  Config bigger = *c_;
  bigger.memory = 32ull << 20;
  EXPECT_NE(match_error(f, bigger).find("MiB of guest RAM"), std::string::npos);
  const Config three = config("conformance-stimer", 3);
  EXPECT_NE(match_error(f, three).find("vCPUs"), std::string::npos) << match_error(f, three);
  const Config other_guest = config("conformance-time", 2);
  EXPECT_NE(match_error(f, other_guest).find("another image"), std::string::npos) << match_error(f, other_guest);
  try {
    f.check_matches("kvm", c_->resolution, c_->memory, enlight::guest_image_digest(c_->image));
    ADD_FAILURE() << "a snapshot of the emu backend matched a kvm VM";
  } catch (const SnapshotError& e) {
    EXPECT_NE(std::string(e.what()).find("--backend emu"), std::string::npos) << e.what();
  }
}

// RAM the file claims beyond the VM's size, or runs out of order: refused
// while parsing (the CRC made good, so the bounds check is what refuses).
TEST_F(BadSnapshot, RamOutsideTheGuest) {
  std::vector<uint8_t> b = *good_;
  const Section s = first(sections(b), kRam);
  set_le(b, s.payload, (16ull << 20) - 4096, 8);  // a run of more than one page at the last page
  fix_crc(b, s);
  const std::string e = parse_error(b);
  EXPECT_TRUE(e.find("beyond") != std::string::npos || e.find("overlap") != std::string::npos) << e;
}

// vCPU registers no guest could hold (CR4 reserved bits): the backend
// refuses them and the restore fails.
TEST_F(BadSnapshot, ImpossibleRegisters) {
  std::vector<uint8_t> b = *good_;
  const Section s = first(sections(b), kVcpu);
  // u32 index, 16 GPRs, rip, rflags, 8 segments of 16 bytes, 2 tables of 10, then cr0 cr2 cr3 cr4.
  const size_t cr4 = s.payload + 4 + 18 * 8 + 8 * 16 + 2 * 10 + 3 * 8;
  set_le(b, cr4, le(b, cr4, 8) | (1ull << 40), 8);
  fix_crc(b, s);
  const std::string e = restore_error(b);
  EXPECT_NE(e.find("CR4"), std::string::npos) << e;
}

// A devices section (the kvm backend's irqchip, PIT and PC machine)
// placed by hand: where the format forbids it, parsing refuses it; where
// it parses, the emu backend, which keeps no devices, refuses it at the
// restore rather than ignoring state it cannot hold.
std::vector<uint8_t> with_devices_section(const std::vector<uint8_t>& good, size_t at, uint64_t bytes) {
  std::vector<uint8_t> payload(8 + bytes, 0xA5);
  set_le(payload, 0, bytes, 8);
  boost::crc_32_type crc;
  crc.process_bytes(payload.data(), payload.size());
  std::vector<uint8_t> section(16, 0);
  set_le(section, 0, kDevices, 4);
  set_le(section, 4, crc.checksum(), 4);
  set_le(section, 8, payload.size(), 8);
  section.insert(section.end(), payload.begin(), payload.end());
  std::vector<uint8_t> b = good;
  b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), section.begin(), section.end());
  return b;
}

TEST_F(BadSnapshot, DevicesSectionOutOfPlaceOrTwice) {
  const std::vector<Section> all = sections(*good_);
  const Section vcpu0 = first(all, kVcpu);
  const Section ram = first(all, kRam);
  // Before the vCPUs' sections.
  EXPECT_NE(parse_error(with_devices_section(*good_, vcpu0.header, 64)).find("comes before every vCPU"), std::string::npos);
  // Twice.
  const std::vector<uint8_t> once = with_devices_section(*good_, ram.header, 64);
  const size_t after_first = ram.header + 16 + 8 + 64;
  EXPECT_NE(parse_error(with_devices_section(once, after_first, 64)).find("appears twice"), std::string::npos);
  // Empty: a backend with no devices writes no section at all.
  EXPECT_NE(parse_error(with_devices_section(*good_, ram.header, 0)).find("0 bytes of devices"), std::string::npos);
}

TEST_F(BadSnapshot, DevicesStateOnABackendWithoutDevices) {
  const std::vector<uint8_t> b = with_devices_section(*good_, first(sections(*good_), kRam).header, 64);
  EXPECT_EQ(parse_error(b), "");
  const std::string e = restore_error(b);
  EXPECT_NE(e.find("the emu backend keeps no devices"), std::string::npos) << e;
}

}  // namespace
