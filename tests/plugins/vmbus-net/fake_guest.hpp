// A fake Linux guest for a Nic: GPADLs and guest RAM as host vectors, the
// guest-to-host ring as a queue of whole packets, what the host sends
// recorded, and the backend's transmitted frames kept. Builders make the
// packets hv_netvsc sends (drivers/net/hyperv/netvsc.c, rndis_filter.c).
#pragma once

#include "nic.hpp"
#include "protocol/rndis.hpp"
#include "protocol/wire.hpp"

#include <enlight/tlfs.h>

#include <cstring>
#include <deque>
#include <map>
#include <span>
#include <vector>

namespace enlight::vmbus_net::test {

struct Sent {
  uint16_t type = 0, flags = 0;
  uint64_t id = 0;
  std::vector<uint8_t> ext, payload;
};

class FakeGuest : public NicBus, public FrameSink {
 public:
  // ---- NicBus ----
  enlight_vmbus_result recv_packet(std::span<uint8_t> b, enlight_vmbus_packet& info) override {
    if (ring.empty()) return ENLIGHT_VMBUS_EMPTY;
    const auto& p = ring.front();
    info.type = wire::load<uint16_t>(p, VMBUS_PACKET_TYPE_OFFSET);
    info.flags = wire::load<uint16_t>(p, VMBUS_PACKET_FLAGS_OFFSET);
    info.transaction_id = wire::load<uint64_t>(p, VMBUS_PACKET_TRANS_ID_OFFSET);
    info.length = static_cast<uint32_t>(p.size());
    if (p.size() > b.size()) return ENLIGHT_VMBUS_TOO_LARGE;
    std::memcpy(b.data(), p.data(), p.size());
    ring.pop_front();
    return ENLIGHT_VMBUS_OK;
  }
  enlight_vmbus_result recv_drop() override {
    ring.pop_front();
    return ENLIGHT_VMBUS_OK;
  }
  enlight_vmbus_result send(uint16_t type, uint16_t flags, uint64_t id, std::span<const uint8_t> ext,
                            std::span<const uint8_t> payload) override {
    if (ring_full) return ENLIGHT_VMBUS_FULL;
    sent.push_back({type, flags, id, {ext.begin(), ext.end()}, {payload.begin(), payload.end()}});
    return ENLIGHT_VMBUS_OK;
  }
  bool gpadl_size(uint32_t g, uint64_t& bytes) override {
    if (!gpadls.count(g)) return false;
    bytes = gpadls[g].size();
    return true;
  }
  bool gpadl_read(uint32_t g, uint64_t off, std::span<uint8_t> dst) override {
    if (!gpadls.count(g) || off > gpadls[g].size() || dst.size() > gpadls[g].size() - off) return false;
    std::memcpy(dst.data(), gpadls[g].data() + off, dst.size());
    return true;
  }
  bool gpadl_write(uint32_t g, uint64_t off, std::span<const uint8_t> src) override {
    if (!gpadls.count(g) || off > gpadls[g].size() || src.size() > gpadls[g].size() - off) return false;
    std::memcpy(gpadls[g].data() + off, src.data(), src.size());
    return true;
  }
  bool gpa_read(uint64_t gpa, std::span<uint8_t> dst) override {
    if (gpa > ram.size() || dst.size() > ram.size() - gpa) return false;
    std::memcpy(dst.data(), ram.data() + gpa, dst.size());
    return true;
  }
  // ---- FrameSink ----
  bool transmit(std::span<const uint8_t> frame) override {
    frames.emplace_back(frame.begin(), frame.end());
    return true;
  }

  // ---- The guest's side ----
  static constexpr uint32_t kRecvGpadl = 0xE1E10, kSendGpadl = 0xE1E11;
  static constexpr uint32_t kRecvBytes = 64 * 1792, kSendBytes = 16 * 6144;

