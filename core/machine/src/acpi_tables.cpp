// The ACPI tables of enlight's PC machine (acpi_tables.hpp, docs/acpi.md).
// Layouts are ACPI 6.5 chapter 5's; every offset below is named after its
// field in the spec's table. Ports, IRQs and addresses come from
// layout.hpp, which the devices use too, so the two cannot disagree. Where
// the spec leaves a choice the comment says which and why, and whether
// QEMU chose the same.
#include <enlight/machine/acpi_tables.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace enlight::machine {

namespace {

using aml::Bytes;

// ---- Identity ---------------------------------------------------------------
constexpr std::string_view kOemId = "ENLGHT";         // 6 bytes
constexpr std::string_view kOemTableId = "ENLIGHT ";  // 8 bytes
constexpr uint32_t kOemRevision = 1;
constexpr std::string_view kCreatorId = "ENLT";       // 4 bytes
constexpr uint32_t kCreatorRevision = 1;
// FADT "Hypervisor Vendor Identity" (ACPI 6.0+): 8 bytes, NUL padded as
// QEMU pads "QEMU". Informational; Linux does not read it.
constexpr std::string_view kHypervisorVendor = std::string_view("ENLIGHT\0", 8);

constexpr uint32_t kMaxVcpus = 255;      // 8-bit xAPIC IDs, 0xFF is the broadcast ID
constexpr uint64_t kTableAlign = 16;     // our rule for every table (the RSDP needs it: Linux's scan)
constexpr uint64_t kFacsAlign = 64;      // ACPI 6.5 5.2.10: the FACS is 64-byte aligned

// ---- RSDP (ACPI 6.5 section 5.2.5.3, table 5.3) -----------------------------
constexpr std::string_view kRsdpSignature = "RSD PTR ";
constexpr std::string_view kRsdpName = "RSDP";  // its name in AcpiTables::tables
constexpr uint8_t kRsdpRevision = 2;     // ACPI 2.0+: has the XSDT address
constexpr size_t kRsdpSignatureAt = 0;
constexpr size_t kRsdpChecksumAt = 8;
constexpr size_t kRsdpOemIdAt = 9;
constexpr size_t kRsdpRevisionAt = 15;
constexpr size_t kRsdpRsdtAddressAt = 16;
constexpr size_t kRsdpLengthAt = 20;
constexpr size_t kRsdpXsdtAddressAt = 24;
constexpr size_t kRsdpExtendedChecksumAt = 32;
constexpr size_t kRsdpV1Length = 20;     // the ACPI 1.0 part, which Checksum covers
constexpr size_t kRsdpLength = 36;       // Extended Checksum covers all of it
static_assert(kRsdpRsdtAddressAt + sizeof(uint32_t) == kRsdpV1Length);
constexpr size_t kRsdpReservedLength = 3;
static_assert(kRsdpExtendedChecksumAt + 1 + kRsdpReservedLength == kRsdpLength);

// ---- System Description Table Header (section 5.2.6, table 5.4) -------------
constexpr size_t kHdrSignatureAt = 0;
constexpr size_t kHdrLengthAt = 4;
constexpr size_t kHdrRevisionAt = 8;
constexpr size_t kHdrChecksumAt = 9;
constexpr size_t kHdrOemIdAt = 10;
constexpr size_t kHdrOemTableIdAt = 16;
constexpr size_t kHdrOemRevisionAt = 24;
constexpr size_t kHdrCreatorIdAt = 28;
constexpr size_t kHdrCreatorRevisionAt = 32;
constexpr size_t kHeaderLength = 36;
static_assert(kHdrOemIdAt + kOemId.size() == kHdrOemTableIdAt);
static_assert(kHdrOemTableIdAt + kOemTableId.size() == kHdrOemRevisionAt);
static_assert(kHdrCreatorIdAt + kCreatorId.size() == kHdrCreatorRevisionAt);

// ---- XSDT (section 5.2.8, table 5.6) -----------------------------------------
constexpr std::string_view kXsdtSignature = "XSDT";
constexpr uint8_t kXsdtRevision = 1;
constexpr size_t kXsdtEntrySize = sizeof(uint64_t);

// ---- Generic Address Structure (section 5.2.3.2, table 5.1) ------------------
constexpr uint8_t kGasSystemIo = 1;
constexpr uint8_t kGasAccessUndefined = 0;  // "undefined (legacy reasons)": the OS uses the bit width
constexpr uint8_t kGasAccessByte = 1;
constexpr size_t kGasSpaceIdAt = 0;
constexpr size_t kGasBitWidthAt = 1;
constexpr size_t kGasBitOffsetAt = 2;
constexpr size_t kGasAccessSizeAt = 3;
constexpr size_t kGasAddressAt = 4;
constexpr size_t kGasLength = 12;
static_assert(kGasAddressAt + sizeof(uint64_t) == kGasLength);
constexpr uint8_t kBitsPerByte = 8;

// ---- FADT (section 5.2.9, table 5.9) ------------------------------------------
constexpr std::string_view kFadtSignature = "FACP";
constexpr uint8_t kFadtRevision = 6;
constexpr uint8_t kFadtMinorVersion = 5;    // ACPI 6.5: the spec every layout here is read from
constexpr size_t kFadtFirmwareCtrlAt = 36;
constexpr size_t kFadtDsdtAt = 40;
constexpr size_t kFadtPreferredPmProfileAt = 45;
constexpr size_t kFadtSciIntAt = 46;
constexpr size_t kFadtSmiCmdAt = 48;        // 0, and so ACPI_ENABLE/ACPI_DISABLE (52, 53) stay 0
constexpr size_t kFadtPm1aEvtBlkAt = 56;
constexpr size_t kFadtPm1aCntBlkAt = 64;
constexpr size_t kFadtPmTmrBlkAt = 76;
constexpr size_t kFadtPm1EvtLenAt = 88;
constexpr size_t kFadtPm1CntLenAt = 89;
constexpr size_t kFadtPmTmrLenAt = 91;
constexpr size_t kFadtPLvl2LatAt = 96;
constexpr size_t kFadtPLvl3LatAt = 98;
constexpr size_t kFadtCenturyAt = 108;
constexpr size_t kFadtIapcBootArchAt = 109;
constexpr size_t kFadtFlagsAt = 112;
constexpr size_t kFadtResetRegAt = 116;
constexpr size_t kFadtResetValueAt = 128;
constexpr size_t kFadtMinorVersionAt = 131;
constexpr size_t kFadtXFirmwareCtrlAt = 132;
constexpr size_t kFadtXDsdtAt = 140;
constexpr size_t kFadtXPm1aEvtBlkAt = 148;
constexpr size_t kFadtXPm1aCntBlkAt = 172;
constexpr size_t kFadtXPmTmrBlkAt = 208;
constexpr size_t kFadtHypervisorVendorAt = 268;
constexpr size_t kFadtLength = 276;
static_assert(kFadtFirmwareCtrlAt == kHeaderLength);
static_assert(kFadtResetRegAt + kGasLength == kFadtResetValueAt);
static_assert(kFadtXPm1aEvtBlkAt + 2 * kGasLength == kFadtXPm1aCntBlkAt);  // X_PM1b_EVT_BLK between
static_assert(kFadtXPm1aCntBlkAt + 3 * kGasLength == kFadtXPmTmrBlkAt);    // X_PM1b_CNT, X_PM2_CNT between
// X_GPE0, X_GPE1, SLEEP_CONTROL_REG, SLEEP_STATUS_REG: all zero.
static_assert(kFadtXPmTmrBlkAt + 5 * kGasLength == kFadtHypervisorVendorAt);
static_assert(kFadtHypervisorVendorAt + kHypervisorVendor.size() == kFadtLength);

// Preferred_PM_Profile: 0, "Unspecified", as QEMU; a VM is no kind of PC.
constexpr uint8_t kPmProfileUnspecified = 0;
// C2/C3 latencies above 100 and 1000 us mean "not supported"; QEMU's 0xFFF.
constexpr uint16_t kC2NotSupported = 0xFFF;
constexpr uint16_t kC3NotSupported = 0xFFF;
// CENTURY: kCmosCenturyIndex (layout.hpp), so Linux reads and writes full years.

// IAPC_BOOT_ARCH (table 5.11).
constexpr uint16_t kBootArchLegacyDevices = 1u << 0;  // ISA devices the OS may probe (COM1, the RTC)
constexpr uint16_t kBootArch8042 = 1u << 1;           // the i8042 is there: Linux probes it
// Fixed feature flags (table 5.10).
constexpr uint32_t kFlagWbinvd = 1u << 0;             // WBINVD works (it does in a VM): required on x86
constexpr uint32_t kFlagProcC1 = 1u << 2;             // HLT is C1
constexpr uint32_t kFlagPwrButton = 1u << 4;          // 1 = no fixed-feature power button
constexpr uint32_t kFlagSlpButton = 1u << 5;          // 1 = no fixed-feature sleep button
constexpr uint32_t kFlagResetRegSup = 1u << 10;       // RESET_REG is valid
// Not set: TMR_VAL_EXT (bit 8; the PM timer has 24 bits) and
// HW_REDUCED_ACPI (bit 20; the fixed hardware of layout.hpp exists).
constexpr uint32_t kFadtFlags = kFlagWbinvd | kFlagProcC1 | kFlagPwrButton | kFlagSlpButton | kFlagResetRegSup;

// ---- FACS (section 5.2.10) -------------------------------------------------
// No header and no checksum. Everything after Length is 0: no hardware
// signature (S4 is not supported), no waking vector, no global lock use.
constexpr std::string_view kFacsSignature = "FACS";
constexpr size_t kFacsSignatureAt = 0;
constexpr size_t kFacsLengthAt = 4;
constexpr size_t kFacsVersionAt = 32;
constexpr size_t kFacsLength = 64;
constexpr uint8_t kFacsVersion = 2;   // the layout with X_Firmware_Waking_Vector and OSPM flags

// ---- DSDT (section 5.2.11.1) --------------------------------------------------
constexpr std::string_view kDsdtSignature = "DSDT";
constexpr uint8_t kDsdtRevision = 2;  // 2+: AML integers are 64 bits
constexpr uint8_t kCom1IoAlignment = 1;
static_assert(kCom1Ports <= UINT8_MAX, "the IO descriptor's length is a byte");

// ---- MADT (section 5.2.12) -----------------------------------------------------
constexpr std::string_view kMadtSignature = "APIC";
// Revision 3, QEMU's current x86 value (it used 1). Revision 5 (ACPI 6.3)
// added the Local APIC "Online Capable" flag, which Linux consults only
// for entries that are not Enabled; all of ours are, so nothing later than
// 3 would change what the guest does.
constexpr uint8_t kMadtRevision = 3;
constexpr size_t kMadtLocalApicAddressAt = 36;
constexpr size_t kMadtFlagsAt = 40;
constexpr size_t kMadtEntriesAt = 44;
constexpr uint32_t kMadtPcatCompat = 1u << 0;   // dual 8259s: KVM's in-kernel irqchip has them
// Interrupt controller structure types and lengths.
constexpr uint8_t kMadtLocalApic = 0;
constexpr uint8_t kMadtLocalApicLength = 8;
constexpr uint8_t kMadtIoApic = 1;
constexpr uint8_t kMadtIoApicLength = 12;
constexpr uint8_t kMadtIntSrcOverride = 2;
constexpr uint8_t kMadtIntSrcOverrideLength = 10;
constexpr uint8_t kMadtLocalApicNmi = 4;
constexpr uint8_t kMadtLocalApicNmiLength = 6;
constexpr size_t kMadtTypeAt = 0;
constexpr size_t kMadtEntryLengthAt = 1;
// Processor Local APIC (section 5.2.12.2).
constexpr size_t kLapicProcessorUidAt = 2;
constexpr size_t kLapicApicIdAt = 3;
constexpr size_t kLapicFlagsAt = 4;
constexpr uint32_t kLapicEnabled = 1u << 0;
// I/O APIC (section 5.2.12.3).
constexpr size_t kIoApicIdAt = 2;
constexpr size_t kIoApicAddressAt = 4;
constexpr size_t kIoApicGsiBaseAt = 8;
constexpr uint8_t kIoApicId = 0;                // KVM's in-kernel IOAPIC resets its ID register to 0
constexpr uint32_t kIoApicGsiBase = 0;
// Interrupt Source Override and its MPS INTI flags (section 5.2.12.5).
constexpr size_t kIsoBusAt = 2;
constexpr size_t kIsoSourceAt = 3;
constexpr size_t kIsoGsiAt = 4;
constexpr size_t kIsoFlagsAt = 8;
constexpr uint8_t kIsoBusIsa = 0;
constexpr uint16_t kIntiActiveHigh = 0b01;       // polarity, bits 1:0
constexpr uint16_t kIntiLevelTriggered = 0b11 << 2;  // trigger mode, bits 3:2
// Local APIC NMI (section 5.2.12.7).
constexpr size_t kLapicNmiProcessorUidAt = 2;
constexpr size_t kLapicNmiFlagsAt = 3;
constexpr size_t kLapicNmiLintAt = 5;
constexpr uint8_t kAllProcessors = 0xFF;
constexpr uint16_t kNmiFlagsConforming = 0;      // polarity and trigger as the bus (LINT1: edge, high)
constexpr uint8_t kNmiLint = 1;                  // LINT1 is NMI on every PC

// ---- Writing bytes ---------------------------------------------------------------

template <typename T>
void put(Bytes& b, size_t at, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) b.at(at + i) = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (kBitsPerByte * i));
}

