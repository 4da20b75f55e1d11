// VMBus channel messages. Guest messages are laid out byte by byte at the
// offsets of Linux's structs (include/linux/hyperv.h), written here as
// literal numbers rather than tlfs.h names, so the test also checks those
// names; host messages are checked the same way after encoding.
#include "protocol/channel_messages.hpp"

#include <gtest/gtest.h>

#include "label_names.hpp"
#include "message_bytes.hpp"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace enlight::vmbus {
namespace {

using test::Bytes;

uint16_t rd16(const Encoded& e, size_t off) { return static_cast<uint16_t>(e.bytes.at(off) | (e.bytes.at(off + 1) << 8)); }
uint32_t rd32(const Encoded& e, size_t off) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{e.bytes.at(off + i)} << (8 * i);
  return v;
}

// By value: callers pass a temporary Parsed.
template <typename T>
T get(const Parsed& p) {
  EXPECT_TRUE(p.ok()) << (p.error ? to_string(*p.error) : "");
  const T* m = std::get_if<T>(&p.message);
  EXPECT_NE(m, nullptr);
  return m ? *m : T{};
}

// A GPADL header as Linux's create_gpadl_header builds it: one range,
// byte_offset 0, byte_count = pages * 4096, range_buflen = 8 + 8 * pages,
// min(pages, 26) PFNs in this message.
Bytes linux_gpadl_header(uint32_t relid, uint32_t handle, uint32_t pages, uint64_t first_pfn) {
  const uint32_t here = pages < 26 ? pages : 26;
  Bytes m(28 + 8 * here, 8);
  m.u32(8, relid).u32(12, handle).u16(16, static_cast<uint16_t>(8 + 8 * pages)).u16(18, 1);
  m.u32(20, pages * 4096).u32(24, 0);
  for (uint32_t i = 0; i < here; ++i) m.u64(28 + 8 * i, first_pfn + i);
  return m;
}

// ---- Guest-to-host messages, laid out by hand --------------------------

TEST(ChannelMessages, InitiateContactBeforeV5CarriesTheInterruptPage) {
  Bytes m(40, 14);
  m.u32(8, 0x00040000).u32(12, 0).u64(16, 0x12345000).u64(24, 0xabc000).u64(32, 0xabd000);
  const Parsed p = m.parse();
  EXPECT_EQ(p.msgtype, 14u);
  const auto ic = get<InitiateContact>(p);
  EXPECT_EQ(ic.version, VMBUS_VERSION_WIN10);
  EXPECT_EQ(ic.target_vcpu, 0u);
  EXPECT_EQ(ic.interrupt_page_or_sint, 0x12345000u);
  EXPECT_EQ(ic.monitor_page1, 0xabc000u);
  EXPECT_EQ(ic.monitor_page2, 0xabd000u);
}

TEST(ChannelMessages, InitiateContactFromV5CarriesMsgSintAndVtl) {
  Bytes m(40, 14);
  m.u32(8, 0x00050003).u32(12, 3).u8(16, 2).u8(17, 0).u64(24, 0x1000).u64(32, 0x2000);
  const auto ic = get<InitiateContact>(m.parse());
  EXPECT_EQ(ic.version, VMBUS_VERSION_WIN10_V5_3);
  EXPECT_EQ(ic.target_vcpu, 3u);
  EXPECT_EQ(ic.msg_sint(), VMBUS_MESSAGE_SINT);
  EXPECT_EQ(ic.msg_vtl(), 0u);
}

TEST(ChannelMessages, HeaderOnlyMessages) {
  EXPECT_TRUE(std::holds_alternative<RequestOffers>(Bytes(8, 3).parse().message));
  EXPECT_TRUE(Bytes(8, 3).parse().ok());
  EXPECT_TRUE(std::holds_alternative<Unload>(Bytes(8, 16).parse().message));
  EXPECT_TRUE(Bytes(8, 16).parse().ok());
}

