// The device API end to end on the direct backend: the vmbus plugin with
// vmbus-util's three devices, driven as Linux's hv_vmbus and hv_utils do:
// the offers, a ring GPADL, OPENCHANNEL, the IC negotiation in the rings
// (the guest's side written with the protocol's own ring code, the way the
// guest produces into its outbound ring), event flags both ways, a
// heartbeat, a corrupted ring, and the shutdown listener.
#include "synic_test.hpp"

#include "message_bytes.hpp"
#include "protocol/ring.hpp"

#include <cstring>
#include <vector>

namespace enlight::test::vmbus_device {
namespace {

using namespace enlight::test::synic;
using enlight::vmbus::RingReader;
using enlight::vmbus::RingStatus;
using enlight::vmbus::RingView;
using enlight::vmbus::RingWriter;
using enlight::vmbus::test::Bytes;
using enlight::vmbus::test::gpadl_header;
using enlight::vmbus::test::pfn_run;

constexpr uint8_t kCallbackVector = 0xF3;
// The heartbeat channel's ring GPADL: 2 pages out (header + data), 2 in.
constexpr uint64_t kRingGpa = 0x100000;
constexpr uint32_t kRingPages = 4, kDownstream = 2;
constexpr uint32_t kRingGpadl = 0xE1E10;

template <typename T>
T get(const uint8_t* p, uint32_t offset) {
  return enlight::vmbus::test::field<T>(p, offset);
}

int64_t labelled(DirectVm& d, const std::string& name, const std::string& value) {
  const MetricsStorage& m = d.vm().metrics_storage();
  for (const auto& c : m.counters) {
    if (c.name != name || c.label_value != value) continue;
    uint64_t sum = 0;
    for (uint32_t v = 0; v < d.vcpu_count(); ++v)
      sum += m.plugin_counters[static_cast<size_t>(v) * MetricsStorage::kMaxPluginCounters + c.id];
    return static_cast<int64_t>(sum);
  }
  return -1;
}

class VmbusDevices : public ::testing::Test {
 protected:
  void SetUp() override {
    d = make_vm_from_profile("name: t\nvcpus: 2\nenlightenments:\n  - vpindex\n  - time\n  - synic\n  - vmbus\n"
                             "  - vmbus-util\n");
    ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
    for (uint32_t v = 0; v < 2; ++v) {
      enable(*d, v);
      set_sint(*d, v, VMBUS_MESSAGE_SINT, sint_value(kCallbackVector));
    }
  }
  uint16_t send(const Bytes& m) {
    write_post_input(*d, VMBUS_MESSAGE_CONNECTION_ID, VMBUS_MESSAGE_TYPE, m.size());
    EXPECT_TRUE(d->memory().write(kInput + HV_POST_MESSAGE_PAYLOAD_OFFSET, m.b.data(), m.size()));
    return post(*d, 0);
  }
  // The message in vCPU 0's SINT2 slot, copied, and the slot emptied as
  // Linux's vmbus_on_msg_dpc does.
  std::vector<uint8_t> take() {
    std::vector<uint8_t> out;
    if (slot_type(*d, 0, VMBUS_MESSAGE_SINT) != VMBUS_MESSAGE_TYPE) return out;
    const uint8_t* p = slot(*d, 0, VMBUS_MESSAGE_SINT) + HV_MESSAGE_PAYLOAD_OFFSET;
    out.assign(p, p + slot_payload_size(*d, 0, VMBUS_MESSAGE_SINT));
    if (consume(*d, 0, VMBUS_MESSAGE_SINT)) {
      EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
    }
    return out;
  }
  void connect() {
    Bytes m(VMBUS_INITIATE_CONTACT_SIZE, CHANNELMSG_INITIATE_CONTACT);
    m.u32(VMBUS_INITIATE_CONTACT_VMBUS_VERSION_REQUESTED_OFFSET, VMBUS_VERSION_WIN10);
    ASSERT_EQ(send(m), HV_STATUS_SUCCESS);
    ASSERT_EQ(get<uint32_t>(take().data(), VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET), CHANNELMSG_VERSION_RESPONSE);
  }
  // REQUESTOFFERS: the offers in order, then ALLOFFERS_DELIVERED.
  std::vector<std::vector<uint8_t>> offers() {
    std::vector<std::vector<uint8_t>> out;
    EXPECT_EQ(send(Bytes(VMBUS_REQUESTOFFERS_SIZE, CHANNELMSG_REQUESTOFFERS)), HV_STATUS_SUCCESS);
    for (;;) {
      auto m = take();
      if (m.empty() || get<uint32_t>(m.data(), VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET) != CHANNELMSG_OFFERCHANNEL) break;
      out.push_back(std::move(m));
    }
    return out;
  }
  // GPADL + OPENCHANNEL for `relid` on VP `target_vp`; the OPEN_RESULT's status.
  uint32_t open(uint32_t relid, uint32_t target_vp = 0) {
    const Bytes g = gpadl_header(relid, kRingGpadl, pfn_run(kRingGpa / HV_PAGE_SIZE, kRingPages));
    EXPECT_EQ(send(g), HV_STATUS_SUCCESS);
    EXPECT_EQ(get<uint32_t>(take().data(), VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET), 0u);
    Bytes o(VMBUS_OPENCHANNEL_SIZE, CHANNELMSG_OPENCHANNEL);
    o.u32(VMBUS_OPENCHANNEL_CHILD_RELID_OFFSET, relid);
    o.u32(VMBUS_OPENCHANNEL_OPENID_OFFSET, relid);
    o.u32(VMBUS_OPENCHANNEL_RINGBUFFER_GPADLHANDLE_OFFSET, kRingGpadl);
    o.u32(VMBUS_OPENCHANNEL_TARGET_VP_OFFSET, target_vp);
    o.u32(VMBUS_OPENCHANNEL_DOWNSTREAM_RINGBUFFER_PAGEOFFSET_OFFSET, kDownstream);
    EXPECT_EQ(send(o), HV_STATUS_SUCCESS);
    // The host may have written to the ring already (the util devices
    // negotiate from open), so the result can come after a signal.
    auto r = take();
    EXPECT_EQ(get<uint32_t>(r.data(), VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET), CHANNELMSG_OPENCHANNEL_RESULT);
    return get<uint32_t>(r.data(), VMBUS_OPENCHANNEL_RESULT_STATUS_OFFSET);
  }
  std::vector<uint8_t*> pages(uint32_t first, uint32_t n) {
    std::vector<uint8_t*> p;
    for (uint32_t i = 0; i < n; ++i) p.push_back(d->memory().base() + kRingGpa + (first + i) * HV_PAGE_SIZE);
    return p;
  }
  // The guest's view: it reads the inbound ring (host-to-guest) and writes
  // the outbound one. Created after OPEN, as Linux initialises both
  // headers to zero before its OPENCHANNEL (here: RAM is zero).
  void guest_rings() {
    in.emplace(*RingReader::open(RingView(pages(kDownstream, kRingPages - kDownstream))));
    out.emplace(*RingWriter::open(RingView(pages(0, kDownstream))));
  }
  // The next packet the host sent: its data (from the data offset on).
  std::vector<uint8_t> guest_read(enlight::vmbus::PacketInfo& info) {
    std::vector<uint8_t> buf(HV_PAGE_SIZE);
    EXPECT_EQ(in->next(buf, info), RingStatus::Ok);
    std::vector<uint8_t> data(buf.begin() + info.data_offset, buf.begin() + info.length);
    in->consume();
    return data;
  }
  // Writes a packet as the guest and signals if the ring rule says so.
  void guest_write(uint64_t trans_id, const std::vector<uint8_t>& data, uint32_t relid) {
    const auto r = out->write(VM_PKT_DATA_INBAND, 0, trans_id, data);
    ASSERT_EQ(r.status, RingStatus::Ok);
    if (r.signal_guest) {
      ASSERT_EQ(signal(*d, 0, signal_rdx(16 + relid, 0)), HV_STATUS_SUCCESS);
    }
  }
  // What hv_utils answers to a NEGOTIATE (vmbus_prep_negotiate_resp): the
  // same packet with one framework and one message version, flagged as a
  // response.
  static std::vector<uint8_t> negotiate_answer(std::vector<uint8_t> req, uint32_t msg_version) {
    req[ICMSG_HDR_ICFLAGS_OFFSET] = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;
    const auto put16 = [&](uint32_t at, uint16_t v) { std::memcpy(req.data() + at, &v, 2); };
    put16(ICMSG_NEGOTIATE_ICFRAME_VERCNT_OFFSET, 1);
    put16(ICMSG_NEGOTIATE_ICMSG_VERCNT_OFFSET, 1);
    put16(ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + IC_VERSION_MAJOR_OFFSET, 3);
    put16(ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + IC_VERSION_MINOR_OFFSET, 0);
    put16(ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + IC_VERSION_SIZE + IC_VERSION_MAJOR_OFFSET,
          static_cast<uint16_t>(msg_version >> IC_VERSION_MAJOR_SHIFT));
    put16(ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + IC_VERSION_SIZE + IC_VERSION_MINOR_OFFSET,
          static_cast<uint16_t>(msg_version & IC_VERSION_MINOR_MASK));
    return req;
  }