  // A packet as Linux writes it: descriptor (+ extension), data.
  void post(uint16_t type, uint64_t id, std::span<const uint8_t> data, std::span<const uint8_t> ext = {},
            uint16_t flags = VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED) {
    std::vector<uint8_t> p(VMBUS_PACKET_DESCRIPTOR_SIZE + ext.size() + ((data.size() + 7) & ~size_t{7}));
    wire::store<uint16_t>(p, VMBUS_PACKET_TYPE_OFFSET, type);
    wire::store<uint16_t>(p, VMBUS_PACKET_OFFSET8_OFFSET, static_cast<uint16_t>((16 + ext.size()) / 8));
    wire::store<uint16_t>(p, VMBUS_PACKET_LEN8_OFFSET, static_cast<uint16_t>(p.size() / 8));
    wire::store<uint16_t>(p, VMBUS_PACKET_FLAGS_OFFSET, flags);
    wire::store<uint64_t>(p, VMBUS_PACKET_TRANS_ID_OFFSET, id);
    if (!ext.empty()) std::memcpy(p.data() + 16, ext.data(), ext.size());
    if (!data.empty()) std::memcpy(p.data() + 16 + ext.size(), data.data(), data.size());
    ring.push_back(std::move(p));
  }
  static std::array<uint8_t, NVSP_MESSAGE_SIZE> nvsp(uint32_t type, std::initializer_list<uint32_t> fields) {
    std::array<uint8_t, NVSP_MESSAGE_SIZE> m{};
    wire::store<uint32_t>(m, 0, type);
    uint32_t at = 4;
    for (uint32_t f : fields) {
      wire::store<uint32_t>(m, at, f);
      at += 4;
    }
    return m;
  }
  // An RNDIS message written into send section `index`; SEND_RNDIS_PKT posted.
  void send_rndis(uint32_t index, std::span<const uint8_t> msg, uint64_t id, uint32_t channel_type = 1) {
    std::memcpy(gpadls[kSendGpadl].data() + index * 6144, msg.data(), msg.size());
    post(VM_PKT_DATA_INBAND, id,
         nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT, {channel_type, index, static_cast<uint32_t>(msg.size())}));
  }
  static std::vector<uint8_t> rndis(uint32_t type, std::initializer_list<uint32_t> body,
                                    std::span<const uint8_t> tail = {}) {
    std::vector<uint8_t> m(8 + body.size() * 4 + tail.size());
    wire::store<uint32_t>(m, 0, type);
    wire::store<uint32_t>(m, 4, static_cast<uint32_t>(m.size()));
    uint32_t at = 8;
    for (uint32_t f : body) {
      wire::store<uint32_t>(m, at, f);
      at += 4;
    }
    if (!tail.empty()) std::memcpy(m.data() + at, tail.data(), tail.size());
    return m;
  }
  static std::vector<uint8_t> data_packet(std::span<const uint8_t> frame) {
    return rndis(RNDIS_MSG_PACKET, {36, static_cast<uint32_t>(frame.size()), 0, 0, 0, 0, 0, 0, 0}, frame);
  }
  static std::vector<uint8_t> frame(const Mac& dest, uint32_t size = 64, uint8_t fill = 0x5a) {
    std::vector<uint8_t> f(size, fill);
    std::memcpy(f.data(), dest.data(), 6);
    return f;
  }

  // Linux's bring-up up to the buffers: INIT 6.1, NDIS config and
  // version, receive and send buffers.
  void bring_up(Nic& nic) {
    gpadls[kRecvGpadl].assign(kRecvBytes, 0);
    gpadls[kSendGpadl].assign(kSendBytes, 0);
    post(VM_PKT_DATA_INBAND, 1, nvsp(NVSP_MSG_TYPE_INIT, {NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_61}));
    post(VM_PKT_DATA_INBAND, 2, nvsp(NVSP_MSG2_TYPE_SEND_NDIS_CONFIG, {1514, 0, 0, 0}), {}, 0);
    post(VM_PKT_DATA_INBAND, 3, nvsp(NVSP_MSG1_TYPE_SEND_NDIS_VER, {6, 30}), {}, 0);
    post(VM_PKT_DATA_INBAND, 4, nvsp(NVSP_MSG1_TYPE_SEND_RECV_BUF, {kRecvGpadl, NETVSC_RECEIVE_BUFFER_ID}));
    post(VM_PKT_DATA_INBAND, 5, nvsp(NVSP_MSG1_TYPE_SEND_SEND_BUF, {kSendGpadl, 0}));
    nic.on_notify();
  }
  // RNDIS INIT and the packet filter Linux sets on open.
  void rndis_up(Nic& nic, uint32_t filter = NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST |
                                            NDIS_PACKET_TYPE_ALL_MULTICAST) {
    send_rndis(0, rndis(RNDIS_MSG_INIT, {1, 1, 0, 0x4000}), 10);
    uint8_t value[4];
    std::memcpy(value, &filter, 4);
    send_rndis(1, rndis(RNDIS_MSG_SET, {2, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, 4, 20, 0}, value), 11);
    nic.on_notify();
  }

  // The RNDIS messages of the XFER_PAGES packet sent[i], from the receive buffer.
  std::vector<std::vector<uint8_t>> received(const Sent& s) {
    std::vector<std::vector<uint8_t>> out;
    const uint32_t count = wire::u32(s.ext, VMBUS_XFER_RANGE_COUNT_OFFSET);
    for (uint32_t r = 0; r < count; ++r) {
      const uint32_t len = wire::u32(s.ext, 8 + r * 8), off = wire::u32(s.ext, 12 + r * 8);
      const auto& buf = gpadls[kRecvGpadl];
      out.emplace_back(buf.begin() + off, buf.begin() + off + len);
    }
    return out;
  }
  // Completes host packet `s` as Linux does (COMP with RNDIS_PKT_COMPLETE).
  void complete(const Sent& s) {
    post(VM_PKT_COMP, s.id, nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, {NVSP_STAT_SUCCESS}), {}, 0);
  }

  std::deque<std::vector<uint8_t>> ring;
  std::vector<Sent> sent;
  std::vector<std::vector<uint8_t>> frames;
  std::map<uint32_t, std::vector<uint8_t>> gpadls;
  bool ring_full = false;

  // Guest RAM for GPA_DIRECT page buffers: 64 pages of its own, or a
  // caller's. The Nic only reads RAM, so the fuzz target lends one buffer
  // to every input's guest: a fresh 256 KiB each time (ASan maps it anew)
  // was more than half its time, in memset and page faults.
  static constexpr size_t kRamBytes = 64 * 4096;
  FakeGuest() : own_ram_(kRamBytes), ram(own_ram_) {}
  explicit FakeGuest(std::span<uint8_t> lent_ram) : ram(lent_ram) {}

 private:
  std::vector<uint8_t> own_ram_;

 public:
  std::span<uint8_t> ram;
};

}  // namespace enlight::vmbus_net::test