TEST(ChannelMessages, OpenChannel) {
  Bytes m(148, 5);
  m.u32(8, 7).u32(12, 7).u32(16, 0xe1e10).u32(20, 2).u32(24, 4);
  for (size_t i = 0; i < 120; ++i) m.u8(28 + i, static_cast<uint8_t>(i + 1));
  const auto o = get<OpenChannel>(m.parse());
  EXPECT_EQ(o.child_relid, 7u);
  EXPECT_EQ(o.openid, 7u);
  EXPECT_EQ(o.ring_gpadl, 0xe1e10u);
  EXPECT_EQ(o.target_vp, 2u);
  EXPECT_EQ(o.downstream_page_offset, 4u);
  for (size_t i = 0; i < 120; ++i) EXPECT_EQ(o.user_data[i], i + 1) << i;
}

TEST(ChannelMessages, SmallFixedMessages) {
  EXPECT_EQ(get<CloseChannel>(Bytes(12, 7).u32(8, 9).parse()).child_relid, 9u);

  const auto t = get<GpadlTeardown>(Bytes(16, 11).u32(8, 9).u32(12, 0xe1e11).parse());
  EXPECT_EQ(t.child_relid, 9u);
  EXPECT_EQ(t.gpadl, 0xe1e11u);

  EXPECT_EQ(get<RelidReleased>(Bytes(12, 13).u32(8, 2047).parse()).child_relid, 2047u);

  const auto mc = get<ModifyChannel>(Bytes(16, 22).u32(8, 5).u32(12, 3).parse());
  EXPECT_EQ(mc.child_relid, 5u);
  EXPECT_EQ(mc.target_vp, 3u);
}

TEST(ChannelMessages, TlConnectRequest) {
  Bytes m(40, 21);
  for (size_t i = 0; i < 16; ++i) m.u8(8 + i, static_cast<uint8_t>(0x10 + i)).u8(24 + i, static_cast<uint8_t>(0x80 + i));
  const auto tl = get<TlConnectRequest>(m.parse());
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(tl.guest_endpoint_id[i], 0x10 + i);
    EXPECT_EQ(tl.host_service_id[i], 0x80 + i);
  }
}

TEST(ChannelMessages, TrailingBytesAfterAFixedMessageAreIgnored) {
  // A longer form of a message (a newer protocol's) still parses.
  EXPECT_EQ(get<CloseChannel>(Bytes(24, 7).u32(8, 9).u32(12, 0xffffffff).parse()).child_relid, 9u);
  EXPECT_TRUE(Bytes(240, 14).u32(8, 0x00040000).parse().ok());
}

