// The ACPI tables: their bytes against ACPI 6.5 chapter 5 (offsets from
// its tables, written out here independently of acpi_tables.cpp), then
// Debian's ACPICA tools on the very bytes the guest gets:
//   - iasl -d disassembles each table (not the RSDP: iasl cannot load one
//     from a binary file) with no error, warning or "Incorrect checksum",
//     and the text says what the machine has;
//   - iasl compiles that disassembly again, with no error, warning or
//     remark, back to our bytes (only the checksum and the compiler id
//     differ): so every byte is one iasl understood, field by field;
//   - acpiexec (ACPICA, the interpreter Linux runs) loads FADT, FACS, DSDT
//     and MADT without a firmware warning and runs the DSDT's methods.
// Without iasl the iasl tests fail, never skip: install acpica-tools.
#include <enlight/machine/acpi_tables.hpp>
#include <enlight/machine/layout.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace enlight::machine {
namespace {

namespace fs = std::filesystem;
using aml::Bytes;

// ---- Offsets, from ACPI 6.5 ----------------------------------------------------
// RSDP (table 5.3)
constexpr size_t kRsdpOemId = 9, kRsdpRevision = 15, kRsdpRsdt = 16, kRsdpLength = 20,
                 kRsdpXsdt = 24;
// Header (table 5.4)
constexpr size_t kHdrLength = 4, kHdrRevision = 8, kHdrChecksum = 9, kHdrOemId = 10, kHdrOemTableId = 16,
                 kHdrOemRevision = 24, kHdrCreatorId = 28, kHdrCreatorRevision = 32, kHeaderSize = 36;
// FADT (table 5.9)
constexpr size_t kFadtFacs = 36, kFadtDsdt = 40, kFadtProfile = 45, kFadtSciInt = 46, kFadtSmiCmd = 48,
                 kFadtAcpiEnable = 52, kFadtAcpiDisable = 53, kFadtPm1aEvt = 56, kFadtPm1bEvt = 60,
                 kFadtPm1aCnt = 64, kFadtPm1bCnt = 68, kFadtPm2Cnt = 72, kFadtPmTmr = 76, kFadtGpe0 = 80,
                 kFadtGpe1 = 84, kFadtPm1EvtLen = 88, kFadtPm1CntLen = 89, kFadtPm2CntLen = 90,
                 kFadtPmTmrLen = 91, kFadtGpe0Len = 92, kFadtGpe1Len = 93, kFadtPLvl2Lat = 96,
                 kFadtPLvl3Lat = 98, kFadtBootArch = 109, kFadtFlags = 112, kFadtResetReg = 116,
                 kFadtResetValue = 128, kFadtXFacs = 132, kFadtXDsdt = 140, kFadtXPm1aEvt = 148,
                 kFadtXPm1bEvt = 160, kFadtXPm1aCnt = 172, kFadtXPmTmr = 208, kFadtXGpe0 = 220,
                 kFadtSleepCtrl = 244, kFadtLength = 276;
// Flags (table 5.10) and IAPC_BOOT_ARCH (table 5.11)
constexpr uint32_t kWbinvd = 1u << 0, kProcC1 = 1u << 2, kPwrButton = 1u << 4, kSlpButton = 1u << 5,
                   kTmrValExt = 1u << 8, kResetRegSup = 1u << 10, kHwReduced = 1u << 20;
constexpr uint16_t kLegacyDevices = 1u << 0, k8042 = 1u << 1;
// MADT (section 5.2.12 and its interrupt controller structures)
constexpr size_t kMadtLapicAddress = 36, kMadtFlags = 40, kMadtEntries = 44;

// ---- Reading the tables --------------------------------------------------------

uint64_t le(const Bytes& b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{b.at(at + i)} << (8 * i);
  return v;
}
uint8_t u8(const Bytes& b, size_t at) { return static_cast<uint8_t>(le(b, at, 1)); }
uint16_t u16(const Bytes& b, size_t at) { return static_cast<uint16_t>(le(b, at, 2)); }
uint32_t u32(const Bytes& b, size_t at) { return static_cast<uint32_t>(le(b, at, 4)); }
uint64_t u64(const Bytes& b, size_t at) { return le(b, at, 8); }
std::string text(const Bytes& b, size_t at, size_t n) { return std::string(b.begin() + at, b.begin() + at + n); }

uint8_t byte_sum(const Bytes& b, size_t from, size_t to) {
  uint8_t s = 0;
  for (size_t i = from; i < to; ++i) s = static_cast<uint8_t>(s + b.at(i));
  return s;
}

// One table's bytes, found by signature in the region.
Bytes table(const AcpiTables& t, const std::string& signature) {
  for (const auto& e : t.tables)
    if (e.signature == signature) {
      const auto from = t.bytes.begin() + static_cast<std::ptrdiff_t>(e.gpa - t.base);
      return Bytes(from, from + e.length);
    }
  throw std::runtime_error("no " + signature + " table");
}

uint64_t gpa_of(const AcpiTables& t, const std::string& signature) {
  for (const auto& e : t.tables)
    if (e.signature == signature) return e.gpa;
  throw std::runtime_error("no " + signature + " table");
}

struct MadtEntry {
  uint8_t type;
  Bytes bytes;  // the whole structure, type and length included
};

std::vector<MadtEntry> madt_entries(const Bytes& madt) {
  std::vector<MadtEntry> out;
  size_t at = kMadtEntries;
  while (at < madt.size()) {
    const uint8_t length = u8(madt, at + 1);
    if (length < 2 || at + length > madt.size()) throw std::runtime_error("MADT entry overruns the table");
    out.push_back({u8(madt, at), Bytes(madt.begin() + at, madt.begin() + at + length)});
    at += length;
  }
  return out;
}

bool contains(const Bytes& hay, const Bytes& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

Bytes hex_bytes(std::initializer_list<int> v) {
  Bytes out;
  for (int b : v) out.push_back(static_cast<uint8_t>(b));
  return out;
}

// QEMU's VMBus device (hw/i386/acpi-build.c), built the way the VMBus
// plugin will: _HID a method (a 5-character string _HID is not a valid
// EISA/PNP/ACPI id, so iasl refuses it as a Name), _PS3 an empty method.
Bytes vmbus_device() {
  using namespace aml;
  const Bytes sta = name_string("STA");
  return device("VMBS", {
      name("STA", integer(0x0F)),
      method("_HID", 0, false, {return_(string("VMBus"))}),
      name("_UID", integer(0)),
      name("_DDN", string("VMBUS")),
      method("_DIS", 0, false, {and_(sta, integer(0x0D), sta)}),
      method("_PS0", 0, false, {or_(sta, integer(0x0F), sta)}),
      method("_STA", 0, false, {return_(sta)}),
      method("_PS3", 0, false, {}),
      name("_CRS", resource_template({irq_no_flags(7)})),
  });
}

// ---- The cases ---------------------------------------------------------------------

// Devices a plugin's manifest declares (`acpi-devices`), as the kvm backend
// builds them: Hyper-V's string _HID (a method), an EISA id with an IRQ, an
// ACPI id with no resources.
std::vector<Bytes> declared_devices() {
  return {simple_device({"VMBD", "VMBus", 0, "VMBUS", 7}), simple_device({"DEV1", "PNP0C02", 3, "", 5}),
          simple_device({"DEV2", "ENLT0001", 0, "", -1})};
}

struct Case {
  uint32_t vcpus;
  bool vmbus;
  bool declared = false;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.vcpus << " vCPUs" << (c.vmbus ? " + VMBus" : "") << (c.declared ? " + declared devices" : "");
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  return "vcpus" + std::to_string(info.param.vcpus) + (info.param.vmbus ? "_vmbus" : "") +
         (info.param.declared ? "_declared" : "");
}

AcpiTables build(const Case& c) {
  AcpiConfig config;
  config.vcpus = c.vcpus;
  if (c.vmbus) config.sb_devices.push_back(vmbus_device());
  if (c.declared)
    for (Bytes& d : declared_devices()) config.sb_devices.push_back(std::move(d));
  return build_acpi_tables(config);
}

const std::vector<Case> kCases = {{1, false}, {2, false}, {32, false}, {255, false}, {1, true},
                                  {2, true},  {32, true},  {255, true},  {2, false, true}};

class AcpiTablesTest : public testing::TestWithParam<Case> {};

INSTANTIATE_TEST_SUITE_P(Machine, AcpiTablesTest, testing::ValuesIn(kCases), case_name);

TEST_P(AcpiTablesTest, EveryTableChecksumsToZero) {
  const AcpiTables t = build(GetParam());
  ASSERT_EQ(t.tables.size(), 6u);
  for (const auto& e : t.tables) {
    const Bytes b = table(t, e.signature);
    if (e.signature == "RSDP") {
      EXPECT_EQ(byte_sum(b, 0, 20), 0) << "RSDP checksum (first 20 bytes)";
      EXPECT_EQ(byte_sum(b, 0, 36), 0) << "RSDP extended checksum (36 bytes)";
    } else if (e.signature == "FACS") {
      EXPECT_EQ(text(b, 0, 4), "FACS");  // no checksum: the OS writes it
    } else {
      EXPECT_EQ(text(b, 0, 4), e.signature);
      EXPECT_EQ(u32(b, kHdrLength), e.length) << e.signature;
      EXPECT_EQ(byte_sum(b, 0, b.size()), 0) << e.signature << " checksum";
    }
  }
}

TEST_P(AcpiTablesTest, HeadersCarryEnlightsIdentity) {
  const AcpiTables t = build(GetParam());
  const std::map<std::string, uint8_t> revisions = {{"XSDT", 1}, {"FACP", 6}, {"DSDT", 2}, {"APIC", 3}};
  for (const auto& [sig, revision] : revisions) {
    const Bytes b = table(t, sig);
    EXPECT_EQ(u8(b, kHdrRevision), revision) << sig;
    EXPECT_EQ(text(b, kHdrOemId, 6), "ENLGHT") << sig;
    EXPECT_EQ(text(b, kHdrOemTableId, 8), "ENLIGHT ") << sig;
    EXPECT_EQ(u32(b, kHdrOemRevision), 1u) << sig;
    EXPECT_EQ(text(b, kHdrCreatorId, 4), "ENLT") << sig;
    EXPECT_EQ(u32(b, kHdrCreatorRevision), 1u) << sig;
  }
}

TEST_P(AcpiTablesTest, TablesAreAlignedAndDisjoint) {
  const AcpiTables t = build(GetParam());
  uint64_t previous_end = t.base;
  for (const auto& e : t.tables) {
    EXPECT_EQ(e.gpa % (e.signature == "FACS" ? 64 : 16), 0u) << e.signature;
    EXPECT_GE(e.gpa, previous_end) << e.signature << " overlaps the table before it";
    previous_end = e.gpa + e.length;
  }
  EXPECT_EQ(previous_end, t.base + t.bytes.size());
  EXPECT_LE(previous_end, kAcpiTablesEnd);
}

TEST_P(AcpiTablesTest, RsdpAtBasePointsAtTheXsdt) {
  const AcpiTables t = build(GetParam());
  EXPECT_EQ(t.base, kAcpiTablesBase);
  EXPECT_EQ(t.rsdp, kAcpiTablesBase);
  EXPECT_EQ(gpa_of(t, "RSDP"), t.rsdp);
  const Bytes r = table(t, "RSDP");
  ASSERT_EQ(r.size(), 36u);
  EXPECT_EQ(text(r, 0, 8), "RSD PTR ");
  EXPECT_EQ(text(r, kRsdpOemId, 6), "ENLGHT");
  EXPECT_EQ(u8(r, kRsdpRevision), 2);
  EXPECT_EQ(u32(r, kRsdpRsdt), 0u);
  EXPECT_EQ(u32(r, kRsdpLength), 36u);
  EXPECT_EQ(u64(r, kRsdpXsdt), gpa_of(t, "XSDT"));
}

TEST_P(AcpiTablesTest, XsdtListsFadtAndMadtOnly) {
  const AcpiTables t = build(GetParam());
  const Bytes x = table(t, "XSDT");
  ASSERT_EQ(x.size(), kHeaderSize + 2 * 8);
  EXPECT_EQ(u64(x, kHeaderSize), gpa_of(t, "FACP"));
  EXPECT_EQ(u64(x, kHeaderSize + 8), gpa_of(t, "APIC"));
}

TEST_P(AcpiTablesTest, FadtDescribesThePmBlockSciAndReset) {
  const AcpiTables t = build(GetParam());
  const Bytes f = table(t, "FACP");
  ASSERT_EQ(f.size(), kFadtLength);
  EXPECT_LE(u8(f, kFadtProfile), 1);
  EXPECT_EQ(u16(f, kFadtSciInt), kIrqSci);
  EXPECT_EQ(u32(f, kFadtSmiCmd), 0u);
  EXPECT_EQ(u8(f, kFadtAcpiEnable), 0);
  EXPECT_EQ(u8(f, kFadtAcpiDisable), 0);
  EXPECT_EQ(u32(f, kFadtPm1aEvt), kAcpiPm1aEvent);
  EXPECT_EQ(u32(f, kFadtPm1aCnt), kAcpiPm1aControl);
  EXPECT_EQ(u32(f, kFadtPmTmr), kAcpiPmTimer);
  EXPECT_EQ(u32(f, kFadtPmTmr), 0x608u);
  EXPECT_EQ(u8(f, kFadtPm1EvtLen), 4);
  EXPECT_EQ(u8(f, kFadtPm1CntLen), 2);
  EXPECT_EQ(u8(f, kFadtPmTmrLen), 4);
  for (size_t absent : {kFadtPm1bEvt, kFadtPm1bCnt, kFadtPm2Cnt, kFadtGpe0, kFadtGpe1})
    EXPECT_EQ(u32(f, absent), 0u) << "offset " << absent;
  for (size_t absent : {kFadtPm2CntLen, kFadtGpe0Len, kFadtGpe1Len}) EXPECT_EQ(u8(f, absent), 0) << "offset " << absent;
  EXPECT_GT(u16(f, kFadtPLvl2Lat), 100) << "C2 must read as unsupported";
  EXPECT_GT(u16(f, kFadtPLvl3Lat), 1000) << "C3 must read as unsupported";
  EXPECT_EQ(u16(f, kFadtBootArch), kLegacyDevices | k8042);

  const uint32_t flags = u32(f, kFadtFlags);
  EXPECT_EQ(flags & (kWbinvd | kProcC1 | kPwrButton | kSlpButton | kResetRegSup),
            kWbinvd | kProcC1 | kPwrButton | kSlpButton | kResetRegSup);
  EXPECT_EQ(flags & kTmrValExt, 0u) << "the PM timer has 24 bits";
  EXPECT_EQ(flags & kHwReduced, 0u);

  // GAS: space id, bit width, bit offset, access size, address.
  EXPECT_EQ(Bytes(f.begin() + kFadtResetReg, f.begin() + kFadtResetReg + 4), hex_bytes({1, 8, 0, 1}));
  EXPECT_EQ(u64(f, kFadtResetReg + 4), kResetControl);
  EXPECT_EQ(u8(f, kFadtResetValue), kResetValue);
  struct { size_t x, legacy, len; } blocks[] = {{kFadtXPm1aEvt, kFadtPm1aEvt, kFadtPm1EvtLen},
                                                {kFadtXPm1aCnt, kFadtPm1aCnt, kFadtPm1CntLen},
                                                {kFadtXPmTmr, kFadtPmTmr, kFadtPmTmrLen}};
  for (const auto& b : blocks) {
    EXPECT_EQ(u8(f, b.x), 1) << "SystemIO at " << b.x;
    EXPECT_EQ(u8(f, b.x + 1), u8(f, b.len) * 8) << "bit width at " << b.x;
    EXPECT_EQ(u8(f, b.x + 2), 0);
    EXPECT_EQ(u64(f, b.x + 4), u32(f, b.legacy)) << "X_ block disagrees with the legacy field at " << b.legacy;
  }
  for (size_t gas = kFadtXPm1bEvt; gas < kFadtXPm1aCnt; ++gas) EXPECT_EQ(f[gas], 0);
  for (size_t gas = kFadtXGpe0; gas < kFadtSleepCtrl + 24; ++gas) EXPECT_EQ(f[gas], 0);
}

TEST_P(AcpiTablesTest, FadtPointsAtFacsAndDsdt) {
  const AcpiTables t = build(GetParam());
  const Bytes f = table(t, "FACP");
  EXPECT_EQ(u32(f, kFadtFacs), gpa_of(t, "FACS"));
  EXPECT_EQ(u64(f, kFadtXFacs), gpa_of(t, "FACS"));
  EXPECT_EQ(u32(f, kFadtDsdt), gpa_of(t, "DSDT"));
  EXPECT_EQ(u64(f, kFadtXDsdt), gpa_of(t, "DSDT"));
  const Bytes facs = table(t, "FACS");
  ASSERT_EQ(facs.size(), 64u);
  EXPECT_EQ(u32(facs, 4), 64u);
  EXPECT_EQ(u8(facs, 32), 2) << "FACS version";
}

TEST_P(AcpiTablesTest, MadtHasEveryVcpuTheIoApicAndOnlyTheSciOverride) {
  const Case c = GetParam();
  const Bytes m = table(build(c), "APIC");
  EXPECT_EQ(u32(m, kMadtLapicAddress), kLocalApicAddress);
  EXPECT_EQ(u32(m, kMadtFlags), 1u) << "PCAT_COMPAT";
  const std::vector<MadtEntry> entries = madt_entries(m);

  uint32_t lapics = 0, ioapics = 0, nmis = 0;
  std::vector<Bytes> overrides;
  for (const MadtEntry& e : entries) {
    switch (e.type) {
      case 0:  // Processor Local APIC: UID, APIC ID, flags
        ASSERT_EQ(e.bytes.size(), 8u);
        EXPECT_EQ(u8(e.bytes, 2), lapics) << "processor UID";
        EXPECT_EQ(u8(e.bytes, 3), lapics) << "APIC ID";
        EXPECT_EQ(u32(e.bytes, 4), 1u) << "Enabled";
        ++lapics;
        break;
      case 1:  // I/O APIC: ID, reserved, address, GSI base
        ASSERT_EQ(e.bytes.size(), 12u);
        EXPECT_EQ(u8(e.bytes, 2), 0);
        EXPECT_EQ(u32(e.bytes, 4), kIoApicAddress);
        EXPECT_EQ(u32(e.bytes, 8), 0u);
        ++ioapics;
        break;
      case 2:  // Interrupt Source Override
        ASSERT_EQ(e.bytes.size(), 10u);
        overrides.push_back(e.bytes);
        break;
      case 4:  // Local APIC NMI: UID, flags, LINT#
        ASSERT_EQ(e.bytes.size(), 6u);
        EXPECT_EQ(u8(e.bytes, 2), 0xFF) << "all processors";
        EXPECT_EQ(u16(e.bytes, 3), 0);
        EXPECT_EQ(u8(e.bytes, 5), 1) << "LINT1";
        ++nmis;
        break;
      default:
        ADD_FAILURE() << "unexpected MADT entry type " << int{e.type};
    }
  }
  EXPECT_EQ(lapics, c.vcpus);
  EXPECT_EQ(ioapics, 1u);
  EXPECT_EQ(nmis, 1u);
  ASSERT_EQ(overrides.size(), 1u) << "only the SCI's override; none for IRQ 0";
  const Bytes& iso = overrides[0];
  EXPECT_EQ(u8(iso, 2), 0) << "bus ISA";
  EXPECT_EQ(u8(iso, 3), kIrqSci);
  EXPECT_EQ(u32(iso, 4), kIrqSci);
  EXPECT_EQ(u16(iso, 8), 0x000D) << "active high, level triggered";
  EXPECT_NE(u8(iso, 3), kIrqPit);
}

TEST_P(AcpiTablesTest, DsdtHoldsCom1TheS5PackageAndTheAddedDevice) {
  const Case c = GetParam();
  const Bytes d = table(build(c), "DSDT");
  // Hand-assembled pieces (ACPI 6.5 20.2 and 6.4):
  // Name (_HID, EisaId ("PNP0501"))
  EXPECT_TRUE(contains(d, hex_bytes({0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01})));
  // ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} }
  EXPECT_TRUE(contains(d, hex_bytes({0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22,
                                     0x10, 0x00, 0x79, 0x00})));
  // Name (\_S5, Package () { 5, 5, 0, 0 })
  EXPECT_TRUE(contains(d, hex_bytes({0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00,
                                     0x00})));
  // Scope (\_SB) right after the header.
  EXPECT_EQ(Bytes(d.begin() + kHeaderSize, d.begin() + kHeaderSize + 1), hex_bytes({0x10}));
  EXPECT_EQ(contains(d, vmbus_device()), c.vmbus);
  for (const Bytes& declared : declared_devices()) EXPECT_EQ(contains(d, declared), c.declared);
}

// ---- Where the tables go, and refusals ------------------------------------------------

TEST(AcpiTables, FollowTheBaseTheyAreGiven) {
  AcpiConfig config;
  config.vcpus = 4;
  const uint64_t base = 0x7FF0000;
  const AcpiTables t = build_acpi_tables(config, base, base + 0x10000);
  EXPECT_EQ(t.rsdp, base);
  EXPECT_EQ(u64(table(t, "RSDP"), kRsdpXsdt), gpa_of(t, "XSDT"));
  EXPECT_EQ(u32(table(t, "FACP"), kFadtDsdt), gpa_of(t, "DSDT"));
  for (const auto& e : t.tables) EXPECT_GE(e.gpa, base);
}

TEST(AcpiTables, AboveFourGibOnlyTheXFieldsHoldTheAddresses) {
  AcpiConfig config;
  const uint64_t base = uint64_t{1} << 32;
  const AcpiTables t = build_acpi_tables(config, base, base + 0x10000);
  const Bytes f = table(t, "FACP");
  EXPECT_EQ(u32(f, kFadtFacs), 0u);
  EXPECT_EQ(u32(f, kFadtDsdt), 0u);
  EXPECT_EQ(u64(f, kFadtXFacs), gpa_of(t, "FACS"));
  EXPECT_EQ(u64(f, kFadtXDsdt), gpa_of(t, "DSDT"));
  EXPECT_EQ(byte_sum(f, 0, f.size()), 0);
}

TEST(AcpiTables, RefuseVcpuCountsTheMadtCannotDescribe) {
  AcpiConfig config;
  config.vcpus = 0;
  EXPECT_THROW(build_acpi_tables(config), std::invalid_argument);
  config.vcpus = 256;
  EXPECT_THROW(build_acpi_tables(config), std::invalid_argument);
  config.vcpus = 255;
  EXPECT_NO_THROW(build_acpi_tables(config));
}

TEST(AcpiTables, RefuseARegionTooSmall) {
  AcpiConfig config;
  config.vcpus = 8;
  const AcpiTables fits = build_acpi_tables(config);
  const uint64_t needed = fits.bytes.size();
  EXPECT_NO_THROW(build_acpi_tables(config, kAcpiTablesBase, kAcpiTablesBase + needed));
  EXPECT_THROW(build_acpi_tables(config, kAcpiTablesBase, kAcpiTablesBase + needed - 1), std::length_error);
  EXPECT_THROW(build_acpi_tables(config, kAcpiTablesBase, kAcpiTablesBase + 0x100), std::length_error);
  EXPECT_THROW(build_acpi_tables(config, kAcpiTablesBase, kAcpiTablesBase - 0x10), std::length_error);
  // A large device in \_SB does not fit the BIOS area either.
  config.sb_devices.push_back(aml::device("BIG0", {Bytes(kAcpiTablesEnd - kAcpiTablesBase, 0)}));
  EXPECT_THROW(build_acpi_tables(config), std::length_error);
}

TEST(AcpiTables, RefuseAnUnalignedBase) {
  EXPECT_THROW(build_acpi_tables(AcpiConfig{}, kAcpiTablesBase + 8), std::invalid_argument);
}

// ---- The ACPICA tools -------------------------------------------------------------------

constexpr const char* kInstallHint = "iasl not found: install acpica-tools (tools/bootstrap.sh deps)";

struct CommandResult {
  int status;
  std::string output;  // stdout and stderr
};

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

CommandResult run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed: " + command};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// The lines of iasl's messages or of a .dsl that report a problem: iasl
// exits 0 after a bad checksum or a truncated subtable, so its status
// alone proves nothing (see IaslCheckCatchesABrokenTable).
std::vector<std::string> problem_lines(const std::string& text) {
  static const char* const kMarkers[] = {"Error", "Warning", "Incorrect", "Invalid", "terminates", "Unknown",
                                         "too long", "does not contain"};
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    for (const char* m : kMarkers)
      if (line.find(m) != std::string::npos) {
        out.push_back(line);
        break;
      }
  return out;
}

class Acpica {
 public:
  // Empty when iasl is there; else why not.
  static std::string missing() {
    const std::string iasl = ENLIGHT_IASL;
    if (iasl.empty() || !fs::exists(iasl)) return kInstallHint;
    if (!fs::exists(acpiexec())) return std::string(kInstallHint) + " (acpiexec is missing beside " + iasl + ")";
    return "";
  }
  static fs::path iasl() { return ENLIGHT_IASL; }
  static fs::path acpiexec() { return fs::path(ENLIGHT_IASL).parent_path() / "acpiexec"; }

  // A fresh directory for one test's files, kept for a human to read.
  static fs::path workdir() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    for (char& ch : name)
      if (ch == '/') ch = '_';
    const fs::path dir = fs::path(ENLIGHT_TEST_BINARY_DIR) / "tests/core/machine/acpi-out" / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
  }

  // iasl -d <dir>/<sig>.dat -> <dir>/<sig>.dsl; adds failures for any
  // problem and returns the .dsl text.
  static std::string disassemble(const fs::path& dir, const std::string& sig) {
    const CommandResult r = run("cd " + quoted(dir) + " && " + quoted(iasl()) + " -d " + sig + ".dat");
    EXPECT_EQ(r.status, 0) << "iasl -d " << sig << ":\n" << r.output;
    EXPECT_EQ(problem_lines(r.output), std::vector<std::string>{}) << "iasl -d " << sig << ":\n" << r.output;
    const std::string dsl = read_text(dir / (sig + ".dsl"));
    EXPECT_FALSE(dsl.empty()) << sig << ".dsl was not written:\n" << r.output;
    EXPECT_EQ(problem_lines(dsl), std::vector<std::string>{}) << "in " << (dir / (sig + ".dsl")).string();
    return dsl;
  }

  // iasl -on <dsl>: compiles the disassembly back (-on: no name-path
  // shortening, which would make "\_S5" "_S5"); adds failures unless it
  // reports 0 errors, warnings and remarks at warning level 3; returns the
  // compiled bytes.
  static Bytes compile(const fs::path& dir, const std::string& sig) {
    const fs::path out = dir / "recompiled";
    fs::create_directories(out);
    const CommandResult r = run(quoted(iasl()) + " -w3 -on -p " + quoted(out / sig) + " " + quoted(dir / (sig + ".dsl")));
    EXPECT_EQ(r.status, 0) << "iasl " << sig << ".dsl:\n" << r.output;
    static const std::regex kSummary(R"((\d+) Errors, (\d+) Warnings, (\d+) Remarks)");
    std::smatch m;
    if (!std::regex_search(r.output, m, kSummary)) {
      ADD_FAILURE() << "no summary line from iasl " << sig << ".dsl:\n" << r.output;
    } else {
      EXPECT_EQ(m[1].str() + "/" + m[2].str() + "/" + m[3].str(), "0/0/0")
          << "errors/warnings/remarks compiling " << sig << ".dsl:\n" << r.output;
    }
    return read_bytes(out / (sig + ".aml"));
  }
};

// iasl sets its own compiler id and revision, and so the checksum.
void expect_same_but_compiler(const Bytes& ours, const Bytes& iasls, const std::string& sig, bool has_header) {
  ASSERT_EQ(ours.size(), iasls.size()) << sig << ": iasl's reassembly differs in length";
  for (size_t i = 0; i < ours.size(); ++i) {
    const bool compiler_field =
        has_header && (i == kHdrChecksum || (i >= kHdrCreatorId && i < kHdrCreatorRevision + 4));
    if (compiler_field) continue;
    ASSERT_EQ(ours[i], iasls[i]) << sig << ": byte " << i << " differs after disassembly and reassembly";
  }
}

class AcpiTablesIasl : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const std::string why = Acpica::missing();
    if (!why.empty()) GTEST_FAIL() << why;
    tables_ = build(GetParam());
    dir_ = Acpica::workdir();
    for (const auto& e : tables_.tables) write_bytes(dir_ / (e.signature + ".dat"), table(tables_, e.signature));
  }
  AcpiTables tables_;
  fs::path dir_;
};

