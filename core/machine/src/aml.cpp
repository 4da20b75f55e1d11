// AML encodings, ACPI 6.5 chapter 20 (grammar) and section 6.4 (resource
// descriptors). Opcode values are the grammar's; each term is built as
// opcode, then (for packages) PkgLength, then its parts in grammar order.
#include <enlight/machine/aml.hpp>

#include <stdexcept>

namespace enlight::machine::aml {

namespace {

// ---- Opcodes (ACPI 6.5 section 20.3, "AML Byte Stream Byte Values") --------
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0A;
constexpr uint8_t kWordPrefix = 0x0B;
constexpr uint8_t kDWordPrefix = 0x0C;
constexpr uint8_t kStringPrefix = 0x0D;
constexpr uint8_t kQWordPrefix = 0x0E;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kDualNamePrefix = 0x2E;
constexpr uint8_t kMultiNamePrefix = 0x2F;
constexpr uint8_t kExtOpPrefix = 0x5B;
constexpr uint8_t kDeviceOp = 0x82;              // after ExtOpPrefix
constexpr uint8_t kRootChar = '\\';
constexpr uint8_t kParentPrefixChar = '^';
constexpr uint8_t kNullName = 0x00;
constexpr uint8_t kLocal0Op = 0x60;
constexpr uint8_t kArg0Op = 0x68;
constexpr uint8_t kStoreOp = 0x70;
constexpr uint8_t kAndOp = 0x7B;
constexpr uint8_t kOrOp = 0x7D;
constexpr uint8_t kReturnOp = 0xA4;

constexpr uint8_t kMaxLocal = 7;
constexpr uint8_t kMaxArg = 6;
constexpr uint8_t kMaxMethodArgs = 7;            // MethodFlags bits 2:0
constexpr uint8_t kMethodSerialized = 1u << 3;   // MethodFlags bit 3
constexpr size_t kMaxPackageElements = 255;      // NumElements is a ByteData
constexpr size_t kMaxSegments = 255;             // SegCount is a ByteData
constexpr size_t kNameSegLength = 4;
constexpr uint8_t kMaxAsciiChar = 0x7F;
constexpr char kNamePad = '_';

// ---- PkgLength (section 20.2.4) --------------------------------------------
// One byte holds 6 bits of length; the 2-4 byte forms hold 4 bits in the
// lead byte (its bits 7:6 count the following bytes) and 8 in each other.
constexpr size_t kPkgLengthMaxBytes = 4;
constexpr uint32_t kPkgLengthOneByteLimit = 1u << 6;
constexpr uint32_t kPkgLengthLeadNibbleBits = 4;
constexpr uint32_t kPkgLengthByteCountShift = 6;
constexpr uint32_t kLowNibble = 0x0F;
constexpr uint32_t kBitsPerByte = 8;

// ---- Resource descriptors (section 6.4) ------------------------------------
// Small items: tag byte = type << 3 | length of the data that follows.
constexpr uint8_t small_tag(uint8_t type, uint8_t length) { return static_cast<uint8_t>(type << 3 | length); }
constexpr uint8_t kIrqTag = small_tag(0x04, 2);        // 6.4.2.1 IRQ, 2-byte form (no flags byte)
constexpr uint8_t kIoTag = small_tag(0x08, 7);         // 6.4.2.5 I/O port
constexpr uint8_t kEndTag = small_tag(0x0F, 1);        // 6.4.2.9 End Tag
constexpr uint8_t kIoDecode16 = 1u << 0;               // I/O information byte: 16-bit decode
constexpr uint8_t kEndTagChecksumUnused = 0;
constexpr uint32_t kIsaIrqs = 16;
// Large item: the tag byte then a 16-bit length of the data that follows.
constexpr uint8_t kMemory32FixedTag = 0x86;            // 6.4.3.4 32-bit Fixed Memory Range
constexpr uint16_t kMemory32FixedLength = 9;
constexpr uint8_t kMemoryWritable = 1u << 0;

// ---- EISA ids (section 6.1.5) ----------------------------------------------
constexpr size_t kEisaIdLength = 7;                    // "PNP0501": 3 letters, 4 hex digits
constexpr size_t kEisaIdLetters = 3;
constexpr uint32_t kEisaLetterBits = 5;                // 'A' = 1 ... 'Z' = 26
constexpr uint32_t kHexDigitBits = 4;

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

template <typename T>
void append_le(Bytes& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<uint8_t>(value >> (kBitsPerByte * i)));
}

Bytes concat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const Bytes& p : parts) append(out, p);
  return out;
}

// Opcode(s), then PkgLength, then `body`: every package-shaped term.
Bytes with_pkg_length(const Bytes& opcode, const Bytes& body) {
  Bytes out = opcode;
  append(out, pkg_length(body.size()));
  append(out, body);
  return out;
}

bool is_lead_name_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_lead_name_char(c) || (c >= '0' && c <= '9'); }