void put_text(Bytes& b, size_t at, std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) b.at(at + i) = static_cast<uint8_t>(text[i]);
}

// The value that makes bytes [from, to) sum to 0 mod 256 once stored in
// the checksum byte (which must be 0 and inside the range when called).
uint8_t checksum(const Bytes& b, size_t from, size_t to) {
  uint8_t sum = 0;
  for (size_t i = from; i < to; ++i) sum = static_cast<uint8_t>(sum + b.at(i));
  return static_cast<uint8_t>(-sum);
}

// 32-bit pointer fields (FIRMWARE_CTRL, DSDT) hold a table below 4 GiB
// and 0 otherwise; the 64-bit X_ field beside them always holds it.
uint32_t low_address(uint64_t gpa) { return gpa <= UINT32_MAX ? static_cast<uint32_t>(gpa) : 0; }

struct Gas {
  uint8_t space_id;
  uint8_t bit_width;
  uint8_t access_size;
  uint64_t address;
};

void put_gas(Bytes& b, size_t at, const Gas& g) {
  put<uint8_t>(b, at + kGasSpaceIdAt, g.space_id);
  put<uint8_t>(b, at + kGasBitWidthAt, g.bit_width);
  put<uint8_t>(b, at + kGasBitOffsetAt, 0);
  put<uint8_t>(b, at + kGasAccessSizeAt, g.access_size);
  put<uint64_t>(b, at + kGasAddressAt, g.address);
}