TEST(ChannelMessages, GpadlHeaderThatHoldsTheWholeGpadl) {
  const auto h = get<GpadlHeader>(linux_gpadl_header(3, 0xe1e10, 4, 0x1000).parse());
  EXPECT_EQ(h.child_relid, 3u);
  EXPECT_EQ(h.gpadl, 0xe1e10u);
  EXPECT_EQ(h.range_buflen, 40u);
  EXPECT_EQ(h.rangecount, 1u);
  EXPECT_EQ(h.byte_count, 4u * 4096);
  EXPECT_EQ(h.byte_offset, 0u);
  EXPECT_EQ(h.total_pfns(), 4u);
  ASSERT_EQ(h.pfn_count, 4u);
  EXPECT_EQ(h.pfn_span().size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(h.pfns[i], 0x1000u + i);
}

TEST(ChannelMessages, GpadlHeaderThatLeavesPfnsToBodies) {
  // 36 pages: 26 here (a 236-byte message), 10 in a body.
  const Bytes m = linux_gpadl_header(3, 0xe1e10, 36, 0x2000);
  EXPECT_EQ(m.b.size(), 236u);
  const auto h = get<GpadlHeader>(m.parse());
  EXPECT_EQ(h.range_buflen, 8u + 8 * 36);
  EXPECT_EQ(h.total_pfns(), 36u);
  ASSERT_EQ(h.pfn_count, 26u);
  EXPECT_EQ(h.pfns[0], 0x2000u);
  EXPECT_EQ(h.pfns[25], 0x2000u + 25);
}

TEST(ChannelMessages, GpadlBodyFull) {
  Bytes m(240, 9);
  m.u32(8, 0).u32(12, 0xe1e10);
  for (uint32_t i = 0; i < 28; ++i) m.u64(16 + 8 * i, 0x3000 + i);
  const auto b = get<GpadlBody>(m.parse());
  EXPECT_EQ(b.msgnumber, 0u);
  EXPECT_EQ(b.gpadl, 0xe1e10u);
  ASSERT_EQ(b.pfn_count, 28u);
  for (uint32_t i = 0; i < 28; ++i) EXPECT_EQ(b.pfns[i], 0x3000u + i);
}

TEST(ChannelMessages, GpadlBodyPartialAndEmpty) {
  Bytes m(16 + 8 * 3, 9);
  m.u32(8, 1).u32(12, 0xe1e10).u64(16, 1).u64(24, 2).u64(32, 0xffffffffffffffff);
  const auto b = get<GpadlBody>(m.parse());
  EXPECT_EQ(b.msgnumber, 1u);
  ASSERT_EQ(b.pfn_count, 3u);
  EXPECT_EQ(b.pfns[2], 0xffffffffffffffffu);
  EXPECT_EQ(get<GpadlBody>(Bytes(16, 9).parse()).pfn_count, 0u);
}

// ---- Refusals ------------------------------------------------------------

void expect_error(const Parsed& p, ParseError e, uint32_t type) {
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(*p.error, e) << to_string(*p.error);
  EXPECT_EQ(p.msgtype, type);
}

TEST(ChannelMessagesRefusal, ShorterThanTheHeader) {
  expect_error(parse_guest_message(nullptr, 0), ParseError::TooShort, 0);
  const uint8_t seven[7] = {3, 0, 0, 0, 0, 0, 0};
  expect_error(parse_guest_message(seven, sizeof seven), ParseError::TooShort, 0);
  expect_error(parse_guest_message(nullptr, 16), ParseError::TooShort, 0);
}

TEST(ChannelMessagesRefusal, ShorterThanTheType) {
  // The minimum of every guest-to-host type: Linux's struct sizes, and for
  // the GPADL header its 20 bytes plus one range header.
  const std::pair<uint32_t, size_t> minimums[] = {
      {3, 8}, {5, 148}, {7, 12}, {8, 28}, {9, 16}, {11, 16}, {13, 12}, {14, 40}, {16, 8}, {21, 40}, {22, 16},
  };
  for (auto [type, min] : minimums) {
    if (min > 8) expect_error(Bytes(min - 1, type).parse(), ParseError::TooShort, type);
    if (type != 8) {
      EXPECT_TRUE(Bytes(min, type).parse().ok()) << type;
    }
  }
}

TEST(ChannelMessagesRefusal, LongerThanASynicPayload) {
  expect_error(Bytes(241, 3).parse(), ParseError::TooLong, 3);
  expect_error(Bytes(4096, 9).parse(), ParseError::TooLong, 9);
}

TEST(ChannelMessagesRefusal, UnknownTypes) {
  for (uint32_t type : {0u, 18u, 19u, 20u, 25u, 26u, 0x80000001u, 0xffffffffu})
    expect_error(Bytes(40, type).parse(), ParseError::UnknownType, type);
}

TEST(ChannelMessagesRefusal, HostToGuestTypesSentByTheGuest) {
  for (uint32_t type : {1u, 2u, 4u, 6u, 10u, 12u, 15u, 17u, 23u, 24u})
    expect_error(Bytes(196, type).parse(), ParseError::HostToGuestType, type);
}

TEST(ChannelMessagesRefusal, GpadlHeaderWithAPartialPfn) {
  Bytes m = linux_gpadl_header(3, 1, 2, 0x10);
  m.b.resize(m.b.size() + 4);
  expect_error(m.parse(), ParseError::BadLength, 8);
}

TEST(ChannelMessagesRefusal, GpadlBodyWithAPartialPfn) {
  expect_error(Bytes(16 + 8 + 1, 9).parse(), ParseError::BadLength, 9);
  expect_error(Bytes(20, 9).parse(), ParseError::BadLength, 9);
}

TEST(ChannelMessagesRefusal, GpadlHeaderClaimingMorePfnsThanItHolds) {
  // Announces 4 pages but carries 2, and is not full: a parser trusting
  // range_buflen would read 16 bytes past the message.
  Bytes m(28 + 16, 8);
  m.u32(8, 3).u32(12, 1).u16(16, 8 + 8 * 4).u16(18, 1).u32(20, 4 * 4096).u64(28, 0x10).u64(36, 0x11);
  expect_error(m.parse(), ParseError::BadField, 8);
}

TEST(ChannelMessagesRefusal, GpadlHeaderHoldingMorePfnsThanItClaims) {
  Bytes m = linux_gpadl_header(3, 1, 4, 0x10);
  m.u16(16, 8 + 8 * 2);
  expect_error(m.parse(), ParseError::BadField, 8);
}

TEST(ChannelMessagesRefusal, GpadlHeaderWithNoRange) {
  Bytes m = linux_gpadl_header(3, 1, 1, 0x10);
  m.u16(18, 0);
  expect_error(m.parse(), ParseError::BadField, 8);
}

TEST(ChannelMessagesRefusal, GpadlHeaderRangeBufferNotWholeU64s) {
  Bytes m = linux_gpadl_header(3, 1, 1, 0x10);
  m.u16(16, 17);
  expect_error(m.parse(), ParseError::BadField, 8);
}

TEST(ChannelMessagesRefusal, GpadlHeaderRangeBufferSmallerThanItsRangeHeaders) {
  // Three ranges need 24 bytes of range headers; 16 announced.
  Bytes m(28, 8);
  m.u32(8, 3).u32(12, 1).u16(16, 16).u16(18, 3);
  expect_error(m.parse(), ParseError::BadField, 8);
}

TEST(ChannelMessagesRefusal, GpadlHeaderWithSeveralRangesIsStructurallyAccepted) {
  // Two ranges of one page each: 2 * (8 + 8) bytes, all present. Refusing
  // rangecount != 1 is GpadlTable's policy, not the parser's.
  Bytes m(20 + 32, 8);
  m.u32(8, 3).u32(12, 1).u16(16, 32).u16(18, 2);
  m.u32(20, 4096).u32(24, 0).u64(28, 0x10).u32(36, 4096).u32(40, 0).u64(44, 0x20);
  const auto h = get<GpadlHeader>(m.parse());
  EXPECT_EQ(h.rangecount, 2u);
  EXPECT_EQ(h.total_pfns(), 2u);
}

TEST(ChannelMessagesRefusal, ErrorNamesAreDistinctLabels) {
  test::expect_distinct_label_names<ParseError>(kParseErrorCount, [](ParseError e) { return to_string(e); });
}

// Random payloads never crash the parser, and what it accepts keeps the
// invariants the GPADL table relies on.
TEST(ChannelMessagesRefusal, RandomPayloads) {
  std::mt19937_64 rng(12);
  std::vector<uint8_t> buf;
  size_t accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    const size_t size = rng() % 256;
    buf.assign(size, 0);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    // Mostly valid types, and sometimes a GPADL header with a plausible
    // range count, so the deep checks run too.
    if (size >= 4) buf[0] = static_cast<uint8_t>(rng() % 26), buf[1] = buf[2] = buf[3] = 0;
    if (size >= 20 && buf[0] == 8 && rng() % 2) buf[18] = 1, buf[19] = 0;
    auto exact = std::make_unique<uint8_t[]>(size ? size : 1);
    if (size) std::memcpy(exact.get(), buf.data(), size);
    const Parsed p = parse_guest_message(exact.get(), size);
    if (!p.ok()) continue;
    ++accepted;
    EXPECT_LE(size, 240u);
    if (const auto* h = std::get_if<GpadlHeader>(&p.message)) {
      EXPECT_GE(h->rangecount, 1u);
      EXPECT_LE(h->pfn_count, 26u);
      EXPECT_EQ(28 + 8 * h->pfn_count, size);
      if (h->rangecount == 1) {
        EXPECT_LE(h->pfn_count, h->total_pfns());
      }
    }
    if (const auto* b = std::get_if<GpadlBody>(&p.message)) {
      EXPECT_EQ(16 + 8 * b->pfn_count, size);
    }
  }
  EXPECT_GT(accepted, 1000u);
}