  std::unique_ptr<DirectVm> d;
  std::optional<RingReader> in;
  std::optional<RingWriter> out;
};

TEST_F(VmbusDevices, EachRegisteredDeviceIsOfferedWithItsGuidsAndConnectionId) {
  connect();
  const auto o = offers();
  ASSERT_EQ(o.size(), 3u);
  const std::array<std::array<uint8_t, 16>, 3> types = {std::array<uint8_t, 16>HV_HEART_BEAT_GUID_BYTES,
                                                        std::array<uint8_t, 16>HV_SHUTDOWN_GUID_BYTES,
                                                        std::array<uint8_t, 16>HV_TS_GUID_BYTES};
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(std::memcmp(o[i].data() + VMBUS_OFFERCHANNEL_IF_TYPE_OFFSET, types[i].data(), 16), 0) << i;
    EXPECT_EQ(get<uint32_t>(o[i].data(), VMBUS_OFFERCHANNEL_CHILD_RELID_OFFSET), i + 1);
    EXPECT_EQ(get<uint32_t>(o[i].data(), VMBUS_OFFERCHANNEL_CONNECTION_ID_OFFSET), 16 + i + 1);
    EXPECT_EQ(o[i][VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED_OFFSET], 0);
  }
  EXPECT_FALSE(d->vm().request_guest_shutdown()) << "no shutdown channel is open: nobody can ask the guest";
}

TEST_F(VmbusDevices, HeartbeatNegotiatesThenBeatsThroughTheRingsWithEventFlags) {
  connect();
  ASSERT_EQ(offers().size(), 3u);
  ASSERT_EQ(open(1), VMBUS_CHANNEL_STATUS_SUCCESS);
  guest_rings();
  // The host wrote the NEGOTIATE and signalled: relid 1 in vCPU 0's SIEF slot 2.
  EXPECT_TRUE(event_flag(*d, 0, VMBUS_MESSAGE_SINT, 1));
  enlight::vmbus::PacketInfo info;
  const auto req = guest_read(info);
  ASSERT_GE(req.size(), ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET);
  EXPECT_EQ(get<uint16_t>(req.data(), ICMSG_HDR_ICMSGTYPE_OFFSET), ICMSGTYPE_NEGOTIATE);
  EXPECT_EQ(labelled(*d, "enlight_vmbus_channel_packets_sent_total", "heartbeat"), 1);

  guest_write(info.trans_id, negotiate_answer(req, IC_HB_VERSION), 1);
  EXPECT_EQ(labelled(*d, "enlight_vmbus_channel_guest_signals_total", "heartbeat"), 1);
  EXPECT_EQ(labelled(*d, "enlight_vmbus_channel_packets_received_total", "heartbeat"), 1);
  EXPECT_EQ(labelled(*d, "enlight_vmbus_util_negotiations_total", "heartbeat"), 1);

  // A second later the host's timer sends a heartbeat; the guest answers
  // seq + 1 (heartbeat_onchannelcallback).
  d->advance_ns(1'100'000'000);
  d->run_timers(0);
  const auto beat = guest_read(info);
  ASSERT_EQ(get<uint16_t>(beat.data(), ICMSG_HDR_ICMSGTYPE_OFFSET), ICMSGTYPE_HEARTBEAT);
  auto answer = beat;
  answer[ICMSG_HDR_ICFLAGS_OFFSET] = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;
  const uint64_t seq = get<uint64_t>(beat.data(), ICMSG_HDR) + 1;
  std::memcpy(answer.data() + ICMSG_HDR, &seq, sizeof seq);
  guest_write(info.trans_id, answer, 1);
  EXPECT_EQ(counter(*d, "enlight_vmbus_util_heartbeats_answered_total"), 1);
}

TEST_F(VmbusDevices, ACorruptRingStopsTheChannelUntilTheGuestReopensIt) {
  connect();
  ASSERT_EQ(offers().size(), 3u);
  ASSERT_EQ(open(1), VMBUS_CHANNEL_STATUS_SUCCESS);
  // A write_index past the ring's data area, then a signal.
  uint8_t* header = d->memory().base() + kRingGpa;
  const uint32_t bad = 0x7FFFFFF8;
  std::memcpy(header + VMBUS_RING_WRITE_INDEX_OFFSET, &bad, sizeof bad);
  ASSERT_EQ(signal(*d, 0, signal_rdx(17, 0)), HV_STATUS_SUCCESS);
  EXPECT_EQ(labelled(*d, "enlight_vmbus_channel_ring_corrupt_total", "heartbeat"), 1);
  // Close and reopen with sane rings: the channel works again.
  Bytes c(VMBUS_CLOSECHANNEL_SIZE, CHANNELMSG_CLOSECHANNEL);
  c.u32(VMBUS_CLOSECHANNEL_CHILD_RELID_OFFSET, 1);
  ASSERT_EQ(send(c), HV_STATUS_SUCCESS);
  Bytes t(VMBUS_GPADL_TEARDOWN_SIZE, CHANNELMSG_GPADL_TEARDOWN);
  t.u32(VMBUS_GPADL_TEARDOWN_CHILD_RELID_OFFSET, 1);
  t.u32(VMBUS_GPADL_TEARDOWN_GPADL_OFFSET, kRingGpadl);
  ASSERT_EQ(send(t), HV_STATUS_SUCCESS);
  ASSERT_EQ(get<uint32_t>(take().data(), VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET), CHANNELMSG_GPADL_TORNDOWN);
  std::memset(d->memory().base() + kRingGpa, 0, kRingPages * HV_PAGE_SIZE);
  ASSERT_EQ(open(1), VMBUS_CHANNEL_STATUS_SUCCESS);
  guest_rings();
  enlight::vmbus::PacketInfo info;
  EXPECT_EQ(get<uint16_t>(guest_read(info).data(), ICMSG_HDR_ICMSGTYPE_OFFSET), ICMSGTYPE_NEGOTIATE);
}

TEST_F(VmbusDevices, ARingWithBadIndicesFailsTheOpen) {
  connect();
  ASSERT_EQ(offers().size(), 3u);
  const uint32_t bad = 13;  // not 8-byte aligned
  std::memcpy(d->memory().base() + kRingGpa + kDownstream * HV_PAGE_SIZE + VMBUS_RING_READ_INDEX_OFFSET, &bad, 4);
  EXPECT_EQ(open(1), VMBUS_CHANNEL_STATUS_FAILURE);
  EXPECT_EQ(counter(*d, "enlight_vmbus_open_failed_total"), 1);
}

TEST_F(VmbusDevices, AShutdownRequestReachesAGuestThatOpenedTheShutdownChannel) {
  connect();
  ASSERT_EQ(offers().size(), 3u);
  ASSERT_EQ(open(2), VMBUS_CHANNEL_STATUS_SUCCESS);
  guest_rings();
  enlight::vmbus::PacketInfo info;
  const auto req = guest_read(info);
  guest_write(info.trans_id, negotiate_answer(req, IC_SD_VERSION_3_2), 2);
  ASSERT_EQ(labelled(*d, "enlight_vmbus_util_negotiations_total", "shutdown"), 1);
  EXPECT_TRUE(d->vm().request_guest_shutdown());
  d->advance_ns(1000);  // the request's timer is due "now": after this instant
  d->run_timers(0);
  const auto sd = guest_read(info);
  EXPECT_EQ(get<uint16_t>(sd.data(), ICMSG_HDR_ICMSGTYPE_OFFSET), ICMSGTYPE_SHUTDOWN);
  EXPECT_EQ(counter(*d, "enlight_vmbus_util_shutdown_requests_total"), 1);
}

}  // namespace
}  // namespace enlight::test::vmbus_device
