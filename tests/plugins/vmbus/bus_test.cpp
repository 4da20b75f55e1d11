// Channel management (protocol/bus) with a channel on offer: offers, the
// ring GPADL, OPENCHANNEL's checks, CLOSECHANNEL, GPADL_TEARDOWN while a
// ring is in use, and the queue's bound. The plugin test drives the same
// code through the SynIC; here every reply is read back with the parser's
// offsets from tlfs.h.
#include "protocol/bus.hpp"

#include "message_bytes.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace enlight::vmbus {
namespace {

using test::Bytes;
template <typename T>
T get(const Encoded& e, uint32_t offset) {
  return test::field<T>(e.bytes.data(), offset);
}
uint32_t type_of(const Encoded& e) { return get<uint32_t>(e, VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET); }

class BusTest : public ::testing::Test {
 protected:
  BusTest() : bus({heartbeat()}, 1024) {}
  static ChannelOffer heartbeat() {
    ChannelOffer o;
    o.if_type = Guid HV_HEART_BEAT_GUID_BYTES;
    o.if_instance[0] = 0x42;
    return o;
  }
  uint16_t send(const Bytes& m) { return bus.on_message(m.b.data(), m.size()); }
  Encoded next() {
    EXPECT_TRUE(bus.has_outgoing());
    if (!bus.has_outgoing()) return {};
    Encoded e = bus.front();
    bus.pop();
    return e;
  }
  void connect() {
    Bytes m(VMBUS_INITIATE_CONTACT_SIZE, CHANNELMSG_INITIATE_CONTACT);
    m.u32(VMBUS_INITIATE_CONTACT_VMBUS_VERSION_REQUESTED_OFFSET, VMBUS_VERSION_WIN10);
    m.u32(VMBUS_INITIATE_CONTACT_TARGET_VCPU_OFFSET, 3);
    ASSERT_EQ(send(m), HV_STATUS_SUCCESS);
    ASSERT_EQ(type_of(next()), CHANNELMSG_VERSION_RESPONSE);
    ASSERT_TRUE(bus.connected());
    ASSERT_EQ(bus.target_vp(), 3u);
  }
  // A GPADL of `pages` pages from PFN 0x10, for channel 1.
  void gpadl(uint32_t handle, uint32_t pages) {
    const Bytes m = enlight::vmbus::test::gpadl_header(1, handle, enlight::vmbus::test::pfn_run(0x10, pages));
    ASSERT_EQ(send(m), HV_STATUS_SUCCESS);
    const Encoded e = next();
    ASSERT_EQ(type_of(e), CHANNELMSG_GPADL_CREATED);
    ASSERT_EQ(get<uint32_t>(e, VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET), VMBUS_CHANNEL_STATUS_SUCCESS);
  }
  uint32_t open(uint32_t relid, uint32_t handle, uint32_t downstream) {
    Bytes m(VMBUS_OPENCHANNEL_SIZE, CHANNELMSG_OPENCHANNEL);
    m.u32(VMBUS_OPENCHANNEL_CHILD_RELID_OFFSET, relid);
    m.u32(VMBUS_OPENCHANNEL_OPENID_OFFSET, relid);
    m.u32(VMBUS_OPENCHANNEL_RINGBUFFER_GPADLHANDLE_OFFSET, handle);
    m.u32(VMBUS_OPENCHANNEL_DOWNSTREAM_RINGBUFFER_PAGEOFFSET_OFFSET, downstream);
    EXPECT_EQ(send(m), HV_STATUS_SUCCESS);
    const Encoded e = next();
    EXPECT_EQ(type_of(e), CHANNELMSG_OPENCHANNEL_RESULT);
    EXPECT_EQ(get<uint32_t>(e, VMBUS_OPENCHANNEL_RESULT_CHILD_RELID_OFFSET), relid);
    return get<uint32_t>(e, VMBUS_OPENCHANNEL_RESULT_STATUS_OFFSET);
  }
  Bus bus;
};

TEST_F(BusTest, OffersCarryRelidConnectionIdAndTheInterfaceGuid) {
  connect();
  ASSERT_EQ(send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)), HV_STATUS_SUCCESS);
  const Encoded offer = next();
  ASSERT_EQ(type_of(offer), CHANNELMSG_OFFERCHANNEL);
  EXPECT_EQ(offer.size, VMBUS_OFFERCHANNEL_SIZE);
  EXPECT_EQ(get<uint32_t>(offer, VMBUS_OFFERCHANNEL_CHILD_RELID_OFFSET), 1u);
  EXPECT_EQ(get<uint32_t>(offer, VMBUS_OFFERCHANNEL_CONNECTION_ID_OFFSET), bus.channels()[0].connection_id);
  EXPECT_GT(bus.channels()[0].connection_id, VMBUS_MESSAGE_CONNECTION_ID_4) << "clear of the well-known ids";
  const Guid hb = HV_HEART_BEAT_GUID_BYTES;
  EXPECT_EQ(std::memcmp(offer.bytes.data() + VMBUS_OFFERCHANNEL_IF_TYPE_OFFSET, hb.data(), hb.size()), 0);
  EXPECT_EQ(offer.bytes[VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED_OFFSET], 0) << "every signal a hypercall";
  EXPECT_EQ(type_of(next()), CHANNELMSG_ALLOFFERS_DELIVERED);
  EXPECT_FALSE(bus.has_outgoing());
}

