// The NIC against a fake Linux guest: the bring-up hv_netvsc performs,
// frames both ways, and what a hostile guest gets.
#include "fake_guest.hpp"

#include <gtest/gtest.h>

namespace {

using namespace enlight::vmbus_net;
using enlight::vmbus_net::test::FakeGuest;
using enlight::vmbus_net::test::Sent;

constexpr Mac kMac = {0x02, 0, 0, 0, 0, 0x01};
constexpr Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

uint32_t u32(const std::vector<uint8_t>& b, uint32_t at) { return wire::u32(b, at); }
uint64_t dropped(const Nic& n, Drop d) { return n.counts().dropped[static_cast<size_t>(d)]; }

struct NicTest : ::testing::Test {
  NicTest() : nic(NicConfig{BackendKind::Loopback, "", "", "", kMac}, guest, guest) { nic.on_open(); }
  // The completion the host sent for guest transaction `id`.
  const Sent* completion(uint64_t id) const {
    for (const auto& s : guest.sent)
      if (s.type == VM_PKT_COMP && s.id == id) return &s;
    return nullptr;
  }
  std::vector<const Sent*> xfers() const {
    std::vector<const Sent*> out;
    for (const auto& s : guest.sent)
      if (s.type == VM_PKT_DATA_USING_XFER_PAGES) out.push_back(&s);
    return out;
  }
  FakeGuest guest;
  Nic nic;
};

TEST_F(NicTest, BringUpAnswersAsLinuxExpects) {
  guest.bring_up(nic);
  const Sent* init = completion(1);
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(u32(init->payload, 0), NVSP_MSG_TYPE_INIT_COMPLETE);
  EXPECT_EQ(u32(init->payload, NVSP_INIT_COMPLETE_VERSION_OFFSET), NVSP_PROTOCOL_VERSION_61);
  EXPECT_EQ(u32(init->payload, NVSP_INIT_COMPLETE_STATUS_OFFSET), NVSP_STAT_SUCCESS);
  EXPECT_EQ(init->payload.size(), NVSP_MESSAGE_SIZE);
  EXPECT_EQ(completion(2), nullptr);  // NDIS config: no completion asked, none sent
  const Sent* recv = completion(4);
  ASSERT_NE(recv, nullptr);
  EXPECT_EQ(u32(recv->payload, NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET), NVSP_STAT_SUCCESS);
  EXPECT_EQ(u32(recv->payload, NVSP_RECV_BUF_COMPLETE_NUM_SECTIONS_OFFSET), 1u);
  EXPECT_EQ(u32(recv->payload, NVSP_RECV_BUF_SECTION_OFFSET_OFFSET), 0u);
  EXPECT_EQ(u32(recv->payload, NVSP_RECV_BUF_SECTION_SUB_ALLOC_SIZE_OFFSET), kReceiveSectionSize);
  EXPECT_EQ(u32(recv->payload, NVSP_RECV_BUF_SECTION_NUM_SUB_ALLOCS_OFFSET), FakeGuest::kRecvBytes / kReceiveSectionSize);
  const Sent* send = completion(5);
  ASSERT_NE(send, nullptr);
  EXPECT_EQ(u32(send->payload, NVSP_SEND_BUF_COMPLETE_SECTION_SIZE_OFFSET), kSendSectionSize);
}

TEST_F(NicTest, UnknownVersionFailsSoLinuxTriesTheNext) {
  guest.post(VM_PKT_DATA_INBAND, 7, FakeGuest::nvsp(NVSP_MSG_TYPE_INIT, {0x70000, 0x70000}));
  nic.on_notify();
  ASSERT_NE(completion(7), nullptr);
  EXPECT_EQ(u32(completion(7)->payload, NVSP_INIT_COMPLETE_STATUS_OFFSET), NVSP_STAT_FAIL);
}

TEST_F(NicTest, AnUnknownMaximumFailsWhateverTheMinimum) {
  guest.post(VM_PKT_DATA_INBAND, 8, FakeGuest::nvsp(NVSP_MSG_TYPE_INIT, {NVSP_PROTOCOL_VERSION_1, 0x12345}));
  guest.post(VM_PKT_DATA_INBAND, 9, FakeGuest::nvsp(NVSP_MSG_TYPE_INIT, {NVSP_PROTOCOL_VERSION_5, NVSP_PROTOCOL_VERSION_4}));
  nic.on_notify();
  EXPECT_EQ(u32(completion(8)->payload, NVSP_INIT_COMPLETE_STATUS_OFFSET), NVSP_STAT_FAIL);
  EXPECT_EQ(u32(completion(9)->payload, NVSP_INIT_COMPLETE_STATUS_OFFSET), NVSP_STAT_FAIL);
}

TEST_F(NicTest, ReceiveBufferOfAnotherGpadlOrTooSmallFails) {
  guest.gpadls[9].assign(kReceiveSectionSize - 1, 0);
  guest.post(VM_PKT_DATA_INBAND, 1, FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RECV_BUF, {9, NETVSC_RECEIVE_BUFFER_ID}));
  guest.post(VM_PKT_DATA_INBAND, 2, FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RECV_BUF, {77, NETVSC_RECEIVE_BUFFER_ID}));
  nic.on_notify();
  EXPECT_EQ(u32(completion(1)->payload, NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET), NVSP_STAT_FAIL);
  EXPECT_EQ(u32(completion(2)->payload, NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET), NVSP_STAT_FAIL);
}

