// libFuzzer target: the VMBus host's channel management as a hostile guest
// drives it. The input is a sequence of channel messages (each a length
// byte, then that many bytes; see the loop for long ones), fed to one
// Bus with a channel on offer; between messages the "guest" takes the
// host's replies or not (the top bit of the length byte), so queues fill
// and drain. Every reply the host produces is parsed back as a guest would
// read it: it must be a host-to-guest message of a size Linux accepts.
// ASan and UBSan watch every read; the bus must stay within its limits.
#include "protocol/bus.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

using namespace enlight::vmbus;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

ChannelOffer offer(uint8_t id) {
  ChannelOffer o;
  o.if_type = Guid HV_HEART_BEAT_GUID_BYTES;
  o.if_instance[0] = id;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 16 MiB of guest RAM: PFNs beyond 4096 are refused.
  BusLimits limits;
  limits.gpadl.max_gpadls = 64;
  limits.gpadl.max_total_pfns = 1 << 14;
  Bus bus({offer(1), offer(2)}, 4096, limits);
  size_t at = 0;
  while (at < size) {
    const uint8_t head = data[at++];
    const bool take_replies = (head & 0x80) != 0;
    size_t len = head & 0x7F;
    // Lengths 120-127 say "the next byte is the length": long messages
    // (OPENCHANNEL's 148, GPADL headers with 26 PFNs) and over-long ones
    // (up to 255, beyond the 240 the SynIC allows) are reachable too.
    if (len >= 120 && at < size) len = data[at++];
    len = std::min(len, size - at);
    (void)bus.on_message(data + at, static_cast<uint32_t>(len));
    at += len;
    check(bus.gpadls().size() <= limits.gpadl.max_gpadls);
    check(bus.gpadls().reserved_pfns() <= limits.gpadl.max_total_pfns);
    if (!take_replies) continue;
    while (bus.has_outgoing()) {
      const Encoded& e = bus.front();
      check(e.size >= VMBUS_CHANNEL_MESSAGE_HEADER_SIZE && e.size <= kMaxMessageSize);
      // What the host sends, read as the guest would: the guest parser
      // refuses every host-to-guest type as such, and nothing else.
      const Parsed p = parse_guest_message(e.bytes.data(), e.size);
      check(!p.ok() && p.error == ParseError::HostToGuestType);
      bus.pop();
    }
  }
  return 0;
}