INSTANTIATE_TEST_SUITE_P(Machine, AcpiTablesIasl, testing::ValuesIn(kCases), case_name);

TEST_P(AcpiTablesIasl, DisassemblesAndReassemblesToTheSameBytes) {
  // The DSDT needs no other table: it refers to nothing outside itself.
  for (const char* sig : {"XSDT", "FACP", "FACS", "DSDT", "APIC"}) {
    SCOPED_TRACE(sig);
    Acpica::disassemble(dir_, sig);
    expect_same_but_compiler(table(tables_, sig), Acpica::compile(dir_, sig), sig, std::string(sig) != "FACS");
  }
}

TEST_P(AcpiTablesIasl, FadtAsIaslReadsIt) {
  const std::string dsl = Acpica::disassemble(dir_, "FACP");
  for (const char* line : {"Revision : 06", "SCI Interrupt : 0009", "SMI Command Port : 00000000",
                           "PM1A Event Block Address : 00000600", "PM1A Control Block Address : 00000604",
                           "PM Timer Block Address : 00000608", "PM1 Event Block Length : 04",
                           "PM1 Control Block Length : 02", "PM Timer Block Length : 04",
                           "Legacy Devices Supported (V2) : 1", "8042 Present on ports 60/64 (V2) : 1",
                           "WBINVD instruction is operational (V1) : 1", "All CPUs support C1 (V1) : 1",
                           "Control Method Power Button (V1) : 1", "Control Method Sleep Button (V1) : 1",
                           "32-bit PM Timer (V1) : 0", "Reset Register Supported (V2) : 1",
                           "Hardware Reduced (V5) : 0", "Address : 0000000000000CF9", "Value to cause reset : 06",
                           "Address : 0000000000000608"}) {
    // iasl pads field names to a column; compare with the padding squeezed out.
    static const std::regex kSpaces(" +");
    EXPECT_NE(std::regex_replace(dsl, kSpaces, " ").find(line), std::string::npos) << "missing: " << line;
  }
}

