#include "protocol/channel_messages.hpp"

#include <enlight/wire.hpp>

#include <algorithm>

namespace enlight::vmbus {

namespace {

using enlight::wire::load16;
using enlight::wire::load32;
using enlight::wire::load64;
using enlight::wire::store16;
using enlight::wire::store32;

enum class Direction : uint8_t { Unknown, GuestToHost, HostToGuest };

Direction direction(uint32_t type) {
  switch (type) {
    case CHANNELMSG_REQUESTOFFERS:
    case CHANNELMSG_OPENCHANNEL:
    case CHANNELMSG_CLOSECHANNEL:
    case CHANNELMSG_GPADL_HEADER:
    case CHANNELMSG_GPADL_BODY:
    case CHANNELMSG_GPADL_TEARDOWN:
    case CHANNELMSG_RELID_RELEASED:
    case CHANNELMSG_INITIATE_CONTACT:
    case CHANNELMSG_UNLOAD:
    case CHANNELMSG_TL_CONNECT_REQUEST:
    case CHANNELMSG_MODIFYCHANNEL:
      return Direction::GuestToHost;
    case CHANNELMSG_OFFERCHANNEL:
    case CHANNELMSG_RESCIND_CHANNELOFFER:
    case CHANNELMSG_ALLOFFERS_DELIVERED:
    case CHANNELMSG_OPENCHANNEL_RESULT:
    case CHANNELMSG_GPADL_CREATED:
    case CHANNELMSG_GPADL_TORNDOWN:
    case CHANNELMSG_VERSION_RESPONSE:
    case CHANNELMSG_UNLOAD_RESPONSE:
    case CHANNELMSG_TL_CONNECT_RESULT:
    case CHANNELMSG_MODIFYCHANNEL_RESPONSE:
      return Direction::HostToGuest;
    default:
      return Direction::Unknown;
  }
}

// The fixed part of each guest-to-host message: what Linux posts for the
// fixed-size ones, and for the GPADL header the 20-byte struct plus the
// first gpa_range header, without which no range exists to describe.
size_t min_size(uint32_t type) {
  switch (type) {
    case CHANNELMSG_REQUESTOFFERS: return VMBUS_REQUESTOFFERS_SIZE;
    case CHANNELMSG_OPENCHANNEL: return VMBUS_OPENCHANNEL_SIZE;
    case CHANNELMSG_CLOSECHANNEL: return VMBUS_CLOSECHANNEL_SIZE;
    case CHANNELMSG_GPADL_HEADER: return VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET;
    case CHANNELMSG_GPADL_BODY: return VMBUS_GPADL_BODY_SIZE;
    case CHANNELMSG_GPADL_TEARDOWN: return VMBUS_GPADL_TEARDOWN_SIZE;
    case CHANNELMSG_RELID_RELEASED: return VMBUS_RELID_RELEASED_SIZE;
    case CHANNELMSG_INITIATE_CONTACT: return VMBUS_INITIATE_CONTACT_SIZE;
    case CHANNELMSG_UNLOAD: return VMBUS_UNLOAD_SIZE;
    case CHANNELMSG_TL_CONNECT_REQUEST: return VMBUS_TL_CONNECT_REQUEST_SIZE;
    case CHANNELMSG_MODIFYCHANNEL: return VMBUS_MODIFYCHANNEL_SIZE;
    default: return VMBUS_CHANNEL_MESSAGE_HEADER_SIZE;
  }
}

Parsed fail(uint32_t type, ParseError e) {
  Parsed r;
  r.msgtype = type;
  r.error = e;
  return r;
}

Parsed done(uint32_t type, GuestMessage m) {
  Parsed r;
  r.msgtype = type;
  r.message = std::move(m);
  return r;
}

Parsed parse_gpadl_header(const uint8_t* p, size_t size) {
  const uint32_t type = CHANNELMSG_GPADL_HEADER;
  // Linux posts exactly 28 + 8 * n bytes; a partial PFN is a guest bug.
  const size_t tail = size - VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET;
  if (tail % VMBUS_GPADL_PFN_SIZE != 0) return fail(type, ParseError::BadLength);

  GpadlHeader h;
  h.child_relid = load32(p + VMBUS_GPADL_HEADER_CHILD_RELID_OFFSET);
  h.gpadl = load32(p + VMBUS_GPADL_HEADER_GPADL_OFFSET);
  h.range_buflen = load16(p + VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET);
  h.rangecount = load16(p + VMBUS_GPADL_HEADER_RANGECOUNT_OFFSET);
  h.byte_count = load32(p + VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET);
  h.byte_offset = load32(p + VMBUS_GPADL_HEADER_BYTE_OFFSET_OFFSET);

  // Structural consistency only; "rangecount must be 1" is GpadlTable's
  // policy. Every range is an 8-byte header plus whole PFNs, so the buffer
  // is a multiple of 8 and holds at least one header per range, and this
  // message cannot carry more of the range buffer than range_buflen
  // announces (the rest comes in GPADL_BODY messages).
  if (h.rangecount == 0) return fail(type, ParseError::BadField);
  if (h.range_buflen % VMBUS_GPADL_PFN_SIZE != 0) return fail(type, ParseError::BadField);
  if (uint32_t{h.range_buflen} < uint32_t{h.rangecount} * VMBUS_GPA_RANGE_HEADER_SIZE)
    return fail(type, ParseError::BadField);
  const size_t present = size - VMBUS_GPADL_HEADER_RANGE_OFFSET;
  if (present > h.range_buflen) return fail(type, ParseError::BadField);

  // size <= 240 bounds this to 26, the array's size.
  h.pfn_count = static_cast<uint32_t>(tail / VMBUS_GPADL_PFN_SIZE);
  // A header that leaves PFNs to GPADL_BODY messages must be full, as
  // Linux's create_gpadl_header makes it. A partly filled header announcing
  // more PFNs than it carries is refused here rather than left for the
  // table to wait on PFNs that no Linux guest would send that way.
  if (present < h.range_buflen && h.pfn_count != VMBUS_GPADL_HEADER_MAX_PFNS)
    return fail(type, ParseError::BadField);
  for (uint32_t i = 0; i < h.pfn_count; ++i)
    h.pfns[i] = load64(p + VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET + i * VMBUS_GPADL_PFN_SIZE);
  return done(type, h);
}

Parsed parse_gpadl_body(const uint8_t* p, size_t size) {
  const uint32_t type = CHANNELMSG_GPADL_BODY;
  const size_t tail = size - VMBUS_GPADL_BODY_PFN_OFFSET;
  if (tail % VMBUS_GPADL_PFN_SIZE != 0) return fail(type, ParseError::BadLength);

  GpadlBody b;
  b.msgnumber = load32(p + VMBUS_GPADL_BODY_MSGNUMBER_OFFSET);
  b.gpadl = load32(p + VMBUS_GPADL_BODY_GPADL_OFFSET);
  // size <= 240 bounds this to 28, the array's size.
  b.pfn_count = static_cast<uint32_t>(tail / VMBUS_GPADL_PFN_SIZE);
  for (uint32_t i = 0; i < b.pfn_count; ++i)
    b.pfns[i] = load64(p + VMBUS_GPADL_BODY_PFN_OFFSET + i * VMBUS_GPADL_PFN_SIZE);
  return done(type, b);
}

Guid load_guid(const uint8_t* p) {
  Guid g;
  std::copy_n(p, g.size(), g.begin());
  return g;
}

Encoded start(uint32_t type, uint32_t size) {
  Encoded e;
  store32(e.bytes.data() + VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET, type);
  e.size = size;
  return e;
}

}  // namespace

static_assert(VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET + VMBUS_GPADL_HEADER_MAX_PFNS * VMBUS_GPADL_PFN_SIZE <=
                  kMaxMessageSize &&
              VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET + (VMBUS_GPADL_HEADER_MAX_PFNS + 1) * VMBUS_GPADL_PFN_SIZE >
                  kMaxMessageSize,
              "26 PFNs are all a 240-byte GPADL header can carry");
static_assert(VMBUS_GPADL_BODY_PFN_OFFSET + VMBUS_GPADL_BODY_MAX_PFNS * VMBUS_GPADL_PFN_SIZE == kMaxMessageSize,
              "28 PFNs fill a 240-byte GPADL body");
static_assert(VMBUS_OPENCHANNEL_USERDATA_OFFSET + VMBUS_MAX_USER_DEFINED_BYTES == VMBUS_OPENCHANNEL_SIZE);
static_assert(VMBUS_OFFERCHANNEL_USER_DEF_OFFSET + VMBUS_MAX_USER_DEFINED_BYTES ==
              VMBUS_OFFERCHANNEL_SUB_CHANNEL_INDEX_OFFSET);

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::TooShort: return "too_short";
    case ParseError::TooLong: return "too_long";
    case ParseError::UnknownType: return "unknown_type";
    case ParseError::HostToGuestType: return "host_to_guest_type";
    case ParseError::BadLength: return "bad_length";
    case ParseError::BadField: return "bad_field";
  }
  return "invalid";
}