TEST_F(NicTest, RndisControlIsCompletedAndAnsweredThroughTheReceiveBuffer) {
  guest.bring_up(nic);
  guest.send_rndis(0, FakeGuest::rndis(RNDIS_MSG_INIT, {1, 1, 0, 0x4000}), 10);
  guest.send_rndis(1, FakeGuest::rndis(RNDIS_MSG_QUERY, {2, RNDIS_OID_802_3_PERMANENT_ADDRESS, 0, 20, 0}), 11);
  std::vector<uint8_t> hw(4);
  hw[0] = NDIS_OBJECT_TYPE_OFFLOAD;
  hw[1] = NDIS_OFFLOAD_PARAMETERS_REVISION_3;
  wire::store<uint16_t>(hw, 2, NDIS_OFFLOAD_SIZE);
  guest.send_rndis(2, FakeGuest::rndis(RNDIS_MSG_QUERY, {3, OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, 4, 20, 0}, hw), 12);
  guest.send_rndis(3, FakeGuest::rndis(RNDIS_MSG_QUERY, {4, RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, 0, 20, 0}), 13);
  nic.on_notify();
  for (uint64_t id : {10, 11, 12, 13}) {
    ASSERT_NE(completion(id), nullptr) << id;
    EXPECT_EQ(u32(completion(id)->payload, 0), NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE);
    EXPECT_EQ(u32(completion(id)->payload, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET), NVSP_STAT_SUCCESS);
  }
  std::vector<std::vector<uint8_t>> replies;
  for (const Sent* x : xfers()) {
    EXPECT_EQ(wire::load<uint16_t>(x->ext, 0), NETVSC_RECEIVE_BUFFER_ID);
    EXPECT_EQ(x->flags, VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED);
    for (auto& r : guest.received(*x)) replies.push_back(r);
  }
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(u32(replies[0], 0), RNDIS_MSG_INIT_C);
  EXPECT_EQ(u32(replies[0], RNDIS_INIT_C_STATUS_OFFSET), RNDIS_STATUS_SUCCESS);
  EXPECT_EQ(u32(replies[0], RNDIS_INIT_C_PKT_ALIGNMENT_OFFSET), kAlignmentLog2);
  EXPECT_EQ(u32(replies[1], 0), RNDIS_MSG_QUERY_C);
  EXPECT_EQ(u32(replies[1], RNDIS_REQ_ID_OFFSET), 2u);
  EXPECT_EQ(u32(replies[1], RNDIS_QUERY_C_INFO_BUFLEN_OFFSET), 6u);
  EXPECT_EQ(0, std::memcmp(replies[1].data() + RNDIS_QUERY_C_SIZE, kMac.data(), 6));
  // The offload object at the revision and size Linux asked with.
  EXPECT_EQ(u32(replies[2], RNDIS_QUERY_C_INFO_BUFLEN_OFFSET), NDIS_OFFLOAD_SIZE);
  EXPECT_EQ(replies[2][RNDIS_QUERY_C_SIZE], NDIS_OBJECT_TYPE_OFFLOAD);
  EXPECT_EQ(replies[2][RNDIS_QUERY_C_SIZE + 1], NDIS_OFFLOAD_PARAMETERS_REVISION_3);
  EXPECT_EQ(u32(replies[3], RNDIS_COMPLETE_STATUS_OFFSET), RNDIS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(u32(replies[3], RNDIS_QUERY_C_INFO_BUFLEN_OFFSET), 0u);
}

TEST_F(NicTest, PacketFilterIsSetAndTheLinkIndicatedOnce) {
  guest.bring_up(nic);
  guest.rndis_up(nic);
  std::vector<uint32_t> types;
  for (const Sent* x : xfers())
    for (auto& r : guest.received(*x)) types.push_back(u32(r, 0));
  EXPECT_EQ(types, (std::vector<uint32_t>{RNDIS_MSG_INIT_C, RNDIS_MSG_SET_C, RNDIS_MSG_INDICATE}));
  EXPECT_EQ(nic.packet_filter(),
            NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_ALL_MULTICAST);
}

TEST_F(NicTest, GuestFramesGoToTheBackendAndBadOnesAreCounted) {
  guest.bring_up(nic);
  guest.rndis_up(nic);
  const auto good = FakeGuest::frame(kBroadcast, 100);
  // Two messages batched in one section, as Linux does with xmit_more.
  auto batch = FakeGuest::data_packet(good);
  const auto second = FakeGuest::data_packet(FakeGuest::frame(kBroadcast, 60, 0x11));
  batch.insert(batch.end(), second.begin(), second.end());
  guest.send_rndis(2, batch, 20, 0);
  guest.send_rndis(3, FakeGuest::data_packet(FakeGuest::frame(kBroadcast, kMaxFrame + 1)), 21, 0);
  auto bad = FakeGuest::data_packet(good);
  wire::store<uint32_t>(bad, RNDIS_PACKET_DATA_LEN_OFFSET, 5000);  // past the message
  guest.send_rndis(4, bad, 22, 0);
  nic.on_notify();
  ASSERT_EQ(guest.frames.size(), 2u);
  EXPECT_EQ(guest.frames[0], good);
  EXPECT_EQ(guest.frames[1].size(), 60u);
  EXPECT_EQ(dropped(nic, Drop::Oversize), 1u);
  EXPECT_EQ(dropped(nic, Drop::MalformedRndis), 1u);
  EXPECT_EQ(u32(completion(21)->payload, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET), NVSP_STAT_SUCCESS);
  EXPECT_EQ(u32(completion(22)->payload, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET), NVSP_STAT_FAIL);
  EXPECT_EQ(nic.counts().tx_frames, 2u);
}

TEST_F(NicTest, SectionsOutOfRangeAreRefused) {
  guest.bring_up(nic);
  guest.post(VM_PKT_DATA_INBAND, 30, FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT, {0, 16, 100}));     // index
  guest.post(VM_PKT_DATA_INBAND, 31, FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT, {0, 0, 6145}));     // size
  guest.post(VM_PKT_DATA_INBAND, 32, FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT, {0, UINT32_MAX, 0}));  // none
  nic.on_notify();
  EXPECT_EQ(dropped(nic, Drop::BadSection), 3u);
  for (uint64_t id : {30, 31, 32}) EXPECT_EQ(u32(completion(id)->payload, 4), NVSP_STAT_FAIL) << id;
}