TEST_P(AcpiTablesIasl, MadtAsIaslReadsIt) {
  const std::string dsl = Acpica::disassemble(dir_, "APIC");
  static const std::regex kSpaces(" +");
  const std::string flat = std::regex_replace(dsl, kSpaces, " ");
  EXPECT_EQ(count(flat, "[Processor Local APIC]"), GetParam().vcpus);
  EXPECT_EQ(count(flat, "Processor Enabled : 1"), GetParam().vcpus);
  EXPECT_EQ(count(flat, "Local Apic Address : FEE00000"), 1u);
  EXPECT_EQ(count(flat, "[I/O APIC]"), 1u);
  EXPECT_EQ(count(flat, "Address : FEC00000"), 1u);
  EXPECT_EQ(count(flat, "[Interrupt Source Override]"), 1u);
  EXPECT_EQ(count(flat, "Source : 09"), 1u);
  EXPECT_EQ(count(flat, "Source : 00"), 0u);
  EXPECT_EQ(count(flat, "[Local APIC NMI]"), 1u);
  EXPECT_EQ(count(flat, "Interrupt Input LINT : 01"), 1u);
}

TEST_P(AcpiTablesIasl, DsdtAsIaslReadsIt) {
  const std::string dsl = Acpica::disassemble(dir_, "DSDT");
  for (const char* text : {"Scope (\\_SB)", "Device (COM1)", "EisaId (\"PNP0501\")", "Name (_UID, Zero)",
                           "IO (Decode16,", "0x03F8,             // Range Minimum", "0x08,               // Length",
                           "IRQNoFlags ()\n                    {4}", "Name (\\_S5, Package (0x04)",
                           "0x05, \n        0x05, \n        Zero, \n        Zero"})
    EXPECT_NE(dsl.find(text), std::string::npos) << "missing: " << text << "\nin:\n" << dsl;
  const bool vmbus = GetParam().vmbus, declared = GetParam().declared;
  for (const char* text : {"Device (VMBS)", "Name (STA, 0x0F)", "STA &= 0x0D", "STA |= 0x0F", "Return (STA)",
                           "Method (_PS3, 0, NotSerialized)"})
    EXPECT_EQ(dsl.find(text) != std::string::npos, vmbus) << text;
  for (const char* text : {"Return (\"VMBus\")", "Name (_DDN, \"VMBUS\")", "{7}"})
    EXPECT_EQ(dsl.find(text) != std::string::npos, vmbus || declared) << text;
  // A manifest's acpi-devices, as iasl reads them back.
  for (const char* text : {"Device (VMBD)", "Device (DEV1)", "EisaId (\"PNP0C02\")",
                           "Name (_UID, 0x03)", "{5}", "Device (DEV2)", "Name (_HID, \"ENLT0001\")", "Name (_STA, 0x0F)"})
    EXPECT_EQ(dsl.find(text) != std::string::npos, declared) << text << "\nin:\n" << dsl;
}

