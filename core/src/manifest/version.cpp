// Versions and version ranges of plugins, as written in manifests'
// requires / recommends / conflicts entries.
#include <enlight/core/manifest.hpp>

#include "manifest/scalars.hpp"

#include <limits>
#include <sstream>
#include <stdexcept>

namespace enlight {

std::string Version::str() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

Version Version::parse(const std::string& text) {
  Version v;
  uint32_t* parts[] = {&v.major, &v.minor, &v.patch};
  size_t part = 0, start = 0;
  while (true) {
    if (part == 3) throw std::invalid_argument("version '" + text + "' has more than three parts (MAJOR.MINOR.PATCH)");
    const size_t dot = text.find('.', start);
    const std::string piece = text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    // Decimal only: "0x1.2" is not a version anyone means.
    const bool digits = !piece.empty() && piece.find_first_not_of("0123456789") == std::string::npos;
    const auto n = digits ? detail::parse_u64(piece) : std::nullopt;
    if (!n || *n > std::numeric_limits<uint32_t>::max())
      throw std::invalid_argument("'" + text + "' is not a version (MAJOR[.MINOR[.PATCH]], decimal numbers)");
    *parts[part++] = static_cast<uint32_t>(*n);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return v;
}

bool VersionRange::contains(const Version& v) const {
  for (const auto& b : bounds) {
    bool ok = false;
    switch (b.op) {
      case Bound::Op::Eq: ok = v == b.version; break;
      case Bound::Op::Ge: ok = v >= b.version; break;
      case Bound::Op::Gt: ok = v > b.version; break;
      case Bound::Op::Le: ok = v <= b.version; break;
      case Bound::Op::Lt: ok = v < b.version; break;
    }
    if (!ok) return false;
  }
  return true;
}

VersionRange VersionRange::parse(const std::string& text) {
  VersionRange r;
  r.text = text;
  // Tokens are "op version" with or without a space between: ">=1.0 <2" and
  // ">= 1.0 < 2" both read naturally, so both are accepted.
  std::istringstream in(text);
  std::string token;
  std::string pending_op;
  auto add = [&](const std::string& op, const std::string& version) {
    Bound b{};
    if (op == ">=") b.op = Bound::Op::Ge;
    else if (op == ">") b.op = Bound::Op::Gt;
    else if (op == "<=") b.op = Bound::Op::Le;
    else if (op == "<") b.op = Bound::Op::Lt;
    else b.op = Bound::Op::Eq;
    b.version = Version::parse(version);
    r.bounds.push_back(b);
  };
  while (in >> token) {
    size_t op_len = 0;
    if (token.rfind(">=", 0) == 0 || token.rfind("<=", 0) == 0) op_len = 2;
    else if (token[0] == '>' || token[0] == '<' || token[0] == '=') op_len = 1;
    if (!pending_op.empty()) {
      if (op_len) throw std::invalid_argument("operator '" + pending_op + "' is followed by another operator in '" + text + "'");
      add(pending_op, token);
      pending_op.clear();
      continue;
    }
    if (op_len == 0)
      throw std::invalid_argument("version '" + token + "' needs an operator (>=, >, <=, <, =) in '" + text + "'");
    if (token.size() == op_len) {
      pending_op = token;
      continue;
    }
    add(token.substr(0, op_len), token.substr(op_len));
  }
  if (!pending_op.empty()) throw std::invalid_argument("operator '" + pending_op + "' has no version in '" + text + "'");
  return r;
}

}  // namespace enlight
