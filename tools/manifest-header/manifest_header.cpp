// enlight-manifest-header: a plugin's manifest (or a profile) as C++,
// written at build time.
//
//   enlight-manifest-header MANIFEST OUT.hpp
//     enlight/this_plugin.hpp: the manifest's facts as C++ constants, so a
//     plugin states its name, version, claims, CPUID bits and options once,
//     in its manifest, and the C++ side is checked against them by the
//     compiler (docs/sdk.md, "Each fact once"). enlight_add_plugin runs it
//     before the plugin compiles, in the tree and for out-of-tree plugins.
//   enlight-manifest-header --manifest-cpp MANIFEST OUT.cpp
//   enlight-manifest-header --profile-cpp PROFILE OUT.cpp FUNCTION
//     a YAML-free build (ENLIGHT_YAML=OFF): C++ that builds the same
//     enlight::Manifest / enlight::Profile the YAML parser would, so the
//     binary needs no YAML parser (docs/size.md).
//
// What the header holds:
//   name, version               the descriptor's, from the manifest
//   msrs, hypercalls, io_ports  the claimed numbers; ENLIGHT_PLUGIN checks the
//                               handler tables against them at compile time
//   cpuid                       the descriptor's CPUID claims, used as they are
//   options::<name>             typed option keys (Option<bool/uint64_t/string_view>)
// A failed check calls a function whose name says which manifest line and
// which number differ, so the compiler's error reads as the fix.
#include <enlight/abi.h>
#include <enlight/core/config_error.hpp>
#include <enlight/core/manifest.hpp>
#include <enlight/core/profile.hpp>

#include <cctype>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// A C++ literal ("0x40000002u"), or with `in_name` the same number as part
// of an identifier ("0x40000002").
std::string hex(uint64_t v, int digits, bool in_name = false) {
  char buf[32];
  std::snprintf(buf, sizeof buf, in_name ? "0x%0*llX" : "0x%0*llXu", digits, static_cast<unsigned long long>(v));
  return buf;
}

