// The `claims:` section: which MSRs, hypercall codes, I/O ports and CPUID
// bits a plugin owns. Overlaps inside one manifest are refused here; overlaps
// between plugins are the resolver's business (they depend on the set).
#include "manifest/manifest_parts.hpp"
#include "manifest/scalars.hpp"

#include <enlight/abi.h>
#include <enlight/tlfs.h>

#include <algorithm>
#include <cctype>

namespace enlight {

namespace {

using detail::MapReader;

const char* const kRegNames[] = {"eax", "ebx", "ecx", "edx"};

std::optional<uint8_t> parse_reg(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (uint8_t i = 0; i < 4; ++i)
    if (text == kRegNames[i]) return i;
  return std::nullopt;
}

// "0x40000003.eax[6]"
CpuidGate parse_gate(const MapReader& r) {
  const std::string text = r.string("gate");
  const auto fail = [&] {
    r.fail("gate", "gate '" + text + "' is not LEAF.REG[BIT]", "write it like 0x40000003.eax[6]");
  };
  const size_t dot = text.find('.'), open = text.find('['), close = text.find(']');
  if (dot == std::string::npos || open == std::string::npos || close != text.size() - 1 || open < dot) fail();
  const auto leaf = detail::parse_u64(text.substr(0, dot));
  const auto reg = parse_reg(text.substr(dot + 1, open - dot - 1));
  const auto bit = detail::parse_u64(text.substr(open + 1, close - open - 1));
  if (!leaf || *leaf > 0xffffffffu || !reg || !bit) fail();
  if (*bit > 31) r.fail("gate", "gate '" + text + "': bit " + std::to_string(*bit) + " is outside 0..31");
  return {static_cast<uint32_t>(*leaf), *reg, static_cast<uint8_t>(*bit)};
}

// `index: N` / `port: N` or `range: [first, last]`, exactly one.
std::pair<uint64_t, uint64_t> parse_span(const MapReader& r, const std::string& single, uint64_t max,
                                         const std::string& what) {
  if (r.has(single) == r.has("range"))
    throw ConfigError(r.location(), "an " + what + " claim needs exactly one of '" + single + "' or 'range'",
                      "write '" + single + ": N' or 'range: [first, last]'");
  if (r.has(single)) {
    const uint64_t v = r.number(single, 0, max);
    return {v, v};
  }
  const std::vector<YAML::Node> items = r.list("range");
  if (items.size() != 2) r.fail("range", "key 'range' must be a list of two numbers [first, last]");
  const uint64_t first = detail::scalar_u64(items[0], r.file(), "the first " + what, max, r.value_location("range"));
  const uint64_t last = detail::scalar_u64(items[1], r.file(), "the last " + what, max, r.value_location("range"));
  if (first > last)
    r.fail("range", "range [" + detail::hex(first) + ", " + detail::hex(last) + "] ends before it starts",
           "write [first, last] with first <= last");
  return {first, last};
}

std::string span_text(const std::string& what, uint64_t first, uint64_t last, int digits) {
  if (first == last) return what + " " + detail::hex(first, digits);
  return what + "s " + detail::hex(first, digits) + "-" + detail::hex(last, digits);
}

// Refuses two claims of one manifest on the same index: a copy-paste slip
// that would otherwise surface as a confusing conflict with itself.
template <class Claim>
void check_own_overlaps(std::vector<Claim> claims, const std::string& what, int digits) {
  std::sort(claims.begin(), claims.end(), [](const Claim& a, const Claim& b) { return a.first < b.first; });
  for (size_t i = 1; i < claims.size(); ++i) {
    const Claim& prev = claims[i - 1];
    const Claim& cur = claims[i];
    if (cur.first <= prev.last) {
      const auto lo = cur.first;
      const auto hi = std::min<uint64_t>(cur.last, prev.last);
      const Claim& later = cur.where.line > prev.where.line ? cur : prev;
      const Claim& earlier = cur.where.line > prev.where.line ? prev : cur;
      throw ConfigError(later.where,
                        span_text(what, lo, hi, digits) + " is claimed twice in this manifest (also at line " +
                            std::to_string(earlier.where.line) + ")",
                        "keep one claim for each " + what);
    }
  }
}

void parse_msrs(const MapReader& claims, Manifest& m) {
  for (const YAML::Node& item : claims.list("msrs")) {
    const MapReader r(item, claims.file(), "an MSR claim", {"index", "range", "gate", "default"},
                      claims.key_location("msrs"));
    MsrClaim c;
    c.where = r.location();
    std::tie(c.first, c.last) = parse_span(r, "index", 0xffffffffu, "MSR");
    if (r.has("gate")) c.gate = parse_gate(r);
    c.fallback = r.boolean("default", false);
    if (c.fallback && (c.first < HV_X64_MSR_SYNTHETIC_FIRST || c.last > HV_X64_MSR_SYNTHETIC_LAST))
      r.fail("default", "a default MSR claim must lie in the synthetic range 0x40000000-0x400001ff",
             "claim it as an ordinary MSR, or remove 'default: true'");
    m.msrs.push_back(c);
  }
  check_own_overlaps(m.msrs, "MSR", 8);
}

void parse_hypercalls(const MapReader& claims, Manifest& m) {
  struct Span {
    uint16_t first, last;
    SourceLocation where;
  };
  std::vector<Span> spans;
  for (const YAML::Node& item : claims.list("hypercalls")) {
    const MapReader r(item, claims.file(), "a hypercall claim", {"code", "gate"}, claims.key_location("hypercalls"));
    r.require("code");
    HypercallClaim c;
    c.where = r.location();
    const uint64_t code = r.number("code", 0, 0xffff);
    // The two ranges the bus decodes with direct tables: simple and rep
    // calls, and the extended calls (TLFS "HvExtCall*").
    if (!(code <= 0x01FF || (code >= 0x8000 && code <= 0x80FF)))
      r.fail("code", "hypercall code " + detail::hex(code, 4) + " is outside 0x0000-0x01FF and 0x8000-0x80FF",
             "use a code the TLFS defines");
    c.code = static_cast<uint16_t>(code);
    if (r.has("gate")) c.gate = parse_gate(r);
    m.hypercalls.push_back(c);
    spans.push_back({c.code, c.code, c.where});
  }
  check_own_overlaps(spans, "hypercall", 4);
}

void parse_io_ports(const MapReader& claims, Manifest& m) {
  for (const YAML::Node& item : claims.list("io-ports")) {
    const MapReader r(item, claims.file(), "an I/O port claim", {"port", "range"}, claims.key_location("io-ports"));
    IoClaim c;
    c.where = r.location();
    auto [first, last] = parse_span(r, "port", 0xffff, "I/O port");
    c.first = static_cast<uint16_t>(first);
    c.last = static_cast<uint16_t>(last);
    m.io_ports.push_back(c);
  }
  check_own_overlaps(m.io_ports, "I/O port", 4);
}

uint32_t parse_bits(const MapReader& r) {
  const std::vector<YAML::Node> items = r.list("bits");
  if (items.empty()) r.fail("bits", "key 'bits' lists no bits", "write e.g. 'bits: [6]'");
  uint32_t mask = 0;
  for (const auto& b : items)
    mask |= 1u << detail::scalar_u64(b, r.file(), "a bit number in 'bits'", 31, r.value_location("bits"));
  return mask;
}

void parse_cpuid(const MapReader& claims, Manifest& m) {
  for (const YAML::Node& item : claims.list("cpuid")) {
    const MapReader r(item, claims.file(), "a CPUID claim", {"leaf", "subleaf", "reg", "bits", "field", "default"},
                      claims.key_location("cpuid"));
    r.require("leaf");
    r.require("reg");
    CpuidClaim c;
    c.where = r.location();
    c.leaf = static_cast<uint32_t>(r.number("leaf", 0, 0xffffffffu));
    c.subleaf = static_cast<uint32_t>(r.number("subleaf", 0, 0xffffffffu));
    const auto reg = parse_reg(r.string("reg"));
    if (!reg) r.fail("reg", "key 'reg' must be one of 'eax', 'ebx', 'ecx', 'edx', got '" + r.string("reg") + "'");
    c.reg = *reg;
    const int kinds = int(r.has("bits")) + int(r.has("field")) + int(r.has("default"));
    if (kinds != 1)
      throw ConfigError(c.where, "a CPUID claim needs exactly one of 'bits', 'field' or 'default'",
                        "'bits: [n, ...]' for feature bits shared by OR, 'field: MASK' for a value this plugin "
                        "alone sets, 'default: MASK' for a value used while nobody sets it");
    if (r.has("bits")) {
      c.kind = ENLIGHT_CPUID_BITS;
      c.mask = parse_bits(r);
    } else {
      const std::string key = r.has("field") ? "field" : "default";
      c.kind = key == "field" ? ENLIGHT_CPUID_FIELD : ENLIGHT_CPUID_DEFAULT;
      c.mask = static_cast<uint32_t>(r.number(key, 0, 0xffffffffu));
      if (c.mask == 0) r.fail(key, "key '" + key + "' is a mask and must not be 0");
    }
    // Within one manifest, FIELD must not overlap any other non-default
    // claim on that register: the resolver applies the same rule across
    // plugins, and a plugin should not conflict with itself.
    for (const CpuidClaim& o : m.cpuid) {
      if (o.leaf != c.leaf || o.subleaf != c.subleaf || o.reg != c.reg || !(o.mask & c.mask)) continue;
      const bool field = c.kind == ENLIGHT_CPUID_FIELD || o.kind == ENLIGHT_CPUID_FIELD;
      const bool dflt = c.kind == ENLIGHT_CPUID_DEFAULT || o.kind == ENLIGHT_CPUID_DEFAULT;
      if (field && !dflt)
        throw ConfigError(c.where, "CPUID " + detail::hex(c.leaf) + "." + kRegNames[c.reg] + " mask " +
                                       detail::hex(c.mask & o.mask) + " overlaps the claim at line " +
                                       std::to_string(o.where.line) + " of this manifest",
                          "merge the two claims");
    }
    m.cpuid.push_back(c);
  }
}

}  // namespace

namespace detail {

void parse_claims(const MapReader& top, Manifest& m) {
  if (!top.has("claims") || top.value("claims").IsNull()) return;
  const MapReader claims(top.value("claims"), top.file(), "claims", {"msrs", "hypercalls", "io-ports", "cpuid"},
                         top.key_location("claims"));
  parse_msrs(claims, m);
  parse_hypercalls(claims, m);
  parse_io_ports(claims, m);
  parse_cpuid(claims, m);
}

}  // namespace detail
}  // namespace enlight
