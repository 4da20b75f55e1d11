// libFuzzer target: the synthetic NIC (plugins/vmbus-net) as a hostile
// guest drives it through its NVSP parser, GPA_DIRECT page buffers, send
// sections (and so the RNDIS stream), completions and the receive path.
// The input is a sequence of steps over a fake guest (tests/plugins/
// vmbus-net/fake_guest.hpp); the first byte chooses whether Linux's
// bring-up runs first, so the fuzzer starts past the handshake. The NIC
// must never crash or touch memory outside what it was given (ASan,
// UBSan), and every XFER_PAGES packet it sends must carry a well-formed
// transfer page header.
#include "fake_guest.hpp"

#include <cstdlib>

using namespace enlight::vmbus_net;
using enlight::vmbus_net::test::FakeGuest;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Reader {
  const uint8_t* data;
  size_t size;
  uint8_t byte() { return size ? (--size, *data++) : 0; }
  std::vector<uint8_t> bytes(size_t n) {
    n = std::min(n, size);
    std::vector<uint8_t> v(data, data + n);
    data += n;
    size -= n;
    return v;
  }
};

constexpr uint16_t kTypes[] = {VM_PKT_DATA_INBAND, VM_PKT_COMP, VM_PKT_DATA_USING_GPA_DIRECT,
                               VM_PKT_DATA_USING_XFER_PAGES};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Page contents for GPA_DIRECT, the same for every input.
  static std::vector<uint8_t> ram = [] {
    std::vector<uint8_t> r(FakeGuest::kRamBytes);
    for (size_t i = 0; i < r.size(); i += 251) r[i] = static_cast<uint8_t>(i);
    return r;
  }();
  Reader in{data, size};
  FakeGuest guest{ram};
  Nic nic(NicConfig{BackendKind::Loopback, "", "", "", {0x02, 0, 0, 0, 0, 1}}, guest, guest);
  nic.on_open();
  if (in.byte() & 1) {
    guest.bring_up(nic);
    guest.rndis_up(nic);
  }
  while (in.size > 0) {
    switch (in.byte() % 7) {
      case 0: {  // a guest packet: type, extension, data
        const uint16_t type = kTypes[in.byte() % 4];
        const auto ext = in.bytes((in.byte() % 5) * 8 + (type == VM_PKT_DATA_USING_GPA_DIRECT ? 8 : 0));
        const auto body = in.bytes(in.byte() % 64);
        guest.post(type, in.byte(), body, ext, in.byte() & 1);
        nic.on_notify();
        break;
      }
      case 1: {  // RNDIS bytes into a send section, then SEND_RNDIS_PKT naming it
        const uint32_t index = in.byte() % 20;  // past the 16 sections sometimes
        const auto msg = in.bytes(in.byte() * 4);
        if (index < 16 && guest.gpadls.count(FakeGuest::kSendGpadl) && !msg.empty()) {
          guest.send_rndis(index, msg, in.byte(), in.byte() & 1);
        } else {
          guest.post(VM_PKT_DATA_INBAND, 1,
                     FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT, {in.byte() % 2u, index, in.byte() * 32u}));
        }
        nic.on_notify();
        break;
      }
      case 2: {  // a frame from the backend
        auto frame = in.bytes(in.byte() * 8);
        std::lock_guard<std::mutex> guard(nic.lock());
        nic.deliver(frame);
        if (in.byte() & 1) nic.flush();
        break;
      }
      case 3:  // the guest completes a host packet, or a made-up one
        if (!guest.sent.empty() && (in.byte() & 1)) {
          guest.complete(guest.sent[in.byte() % guest.sent.size()]);
        } else {
          guest.post(VM_PKT_COMP, uint64_t{in.byte()} << 32 | in.byte(),
                     FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, {1}), {}, 0);
        }
        nic.on_notify();
        break;
      case 4: guest.ring_full = !guest.ring_full; break;
      case 5: nic.on_close(); nic.on_open(); break;
      case 6: guest.bring_up(nic); break;
    }
  }
  for (const auto& s : guest.sent) {
    if (s.type != VM_PKT_DATA_USING_XFER_PAGES) continue;
    check(s.ext.size() >= 8 && s.ext.size() == xfer_header_size(wire::u32(s.ext, VMBUS_XFER_RANGE_COUNT_OFFSET)));
  }
  return 0;
}