// A C identifier from any text: the file name and option names become part
// of generated names.
std::string ident(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  return out;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string c_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const char* reg_name(uint8_t reg) {
  static const char* const names[] = {"ENLIGHT_EAX", "ENLIGHT_EBX", "ENLIGHT_ECX", "ENLIGHT_EDX"};
  return reg < 4 ? names[reg] : "ENLIGHT_EAX";
}

const char* kind_name(uint8_t kind) {
  switch (kind) {
    case ENLIGHT_CPUID_FIELD: return "ENLIGHT_CPUID_FIELD";
    case ENLIGHT_CPUID_DEFAULT: return "ENLIGHT_CPUID_DEFAULT";
    default: return "ENLIGHT_CPUID_BITS";
  }
}

// Each check is a defined, non-constexpr function: reaching one during
// constant evaluation is the compile error, and its name is the message.
void diagnostic(std::ostringstream& o, const std::string& name) {
  o << "inline void " << name << "() {}\n";
}

// One claimed span of MSRs or ports, with its manifest line.
struct Span {
  uint64_t first, last;
  int line;
};
// How one kind of range claim is named in the generated code.
struct RangeKind {
  const char* table;   // the header's array and ENLIGHT_PLUGIN's field: "msrs"
  const char* noun;    // check_<noun>_handlers, an_<noun>_handler_range...: "msr"
  const char* plural;  // in a diagnostic: "claims_msrs_..."
  const char* claim;   // the ABI struct of a handler: "enlight_msr_claim"
  int digits;
};

// check_<table>_handlers: every claimed number has a handler and every
// handler range lies inside the claims, each failure its own named function.
void range_checks(std::ostringstream& o, std::ostringstream& checks, const std::string& file, const RangeKind& k,
                  const std::vector<Span>& spans) {
  const std::string table = k.table;
  checks << "constexpr bool check_" << k.noun << "_handlers(std::span<const " << k.claim
         << "> handlers) {\n";
  for (const auto& c : spans) {
    const std::string fn = file + "_line_" + std::to_string(c.line) + "_claims_" + k.plural + "_" +
                           hex(c.first, k.digits, true) + "_to_" + hex(c.last, k.digits, true) + "_but_ENLIGHT_PLUGIN_" +
                           table + "_has_no_handler_for_all_of_them";
    diagnostic(o, fn);
    checks << "  if (!detail::covered(handlers, " << hex(c.first, k.digits) << ", " << hex(c.last, k.digits) << ")) "
           << fn << "();\n";
  }
  const std::string stray = std::string("an_") + k.noun + "_handler_range_in_ENLIGHT_PLUGIN_" +
                            table + "_reaches_beyond_the_claims_of_" + file;
  diagnostic(o, stray);
  checks << "  for (const auto& h : handlers)\n"
            "    if (!detail::covered<ClaimedRange>("
         << table << ", h.first, h.last)) " << stray << "();\n  return true;\n}\n";
}

std::string header(const enlight::Manifest& m) {
  const std::string file = ident(base_name(m.path));
  std::ostringstream o;
  o << "// Generated by enlight-manifest-header from " << base_name(m.path)
    << ": the manifest's facts as C++\n"
       "// constants (docs/sdk.md, \"Each fact once\"). Edit the manifest, not this file.\n"
       "#pragma once\n"
       "#define ENLIGHT_THIS_PLUGIN 1\n"
       "#include <enlight/manifest_facts.hpp>\n\n"
       "namespace enlight {\n"
       "// Internal linkage: in a static build every plugin has its own.\n"
       "namespace {\n"
       "namespace this_plugin {\n\n";
  o << "constexpr char name[] = " << c_string(m.name) << ";\n";
  o << "constexpr char version[] = " << c_string(m.version.str()) << ";\n\n";

  o << "constexpr std::array<ClaimedRange, " << m.msrs.size() << "> msrs{{\n";
  for (const auto& c : m.msrs)
    o << "    {" << hex(c.first, 8) << ", " << hex(c.last, 8) << "},  // line " << c.where.line << "\n";
  o << "}};\n";
  o << "constexpr std::array<uint16_t, " << m.hypercalls.size() << "> hypercalls{{\n";
  for (const auto& c : m.hypercalls) o << "    " << hex(c.code, 4) << ",  // line " << c.where.line << "\n";
  o << "}};\n";
  o << "constexpr std::array<ClaimedRange, " << m.io_ports.size() << "> io_ports{{\n";
  for (const auto& c : m.io_ports)
    o << "    {" << hex(c.first, 4) << ", " << hex(c.last, 4) << "},  // line " << c.where.line << "\n";
  o << "}};\n";
  o << "constexpr std::array<enlight_cpuid_claim, " << m.cpuid.size() << "> cpuid{{\n";
  for (const auto& c : m.cpuid)
    o << "    {" << hex(c.leaf, 8) << ", " << hex(c.subleaf, 1) << ", " << reg_name(c.reg) << ", "
      << kind_name(c.kind) << ", 0, " << hex(c.mask, 8) << "},  // line " << c.where.line << "\n";
  o << "}};\n\n";

  o << "namespace options {\n";
  for (const auto& opt : m.options) {
    const char* type = opt.type == enlight::OptionSpec::Type::Bool  ? "bool"
                       : opt.type == enlight::OptionSpec::Type::U64 ? "uint64_t"
                                                                     : "std::string_view";
    o << "constexpr Option<" << type << "> " << ident(opt.name) << "{" << c_string(opt.name) << "};  // line "
      << opt.where.line << "\n";
  }
  o << "}  // namespace options\n\n";

  // The compile-time checks ENLIGHT_PLUGIN runs on the handler tables.
  std::ostringstream checks;
  o << "// Diagnostics (see the top of this file).\n";
  std::vector<Span> msr_spans, io_spans;
  for (const auto& c : m.msrs) msr_spans.push_back({c.first, c.last, c.where.line});
  for (const auto& c : m.io_ports) io_spans.push_back({c.first, c.last, c.where.line});
  range_checks(o, checks, file, {"msrs", "msr", "msrs", "enlight_msr_claim", 8}, msr_spans);
  range_checks(o, checks, file, {"io_ports", "io", "ports", "enlight_io_claim", 4}, io_spans);

  checks << "constexpr bool check_hypercall_handlers(std::span<const enlight_hypercall_claim> handlers) {\n";
  for (const auto& c : m.hypercalls) {
    const std::string fn = file + "_line_" + std::to_string(c.where.line) + "_claims_hypercall_" + hex(c.code, 4, true) +
                           "_but_ENLIGHT_PLUGIN_hypercalls_has_no_handler_for_it";
    diagnostic(o, fn);
    checks << "  if (!detail::has_code(handlers, " << hex(c.code, 4) << ")) " << fn << "();\n";
  }
  const std::string stray_hc = "a_hypercall_handler_in_ENLIGHT_PLUGIN_hypercalls_is_not_a_claim_of_" + file;
  diagnostic(o, stray_hc);
  checks << "  for (const auto& h : handlers)\n"
            "    if (!detail::code_claimed(hypercalls, h.code)) "
         << stray_hc << "();\n  return true;\n}\n";

  const std::string stray_cpuid = "these_cpuid_bits_are_not_claimed_in_" + file + "_claims_cpuid";
  diagnostic(o, stray_cpuid);
  checks << "// A CPUID contribution the plugin makes at run time (VmBase::cpuid_bits,\n"
            "// cpuid_field) must lie inside a claim.\n"
            "constexpr void check_cpuid_contribution(uint32_t leaf, uint8_t reg, uint32_t mask) {\n"
            "  if (!detail::cpuid_claimed(cpuid, leaf, reg, mask)) "
         << stray_cpuid << "();\n}\n";

  o << "\n" << checks.str();
  o << "\n}  // namespace this_plugin\n}  // namespace\n}  // namespace enlight\n";
  return o.str();
}


// ---- The YAML-free build: a Manifest or Profile as C++ that builds it ----

// A C++ string literal for any bytes (octal escapes cannot run into the
// next character the way \x escapes do).
std::string lit(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string loc(const enlight::SourceLocation& w) {
  return "enlight::SourceLocation{" + lit(w.file) + ", " + std::to_string(w.line) + ", " + std::to_string(w.column) + "}";
}

std::string num(uint64_t v) { return std::to_string(v) + "ull"; }

std::string strings(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + lit(v[i]);
  return out + "}";
}

std::string version(const enlight::Version& v) {
  return "enlight::Version{" + std::to_string(v.major) + "u, " + std::to_string(v.minor) + "u, " +
         std::to_string(v.patch) + "u}";
}

std::string dependencies(const std::vector<enlight::Dependency>& deps) {
  std::string out = "{";
  for (const auto& d : deps) {
    out += "enlight::Dependency{" + lit(d.name) + ", enlight::VersionRange{{";
    for (const auto& b : d.range.bounds)
      out += "enlight::VersionRange::Bound{static_cast<enlight::VersionRange::Bound::Op>(" +
             std::to_string(static_cast<int>(b.op)) + "), " + version(b.version) + "}, ";
    out += "}, " + lit(d.range.text) + "}, " + loc(d.where) + "}, ";
  }
  return out + "}";
}

std::string gate(const std::optional<enlight::CpuidGate>& g) {
  if (!g) return "std::nullopt";
  return "enlight::CpuidGate{" + num(g->leaf) + ", " + std::to_string(g->reg) + ", " + std::to_string(g->bit) + "}";
}

std::string optional_u64(const std::optional<uint64_t>& v) { return v ? "std::optional<uint64_t>{" + num(*v) + "}" : "std::nullopt"; }

std::string manifest_cpp(const enlight::Manifest& m, const std::string& source) {
  std::ostringstream o;
  o << "// Generated by enlight-manifest-header --manifest-cpp from " << source
    << ": the manifest as the\n// YAML parser reads it, built without one (ENLIGHT_YAML=OFF). Edit the manifest.\n"
       "#include <enlight/core/loader.hpp>\n#include <enlight/core/manifest.hpp>\n\n#include <optional>\n\n"
       "namespace {\n\nenlight::Manifest build() {\n  enlight::Manifest m;\n";
  o << "  m.name = " << lit(m.name) << ";\n  m.version = " << version(m.version) << ";\n  m.abi = " << m.abi << "u;\n";
  o << "  m.description = " << lit(m.description) << ";\n  m.flag = " << lit(m.flag) << ";\n";
  o << "  m.library = " << lit(m.library) << ";\n  m.status = " << lit(m.status) << ";\n";
  o << "  m.security = " << lit(m.security) << ";\n  m.snapshot = " << lit(m.snapshot) << ";\n  m.implicit = " << (m.implicit ? "true" : "false") << ";\n";
  o << "  m.passthrough = " << (m.passthrough ? "true" : "false") << ";\n";
  o << "  m.host_features = " << strings(m.host_features) << ";\n  m.offload = " << strings(m.offload) << ";\n";
  o << "  m.requires_ = " << dependencies(m.requires_) << ";\n";
  o << "  m.recommends = " << dependencies(m.recommends) << ";\n";
  o << "  m.conflicts = " << dependencies(m.conflicts) << ";\n";
  for (const auto& c : m.msrs)
    o << "  m.msrs.push_back({" << num(c.first) << ", " << num(c.last) << ", " << gate(c.gate) << ", "
      << (c.fallback ? "true" : "false") << ", " << loc(c.where) << "});\n";
  for (const auto& c : m.hypercalls)
    o << "  m.hypercalls.push_back({" << c.code << ", " << gate(c.gate) << ", " << loc(c.where) << "});\n";
  for (const auto& c : m.io_ports)
    o << "  m.io_ports.push_back({" << c.first << ", " << c.last << ", " << loc(c.where) << "});\n";
  for (const auto& c : m.cpuid)
    o << "  m.cpuid.push_back({" << num(c.leaf) << ", " << num(c.subleaf) << ", " << std::to_string(c.reg) << ", "
      << std::to_string(c.kind) << ", " << num(c.mask) << ", " << loc(c.where) << "});\n";
  for (const auto& opt : m.options) {
    o << "  {\n    enlight::OptionSpec s;\n    s.type = static_cast<enlight::OptionSpec::Type>("
      << static_cast<int>(opt.type) << ");\n";
    o << "    s.name = " << lit(opt.name) << ";\n    s.description = " << lit(opt.description) << ";\n";
    o << "    s.default_bool = " << (opt.default_bool ? "true" : "false") << ";\n    s.default_u64 = "
      << num(opt.default_u64) << ";\n    s.default_string = " << lit(opt.default_string) << ";\n";
    o << "    s.min = " << optional_u64(opt.min) << ";\n    s.max = " << optional_u64(opt.max) << ";\n";
    o << "    s.max_length = "
      << (opt.max_length ? "std::optional<uint32_t>{" + std::to_string(*opt.max_length) + "u}" : "std::nullopt")
      << ";\n";
    o << "    s.flag = " << lit(opt.flag) << ";\n    s.flag_enables = " << (opt.flag_enables ? "true" : "false")
      << ";\n    s.where = " << loc(opt.where) << ";\n    m.options.push_back(std::move(s));\n  }\n";
  }
  for (const auto& a : m.acpi_devices)
    o << "  m.acpi_devices.push_back({" << lit(a.name) << ", " << lit(a.hid) << ", " << a.uid << "u, " << lit(a.ddn)
      << ", " << a.irq << ", " << loc(a.where) << "});\n";
  o << "  m.path = " << lit(m.path) << ";\n  m.directory = " << lit(m.directory) << ";\n  m.where = " << loc(m.where)
    << ";\n";
  for (const auto& [key, where] : m.key_where) o << "  m.key_where[" << lit(key) << "] = " << loc(where) << ";\n";
  o << "  return m;\n}\n\n[[maybe_unused]] const int registered = (enlight::register_static_manifest_builder("
    << lit(m.name) << ", &build), 0);\n\n}  // namespace\n";
  return o.str();
}

std::string requests(const std::string& field, const std::vector<enlight::PluginRequest>& reqs) {
  std::ostringstream o;
  for (const auto& r : reqs) {
    o << "  {\n    enlight::PluginRequest r;\n    r.name = " << lit(r.name) << ";\n";
    for (const auto& [key, value] : r.options)
      o << "    r.options[" << lit(key) << "] = enlight::OptionValue{" << lit(value.text) << ", " << loc(value.where)
        << "};\n";
    o << "    r.where = " << loc(r.where) << ";\n    r.offload = " << lit(r.offload) << ";\n    r.offload_where = "
      << loc(r.offload_where) << ";\n    p." << field << ".push_back(std::move(r));\n  }\n";
  }
  return o.str();
}

std::string profile_cpp(const enlight::Profile& p, const std::string& source, const std::string& function) {
  std::ostringstream o;
  o << "// Generated by enlight-manifest-header --profile-cpp from " << source
    << ": the profile as the YAML\n// parser reads it, built without one (ENLIGHT_YAML=OFF). Edit the profile.\n"
       "#include <enlight/core/profile.hpp>\n\nnamespace enlight {\n\nProfile "
    << function << "() {\n  Profile p;\n";
  o << "  p.name = " << lit(p.name) << ";\n  p.source = " << lit(p.source) << ";\n";
  o << requests("plugins", p.plugins) << requests("option_only", p.option_only);
  o << "  p.passthrough = " << (p.passthrough ? "true" : "false") << ";\n  p.passthrough_where = "
    << loc(p.passthrough_where) << ";\n";
  o << "  p.enforce_cpuid = " << (p.enforce_cpuid ? "true" : "false") << ";\n  p.vcpus = " << p.vcpus << "u;\n";
  const auto& mm = p.machine;
  o << "  p.machine.kernel = " << lit(mm.kernel) << ";\n  p.machine.initrd = " << lit(mm.initrd) << ";\n";
  o << "  p.machine.append = " << lit(mm.append) << ";\n  p.machine.has_append = " << (mm.has_append ? "true" : "false")
    << ";\n";
  o << "  p.machine.serial = " << lit(mm.serial) << ";\n  p.machine.memory = " << num(mm.memory)
    << ";\n  p.machine.where = " << loc(mm.where) << ";\n";
  o << "  return p;\n}\n\n}  // namespace enlight\n";
  return o.str();
}

// Writes `text` to `path` unless it already holds exactly that, so a rerun
// does not recompile what includes or builds it.
int write_if_changed(const std::string& path, const std::string& text) {
  std::ifstream old(path);
  std::stringstream current;
  current << old.rdbuf();
  if (old && current.str() == text) return 0;
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) {
    std::fprintf(stderr, "enlight-manifest-header: cannot write %s\n", path.c_str());
    return 1;
  }
  return 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const char* usage =
      "usage: enlight-manifest-header MANIFEST OUT.hpp\n"
      "       enlight-manifest-header --manifest-cpp MANIFEST OUT.cpp\n"
      "       enlight-manifest-header --profile-cpp PROFILE OUT.cpp FUNCTION\n";
  const std::string input = args.size() >= 2 ? args[args[0].rfind("--", 0) == 0 ? 1 : 0] : "";
  try {
    if (args.size() == 2 && args[0].rfind("--", 0) != 0)
      return write_if_changed(args[1], header(enlight::load_manifest_file(args[0])));
    if (args.size() == 3 && args[0] == "--manifest-cpp") {
      // Parsed under the name a built-in manifest has, so its messages read
      // the same with and without YAML.
      const std::string text = read_text(args[1]);
      const enlight::Manifest m = enlight::parse_manifest(text, "<built-in>/" + base_name(args[1]));
      return write_if_changed(args[2], manifest_cpp(m, base_name(args[1])));
    }
    if (args.size() == 4 && args[0] == "--profile-cpp") {
      const std::string name = base_name(args[1]).substr(0, base_name(args[1]).rfind('.'));
      const enlight::Profile p = enlight::parse_profile(read_text(args[1]), "<embedded>/" + name + ".yaml");
      return write_if_changed(args[2], profile_cpp(p, base_name(args[1]), args[3]));
    }
  } catch (const enlight::ConfigError& e) {
    std::fprintf(stderr, "enlight-manifest-header: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "enlight-manifest-header: %s: %s\n", input.c_str(), e.what());
    return 1;
  }
  std::fputs(usage, stderr);
  return 2;
}