// A table of `length` bytes with its header filled; finish() checksums it.
Bytes new_table(std::string_view signature, uint8_t revision, size_t length) {
  Bytes t(length, 0);
  put_text(t, kHdrSignatureAt, signature);
  put<uint32_t>(t, kHdrLengthAt, static_cast<uint32_t>(length));
  put<uint8_t>(t, kHdrRevisionAt, revision);
  put_text(t, kHdrOemIdAt, kOemId);
  put_text(t, kHdrOemTableIdAt, kOemTableId);
  put<uint32_t>(t, kHdrOemRevisionAt, kOemRevision);
  put_text(t, kHdrCreatorIdAt, kCreatorId);
  put<uint32_t>(t, kHdrCreatorRevisionAt, kCreatorRevision);
  return t;
}

Bytes finish(Bytes t) {
  t.at(kHdrChecksumAt) = checksum(t, 0, t.size());
  return t;
}

// ---- The tables ---------------------------------------------------------------------

Bytes build_rsdp(uint64_t xsdt) {
  Bytes r(kRsdpLength, 0);
  put_text(r, kRsdpSignatureAt, kRsdpSignature);
  put_text(r, kRsdpOemIdAt, kOemId);
  put<uint8_t>(r, kRsdpRevisionAt, kRsdpRevision);
  put<uint32_t>(r, kRsdpRsdtAddressAt, 0);  // no RSDT: every OS since ACPI 2.0 follows the XSDT
  put<uint32_t>(r, kRsdpLengthAt, static_cast<uint32_t>(kRsdpLength));
  put<uint64_t>(r, kRsdpXsdtAddressAt, xsdt);
  r.at(kRsdpChecksumAt) = checksum(r, 0, kRsdpV1Length);
  r.at(kRsdpExtendedChecksumAt) = checksum(r, 0, kRsdpLength);
  return r;
}

