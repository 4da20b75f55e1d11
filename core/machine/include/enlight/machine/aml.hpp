// A small builder of ACPI Machine Language (ACPI 6.5 chapter 20, "ACPI
// Machine Language Specification"): enough to describe enlight's devices in
// the DSDT (names, integers, strings, EISA ids, packages, resource
// templates, devices, scopes, and methods with simple bodies), and for
// plugins to describe theirs (the VMBus device's _STA/_DIS/_PS0 methods).
// Each call returns the encoded term; terms nest by value. The encoding
// choices (shortest integer prefix, shortest PkgLength form, names as
// written) are the ones iasl makes, so iasl disassembles the result and
// reassembles it, with `iasl -on`, to the same bytes
// (tests/core/machine/acpi_tables_test.cpp checks it).
//
// Names and operands: a name used as an operand or target (`Return (STA)`,
// `Store (x, STA)`) is just its name_string().
//
// Errors: functions that take names, strings or small numbers throw
// std::invalid_argument for values the grammar cannot encode (said at each
// function); pkg_length throws std::length_error past 2^28 - 1 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace enlight::machine::aml {

using Bytes = std::vector<uint8_t>;

// ---- Data objects (ACPI 6.5 section 20.2.3) --------------------------------
// 0 as ZeroOp, 1 as OneOp, anything else with the shortest of Byte, Word,
// DWord and QWordPrefix. Never OnesOp: its value depends on the table's
// revision (32 or 64 bits), a QWord does not.
Bytes integer(uint64_t value);
// StringPrefix, the characters, NUL. Throws std::invalid_argument unless
// every character is ASCII 0x01-0x7F (the grammar's AsciiChar).
Bytes string(const std::string& text);
// "PNP0501" -> the 32-bit compressed EISA id (ACPI 6.5 section 6.1.5),
// always as a DWord, as iasl's EISAID() emits it: 0x0105D041. Throws
// std::invalid_argument unless `id` is three letters A-Z and four
// upper-case hex digits.
Bytes eisa_id(const std::string& id);
// PackageOp with NumElements = elements.size(). Throws
// std::invalid_argument past 255 elements (that needs VarPackageOp).
Bytes package(const std::vector<Bytes>& elements);
Bytes buffer(const Bytes& data);

// The PkgLength encoding (ACPI 6.5 section 20.2.4) of a package whose
// body (what follows the PkgLength) is `body_length` bytes: the value
// counts its own 1-4 bytes, and the shortest form that holds it is used.
// Throws std::length_error when the total reaches 2^28.
Bytes pkg_length(size_t body_length);

// ---- Names (ACPI 6.5 section 20.2.2) ----------------------------------------
// A name string: "COM1", "_SB_", "\\_SB_.COM1", "^PARN", "\\" (the root).
// Segments of 1-4 characters are padded with '_' ("_SB" -> "_SB_"); a
// segment starts with A-Z or '_' and continues with A-Z, 0-9 or '_'.
// Throws std::invalid_argument on anything else (empty string, empty or
// long segment, lower case, a prefix in the middle, more than 255
// segments).
Bytes name_string(const std::string& path);
Bytes name(const std::string& path, const Bytes& value);            // DefName
Bytes scope(const std::string& path, const std::vector<Bytes>& terms);
Bytes device(const std::string& path, const std::vector<Bytes>& terms);
// Sync level 0. Throws std::invalid_argument for arg_count > 7.
Bytes method(const std::string& path, uint8_t arg_count, bool serialized, const std::vector<Bytes>& body);

// ---- Statements and expressions for method bodies (section 20.2.5) ---------
Bytes return_(const Bytes& value);
Bytes store(const Bytes& source, const Bytes& target);              // Store(source, target)
Bytes and_(const Bytes& a, const Bytes& b, const Bytes& target);    // target = a & b
Bytes or_(const Bytes& a, const Bytes& b, const Bytes& target);     // target = a | b
Bytes local(uint8_t n);                                            // Local0..Local7, else invalid_argument
Bytes arg(uint8_t n);                                              // Arg0..Arg6, else invalid_argument

// ---- Resource templates (ACPI 6.5 section 6.4) ------------------------------
// A ResourceTemplate is a Buffer of resource descriptors ended by an End
// Tag. Its checksum byte is 0 ("treated as if the checksum operation
// succeeded", section 6.4.2.9), as iasl and QEMU emit it.
Bytes resource_template(const std::vector<Bytes>& descriptors);
Bytes io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);  // IO(Decode16, ...)
Bytes irq_no_flags(uint32_t irq);  // IRQNoFlags(){irq}; throws std::invalid_argument unless irq < 16
Bytes memory32_fixed(bool writable, uint32_t base, uint32_t length);

}  // namespace enlight::machine::aml
