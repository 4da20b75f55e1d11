// The vmbus plugin on the direct backend, as Linux's hv_vmbus drives it:
// INITIATE_CONTACT on connection 1 (and 5.x on connection 4, which nobody
// owns), REQUESTOFFERS, a GPADL, UNLOAD; replies in the target VP's SINT2
// slot, a busy slot waiting for EOM, and hostile messages counted.
#include "synic_test.hpp"

#include "message_bytes.hpp"

#include <cstring>
#include <vector>

namespace enlight::test::vmbus_plugin {
namespace {

using namespace enlight::test::synic;

constexpr uint8_t kCallbackVector = 0xF3;  // Linux's HYPERVISOR_CALLBACK_VECTOR on x86

using enlight::vmbus::test::Bytes;
using enlight::vmbus::test::gpadl_header;
template <typename T>
T get(const uint8_t* p, uint32_t offset) {
  return enlight::vmbus::test::field<T>(p, offset);
}

Bytes initiate_contact(uint32_t version, uint32_t target_vcpu) {
  Bytes m(VMBUS_INITIATE_CONTACT_SIZE, CHANNELMSG_INITIATE_CONTACT);
  m.u32(VMBUS_INITIATE_CONTACT_VMBUS_VERSION_REQUESTED_OFFSET, version);
  m.u32(VMBUS_INITIATE_CONTACT_TARGET_VCPU_OFFSET, target_vcpu);
  m.u64(VMBUS_INITIATE_CONTACT_MONITOR_PAGE1_OFFSET, 0x30000);
  m.u64(VMBUS_INITIATE_CONTACT_MONITOR_PAGE2_OFFSET, 0x31000);
  return m;
}

class VmbusPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    d = make_vm_from_profile("name: t\nvcpus: 2\nenlightenments:\n  - vpindex\n  - synic\n  - vmbus\n");
    ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
    for (uint32_t v = 0; v < 2; ++v) {
      enable(*d, v);
      set_sint(*d, v, VMBUS_MESSAGE_SINT, sint_value(kCallbackVector));
    }
  }
  // HvCallPostMessage of a channel message from vCPU `from`.
  uint16_t send(const Bytes& m, uint32_t from = 0, uint32_t connection = VMBUS_MESSAGE_CONNECTION_ID,
                uint32_t type = VMBUS_MESSAGE_TYPE) {
    write_post_input(*d, connection, type, m.size());
    EXPECT_TRUE(d->memory().write(kInput + HV_POST_MESSAGE_PAYLOAD_OFFSET, m.b.data(), m.size()));
    return post(*d, from);
  }
  // The channel message in vCPU `vcpu`'s SINT2 slot (nullptr when empty).
  const uint8_t* reply(uint32_t vcpu) {
    if (slot_type(*d, vcpu, VMBUS_MESSAGE_SINT) != VMBUS_MESSAGE_TYPE) return nullptr;
    return slot(*d, vcpu, VMBUS_MESSAGE_SINT) + HV_MESSAGE_PAYLOAD_OFFSET;
  }
  uint32_t reply_type(uint32_t vcpu) {
    const uint8_t* r = reply(vcpu);
    return r ? get<uint32_t>(r, VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET) : 0;
  }
  // The guest's ISR: empty the slot, write EOM if a message was pending.
  void take(uint32_t vcpu) {
    if (consume(*d, vcpu, VMBUS_MESSAGE_SINT)) {
      ASSERT_EQ(d->wrmsr(vcpu, HV_X64_MSR_EOM, 0), Access::Ok);
    }
  }
  void connect(uint32_t target = 1) {
    ASSERT_EQ(send(initiate_contact(VMBUS_VERSION_WIN10, target)), HV_STATUS_SUCCESS);
    ASSERT_EQ(reply_type(target), CHANNELMSG_VERSION_RESPONSE);
    ASSERT_EQ(reply(target)[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET], 1);
    take(target);
  }
  std::unique_ptr<DirectVm> d;
};