size_t xsdt_length(size_t entries) { return kHeaderLength + entries * kXsdtEntrySize; }

Bytes build_xsdt(const std::vector<uint64_t>& entries) {
  Bytes t = new_table(kXsdtSignature, kXsdtRevision, xsdt_length(entries.size()));
  for (size_t i = 0; i < entries.size(); ++i) put<uint64_t>(t, kHeaderLength + i * kXsdtEntrySize, entries[i]);
  return finish(std::move(t));
}

// The legacy block fields and the X_ GAS describe the same I/O ports; the
// access size is QEMU's, "undefined": the OS then accesses each register
// at its own width (PM1 status/enable 16 bits, PM1 control 16, timer 32),
// all of which the PM device serves.
Gas pm_block(uint16_t port, uint16_t length_bytes) {
  return {kGasSystemIo, static_cast<uint8_t>(length_bytes * kBitsPerByte), kGasAccessUndefined, port};
}

Bytes build_fadt(uint64_t facs, uint64_t dsdt) {
  Bytes t = new_table(kFadtSignature, kFadtRevision, kFadtLength);
  put<uint32_t>(t, kFadtFirmwareCtrlAt, low_address(facs));
  put<uint32_t>(t, kFadtDsdtAt, low_address(dsdt));
  put<uint8_t>(t, kFadtPreferredPmProfileAt, kPmProfileUnspecified);
  put<uint16_t>(t, kFadtSciIntAt, static_cast<uint16_t>(kIrqSci));
  // SMI_CMD 0: the machine is always in ACPI mode (PM1_CNT.SCI_EN reads
  // 1), so there is no SMI command to switch it.
  put<uint32_t>(t, kFadtSmiCmdAt, 0);
  put<uint32_t>(t, kFadtPm1aEvtBlkAt, kAcpiPm1aEvent);
  put<uint32_t>(t, kFadtPm1aCntBlkAt, kAcpiPm1aControl);
  put<uint32_t>(t, kFadtPmTmrBlkAt, kAcpiPmTimer);
  put<uint8_t>(t, kFadtPm1EvtLenAt, static_cast<uint8_t>(kAcpiPm1EventLength));
  put<uint8_t>(t, kFadtPm1CntLenAt, static_cast<uint8_t>(kAcpiPm1ControlLength));
  put<uint8_t>(t, kFadtPmTmrLenAt, static_cast<uint8_t>(kAcpiPmTimerLength));
  // No PM1b, PM2 or GPE blocks: their addresses and lengths stay 0.
  put<uint16_t>(t, kFadtPLvl2LatAt, kC2NotSupported);
  put<uint16_t>(t, kFadtPLvl3LatAt, kC3NotSupported);
  put<uint8_t>(t, kFadtCenturyAt, kCmosCenturyIndex);
  put<uint16_t>(t, kFadtIapcBootArchAt, kBootArchLegacyDevices | kBootArch8042);
  put<uint32_t>(t, kFadtFlagsAt, kFadtFlags);
  // RESET_REG must be 8 bits at offset 0 (section 5.2.9); byte access
  // says so explicitly.
  put_gas(t, kFadtResetRegAt, {kGasSystemIo, kBitsPerByte, kGasAccessByte, kResetControl});
  put<uint8_t>(t, kFadtResetValueAt, kResetValue);
  put<uint8_t>(t, kFadtMinorVersionAt, kFadtMinorVersion);
  put<uint64_t>(t, kFadtXFirmwareCtrlAt, facs);
  put<uint64_t>(t, kFadtXDsdtAt, dsdt);
  put_gas(t, kFadtXPm1aEvtBlkAt, pm_block(kAcpiPm1aEvent, kAcpiPm1EventLength));
  put_gas(t, kFadtXPm1aCntBlkAt, pm_block(kAcpiPm1aControl, kAcpiPm1ControlLength));
  put_gas(t, kFadtXPmTmrBlkAt, pm_block(kAcpiPmTimer, kAcpiPmTimerLength));
  put_text(t, kFadtHypervisorVendorAt, kHypervisorVendor);
  return finish(std::move(t));
}