Parsed parse_guest_message(const uint8_t* payload, size_t size) {
  if (payload == nullptr || size < VMBUS_CHANNEL_MESSAGE_HEADER_SIZE) return fail(0, ParseError::TooShort);
  const uint8_t* p = payload;
  const uint32_t type = load32(p + VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET);
  // HvPostMessage already refuses more than 240 bytes; checked again so the
  // parser is safe on any buffer, and before the type so a fuzzer's oversize
  // input is reported as such.
  if (size > kMaxMessageSize) return fail(type, ParseError::TooLong);
  switch (direction(type)) {
    case Direction::Unknown: return fail(type, ParseError::UnknownType);
    case Direction::HostToGuest: return fail(type, ParseError::HostToGuestType);
    case Direction::GuestToHost: break;
  }
  if (size < min_size(type)) return fail(type, ParseError::TooShort);

  switch (type) {
    case CHANNELMSG_INITIATE_CONTACT: {
      InitiateContact m;
      m.version = load32(p + VMBUS_INITIATE_CONTACT_VMBUS_VERSION_REQUESTED_OFFSET);
      m.target_vcpu = load32(p + VMBUS_INITIATE_CONTACT_TARGET_VCPU_OFFSET);
      m.interrupt_page_or_sint = load64(p + VMBUS_INITIATE_CONTACT_INTERRUPT_PAGE_OFFSET);
      m.monitor_page1 = load64(p + VMBUS_INITIATE_CONTACT_MONITOR_PAGE1_OFFSET);
      m.monitor_page2 = load64(p + VMBUS_INITIATE_CONTACT_MONITOR_PAGE2_OFFSET);
      return done(type, m);
    }
    case CHANNELMSG_REQUESTOFFERS: return done(type, RequestOffers{});
    case CHANNELMSG_OPENCHANNEL: {
      OpenChannel m;
      m.child_relid = load32(p + VMBUS_OPENCHANNEL_CHILD_RELID_OFFSET);
      m.openid = load32(p + VMBUS_OPENCHANNEL_OPENID_OFFSET);
      m.ring_gpadl = load32(p + VMBUS_OPENCHANNEL_RINGBUFFER_GPADLHANDLE_OFFSET);
      m.target_vp = load32(p + VMBUS_OPENCHANNEL_TARGET_VP_OFFSET);
      m.downstream_page_offset = load32(p + VMBUS_OPENCHANNEL_DOWNSTREAM_RINGBUFFER_PAGEOFFSET_OFFSET);
      std::copy_n(p + VMBUS_OPENCHANNEL_USERDATA_OFFSET, m.user_data.size(), m.user_data.begin());
      return done(type, m);
    }
    case CHANNELMSG_CLOSECHANNEL:
      return done(type, CloseChannel{load32(p + VMBUS_CLOSECHANNEL_CHILD_RELID_OFFSET)});
    case CHANNELMSG_GPADL_HEADER: return parse_gpadl_header(p, size);
    case CHANNELMSG_GPADL_BODY: return parse_gpadl_body(p, size);
    case CHANNELMSG_GPADL_TEARDOWN:
      return done(type, GpadlTeardown{load32(p + VMBUS_GPADL_TEARDOWN_CHILD_RELID_OFFSET),
                                      load32(p + VMBUS_GPADL_TEARDOWN_GPADL_OFFSET)});
    case CHANNELMSG_RELID_RELEASED:
      return done(type, RelidReleased{load32(p + VMBUS_RELID_RELEASED_CHILD_RELID_OFFSET)});
    case CHANNELMSG_UNLOAD: return done(type, Unload{});
    case CHANNELMSG_MODIFYCHANNEL:
      return done(type, ModifyChannel{load32(p + VMBUS_MODIFYCHANNEL_CHILD_RELID_OFFSET),
                                      load32(p + VMBUS_MODIFYCHANNEL_TARGET_VP_OFFSET)});
    case CHANNELMSG_TL_CONNECT_REQUEST:
      return done(type, TlConnectRequest{load_guid(p + VMBUS_TL_CONNECT_REQUEST_GUEST_ENDPOINT_ID_OFFSET),
                                         load_guid(p + VMBUS_TL_CONNECT_REQUEST_HOST_SERVICE_ID_OFFSET)});
  }
  // direction() and this switch list the same guest-to-host types.
  return fail(type, ParseError::UnknownType);
}

