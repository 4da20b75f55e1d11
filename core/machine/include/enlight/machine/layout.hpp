// Where things are on enlight's PC machine: I/O ports, interrupt lines,
// physical addresses. One place, so the devices, the ACPI tables that
// describe them and the backend that routes to them cannot disagree.
// The addresses follow QEMU's q35/ICH9 where a guest might have learnt them
// (PM block at 0x600, reset at 0xCF9) and the ISA PC everywhere else.
#pragma once

#include <cstdint>

namespace enlight::machine {

// ---- I/O ports ------------------------------------------------------------
constexpr uint16_t kCom1Base = 0x3F8;        // 8250/16550A, 8 registers
constexpr uint16_t kCom1Ports = 8;
constexpr uint16_t kI8042Data = 0x60;
constexpr uint16_t kI8042Command = 0x64;     // status on read
constexpr uint16_t kCmosIndex = 0x70;        // bit 7: NMI disable
constexpr uint16_t kCmosData = 0x71;
// The CMOS byte with the century (BCD), as on PC BIOSes and QEMU; the
// FADT's CENTURY field names it so Linux reads and writes whole years.
constexpr uint8_t kCmosCenturyIndex = 0x32;
constexpr uint16_t kPostCode = 0x80;         // Linux's io_delay port: writes ignored
// ACPI fixed hardware (ACPI 6.5 ch. 4.8), ICH9's PMBASE layout.
constexpr uint16_t kAcpiPmBase = 0x600;
constexpr uint16_t kAcpiPm1aEvent = kAcpiPmBase + 0x0;   // PM1_STS (2 bytes), PM1_EN (2 bytes)
constexpr uint16_t kAcpiPm1EventLength = 4;
constexpr uint16_t kAcpiPm1aControl = kAcpiPmBase + 0x4; // PM1_CNT (2 bytes)
constexpr uint16_t kAcpiPm1ControlLength = 2;
constexpr uint16_t kAcpiPmTimer = kAcpiPmBase + 0x8;     // PM_TMR (4 bytes, 24 bits)
constexpr uint16_t kAcpiPmTimerLength = 4;
constexpr uint16_t kResetControl = 0xCF9;    // FADT RESET_REG (and Linux's reboot=pci)
constexpr uint8_t kResetValue = 0x06;        // FADT RESET_VALUE: SYS_RST | RST_CPU

// ---- ISA interrupt lines (GSI = IRQ: KVM's default routing, no override) --
constexpr uint32_t kIrqPit = 0;
constexpr uint32_t kIrqKeyboard = 1;
constexpr uint32_t kIrqCom1 = 4;
constexpr uint32_t kIrqRtc = 8;
constexpr uint32_t kIrqSci = 9;              // ACPI SCI: level, active high (MADT override)
constexpr uint32_t kIrqMouse = 12;

// ---- ACPI sleep states ----------------------------------------------------
// SLP_TYP value of \_S5 in the DSDT; PM1_CNT.SLP_EN with it powers off.
constexpr uint16_t kSlpTypS5 = 5;

// ---- Physical addresses -----------------------------------------------------
constexpr uint64_t kIoApicAddress = 0xFEC00000;
constexpr uint64_t kLocalApicAddress = 0xFEE00000;
// The ACPI tables live in the BIOS area, where Linux also scans for the
// RSDP (0xE0000-0xFFFFF), and boot_params.acpi_rsdp_addr points at it.
constexpr uint64_t kAcpiTablesBase = 0xE0000;
constexpr uint64_t kAcpiTablesEnd = 0x100000;
// RAM below the 32-bit MMIO hole: enlight maps guest RAM as one region
// from 0, so it ends below the IOAPIC/LAPIC and KVM's TSS pages.
constexpr uint64_t kMaxRam = 0xC0000000;     // 3 GiB

}  // namespace enlight::machine