// acpiexec runs ACPICA, Linux's ACPI interpreter, on the tables: its FADT
// conversion warns about what Linux would warn about (a 32/64-bit field
// mismatch, a bad block length), and the methods run.
TEST_P(AcpiTablesIasl, AcpicaLoadsTheTablesAndRunsTheMethods) {
  std::string commands = "evaluate \\_S5; evaluate \\_SB.COM1._CRS; evaluate \\_SB.COM1._HID";
  if (GetParam().vmbus)
    commands += "; evaluate \\_SB.VMBS._STA; evaluate \\_SB.VMBS._DIS; evaluate \\_SB.VMBS._STA"
                "; evaluate \\_SB.VMBS._PS0; evaluate \\_SB.VMBS._STA; evaluate \\_SB.VMBS._HID";
  if (GetParam().declared)
    commands += "; evaluate \\_SB.VMBD._HID; evaluate \\_SB.VMBD._CRS; evaluate \\_SB.VMBD._STA"
                "; evaluate \\_SB.DEV1._CRS; evaluate \\_SB.DEV2._CRS; evaluate \\_SB.DEV2._HID";
  const CommandResult r = run("cd " + quoted(dir_) + " && timeout 60 " + quoted(Acpica::acpiexec()) + " -b \"" + commands +
                    "\" FACP.dat DSDT.dat APIC.dat FACS.dat");
  EXPECT_EQ(r.status, 0) << r.output;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    for (const char* m : {"Firmware Warning", "Firmware Error", "ACPI Warning", "ACPI Error", "ACPI Exception"})
      EXPECT_EQ(line.find(m), std::string::npos) << line;
    // acpiexec's own interface tests assume its FADT: ARB_DIS lives in the
    // PM2 block and the GPE calls need GPE blocks, neither of which this
    // machine has. Any other failure (sleep data from \_S5, the FACS's
    // global lock, the PM timer) is ours.
    if (line.find("Unexpected") != std::string::npos) {
      const bool expected = line.find("BitRegister") != std::string::npos || line.find("Gpe") != std::string::npos;
      EXPECT_TRUE(expected) << line;
    }
  }
  const std::string out = r.output;
  EXPECT_NE(out.find("ACPI: FACP"), std::string::npos);
  EXPECT_NE(out.find("[Integer] = 0000000000000005\n    [Integer] = 0000000000000005"), std::string::npos) << out;
  EXPECT_NE(out.find("47 01 F8 03 F8 03 01 08 22 10 00 79 00"), std::string::npos) << out;
  EXPECT_NE(out.find("[Integer] = 000000000105D041"), std::string::npos) << "COM1 _HID\n" << out;
  if (GetParam().vmbus) {
    const size_t first = out.find("[Integer] = 000000000000000F");
    const size_t disabled = out.find("[Integer] = 000000000000000D", first);
    const size_t enabled = out.find("[Integer] = 000000000000000F", disabled);
    EXPECT_NE(first, std::string::npos) << out;
    EXPECT_NE(disabled, std::string::npos) << "_DIS did not clear bit 1\n" << out;
    EXPECT_NE(enabled, std::string::npos) << "_PS0 did not set it again\n" << out;
    // ACPICA upper-cases a _HID string ("repair"), so Linux sees "VMBUS".
    EXPECT_NE(out.find("[String] Length 05 = \"VMBUS\""), std::string::npos) << out;
  }
}