Encoded encode(const OfferChannel& m) {
  Encoded e = start(CHANNELMSG_OFFERCHANNEL, VMBUS_OFFERCHANNEL_SIZE);
  uint8_t* p = e.bytes.data();
  std::copy(m.if_type.begin(), m.if_type.end(), p + VMBUS_OFFERCHANNEL_IF_TYPE_OFFSET);
  std::copy(m.if_instance.begin(), m.if_instance.end(), p + VMBUS_OFFERCHANNEL_IF_INSTANCE_OFFSET);
  store16(p + VMBUS_OFFERCHANNEL_CHN_FLAGS_OFFSET, m.chn_flags);
  store16(p + VMBUS_OFFERCHANNEL_MMIO_MEGABYTES_OFFSET, m.mmio_megabytes);
  std::copy(m.user_def.begin(), m.user_def.end(), p + VMBUS_OFFERCHANNEL_USER_DEF_OFFSET);
  store16(p + VMBUS_OFFERCHANNEL_SUB_CHANNEL_INDEX_OFFSET, m.sub_channel_index);
  store32(p + VMBUS_OFFERCHANNEL_CHILD_RELID_OFFSET, m.child_relid);
  p[VMBUS_OFFERCHANNEL_MONITORID_OFFSET] = m.monitorid;
  p[VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED_OFFSET] = 0;
  store16(p + VMBUS_OFFERCHANNEL_IS_DEDICATED_INTERRUPT_OFFSET,
          m.is_dedicated_interrupt ? static_cast<uint16_t>(VMBUS_OFFERCHANNEL_IS_DEDICATED_INTERRUPT) : 0);
  store32(p + VMBUS_OFFERCHANNEL_CONNECTION_ID_OFFSET, m.connection_id);
  return e;
}

