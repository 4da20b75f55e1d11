// A guest that answers IC requests the way Linux 6.1's hv_utils does
// (drivers/hv/hv_util.c, drivers/hv/channel_mgmt.c vmbus_prep_negotiate_resp),
// written from its documented behaviour, with field offsets as literal
// numbers so the tests also check the tlfs.h names:
//   - the answer is the whole packet read, padded to 8, sent back in place;
//   - NEGOTIATE: the first of the guest's own framework versions that the
//     host offered, then likewise a message version; counts 1/1 and the two
//     picks in slots 0 and 1, or counts 0/0 when either list has no match;
//     icmsgsize 16; status left alone;
//   - HEARTBEAT: seq_num + 1;
//   - SHUTDOWN: status S_OK for flags 0/1 (or what the test asks);
//   - TIMESYNC: nothing changed;
//   - icflags TRANSACTION | RESPONSE.
#pragma once

#include "ic/wire.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

namespace enlight::vmbus_util::test {

inline uint16_t rd16(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint16_t>(b.at(off) | (b.at(off + 1) << 8));
}
inline uint32_t rd32(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{b.at(off + i)} << (8 * i);
  return v;
}
inline uint64_t rd64(const std::vector<uint8_t>& b, size_t off) {
  return uint64_t{rd32(b, off)} | (uint64_t{rd32(b, off + 4)} << 32);
}
inline void wr(std::vector<uint8_t>& b, size_t off, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}
inline void wr16(std::vector<uint8_t>& b, size_t off, uint16_t v) { wr(b, off, v, 2); }
inline void wr32(std::vector<uint8_t>& b, size_t off, uint32_t v) { wr(b, off, v, 4); }
inline void wr64(std::vector<uint8_t>& b, size_t off, uint64_t v) { wr(b, off, v, 8); }

inline std::vector<uint8_t> bytes_of(const Packet& p) { return {p.bytes.begin(), p.bytes.begin() + p.size}; }

struct FakeGuest {
  std::vector<IcVersion> frameworks{{3, 0}, {1, 0}};
  std::vector<IcVersion> messages;  // the device's, in the guest's order
  uint32_t shutdown_status = 0;     // HV_S_OK

  std::vector<uint8_t> answer(const Packet& request) const {
    std::vector<uint8_t> b = bytes_of(request);
    b.resize((b.size() + 7) / 8 * 8, 0);  // the ring's padding comes back too
    switch (rd16(b, 12)) {
      case 0: negotiate(b); break;
      case 1: wr64(b, 28, rd64(b, 28) + 1); break;
      case 3: wr32(b, 20, shutdown_status); break;
      default: break;
    }
    b.at(25) = 1 | 4;
    return b;
  }

 private:
  void negotiate(std::vector<uint8_t>& b) const {
    wr16(b, 18, 16);
    const uint16_t fw_count = rd16(b, 28);
    const uint16_t msg_count = rd16(b, 30);
    auto version_at = [&](size_t slot) { return IcVersion{rd16(b, 36 + 4 * slot), rd16(b, 38 + 4 * slot)}; };
    auto pick = [&](const std::vector<IcVersion>& mine, size_t first, size_t count, IcVersion& out) {
      for (IcVersion v : mine)
        for (size_t j = first; j < first + count; ++j)
          if (version_at(j) == v) return out = v, true;
      return false;
    };
    IcVersion fw{fw_count, 0}, msg{msg_count, 0};
    const bool found = pick(frameworks, 0, fw_count, fw) && pick(messages, fw_count, msg_count, msg);
    wr16(b, 28, found ? 1 : 0);
    wr16(b, 30, found ? 1 : 0);
    wr16(b, 36, fw.major);
    wr16(b, 38, fw.minor);
    wr16(b, 40, msg.major);
    wr16(b, 42, msg.minor);
  }
};

}  // namespace enlight::vmbus_util::test