TEST_F(BusTest, OpenChecksTheRingGpadlAndTheSecondRingsOffset) {
  connect();
  gpadl(0xE1E10, 4);
  EXPECT_NE(open(1, 0xE1E10, 1), VMBUS_CHANNEL_STATUS_SUCCESS) << "guest-to-host ring without data pages";
  EXPECT_NE(open(1, 0xE1E10, 3), VMBUS_CHANNEL_STATUS_SUCCESS) << "host-to-guest ring without data pages";
  EXPECT_NE(open(1, 0xE1E10, 0xFFFFFFFF), VMBUS_CHANNEL_STATUS_SUCCESS);
  EXPECT_NE(open(1, 0xBAD, 2), VMBUS_CHANNEL_STATUS_SUCCESS) << "no such GPADL";
  EXPECT_NE(open(2, 0xE1E10, 2), VMBUS_CHANNEL_STATUS_SUCCESS) << "no such channel";
  EXPECT_NE(open(0, 0xE1E10, 2), VMBUS_CHANNEL_STATUS_SUCCESS) << "relid 0 is never a channel";
  EXPECT_FALSE(bus.channels()[0].open);
  EXPECT_EQ(open(1, 0xE1E10, 2), VMBUS_CHANNEL_STATUS_SUCCESS);
  EXPECT_TRUE(bus.channels()[0].open);
  EXPECT_NE(open(1, 0xE1E10, 2), VMBUS_CHANNEL_STATUS_SUCCESS) << "already open";
}

TEST_F(BusTest, AnOpenChannelsRingGpadlIsTornDownAtOnceAndTheChannelStaysOpen) {
  connect();
  gpadl(0x77, 4);
  ASSERT_EQ(open(1, 0x77, 2), VMBUS_CHANNEL_STATUS_SUCCESS);
  Bytes teardown(VMBUS_GPADL_TEARDOWN_SIZE, CHANNELMSG_GPADL_TEARDOWN);
  teardown.u32(VMBUS_GPADL_TEARDOWN_CHILD_RELID_OFFSET, 1);
  teardown.u32(VMBUS_GPADL_TEARDOWN_GPADL_OFFSET, 0x77);
  ASSERT_EQ(send(teardown), HV_STATUS_SUCCESS);
  const Encoded e = next();
  EXPECT_EQ(type_of(e), CHANNELMSG_GPADL_TORNDOWN) << "Linux waits for this answer without a time-out";
  EXPECT_EQ(get<uint32_t>(e, VMBUS_GPADL_TORNDOWN_GPADL_OFFSET), 0x77u);
  EXPECT_EQ(bus.gpadls().lookup(0x77), nullptr);
  EXPECT_TRUE(bus.channels()[0].open) << "the channel keeps its ring's pages until it closes";
  Bytes close(VMBUS_CLOSECHANNEL_SIZE, CHANNELMSG_CLOSECHANNEL);
  close.u32(VMBUS_CLOSECHANNEL_CHILD_RELID_OFFSET, 1);
  ASSERT_EQ(send(close), HV_STATUS_SUCCESS);
  EXPECT_FALSE(bus.has_outgoing()) << "CLOSECHANNEL has no reply";
  EXPECT_FALSE(bus.channels()[0].open);
  ASSERT_EQ(send(teardown), HV_STATUS_SUCCESS);
  EXPECT_EQ(bus.last_outcome(), Outcome::Refused) << "a GPADL torn down twice";
  ASSERT_EQ(send(close), HV_STATUS_SUCCESS);
  EXPECT_EQ(bus.last_outcome(), Outcome::Refused) << "closing a closed channel";
}

TEST_F(BusTest, ANewContactClosesChannelsAndForgetsGpadls) {
  connect();
  gpadl(0x77, 4);
  ASSERT_EQ(open(1, 0x77, 2), VMBUS_CHANNEL_STATUS_SUCCESS);
  connect();
  EXPECT_FALSE(bus.channels()[0].open);
  EXPECT_EQ(bus.gpadls().size(), 0u);
}

TEST_F(BusTest, TheQueueIsBoundedAndRefusesBeforeHandling) {
  connect();
  size_t accepted = 0;
  for (int i = 0; i < 500; ++i) {
    if (send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)) != HV_STATUS_SUCCESS) break;
    ++accepted;
  }
  EXPECT_EQ(bus.last_outcome(), Outcome::QueueFull);
  EXPECT_EQ(accepted, BusLimits{}.max_queued / 2) << "each REQUESTOFFERS queues an offer and ALLOFFERS_DELIVERED";
  // Taking the replies makes room again.
  while (bus.has_outgoing()) bus.pop();
  EXPECT_EQ(send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)), HV_STATUS_SUCCESS);
}

TEST_F(BusTest, AFullQueueStillTakesANewContactOrUnload) {
  connect();
  while (send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)) == HV_STATUS_SUCCESS) {
  }
  ASSERT_EQ(bus.last_outcome(), Outcome::QueueFull);
  // Replies nobody takes (a target VP the VM does not have): the guest can
  // still start over, and the new contact's answer is all that is queued.
  EXPECT_EQ(send(Bytes(VMBUS_UNLOAD_SIZE, CHANNELMSG_UNLOAD)), HV_STATUS_SUCCESS);
  EXPECT_EQ(type_of(next()), CHANNELMSG_UNLOAD_RESPONSE);
  EXPECT_FALSE(bus.has_outgoing());
  connect();
  while (send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)) == HV_STATUS_SUCCESS) {
  }
  ASSERT_EQ(bus.last_outcome(), Outcome::QueueFull);
  connect();  // its VERSION_RESPONSE is the first (and only) reply queued
  EXPECT_FALSE(bus.has_outgoing());
}

}  // namespace
}  // namespace enlight::vmbus