Bytes build_facs() {
  Bytes f(kFacsLength, 0);
  put_text(f, kFacsSignatureAt, kFacsSignature);
  put<uint32_t>(f, kFacsLengthAt, static_cast<uint32_t>(kFacsLength));
  put<uint8_t>(f, kFacsVersionAt, kFacsVersion);
  return f;
}

Bytes com1_device() {
  using namespace aml;
  return device("COM1", {
      name("_HID", eisa_id("PNP0501")),  // 16550A-compatible UART
      name("_UID", integer(0)),
      name("_CRS", resource_template({
          io(kCom1Base, kCom1Base, kCom1IoAlignment, static_cast<uint8_t>(kCom1Ports)),
          irq_no_flags(kIrqCom1),
      })),
  });
}

// ACPI 6.5, 6.1.5: a _HID is an EISA id (compressed into an integer) or a
// string; "PNP0501" is the former, Hyper-V's "VMBus" the latter.
bool is_eisa_id(const std::string& id) {
  if (id.size() != 7) return false;
  for (size_t i = 0; i < 3; ++i)
    if (!std::isupper(static_cast<unsigned char>(id[i]))) return false;
  for (size_t i = 3; i < 7; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(id[i]))) return false;
  return true;
}

// ACPI 6.5, 6.1.5: an ACPI id is four upper-case letters or digits (the
// vendor) and four hex digits.
bool is_acpi_id(const std::string& id) {
  if (id.size() != 8) return false;
  for (size_t i = 0; i < 4; ++i)
    if (!std::isupper(static_cast<unsigned char>(id[i])) && !std::isdigit(static_cast<unsigned char>(id[i]))) return false;
  for (size_t i = 4; i < 8; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(id[i]))) return false;
  return true;
}

