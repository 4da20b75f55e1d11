#include "nic_config.hpp"

#include <cstdio>

namespace enlight::vmbus_net {
namespace {

// Linux's IFNAMSIZ - 1, and sun_path's size less the terminator.
constexpr size_t kMaxIfname = 15;
constexpr size_t kMaxSocketPath = 107;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return parts;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_mac(std::string_view s, Mac& mac) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < 6; ++i) {
    const int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':')) return false;
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

std::string format_mac(const Mac& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

std::vector<NicConfig> parse_nics(std::string_view spec, std::string* error) {
  std::vector<NicConfig> nics;
  auto fail = [&](size_t index, const std::string& what) {
    *error = "nics: NIC " + std::to_string(index) + ": " + what;
    return std::vector<NicConfig>{};
  };
  const auto entries = split(spec, ';');
  if (entries.size() > kMaxNics)
    return fail(kMaxNics, "at most " + std::to_string(kMaxNics) + " NICs per VM; fix: remove some");
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto fields = split(entries[i], ',');
    NicConfig nic;
    nic.mac = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(i + 1)};
    const std::string_view kind = fields[0];
    if (kind == "loopback") nic.backend = BackendKind::Loopback;
    else if (kind == "tap") nic.backend = BackendKind::Tap;
    else if (kind == "socket") nic.backend = BackendKind::Socket;
    else
      return fail(i, "unknown backend '" + std::string(kind) +
                         "'; fix: loopback, tap,ifname=NAME or socket,path=LOCAL,peer=PEER");
    for (size_t f = 1; f < fields.size(); ++f) {
      const size_t eq = fields[f].find('=');
      const std::string_view key = eq == std::string_view::npos ? fields[f] : fields[f].substr(0, eq);
      const std::string value(eq == std::string_view::npos ? std::string_view{} : fields[f].substr(eq + 1));
      if (eq == std::string_view::npos || value.empty())
        return fail(i, "'" + std::string(fields[f]) + "' is not key=value; fix: e.g. mac=02:00:00:00:00:01");
      if (key == "mac") {
        if (!parse_mac(value, nic.mac))
          return fail(i, "mac '" + value + "' is not six hex bytes; fix: e.g. mac=02:00:00:00:00:01");
        if (nic.mac[0] & 1) return fail(i, "mac " + value + " is a multicast address; fix: clear bit 0 of the first byte");
        if (nic.mac == Mac{}) return fail(i, "mac 00:00:00:00:00:00 is not an address; fix: e.g. 02:00:00:00:00:01");
      } else if (key == "ifname" && nic.backend == BackendKind::Tap) {
        if (value.size() > kMaxIfname || value.find('/') != std::string::npos)
          return fail(i, "ifname '" + value + "' is not an interface name (at most 15 characters, no '/')");
        nic.ifname = value;
      } else if ((key == "path" || key == "peer") && nic.backend == BackendKind::Socket) {
        if (value.size() > kMaxSocketPath)
          return fail(i, std::string(key) + " is longer than a Unix socket path may be (107 bytes)");
        (key == "path" ? nic.path : nic.peer) = value;
      } else {
        return fail(i, "key '" + std::string(key) + "' does not apply to backend " + std::string(kind) +
                           "; fix: mac for all, ifname for tap, path and peer for socket");
      }
    }
    if (nic.backend == BackendKind::Tap && nic.ifname.empty())
      return fail(i, "tap needs its device; fix: tap,ifname=tap0");
    if (nic.backend == BackendKind::Socket && (nic.path.empty() || nic.peer.empty()))
      return fail(i, "socket needs both ends; fix: socket,path=/run/vm-a.sock,peer=/run/vm-b.sock");
    for (size_t j = 0; j < nics.size(); ++j)
      if (nics[j].mac == nic.mac)
        return fail(i, "mac " + format_mac(nic.mac) + " is NIC " + std::to_string(j) + "'s too; fix: give each its own");
    nics.push_back(std::move(nic));
  }
  return nics;
}

}  // namespace enlight::vmbus_net