// ---- Host-to-guest messages ---------------------------------------------

// The 16 wire bytes of a textual GUID: Data1..3 little-endian, Data4 as
// written.
Guid from_text(const char* text) {
  std::string hex;
  for (const char* c = text; *c; ++c)
    if (std::isxdigit(static_cast<unsigned char>(*c))) hex += *c;
  EXPECT_EQ(hex.size(), 32u);
  uint8_t raw[16];
  for (size_t i = 0; i < 16; ++i) raw[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return Guid{raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6],
              raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]};
}

TEST(ChannelMessagesEncode, DeviceGuidsAreInWireOrder) {
  EXPECT_EQ(Guid(HV_HEART_BEAT_GUID_BYTES), from_text("57164f39-9115-4e78-ab55-382f3bd5422d"));
  EXPECT_EQ(Guid(HV_SHUTDOWN_GUID_BYTES), from_text("0e0b6031-5213-4934-818b-38d90ced39db"));
  EXPECT_EQ(Guid(HV_TS_GUID_BYTES), from_text("9527e630-d0ae-497b-adce-e80ab0175caf"));
  EXPECT_EQ(Guid(HV_KVP_GUID_BYTES), from_text("a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"));
  EXPECT_EQ(Guid(HV_NIC_GUID_BYTES), from_text("f8615163-df3e-46c5-913f-f2d2f965ed0e"));
}