Bytes dsdt_aml(const std::vector<Bytes>& sb_devices) {
  using namespace aml;
  std::vector<Bytes> sb{com1_device()};
  sb.insert(sb.end(), sb_devices.begin(), sb_devices.end());
  Bytes out = scope("\\_SB", sb);
  // \_S5: Linux writes element 0 (SLP_TYPa) into PM1a_CNT.SLP_TYP with
  // SLP_EN to power off; element 1 is SLP_TYPb (no PM1b block, but the
  // package has both); elements 2 and 3 are reserved.
  const Bytes s5 = package({integer(kSlpTypS5), integer(kSlpTypS5), integer(0), integer(0)});
  const Bytes s5_name = name("\\_S5", s5);
  out.insert(out.end(), s5_name.begin(), s5_name.end());
  return out;
}

Bytes build_dsdt(const std::vector<Bytes>& sb_devices) {
  const Bytes body = dsdt_aml(sb_devices);
  Bytes t = new_table(kDsdtSignature, kDsdtRevision, kHeaderLength + body.size());
  std::copy(body.begin(), body.end(), t.begin() + kHeaderLength);
  return finish(std::move(t));
}

size_t madt_length(uint32_t vcpus) {
  return kMadtEntriesAt + size_t{vcpus} * kMadtLocalApicLength + kMadtIoApicLength + kMadtIntSrcOverrideLength +
         kMadtLocalApicNmiLength;
}