TEST_F(NicTest, GpaDirectPagesAreReadAndBadOnesRefused) {
  guest.bring_up(nic);
  guest.rndis_up(nic);
  const auto msg = FakeGuest::data_packet(FakeGuest::frame(kBroadcast, 200, 0x33));
  // Split over two page buffers, the second starting mid-page.
  std::memcpy(guest.ram.data() + 4096 * 3 + 4000, msg.data(), 96);
  std::memcpy(guest.ram.data() + 4096 * 5 + 8, msg.data() + 96, msg.size() - 96);
  std::vector<uint8_t> ext(8 + 2 * 16);
  wire::store<uint32_t>(ext, 4, 2);
  wire::store<uint32_t>(ext, 8, 96);
  wire::store<uint32_t>(ext, 12, 4000);
  wire::store<uint64_t>(ext, 16, 3);
  wire::store<uint32_t>(ext, 24, static_cast<uint32_t>(msg.size() - 96));
  wire::store<uint32_t>(ext, 28, 8);
  wire::store<uint64_t>(ext, 32, 5);
  const auto pkt = FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT, {0, NETVSC_INVALID_INDEX, 0});
  guest.post(VM_PKT_DATA_USING_GPA_DIRECT, 40, pkt, ext);
  auto outside = ext;
  wire::store<uint64_t>(outside, 32, 1u << 20);  // not guest RAM
  guest.post(VM_PKT_DATA_USING_GPA_DIRECT, 41, pkt, outside);
  // Linux's stable 6.1 (vmbus_sendpacket_mpb_desc): one range over two
  // contiguous pages, a PFN for each.
  std::memcpy(guest.ram.data() + 4096 * 7 + 4000, msg.data(), msg.size());
  std::vector<uint8_t> mpb(8 + 8 + 2 * 8);
  wire::store<uint32_t>(mpb, 4, 1);
  wire::store<uint32_t>(mpb, 8, static_cast<uint32_t>(msg.size()));
  wire::store<uint32_t>(mpb, 12, 4000);
  wire::store<uint64_t>(mpb, 16, 7);
  wire::store<uint64_t>(mpb, 24, 8);
  guest.post(VM_PKT_DATA_USING_GPA_DIRECT, 45, pkt, mpb);
  auto short_pfns = mpb;
  short_pfns.resize(24);  // the second page's PFN is missing
  guest.post(VM_PKT_DATA_USING_GPA_DIRECT, 42, pkt, short_pfns);
  auto none = ext;
  wire::store<uint32_t>(none, 4, 0);
  guest.post(VM_PKT_DATA_USING_GPA_DIRECT, 43, pkt, none);
  // One more page buffer than Linux ever sends: read, and answered FAIL.
  std::vector<uint8_t> many(8 + (MAX_PAGE_BUFFER_COUNT + 1) * 16);
  wire::store<uint32_t>(many, 4, MAX_PAGE_BUFFER_COUNT + 1);
  guest.post(VM_PKT_DATA_USING_GPA_DIRECT, 44, pkt, many);
  nic.on_notify();
  ASSERT_EQ(guest.frames.size(), 2u);
  EXPECT_EQ(guest.frames[0], FakeGuest::frame(kBroadcast, 200, 0x33));
  EXPECT_EQ(guest.frames[1], FakeGuest::frame(kBroadcast, 200, 0x33));
  EXPECT_EQ(u32(completion(45)->payload, 4), NVSP_STAT_SUCCESS);
  EXPECT_EQ(dropped(nic, Drop::BadGpa), 4u);
  ASSERT_NE(completion(44), nullptr);
  EXPECT_EQ(u32(completion(44)->payload, 4), NVSP_STAT_FAIL);
  EXPECT_EQ(u32(completion(41)->payload, 4), NVSP_STAT_FAIL);
}