// ---- The checks themselves catch broken tables -------------------------------------------

class AcpicaChecks : public testing::Test {
 protected:
  void SetUp() override {
    const std::string why = Acpica::missing();
    if (!why.empty()) GTEST_FAIL() << why;
    AcpiConfig config;
    config.vcpus = 2;
    config.sb_devices.push_back(vmbus_device());
    tables_ = build_acpi_tables(config);
    dir_ = Acpica::workdir();
  }
  Bytes fix_checksum(Bytes t) {
    t[kHdrChecksum] = 0;
    t[kHdrChecksum] = static_cast<uint8_t>(-byte_sum(t, 0, t.size()));
    return t;
  }
  AcpiTables tables_;
  fs::path dir_;
};

TEST_F(AcpicaChecks, IaslCheckCatchesABrokenTable) {
  Bytes facp = table(tables_, "FACP");
  facp[kHdrChecksum] ^= 1;
  write_bytes(dir_ / "FACP.dat", facp);
  const CommandResult r = run("cd " + quoted(dir_) + " && " + quoted(Acpica::iasl()) + " -d FACP.dat");
  EXPECT_EQ(r.status, 0) << "iasl's status does not report it";
  EXPECT_FALSE(problem_lines(r.output).empty()) << r.output;
  EXPECT_FALSE(problem_lines(read_text(dir_ / "FACP.dsl")).empty());
}