TEST(ChannelMessagesEncode, OfferChannelAtLinuxOffsets) {
  OfferChannel o;
  o.if_type = HV_HEART_BEAT_GUID_BYTES;
  o.if_instance = from_text("11223344-5566-7788-99aa-bbccddeeff00");
  o.chn_flags = 0x0401;
  o.mmio_megabytes = 0x0203;
  for (size_t i = 0; i < o.user_def.size(); ++i) o.user_def[i] = static_cast<uint8_t>(0xa0 + i);
  o.sub_channel_index = 5;
  o.child_relid = 0x7ff;
  o.monitorid = 0x31;
  o.is_dedicated_interrupt = true;
  o.connection_id = 0x12345678;
  const Encoded e = encode(o);

  EXPECT_EQ(e.size, 196u);
  EXPECT_EQ(e.span().size(), 196u);
  EXPECT_EQ(rd32(e, 0), 1u);  // CHANNELMSG_OFFERCHANNEL
  EXPECT_EQ(rd32(e, 4), 0u);
  EXPECT_EQ(std::memcmp(&e.bytes[8], o.if_type.data(), 16), 0);
  EXPECT_EQ(e.bytes[8], 0x39);  // heartbeat's Data1 0x57164f39, little-endian
  EXPECT_EQ(std::memcmp(&e.bytes[24], o.if_instance.data(), 16), 0);
  EXPECT_EQ(e.bytes[24], 0x44);
  for (size_t i = 40; i < 56; ++i) EXPECT_EQ(e.bytes[i], 0) << "reserved1/2 at " << i;
  EXPECT_EQ(rd16(e, 56), 0x0401u);
  EXPECT_EQ(rd16(e, 58), 0x0203u);
  for (size_t i = 0; i < 120; ++i) EXPECT_EQ(e.bytes[60 + i], static_cast<uint8_t>(0xa0 + i));
  EXPECT_EQ(rd16(e, 180), 5u);
  EXPECT_EQ(rd16(e, 182), 0u);
  EXPECT_EQ(rd32(e, 184), 0x7ffu);
  EXPECT_EQ(e.bytes[188], 0x31);
  EXPECT_EQ(e.bytes[189], 0) << "monitor_allocated is always 0";
  EXPECT_EQ(rd16(e, 190), 1u);
  EXPECT_EQ(rd32(e, 192), 0x12345678u);
  for (size_t i = 196; i < 240; ++i) EXPECT_EQ(e.bytes[i], 0);
}

