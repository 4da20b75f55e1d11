// The AML builder's encodings against bytes worked out by hand from ACPI
// 6.5 chapter 20 (grammar, opcode values in 20.3) and section 6.4
// (resource descriptors). acpi_tables_test.cpp additionally has iasl
// reassemble the disassembly of a whole DSDT to the same bytes.
#include <enlight/machine/aml.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

namespace enlight::machine::aml {
namespace {

Bytes bytes_of(std::initializer_list<int> v) {
  Bytes out;
  for (int b : v) out.push_back(static_cast<uint8_t>(b));
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes filler(size_t n) { return Bytes(n, 0xA5); }

// ---- Integers (20.2.3: ZeroOp 0x00, OneOp 0x01, prefixes 0x0A/0B/0C/0E) ----

TEST(AmlInteger, ZeroAndOneUseTheirOpcodes) {
  EXPECT_EQ(integer(0), bytes_of({0x00}));
  EXPECT_EQ(integer(1), bytes_of({0x01}));
}

TEST(AmlInteger, ShortestPrefixThatHoldsTheValue) {
  EXPECT_EQ(integer(2), bytes_of({0x0A, 0x02}));
  EXPECT_EQ(integer(0xFF), bytes_of({0x0A, 0xFF}));
  EXPECT_EQ(integer(0x100), bytes_of({0x0B, 0x00, 0x01}));
  EXPECT_EQ(integer(0xFFFF), bytes_of({0x0B, 0xFF, 0xFF}));
  EXPECT_EQ(integer(0x10000), bytes_of({0x0C, 0x00, 0x00, 0x01, 0x00}));
  EXPECT_EQ(integer(0xFFFFFFFF), bytes_of({0x0C, 0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(integer(uint64_t{1} << 32), bytes_of({0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}));
}

TEST(AmlInteger, AllOnesIsAQWordNotOnesOp) {
  // OnesOp (0xFF) would be 32 bits wide in a revision-1 table.
  EXPECT_EQ(integer(UINT64_MAX), bytes_of({0x0E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
}

// ---- Strings (StringPrefix 0x0D, AsciiCharList, NullChar) -------------------

TEST(AmlString, PrefixCharactersAndNul) {
  EXPECT_EQ(string("VMBus"), bytes_of({0x0D, 'V', 'M', 'B', 'u', 's', 0x00}));
  EXPECT_EQ(string(""), bytes_of({0x0D, 0x00}));
}

TEST(AmlString, RefusesNulAndNonAscii) {
  EXPECT_THROW(string(std::string("a\0b", 3)), std::invalid_argument);
  EXPECT_THROW(string("caf\xC3\xA9"), std::invalid_argument);
}

// ---- EISA ids (6.1.5) -------------------------------------------------------

TEST(AmlEisaId, Pnp0501IsTheKnownDword) {
  // PNP0501, the 16550A UART: 0x0105D041, as every PC BIOS's DSDT has it.
  EXPECT_EQ(eisa_id("PNP0501"), bytes_of({0x0C, 0x41, 0xD0, 0x05, 0x01}));
  // Two more well-known ids: the PS/2 keyboard and the PCI host bridge.
  EXPECT_EQ(eisa_id("PNP0303"), bytes_of({0x0C, 0x41, 0xD0, 0x03, 0x03}));
  EXPECT_EQ(eisa_id("PNP0A03"), bytes_of({0x0C, 0x41, 0xD0, 0x0A, 0x03}));
}

TEST(AmlEisaId, RefusesMalformedIds) {
  EXPECT_THROW(eisa_id("PNP050"), std::invalid_argument);
  EXPECT_THROW(eisa_id("PNP05011"), std::invalid_argument);
  EXPECT_THROW(eisa_id("pnp0501"), std::invalid_argument);
  EXPECT_THROW(eisa_id("PNP050G"), std::invalid_argument);
  EXPECT_THROW(eisa_id("PN10501"), std::invalid_argument);
}

// ---- Names (20.2.2) ---------------------------------------------------------

TEST(AmlName, SingleSegmentsArePaddedWithUnderscore) {
  EXPECT_EQ(name_string("COM1"), bytes_of({'C', 'O', 'M', '1'}));
  EXPECT_EQ(name_string("_SB"), bytes_of({'_', 'S', 'B', '_'}));
  EXPECT_EQ(name_string("STA"), bytes_of({'S', 'T', 'A', '_'}));
  EXPECT_EQ(name_string("A"), bytes_of({'A', '_', '_', '_'}));
}

TEST(AmlName, RootAndParentPrefixes) {
  EXPECT_EQ(name_string("\\_S5"), bytes_of({'\\', '_', 'S', '5', '_'}));
  EXPECT_EQ(name_string("^PARN"), bytes_of({'^', 'P', 'A', 'R', 'N'}));
  EXPECT_EQ(name_string("^^A"), bytes_of({'^', '^', 'A', '_', '_', '_'}));
  EXPECT_EQ(name_string("\\"), bytes_of({'\\', 0x00}));  // RootChar NullName
}

TEST(AmlName, DualAndMultiNamePaths) {
  // DualNamePrefix 0x2E, MultiNamePrefix 0x2F SegCount.
  EXPECT_EQ(name_string("\\_SB_.COM1"), bytes_of({'\\', 0x2E, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'}));
  EXPECT_EQ(name_string("\\_SB.COM1"), name_string("\\_SB_.COM1"));
  EXPECT_EQ(name_string("_SB.PCI0.ISA"),
            bytes_of({0x2F, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'I', 'S', 'A', '_'}));
}

TEST(AmlName, RefusesMalformedNames) {
  for (const char* bad : {"", "com1", "TOOLONG", "1ABC", "A..B", ".A", "A.", "\\^A", "A^B", "A-B", "\\\\A"})
    EXPECT_THROW(name_string(bad), std::invalid_argument) << '"' << bad << '"';
}

TEST(AmlName, DefNameIsNameOpNameValue) {
  EXPECT_EQ(name("_UID", integer(0)), bytes_of({0x08, '_', 'U', 'I', 'D', 0x00}));
  EXPECT_EQ(name("_HID", eisa_id("PNP0501")), bytes_of({0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01}));
}

// ---- PkgLength (20.2.4) -------------------------------------------------------
// The value counts its own bytes. One byte holds up to 63; the 2-, 3- and
// 4-byte forms put bits 3:0 in the lead byte (bits 7:6 = extra bytes) and
// 8 bits in each following byte.

TEST(AmlPkgLength, OneByteUpTo63) {
  EXPECT_EQ(pkg_length(0), bytes_of({0x01}));
  EXPECT_EQ(pkg_length(62), bytes_of({0x3F}));  // 62 + 1 = 63
}

TEST(AmlPkgLength, TwoBytesFrom64) {
  EXPECT_EQ(pkg_length(63), bytes_of({0x41, 0x04}));    // 63 + 2 = 65 = 0x041
  EXPECT_EQ(pkg_length(64), bytes_of({0x42, 0x04}));    // 66 = 0x042
  EXPECT_EQ(pkg_length(4093), bytes_of({0x4F, 0xFF}));  // 4095 = 0xFFF, the largest
}

TEST(AmlPkgLength, ThreeAndFourBytes) {
  EXPECT_EQ(pkg_length(4094), bytes_of({0x81, 0x00, 0x01}));  // 4094 + 3 = 0x1001
  EXPECT_EQ(pkg_length(4096), bytes_of({0x83, 0x00, 0x01}));  // 0x1003
  EXPECT_EQ(pkg_length((1u << 20) - 4), bytes_of({0x8F, 0xFF, 0xFF}));          // 0xFFFFF
  EXPECT_EQ(pkg_length((1u << 20) - 3), bytes_of({0xC1, 0x00, 0x00, 0x01}));    // 0x100001
  EXPECT_EQ(pkg_length((1u << 28) - 5), bytes_of({0xCF, 0xFF, 0xFF, 0xFF}));    // 2^28 - 1
  EXPECT_THROW(pkg_length((1u << 28) - 4), std::length_error);
}

TEST(AmlPkgLength, DeviceBodiesAt63_64And4096Bytes) {
  // Device: ExtOpPrefix DeviceOp PkgLength NameString TermList. The body
  // is the 4-byte name plus the terms.
  const Bytes d62 = device("DEV0", {filler(58)});
  EXPECT_EQ(Bytes(d62.begin(), d62.begin() + 3), bytes_of({0x5B, 0x82, 0x3F}));
  EXPECT_EQ(d62.size(), 2u + 1 + 62);
  const Bytes d63 = device("DEV0", {filler(59)});
  EXPECT_EQ(Bytes(d63.begin(), d63.begin() + 8), bytes_of({0x5B, 0x82, 0x41, 0x04, 'D', 'E', 'V', '0'}));
  EXPECT_EQ(d63.size(), 2u + 2 + 63);
  const Bytes d64 = device("DEV0", {filler(60)});
  EXPECT_EQ(Bytes(d64.begin(), d64.begin() + 4), bytes_of({0x5B, 0x82, 0x42, 0x04}));
  const Bytes d4096 = device("DEV0", {filler(4092)});
  EXPECT_EQ(Bytes(d4096.begin(), d4096.begin() + 9), bytes_of({0x5B, 0x82, 0x83, 0x00, 0x01, 'D', 'E', 'V', '0'}));
  EXPECT_EQ(d4096.size(), 2u + 3 + 4096);
}

TEST(AmlPkgLength, PackageBodyOf64Bytes) {
  // PackageOp PkgLength NumElements: 1 + 63 one-byte elements (ZeroOp).
  const Bytes p = package(std::vector<Bytes>(63, integer(0)));
  EXPECT_EQ(Bytes(p.begin(), p.begin() + 4), bytes_of({0x12, 0x42, 0x04, 63}));
  EXPECT_EQ(p.size(), 1u + 2 + 64);
}

// ---- Packages, buffers, scopes ---------------------------------------------------

TEST(AmlPackage, S5Package) {
  EXPECT_EQ(package({integer(5), integer(5), integer(0), integer(0)}),
            bytes_of({0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00}));
  EXPECT_EQ(package({}), bytes_of({0x12, 0x02, 0x00}));
  EXPECT_NO_THROW(package(std::vector<Bytes>(255, integer(0))));
  EXPECT_THROW(package(std::vector<Bytes>(256, integer(0))), std::invalid_argument);
}

TEST(AmlBuffer, SizeIsAnIntegerTermArg) {
  EXPECT_EQ(buffer({1, 2, 3}), bytes_of({0x11, 0x06, 0x0A, 0x03, 0x01, 0x02, 0x03}));
  EXPECT_EQ(buffer({}), bytes_of({0x11, 0x02, 0x00}));
}

TEST(AmlScope, ScopeAndDevice) {
  EXPECT_EQ(scope("\\_SB", {}), bytes_of({0x10, 0x06, '\\', '_', 'S', 'B', '_'}));
  EXPECT_EQ(device("COM1", {}), bytes_of({0x5B, 0x82, 0x05, 'C', 'O', 'M', '1'}));
  EXPECT_EQ(scope("\\_SB", {device("COM1", {})}),
            bytes_of({0x10, 0x0D, '\\', '_', 'S', 'B', '_', 0x5B, 0x82, 0x05, 'C', 'O', 'M', '1'}));
}

// ---- Methods and their statements (20.2.5) -----------------------------------------

TEST(AmlMethod, StoreAndOrReturn) {
  // Method (TEST, 1, Serialized) {
  //   Store (Arg0, Local0)          70 68 60
  //   And (Local0, 0x0D, Local1)    7B 60 0A 0D 61
  //   Or (Local1, 0x10, STA)        7D 61 0A 10 'STA_'
  //   Return (Local1)               A4 61
  // }  MethodFlags = 1 argument | Serialized (bit 3) = 0x09
  const Bytes m = method("TEST", 1, true,
                         {store(arg(0), local(0)), and_(local(0), integer(0x0D), local(1)),
                          or_(local(1), integer(0x10), name_string("STA")), return_(local(1))});
  EXPECT_EQ(m, bytes_of({0x14, 0x18, 'T', 'E', 'S', 'T', 0x09, 0x70, 0x68, 0x60, 0x7B, 0x60, 0x0A, 0x0D, 0x61,
                         0x7D, 0x61, 0x0A, 0x10, 'S', 'T', 'A', '_', 0xA4, 0x61}));
}

TEST(AmlMethod, EmptyNotSerializedMethod) {
  EXPECT_EQ(method("_PS3", 0, false, {}), bytes_of({0x14, 0x06, '_', 'P', 'S', '3', 0x00}));
  EXPECT_EQ(method("_HID", 0, false, {return_(string("VMBus"))}),
            bytes_of({0x14, 0x0E, '_', 'H', 'I', 'D', 0x00, 0xA4, 0x0D, 'V', 'M', 'B', 'u', 's', 0x00}));
}

TEST(AmlMethod, RefusesWhatTheGrammarCannotSay) {
  EXPECT_NO_THROW(method("M7", 7, false, {}));
  EXPECT_THROW(method("M8", 8, false, {}), std::invalid_argument);
  EXPECT_EQ(local(7), bytes_of({0x67}));
  EXPECT_THROW(local(8), std::invalid_argument);
  EXPECT_EQ(arg(6), bytes_of({0x6E}));
  EXPECT_THROW(arg(7), std::invalid_argument);
}

// ---- Resource descriptors (6.4) ----------------------------------------------------

TEST(AmlResource, IoPortDescriptor) {
  // 6.4.2.5: tag 0x47 (type 8, length 7), information bit 0 = 16-bit
  // decode, minimum, maximum (LE words), alignment, length.
  EXPECT_EQ(io(0x3F8, 0x3F8, 0x01, 0x08), bytes_of({0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08}));
}

TEST(AmlResource, IrqNoFlagsIsTheTwoByteIrqDescriptor) {
  // 6.4.2.1: tag 0x22 (type 4, length 2), then the 16-bit IRQ mask.
  EXPECT_EQ(irq_no_flags(4), bytes_of({0x22, 0x10, 0x00}));
  EXPECT_EQ(irq_no_flags(7), bytes_of({0x22, 0x80, 0x00}));
  EXPECT_EQ(irq_no_flags(15), bytes_of({0x22, 0x00, 0x80}));
  EXPECT_THROW(irq_no_flags(16), std::invalid_argument);
}

TEST(AmlResource, Memory32FixedDescriptor) {
  // 6.4.3.4: large item 0x86, length 9, information bit 0 = writable.
  EXPECT_EQ(memory32_fixed(true, 0xFEC00000, 0x1000),
            bytes_of({0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xC0, 0xFE, 0x00, 0x10, 0x00, 0x00}));
  EXPECT_EQ(memory32_fixed(false, 0, 0)[3], 0x00);
}

TEST(AmlResource, TemplateIsABufferEndedByTheEndTag) {
  // 6.4.2.9: End Tag 0x79, checksum byte 0.
  EXPECT_EQ(resource_template({}), bytes_of({0x11, 0x05, 0x0A, 0x02, 0x79, 0x00}));
  EXPECT_EQ(resource_template({io(0x3F8, 0x3F8, 0x01, 0x08), irq_no_flags(4)}),
            cat({bytes_of({0x11, 0x10, 0x0A, 0x0D}), bytes_of({0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08}),
                 bytes_of({0x22, 0x10, 0x00}), bytes_of({0x79, 0x00})}));
}

}  // namespace
}  // namespace enlight::machine::aml
