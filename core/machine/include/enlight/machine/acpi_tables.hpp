// The ACPI tables of enlight's PC machine, built in memory and copied into
// guest RAM at kAcpiTablesBase: RSDP (revision 2) -> XSDT -> FADT and MADT;
// FADT -> FACS and DSDT. Not hardware-reduced: the FADT describes the PM
// block of layout.hpp (PM1a event and control, the PM timer), the SCI on
// IRQ 9, the reset register at 0xCF9, and the legacy devices (8042 and
// ISA). The MADT has every vCPU's local APIC (APIC ID = vCPU index), the
// IOAPIC, the SCI's interrupt source override and the LINT1 NMI. The DSDT
// has COM1, \_S5 and, in \_SB, whatever devices the caller adds (the slot
// plugins fill: VMBus adds its device VMBS, _HID "VMBus", there).
// Sources: ACPI 6.5 chapter 5; QEMU hw/i386/acpi-build.c; Firecracker
// src/vmm/src/acpi; cloud-hypervisor vmm/src/acpi.rs.
#pragma once

#include <enlight/machine/aml.hpp>
#include <enlight/machine/layout.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace enlight::machine {

// A plain device for \_SB, as a plugin's manifest declares one
// (`acpi-devices`): Device(name) { _HID, _UID, [_DDN], _STA = 0x0F
// (present, enabled, shown, functioning), _CRS with one IRQ or none }. A
// _HID that is neither an EISA nor an ACPI id is a method returning it.
// Linux's hv_vmbus walks _CRS and fails without one, so even no IRQ gives a
// resource template (an end tag).
struct SimpleDevice {
  std::string name;  // an ACPI name segment (the manifest checked it)
  std::string hid;   // "PNP0501" (EISA) becomes EisaId, "ABCD0001" (ACPI) a string, others a _HID method
  uint32_t uid = 0;
  std::string ddn;   // empty: no _DDN
  int irq = -1;      // 0-15, or -1 for none
};
aml::Bytes simple_device(const SimpleDevice& d);

struct AcpiConfig {
  uint32_t vcpus = 1;                      // 1..255 (xAPIC IDs in the MADT's Local APIC entries)
  std::vector<aml::Bytes> sb_devices;      // AML terms (normally Device()) placed in Scope(\_SB), after COM1
};

struct AcpiTables {
  uint64_t base = 0;                       // GPA of bytes[0]
  uint64_t rsdp = 0;                       // GPA of the RSDP
  std::vector<uint8_t> bytes;              // the whole region, to copy to `base`
  struct Table {
    std::string signature;                 // "RSDP" for the RSDP, else the header's signature
    uint64_t gpa = 0;
    uint32_t length = 0;
  };
  std::vector<Table> tables;               // every table, in the order laid out
};

// Lays the tables out from `base` (each 16-byte aligned, the FACS 64-byte
// aligned), checksums filled; the RSDP is first, at `base`. Throws
// std::invalid_argument for vcpus outside 1..255 or a `base` that is not
// 16-byte aligned, and std::length_error when they do not fit below `end`.
// Tables above 4 GiB are reachable only through the 64-bit X_ fields
// (the FADT's 32-bit FIRMWARE_CTRL and DSDT are then 0). docs/acpi.md.
AcpiTables build_acpi_tables(const AcpiConfig& config, uint64_t base = kAcpiTablesBase,
                             uint64_t end = kAcpiTablesEnd);

}  // namespace enlight::machine