TEST(ChannelMessagesEncode, OfferChannelWithoutDedicatedInterrupt) {
  OfferChannel o;
  o.is_dedicated_interrupt = false;
  EXPECT_EQ(rd16(encode(o), 190), 0u);
}

TEST(ChannelMessagesEncode, SmallHostMessages) {
  // Sizes are Linux's min_payload_len (channel_message_table) where it has
  // one, else the header.
  Encoded e = encode(RescindChannelOffer{42});
  EXPECT_EQ(e.size, 12u);
  EXPECT_EQ(rd32(e, 0), 2u);
  EXPECT_EQ(rd32(e, 8), 42u);

  e = encode(AllOffersDelivered{});
  EXPECT_EQ(e.size, 8u);
  EXPECT_EQ(rd32(e, 0), 4u);

  e = encode(OpenChannelResult{7, 8, 0xc0000001});
  EXPECT_EQ(e.size, 20u);
  EXPECT_EQ(rd32(e, 0), 6u);
  EXPECT_EQ(rd32(e, 8), 7u);
  EXPECT_EQ(rd32(e, 12), 8u);
  EXPECT_EQ(rd32(e, 16), 0xc0000001u);

  e = encode(GpadlCreated{3, 0xe1e10, 0});
  EXPECT_EQ(e.size, 20u);
  EXPECT_EQ(rd32(e, 0), 10u);
  EXPECT_EQ(rd32(e, 8), 3u);
  EXPECT_EQ(rd32(e, 12), 0xe1e10u);
  EXPECT_EQ(rd32(e, 16), 0u);

  e = encode(GpadlTorndown{0xe1e11});
  EXPECT_EQ(e.size, 12u);
  EXPECT_EQ(rd32(e, 0), 12u);
  EXPECT_EQ(rd32(e, 8), 0xe1e11u);

  e = encode(VersionResponse{true, 0, 1});
  EXPECT_EQ(e.size, 16u);
  EXPECT_EQ(rd32(e, 0), 15u);
  EXPECT_EQ(e.bytes[8], 1);
  EXPECT_EQ(e.bytes[9], 0);
  EXPECT_EQ(rd16(e, 10), 0u);
  EXPECT_EQ(rd32(e, 12), 1u);
  EXPECT_EQ(encode(VersionResponse{false, 0, 0}).bytes[8], 0);

  e = encode(UnloadResponse{});
  EXPECT_EQ(e.size, 8u);
  EXPECT_EQ(rd32(e, 0), 17u);

  e = encode(ModifyChannelResponse{5, 1});
  EXPECT_EQ(e.size, 16u);
  EXPECT_EQ(rd32(e, 0), 24u);
  EXPECT_EQ(rd32(e, 8), 5u);
  EXPECT_EQ(rd32(e, 12), 1u);
}

// No message type travels both ways, so there is no parse/encode round trip
// of one message; what does hold is that the guest parser recognises every
// encoded host message as a host message and refuses it.
TEST(ChannelMessagesEncode, EncodedHostMessagesAreRefusedAsHostToGuest) {
  const Encoded all[] = {
      encode(OfferChannel{}),        encode(RescindChannelOffer{1}), encode(AllOffersDelivered{}),
      encode(OpenChannelResult{}),   encode(GpadlCreated{}),         encode(GpadlTorndown{}),
      encode(VersionResponse{}),     encode(UnloadResponse{}),       encode(ModifyChannelResponse{}),
  };
  for (const Encoded& e : all) {
    const Parsed p = parse_guest_message(e.bytes.data(), e.size);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(*p.error, ParseError::HostToGuestType) << rd32(e, 0);
    EXPECT_EQ(p.msgtype, rd32(e, 0));
  }
}

}  // namespace
}  // namespace enlight::vmbus