Encoded encode(const RescindChannelOffer& m) {
  Encoded e = start(CHANNELMSG_RESCIND_CHANNELOFFER, VMBUS_RESCIND_CHANNELOFFER_SIZE);
  store32(e.bytes.data() + VMBUS_RESCIND_CHANNELOFFER_CHILD_RELID_OFFSET, m.child_relid);
  return e;
}

Encoded encode(const AllOffersDelivered&) {
  return start(CHANNELMSG_ALLOFFERS_DELIVERED, VMBUS_ALLOFFERS_DELIVERED_SIZE);
}

Encoded encode(const OpenChannelResult& m) {
  Encoded e = start(CHANNELMSG_OPENCHANNEL_RESULT, VMBUS_OPENCHANNEL_RESULT_SIZE);
  uint8_t* p = e.bytes.data();
  store32(p + VMBUS_OPENCHANNEL_RESULT_CHILD_RELID_OFFSET, m.child_relid);
  store32(p + VMBUS_OPENCHANNEL_RESULT_OPENID_OFFSET, m.openid);
  store32(p + VMBUS_OPENCHANNEL_RESULT_STATUS_OFFSET, m.status);
  return e;
}

Encoded encode(const GpadlCreated& m) {
  Encoded e = start(CHANNELMSG_GPADL_CREATED, VMBUS_GPADL_CREATED_SIZE);
  uint8_t* p = e.bytes.data();
  store32(p + VMBUS_GPADL_CREATED_CHILD_RELID_OFFSET, m.child_relid);
  store32(p + VMBUS_GPADL_CREATED_GPADL_OFFSET, m.gpadl);
  store32(p + VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET, m.creation_status);
  return e;
}

Encoded encode(const GpadlTorndown& m) {
  Encoded e = start(CHANNELMSG_GPADL_TORNDOWN, VMBUS_GPADL_TORNDOWN_SIZE);
  store32(e.bytes.data() + VMBUS_GPADL_TORNDOWN_GPADL_OFFSET, m.gpadl);
  return e;
}

Encoded encode(const VersionResponse& m) {
  Encoded e = start(CHANNELMSG_VERSION_RESPONSE, VMBUS_VERSION_RESPONSE_SIZE);
  uint8_t* p = e.bytes.data();
  p[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET] = m.version_supported ? 1 : 0;
  p[VMBUS_VERSION_RESPONSE_CONNECTION_STATE_OFFSET] = m.connection_state;
  store32(p + VMBUS_VERSION_RESPONSE_MSG_CONN_ID_OFFSET, m.msg_conn_id);
  return e;
}

Encoded encode(const UnloadResponse&) { return start(CHANNELMSG_UNLOAD_RESPONSE, VMBUS_UNLOAD_RESPONSE_SIZE); }

Encoded encode(const ModifyChannelResponse& m) {
  Encoded e = start(CHANNELMSG_MODIFYCHANNEL_RESPONSE, VMBUS_MODIFYCHANNEL_RESPONSE_SIZE);
  uint8_t* p = e.bytes.data();
  store32(p + VMBUS_MODIFYCHANNEL_RESPONSE_CHILD_RELID_OFFSET, m.child_relid);
  store32(p + VMBUS_MODIFYCHANNEL_RESPONSE_STATUS_OFFSET, m.status);
  return e;
}

}  // namespace enlight::vmbus