[[noreturn]] void bad_name(const std::string& path, const std::string& why) {
  throw std::invalid_argument("AML name \"" + path + "\": " + why);
}

// One NameSeg, padded to 4 characters.
void append_name_seg(Bytes& out, const std::string& seg, const std::string& path) {
  if (seg.empty()) bad_name(path, "empty name segment");
  if (seg.size() > kNameSegLength) bad_name(path, "segment \"" + seg + "\" is longer than 4 characters");
  if (!is_lead_name_char(seg[0])) bad_name(path, "segment \"" + seg + "\" must start with A-Z or '_'");
  for (char c : seg)
    if (!is_name_char(c)) bad_name(path, "segment \"" + seg + "\" may only hold A-Z, 0-9 and '_'");
  for (size_t i = 0; i < kNameSegLength; ++i) out.push_back(static_cast<uint8_t>(i < seg.size() ? seg[i] : kNamePad));
}

std::vector<std::string> split_segments(const std::string& path, const std::string& rest) {
  std::vector<std::string> segs;
  if (rest.empty()) return segs;
  size_t start = 0;
  while (true) {
    const size_t dot = rest.find('.', start);
    segs.push_back(rest.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (segs.size() > kMaxSegments) bad_name(path, "more than 255 segments");
  return segs;
}

Bytes binary_op(uint8_t opcode, const Bytes& a, const Bytes& b, const Bytes& target) {
  Bytes out{opcode};
  append(out, a);
  append(out, b);
  append(out, target);
  return out;
}

}  // namespace

// ---- Data objects -----------------------------------------------------------

Bytes integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  Bytes out;
  if (value <= UINT8_MAX) {
    out.push_back(kBytePrefix);
    append_le(out, static_cast<uint8_t>(value));
  } else if (value <= UINT16_MAX) {
    out.push_back(kWordPrefix);
    append_le(out, static_cast<uint16_t>(value));
  } else if (value <= UINT32_MAX) {
    out.push_back(kDWordPrefix);
    append_le(out, static_cast<uint32_t>(value));
  } else {
    out.push_back(kQWordPrefix);
    append_le(out, value);
  }
  return out;
}

Bytes string(const std::string& text) {
  Bytes out{kStringPrefix};
  for (char c : text) {
    const auto byte = static_cast<uint8_t>(c);
    if (byte == 0 || byte > kMaxAsciiChar)
      throw std::invalid_argument("AML string: only ASCII 0x01-0x7F may appear in a String (ACPI 6.5 20.2.3)");
    out.push_back(byte);
  }
  out.push_back(0);
  return out;
}

Bytes eisa_id(const std::string& id) {
  auto bad = [&] {
    throw std::invalid_argument("EISA id \"" + id + "\": want three letters A-Z and four hex digits 0-9A-F, e.g. PNP0501");
  };
  if (id.size() != kEisaIdLength) bad();
  // The compressed id is big-endian: letters in bits 30:16, hex digits in
  // 15:0; it is then stored byte-swapped, so the DWord reads 0x0105D041.
  uint32_t big_endian = 0;
  for (size_t i = 0; i < kEisaIdLetters; ++i) {
    if (id[i] < 'A' || id[i] > 'Z') bad();
    big_endian = big_endian << kEisaLetterBits | static_cast<uint32_t>(id[i] - 'A' + 1);
  }
  for (size_t i = kEisaIdLetters; i < kEisaIdLength; ++i) {
    const char c = id[i];
    uint32_t digit;
    if (c >= '0' && c <= '9') digit = static_cast<uint32_t>(c - '0');
    else if (c >= 'A' && c <= 'F') digit = static_cast<uint32_t>(c - 'A' + 10);
    else bad();
    big_endian = big_endian << kHexDigitBits | digit;
  }
  Bytes out{kDWordPrefix};
  for (size_t i = sizeof big_endian; i-- > 0;) out.push_back(static_cast<uint8_t>(big_endian >> (kBitsPerByte * i)));
  return out;
}

Bytes package(const std::vector<Bytes>& elements) {
  if (elements.size() > kMaxPackageElements)
    throw std::invalid_argument("AML Package: " + std::to_string(elements.size()) +
                                " elements, at most 255 (VarPackage is not supported)");
  Bytes body{static_cast<uint8_t>(elements.size())};
  append(body, concat(elements));
  return with_pkg_length({kPackageOp}, body);
}

Bytes buffer(const Bytes& data) {
  Bytes body = integer(data.size());  // BufferSize is a TermArg
  append(body, data);
  return with_pkg_length({kBufferOp}, body);
}