TEST_F(AcpicaChecks, ReassemblyCatchesAMisnestedDevice) {
  // COM1's PkgLength 5 bytes too long swallows the start of VMBS: iasl
  // disassembles it without a word, but it does not reassemble the same.
  Bytes dsdt = table(tables_, "DSDT");
  const Bytes device_op = hex_bytes({0x5B, 0x82});
  const auto at = std::search(dsdt.begin(), dsdt.end(), device_op.begin(), device_op.end());
  ASSERT_NE(at, dsdt.end());
  at[2] = static_cast<uint8_t>(at[2] + 5);
  dsdt = fix_checksum(dsdt);
  write_bytes(dir_ / "DSDT.dat", dsdt);
  const CommandResult dis = run("cd " + quoted(dir_) + " && " + quoted(Acpica::iasl()) + " -d DSDT.dat");
  ASSERT_EQ(dis.status, 0) << dis.output;
  const CommandResult re = run(quoted(Acpica::iasl()) + " -w3 -on -p " + quoted(dir_ / "re") + " " + quoted(dir_ / "DSDT.dsl"));
  const Bytes again = read_bytes(dir_ / "re.aml");
  EXPECT_TRUE(re.status != 0 || again != dsdt) << "a misnested DSDT reassembled to the same bytes";
}

TEST_F(AcpicaChecks, AcpicaWarnsAboutAnInconsistentFadt) {
  Bytes facp = table(tables_, "FACP");
  facp[kFadtXPm1aEvt + 1] = 16;  // X_PM1a_EVT_BLK 16 bits, PM1_EVT_LEN says 4 bytes
  write_bytes(dir_ / "FACP.dat", fix_checksum(facp));
  write_bytes(dir_ / "DSDT.dat", table(tables_, "DSDT"));
  const CommandResult r = run("cd " + quoted(dir_) + " && timeout 60 " + quoted(Acpica::acpiexec()) +
                    " -b \"evaluate \\_S5\" FACP.dat DSDT.dat");
  EXPECT_NE(r.output.find("Firmware Warning"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace enlight::machine