TEST_F(NicTest, ReceivedFramesAreFilteredBatchedAndReturned) {
  guest.bring_up(nic);
  guest.rndis_up(nic);
  // Complete the control replies first.
  for (const Sent* x : xfers()) guest.complete(*x);
  nic.on_notify();
  guest.sent.clear();
  std::lock_guard<std::mutex> guard(nic.lock());
  nic.deliver(FakeGuest::frame(kMac, 80, 1));
  nic.deliver(FakeGuest::frame(kBroadcast, 90, 2));
  nic.deliver(FakeGuest::frame(Mac{0x02, 9, 9, 9, 9, 9}, 70, 3));  // someone else's
  nic.deliver(FakeGuest::frame(Mac{0x01, 0, 0x5e, 0, 0, 1}, 70, 4));  // multicast
  nic.flush();
  auto x = xfers();
  ASSERT_EQ(x.size(), 1u);  // one packet, one signal, for all of them
  const auto msgs = guest.received(*x[0]);
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(u32(msgs[0], 0), RNDIS_MSG_PACKET);
  EXPECT_EQ(u32(msgs[0], RNDIS_PACKET_DATA_LEN_OFFSET), 80u);
  EXPECT_EQ(std::vector<uint8_t>(msgs[0].begin() + RNDIS_PACKET_SIZE, msgs[0].end()), FakeGuest::frame(kMac, 80, 1));
  EXPECT_EQ(dropped(nic, Drop::Filtered), 1u);
  EXPECT_EQ(nic.counts().rx_frames, 3u);
}

