#include "frame.hpp"

#include <cstring>

namespace enlight_syndbg {
namespace {

constexpr size_t kEthernet = 14, kIpv4 = 20, kUdp = 8;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint8_t kProtocolUdp = 17;
constexpr uint8_t kTtl = 64;  // IPDEFTTL, as QEMU

uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put_be16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// RFC 1071 one's-complement sum over big-endian 16-bit words.
uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) noexcept {
  for (; n > 1; p += 2, n -= 2) sum += be16(p);
  if (n) sum += static_cast<uint32_t>(p[0]) << 8;
  return sum;
}
uint16_t fold(uint32_t sum) noexcept {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

std::optional<UdpFrame> parse_udp_frame(std::span<const uint8_t> frame) noexcept {
  if (frame.size() < kEthernet + kIpv4 || be16(frame.data() + 12) != kEtherTypeIpv4) return std::nullopt;
  const std::span<const uint8_t> ip = frame.subspan(kEthernet);
  const size_t ip_header = size_t{ip[0] & 0x0Fu} * 4;
  if ((ip[0] >> 4) != 4 || ip_header < kIpv4 || ip_header > ip.size() || ip[9] != kProtocolUdp) return std::nullopt;
  const std::span<const uint8_t> udp = ip.subspan(ip_header);
  if (udp.size() < kUdp) return std::nullopt;
  const size_t udp_length = be16(udp.data() + 4);
  if (udp_length < kUdp || udp_length > udp.size()) return std::nullopt;
  UdpFrame f;
  f.payload = udp.subspan(kUdp, udp_length - kUdp);
  std::memcpy(&f.source_ip, ip.data() + 12, sizeof f.source_ip);
  return f;
}

size_t build_udp_frame(std::span<uint8_t> out, uint32_t source_ip, uint32_t dest_ip, uint16_t port,
                       std::span<const uint8_t> payload) noexcept {
  const size_t total = kFrameHeaders + payload.size();
  if (total > out.size() || kIpv4 + kUdp + payload.size() > 0xFFFF) return 0;
  uint8_t* const eth = out.data();
  std::memset(eth, 0, kEthernet);  // QEMU leaves both MACs zero
  put_be16(eth + 12, kEtherTypeIpv4);

  uint8_t* const ip = eth + kEthernet;
  std::memset(ip, 0, kIpv4);
  ip[0] = 0x45;  // version 4, five 32-bit words
  put_be16(ip + 2, static_cast<uint16_t>(kIpv4 + kUdp + payload.size()));
  ip[8] = kTtl;
  ip[9] = kProtocolUdp;
  std::memcpy(ip + 12, &source_ip, 4);
  std::memcpy(ip + 16, &dest_ip, 4);
  put_be16(ip + 10, fold(sum16(ip, kIpv4)));

  uint8_t* const udp = ip + kIpv4;
  const uint16_t udp_length = static_cast<uint16_t>(kUdp + payload.size());
  std::memcpy(udp, &port, 2);
  std::memcpy(udp + 2, &port, 2);
  put_be16(udp + 4, udp_length);
  put_be16(udp + 6, 0);
  if (!payload.empty()) std::memcpy(udp + kUdp, payload.data(), payload.size());
  // The UDP checksum covers the pseudo-header (addresses, protocol,
  // length) and the datagram (RFC 768); 0 is sent as 0xFFFF.
  uint32_t sum = sum16(ip + 12, 8) + kProtocolUdp + udp_length;
  uint16_t check = fold(sum16(udp, udp_length, sum));
  put_be16(udp + 6, check == 0 ? 0xFFFF : check);
  return total;
}

}  // namespace enlight_syndbg