// Appends one interrupt controller structure at `at`; returns the next offset.
size_t put_entry_header(Bytes& t, size_t at, uint8_t type, uint8_t length) {
  put<uint8_t>(t, at + kMadtTypeAt, type);
  put<uint8_t>(t, at + kMadtEntryLengthAt, length);
  return at + length;
}

Bytes build_madt(uint32_t vcpus) {
  Bytes t = new_table(kMadtSignature, kMadtRevision, madt_length(vcpus));
  put<uint32_t>(t, kMadtLocalApicAddressAt, static_cast<uint32_t>(kLocalApicAddress));
  put<uint32_t>(t, kMadtFlagsAt, kMadtPcatCompat);
  size_t at = kMadtEntriesAt;
  // One per vCPU, in index order: the first is the boot CPU. The backend
  // gives vCPU i the APIC ID i, so UID = APIC ID = index.
  for (uint32_t i = 0; i < vcpus; ++i) {
    put<uint8_t>(t, at + kLapicProcessorUidAt, static_cast<uint8_t>(i));
    put<uint8_t>(t, at + kLapicApicIdAt, static_cast<uint8_t>(i));
    put<uint32_t>(t, at + kLapicFlagsAt, kLapicEnabled);
    at = put_entry_header(t, at, kMadtLocalApic, kMadtLocalApicLength);
  }
  put<uint8_t>(t, at + kIoApicIdAt, kIoApicId);
  put<uint32_t>(t, at + kIoApicAddressAt, static_cast<uint32_t>(kIoApicAddress));
  put<uint32_t>(t, at + kIoApicGsiBaseAt, kIoApicGsiBase);
  at = put_entry_header(t, at, kMadtIoApic, kMadtIoApicLength);
  // The SCI is level-triggered, active high (ISA IRQs default to edge,
  // high). There is deliberately no override for IRQ 0: the machine keeps
  // KVM's default GSI routing, where the PIT's GSI 0 reaches IOAPIC pin 0.
  // Real chipsets wire the PIT to pin 2, and QEMU programs its own routing
  // to match, so both declare ISO 0 -> 2; here that override would send
  // Linux to a pin nothing drives. Firecracker, on KVM's default routing
  // too, has no override for IRQ 0 either.
  put<uint8_t>(t, at + kIsoBusAt, kIsoBusIsa);
  put<uint8_t>(t, at + kIsoSourceAt, static_cast<uint8_t>(kIrqSci));
  put<uint32_t>(t, at + kIsoGsiAt, kIrqSci);
  put<uint16_t>(t, at + kIsoFlagsAt, kIntiActiveHigh | kIntiLevelTriggered);
  at = put_entry_header(t, at, kMadtIntSrcOverride, kMadtIntSrcOverrideLength);
  put<uint8_t>(t, at + kLapicNmiProcessorUidAt, kAllProcessors);
  put<uint16_t>(t, at + kLapicNmiFlagsAt, kNmiFlagsConforming);
  put<uint8_t>(t, at + kLapicNmiLintAt, kNmiLint);
  put_entry_header(t, at, kMadtLocalApicNmi, kMadtLocalApicNmiLength);
  return finish(std::move(t));
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Where each table goes: offsets from `base`, in laying-out order.
struct Slot {
  std::string_view signature;
  uint64_t align;
  size_t length;
  uint64_t offset = 0;
};

}  // namespace