TEST_F(NicTest, AGuestThatKeepsItsReceivesRunsOutAndRecoversAfterCompleting) {
  guest.bring_up(nic);
  guest.rndis_up(nic);
  std::lock_guard<std::mutex> guard(nic.lock());
  const uint32_t sections = FakeGuest::kRecvBytes / kReceiveSectionSize;
  for (uint32_t i = 0; i < sections + 5; ++i) nic.deliver(FakeGuest::frame(kBroadcast));
  nic.flush();
  EXPECT_EQ(dropped(nic, Drop::NoReceiveBuffer), 5u + 3u);  // 3 sections hold the control replies
  for (const Sent* x : xfers()) guest.complete(*x);
  nic.lock().unlock();
  nic.on_notify();
  nic.lock().lock();
  nic.deliver(FakeGuest::frame(kBroadcast));
  nic.flush();
  EXPECT_EQ(dropped(nic, Drop::NoReceiveBuffer), 8u);
}

TEST_F(NicTest, CompletionsForUnknownOrFinishedPacketsAreCounted) {
  guest.bring_up(nic);
  guest.rndis_up(nic);
  const Sent first = *xfers()[0];
  guest.complete(first);
  guest.complete(first);  // twice
  guest.post(VM_PKT_COMP, 0xdeadbeef, FakeGuest::nvsp(NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE, {1}), {}, 0);
  nic.on_notify();
  EXPECT_EQ(dropped(nic, Drop::UnknownCompletion), 2u);
}

TEST_F(NicTest, AFullRingStallsAndTheNextNotifySends) {
  guest.bring_up(nic);
  guest.rndis_up(nic);
  const size_t before = xfers().size();
  guest.ring_full = true;
  {
    std::lock_guard<std::mutex> guard(nic.lock());
    nic.deliver(FakeGuest::frame(kBroadcast));
    nic.flush();
    EXPECT_TRUE(nic.stalled());
  }
  EXPECT_EQ(nic.counts().stalls, 1u);
  guest.ring_full = false;
  EXPECT_TRUE(nic.on_notify());  // un-stalled: wake the receive thread
  EXPECT_FALSE(nic.stalled());
  EXPECT_EQ(xfers().size(), before + 1);
}

TEST_F(NicTest, MalformedNvspIsDroppedWithoutAnswer) {
  guest.post(VM_PKT_DATA_INBAND, 50, std::vector<uint8_t>{1, 2});
  guest.post(VM_PKT_DATA_INBAND, 51, FakeGuest::nvsp(999, {}));
  guest.post(VM_PKT_DATA_USING_XFER_PAGES, 52, FakeGuest::nvsp(NVSP_MSG_TYPE_INIT, {2, 2}));
  nic.on_notify();
  EXPECT_EQ(dropped(nic, Drop::MalformedNvsp), 3u);
  EXPECT_TRUE(guest.sent.empty());
}

}  // namespace