Bytes pkg_length(size_t body_length) {
  for (size_t n = 1; n <= kPkgLengthMaxBytes; ++n) {
    const uint64_t total = uint64_t{body_length} + n;
    if (n == 1) {
      if (total < kPkgLengthOneByteLimit) return {static_cast<uint8_t>(total)};
      continue;
    }
    const uint32_t bits = kPkgLengthLeadNibbleBits + kBitsPerByte * static_cast<uint32_t>(n - 1);
    if (total >= (uint64_t{1} << bits)) continue;
    Bytes out{static_cast<uint8_t>((n - 1) << kPkgLengthByteCountShift | (total & kLowNibble))};
    for (size_t i = 1; i < n; ++i)
      out.push_back(static_cast<uint8_t>(total >> (kPkgLengthLeadNibbleBits + kBitsPerByte * (i - 1))));
    return out;
  }
  throw std::length_error("AML PkgLength: a body of " + std::to_string(body_length) +
                          " bytes does not fit the 28-bit PkgLength");
}

// ---- Names ------------------------------------------------------------------

Bytes name_string(const std::string& path) {
  if (path.empty()) bad_name(path, "empty");
  Bytes out;
  size_t pos = 0;
  if (path[0] == kRootChar) {
    out.push_back(kRootChar);
    pos = 1;
  } else {
    while (pos < path.size() && path[pos] == kParentPrefixChar) {
      out.push_back(kParentPrefixChar);
      ++pos;
    }
  }
  const std::vector<std::string> segs = split_segments(path, path.substr(pos));
  if (segs.empty()) {
    out.push_back(kNullName);
    return out;
  }
  if (segs.size() == 2) out.push_back(kDualNamePrefix);
  if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (const std::string& seg : segs) append_name_seg(out, seg, path);
  return out;
}

Bytes name(const std::string& path, const Bytes& value) {
  Bytes out{kNameOp};
  append(out, name_string(path));
  append(out, value);
  return out;
}

Bytes scope(const std::string& path, const std::vector<Bytes>& terms) {
  Bytes body = name_string(path);
  append(body, concat(terms));
  return with_pkg_length({kScopeOp}, body);
}

Bytes device(const std::string& path, const std::vector<Bytes>& terms) {
  Bytes body = name_string(path);
  append(body, concat(terms));
  return with_pkg_length({kExtOpPrefix, kDeviceOp}, body);
}

Bytes method(const std::string& path, uint8_t arg_count, bool serialized, const std::vector<Bytes>& body_terms) {
  if (arg_count > kMaxMethodArgs)
    throw std::invalid_argument("AML Method " + path + ": " + std::to_string(arg_count) + " arguments, at most 7");
  Bytes body = name_string(path);
  body.push_back(static_cast<uint8_t>(arg_count | (serialized ? kMethodSerialized : 0)));
  append(body, concat(body_terms));
  return with_pkg_length({kMethodOp}, body);
}

// ---- Statements and expressions ----------------------------------------------

Bytes return_(const Bytes& value) {
  Bytes out{kReturnOp};
  append(out, value);
  return out;
}

Bytes store(const Bytes& source, const Bytes& target) {
  Bytes out{kStoreOp};
  append(out, source);
  append(out, target);
  return out;
}

Bytes and_(const Bytes& a, const Bytes& b, const Bytes& target) { return binary_op(kAndOp, a, b, target); }
Bytes or_(const Bytes& a, const Bytes& b, const Bytes& target) { return binary_op(kOrOp, a, b, target); }

Bytes local(uint8_t n) {
  if (n > kMaxLocal) throw std::invalid_argument("AML Local" + std::to_string(n) + ": only Local0-Local7 exist");
  return {static_cast<uint8_t>(kLocal0Op + n)};
}

Bytes arg(uint8_t n) {
  if (n > kMaxArg) throw std::invalid_argument("AML Arg" + std::to_string(n) + ": only Arg0-Arg6 exist");
  return {static_cast<uint8_t>(kArg0Op + n)};
}

// ---- Resource templates ------------------------------------------------------

Bytes resource_template(const std::vector<Bytes>& descriptors) {
  Bytes data = concat(descriptors);
  data.push_back(kEndTag);
  data.push_back(kEndTagChecksumUnused);
  return buffer(data);
}

Bytes io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length) {
  Bytes out{kIoTag, kIoDecode16};
  append_le(out, min);
  append_le(out, max);
  out.push_back(alignment);
  out.push_back(length);
  return out;
}

Bytes irq_no_flags(uint32_t irq) {
  if (irq >= kIsaIrqs)
    throw std::invalid_argument("IRQNoFlags: IRQ " + std::to_string(irq) + " is not an ISA IRQ (0-15)");
  Bytes out{kIrqTag};
  append_le(out, static_cast<uint16_t>(1u << irq));
  return out;
}

Bytes memory32_fixed(bool writable, uint32_t base, uint32_t length) {
  Bytes out{kMemory32FixedTag};
  append_le(out, kMemory32FixedLength);
  out.push_back(writable ? kMemoryWritable : 0);
  append_le(out, base);
  append_le(out, length);
  return out;
}

}  // namespace enlight::machine::aml