AcpiTables build_acpi_tables(const AcpiConfig& config, uint64_t base, uint64_t end) {
  if (config.vcpus < 1 || config.vcpus > kMaxVcpus)
    throw std::invalid_argument("ACPI tables: " + std::to_string(config.vcpus) +
                                " vCPUs; the MADT's xAPIC entries describe 1 to 255");
  if (base % kTableAlign != 0)
    throw std::invalid_argument("ACPI tables: base " + std::to_string(base) + " is not 16-byte aligned");

  const Bytes dsdt = build_dsdt(config.sb_devices);
  constexpr size_t kXsdtEntries = 2;  // FADT, MADT
  enum { kRsdp, kXsdt, kFadt, kFacs, kDsdt, kMadt, kSlots };
  Slot slots[kSlots] = {
      {kRsdpName, kTableAlign, kRsdpLength},
      {kXsdtSignature, kTableAlign, xsdt_length(kXsdtEntries)},
      {kFadtSignature, kTableAlign, kFadtLength},
      {kFacsSignature, kFacsAlign, kFacsLength},
      {kDsdtSignature, kTableAlign, dsdt.size()},
      {kMadtSignature, kTableAlign, madt_length(config.vcpus)},
  };
  uint64_t next = 0;
  for (Slot& s : slots) {
    s.offset = align_up(next, s.align);
    next = s.offset + s.length;
  }
  if (end < base || next > end - base)
    throw std::length_error("ACPI tables: " + std::to_string(next) + " bytes do not fit between " +
                            std::to_string(base) + " and " + std::to_string(end));

  auto gpa = [&](int slot) { return base + slots[slot].offset; };
  Bytes tables[kSlots] = {
      build_rsdp(gpa(kXsdt)),
      build_xsdt({gpa(kFadt), gpa(kMadt)}),
      build_fadt(gpa(kFacs), gpa(kDsdt)),
      build_facs(),
      dsdt,
      build_madt(config.vcpus),
  };

  AcpiTables out;
  out.base = base;
  out.rsdp = gpa(kRsdp);
  out.bytes.assign(next, 0);
  for (int i = 0; i < kSlots; ++i) {
    std::copy(tables[i].begin(), tables[i].end(), out.bytes.begin() + static_cast<std::ptrdiff_t>(slots[i].offset));
    out.tables.push_back({std::string(slots[i].signature), gpa(i), static_cast<uint32_t>(slots[i].length)});
  }
  return out;
}

Bytes simple_device(const SimpleDevice& d) {
  using namespace aml;
  // An id that is neither an EISA id nor an ACPI id (4 letters or digits,
  // 4 hex digits), such as Hyper-V's "VMBus", is returned by a _HID method:
  // iasl refuses it as a Name, Linux takes either (QEMU's AML does the same).
  std::vector<Bytes> terms;
  if (is_eisa_id(d.hid)) terms.push_back(name("_HID", eisa_id(d.hid)));
  else if (is_acpi_id(d.hid)) terms.push_back(name("_HID", string(d.hid)));
  else terms.push_back(method("_HID", 0, false, {return_(string(d.hid))}));
  terms.push_back(name("_UID", integer(d.uid)));
  if (!d.ddn.empty()) terms.push_back(name("_DDN", string(d.ddn)));
  terms.push_back(name("_STA", integer(0x0F)));
  std::vector<Bytes> resources;
  if (d.irq >= 0) resources.push_back(irq_no_flags(static_cast<uint32_t>(d.irq)));
  terms.push_back(name("_CRS", resource_template(resources)));
  return device(d.name, terms);
}

}  // namespace enlight::machine