TEST_F(VmbusPlugin, Version5OnConnection4IsRefusedSoLinuxFallsBack) {
  auto m = initiate_contact(VMBUS_VERSION_WIN10_V5_3, 0);
  m.u8(VMBUS_INITIATE_CONTACT_MSG_SINT_OFFSET, VMBUS_MESSAGE_SINT);
  EXPECT_EQ(send(m, 0, VMBUS_MESSAGE_CONNECTION_ID_4), HV_STATUS_INVALID_CONNECTION_ID);
  EXPECT_EQ(reply(0), nullptr);
}

TEST_F(VmbusPlugin, ContactAnswersOnTheTargetVpsSint2) {
  ASSERT_EQ(send(initiate_contact(VMBUS_VERSION_WIN10, 1), 0), HV_STATUS_SUCCESS);
  EXPECT_EQ(reply(0), nullptr) << "the reply goes to target_vcpu, not the caller";
  ASSERT_EQ(reply_type(1), CHANNELMSG_VERSION_RESPONSE);
  EXPECT_EQ(reply(1)[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET], 1);
  EXPECT_EQ(slot_payload_size(*d, 1, VMBUS_MESSAGE_SINT), VMBUS_VERSION_RESPONSE_SIZE);
  ASSERT_FALSE(d->injected().empty());
  EXPECT_EQ(d->injected().back(), std::make_pair(1u, kCallbackVector));
  EXPECT_EQ(counter(*d, "enlight_vmbus_messages_sent_total"), 1);
}

TEST_F(VmbusPlugin, UnsupportedVersionsAreAnsweredNotSupported) {
  for (uint32_t v : {VMBUS_VERSION_WIN7, VMBUS_VERSION_WS2008, VMBUS_VERSION_WIN10_V4_1, 0u, 0xFFFFFFFFu}) {
    ASSERT_EQ(send(initiate_contact(v, 0)), HV_STATUS_SUCCESS);
    ASSERT_EQ(reply_type(0), CHANNELMSG_VERSION_RESPONSE) << std::hex << v;
    EXPECT_EQ(reply(0)[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET], 0) << std::hex << v;
    take(0);
  }
  for (uint32_t v : {VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN8}) {
    ASSERT_EQ(send(initiate_contact(v, 0)), HV_STATUS_SUCCESS);
    EXPECT_EQ(reply(0)[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET], 1) << std::hex << v;
    take(0);
  }
}

TEST_F(VmbusPlugin, NothingButContactBeforeContact) {
  EXPECT_EQ(send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)), HV_STATUS_SUCCESS);
  EXPECT_EQ(reply(0), nullptr);
  EXPECT_EQ(reply(1), nullptr);
  EXPECT_EQ(counter(*d, "enlight_vmbus_messages_refused_total"), 1);
}

TEST_F(VmbusPlugin, OffersEndWithAllOffersDelivered) {
  connect(1);
  ASSERT_EQ(send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)), HV_STATUS_SUCCESS);
  EXPECT_EQ(reply_type(1), CHANNELMSG_ALLOFFERS_DELIVERED);  // no device channels yet
}

TEST_F(VmbusPlugin, GpadlIsCreatedOrRefusedWithAnAnswerEitherWay) {
  connect(0);
  ASSERT_EQ(send(gpadl_header(1, 0xE1E10, {0x100, 0x101, 0x102})), HV_STATUS_SUCCESS);
  ASSERT_EQ(reply_type(0), CHANNELMSG_GPADL_CREATED);
  EXPECT_EQ(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_CHILD_RELID_OFFSET), 1u);
  EXPECT_EQ(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_GPADL_OFFSET), 0xE1E10u);
  EXPECT_EQ(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET), 0u);
  take(0);
  // A page beyond guest RAM (64 MiB): refused, still answered (Linux waits).
  ASSERT_EQ(send(gpadl_header(1, 0xE1E11, {0x100, (kRamBytes >> 12) + 5})), HV_STATUS_SUCCESS);
  ASSERT_EQ(reply_type(0), CHANNELMSG_GPADL_CREATED);
  EXPECT_EQ(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_GPADL_OFFSET), 0xE1E11u);
  EXPECT_NE(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET), 0u);
  take(0);
  // The same handle twice: refused.
  ASSERT_EQ(send(gpadl_header(1, 0xE1E10, {0x200})), HV_STATUS_SUCCESS);
  EXPECT_NE(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET), 0u);
  EXPECT_EQ(counter(*d, "enlight_vmbus_messages_refused_total"), 2);
}

