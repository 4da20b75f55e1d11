// libFuzzer target: vmbus-util's IC channels (plugins/vmbus-util/ic) as a
// hostile guest answers them. The input picks a device, then is a sequence
// of steps: the host opens, closes or sends a request, or the guest sends a
// packet. A guest packet is usually the host's last request with bytes
// flipped (so the fuzzer reaches past the header checks), else raw bytes;
// its transaction id is the last request's, an older one or random. The
// channel must never crash or read out of bounds (ASan, UBSan), never wait
// for more than kMaxPending requests, and only report an event that fits
// the request answered.
#include "ic/channel.hpp"

#include <enlight/tlfs.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace enlight::vmbus_util;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool more() const { return at < size; }
  uint8_t byte() { return at < size ? data[at++] : 0; }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | byte();
    return v;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in{data, size};
  const Device device = static_cast<Device>(in.byte() % 3);
  IcChannel ic(device);
  Packet last{};
  std::vector<uint64_t> sent;
  const auto note = [&](const std::optional<Packet>& p) {
    if (!p) return;
    last = *p;
    sent.push_back(p->transaction_id);
  };
  while (in.more()) {
    switch (in.byte() % 8) {
      case 0: note(ic.open()); break;
      case 1: ic.close(); break;
      case 2: note(ic.heartbeat()); break;
      case 3: note(ic.shutdown("fuzz")); break;
      case 4: note(ic.timesync(in.u64(), in.u64())); break;
      case 5: {
        if (!sent.empty()) ic.cancel(sent[in.byte() % sent.size()]);
        break;
      }
      default: {
        // A guest packet.
        const uint8_t how = in.byte();
        std::vector<uint8_t> pkt;
        if ((how & 1) != 0 && last.size != 0) {
          pkt.assign(last.bytes.begin(), last.bytes.begin() + last.size);
          // Linux turns a request into its answer in place.
          if (pkt.size() > ICMSG_HDR_ICFLAGS_OFFSET)
            pkt[ICMSG_HDR_ICFLAGS_OFFSET] = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;
          for (uint8_t flips = in.byte() % 8; flips > 0 && !pkt.empty(); --flips)
            pkt[in.byte() % pkt.size()] ^= in.byte();
          // Shorter or longer than the request.
          const uint8_t resize = in.byte();
          if (resize < 32) pkt.resize(resize % (pkt.size() + 1));
          else if (resize > 224) pkt.resize(pkt.size() + (resize - 224), in.byte());
        } else {
          const size_t n = in.byte();
          for (size_t i = 0; i < n && in.more(); ++i) pkt.push_back(in.byte());
        }
        uint64_t trans = in.u64();
        if ((how & 2) != 0 && !sent.empty()) trans = sent[in.byte() % sent.size()];
        if ((how & 4) != 0) trans = last.transaction_id;
        const uint16_t type = (how & 8) != 0 ? static_cast<uint16_t>(in.byte()) : VM_PKT_DATA_INBAND;
        const Outcome o = ic.on_packet(type, trans, pkt);
        // An event is only what an accepted answer can be.
        check(o.ok() || o.event == Event::None);
        if (o.event == Event::Negotiated) check(ic.ready());
        if (o.event == Event::HeartbeatAnswered) check(device == Device::Heartbeat);
        if (o.event == Event::ShutdownAnswered) check(device == Device::Shutdown && ic.shutdown_status().has_value());
        if (o.event == Event::TimesyncAnswered) check(device == Device::Timesync);
        break;
      }
    }
    check(ic.pending() <= IcChannel::kMaxPending);
    if (sent.size() > 64) sent.erase(sent.begin(), sent.begin() + 32);
  }
  return 0;
}