TEST_F(VmbusPlugin, ABusySlotWaitsForTheGuestsEom) {
  connect(0);
  // Two replies in a row without the guest taking the first: the second
  // waits, the slot says MessagePending, and EOM lets it in.
  ASSERT_EQ(send(gpadl_header(1, 0x100, {0x100})), HV_STATUS_SUCCESS);
  ASSERT_EQ(send(gpadl_header(1, 0x101, {0x101})), HV_STATUS_SUCCESS);
  EXPECT_EQ(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_GPADL_OFFSET), 0x100u);
  EXPECT_NE(slot_flags(*d, 0, VMBUS_MESSAGE_SINT) & HV_MESSAGE_FLAG_PENDING, 0);
  EXPECT_EQ(counter(*d, "enlight_vmbus_slot_busy_total"), 1);
  take(0);
  ASSERT_EQ(reply_type(0), CHANNELMSG_GPADL_CREATED);
  EXPECT_EQ(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_GPADL_OFFSET), 0x101u);
}

TEST_F(VmbusPlugin, AGuestThatNeverTakesItsMessagesGetsInsufficientBuffers) {
  connect(0);
  uint16_t status = HV_STATUS_SUCCESS;
  int accepted = 0;
  for (uint32_t i = 0; i < 1000 && status == HV_STATUS_SUCCESS; ++i) {
    status = send(gpadl_header(1, 0x1000 + i, {0x100}));
    accepted += status == HV_STATUS_SUCCESS;
  }
  EXPECT_EQ(status, HV_STATUS_INSUFFICIENT_BUFFERS);
  EXPECT_LE(accepted, 70) << "the queue is bounded";
  EXPECT_GE(counter(*d, "enlight_vmbus_queue_full_total"), 1);
}

TEST_F(VmbusPlugin, MalformedMessagesAreDroppedAndCounted) {
  connect(0);
  EXPECT_EQ(send(Bytes(12, CHANNELMSG_INITIATE_CONTACT)), HV_STATUS_SUCCESS);          // short
  EXPECT_EQ(send(Bytes(8, 18)), HV_STATUS_SUCCESS);                                     // unknown type
  EXPECT_EQ(send(Bytes(196, CHANNELMSG_OFFERCHANNEL)), HV_STATUS_SUCCESS);              // host-to-guest type
  EXPECT_EQ(send(Bytes(8, CHANNELMSG_REQUESTOFFERS), 0, VMBUS_MESSAGE_CONNECTION_ID, 2), HV_STATUS_SUCCESS);  // SynIC type 2
  auto lying = gpadl_header(1, 0x300, {0x100});
  lying.u16(VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET, 0xFFFF);                     // more PFNs than sent
  EXPECT_EQ(send(lying), HV_STATUS_SUCCESS);
  EXPECT_EQ(counter(*d, "enlight_vmbus_messages_malformed_total"), 5);
  EXPECT_EQ(reply(0), nullptr) << "no reply to a message the host could not read";
}

TEST_F(VmbusPlugin, UnloadAndNewContactResetTheBus) {
  connect(0);
  ASSERT_EQ(send(gpadl_header(1, 0x500, {0x100})), HV_STATUS_SUCCESS);
  take(0);
  ASSERT_EQ(send(Bytes(VMBUS_UNLOAD_SIZE, CHANNELMSG_UNLOAD)), HV_STATUS_SUCCESS);
  EXPECT_EQ(reply_type(0), CHANNELMSG_UNLOAD_RESPONSE);
  take(0);
  // Not connected any more.
  ASSERT_EQ(send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)), HV_STATUS_SUCCESS);
  EXPECT_EQ(reply(0), nullptr);
  // After a new contact the old GPADL handle is free again.
  connect(0);
  ASSERT_EQ(send(gpadl_header(1, 0x500, {0x100})), HV_STATUS_SUCCESS);
  EXPECT_EQ(get<uint32_t>(reply(0), VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET), 0u);
}

}  // namespace
}  // namespace enlight::test::vmbus_plugin
