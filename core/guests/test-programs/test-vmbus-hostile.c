/*
 * test-vmbus-hostile: a guest that breaks every VMBus rule it can, one at a
 * time, and checks that the host answers what the protocol defines and
 * keeps going (the host test checks the counters and a clean exit):
 *
 *   - channel messages before INITIATE_CONTACT: no answer;
 *   - malformed messages (short, unknown type, host-to-guest types, a SynIC
 *     type other than 1, GPADL headers whose sizes disagree): dropped, no
 *     answer, the bus still connected; over 240 bytes HvCallPostMessage
 *     itself refuses (INVALID_PARAMETER);
 *   - GPADLs: PFNs outside RAM (in the header, in a body, one that wraps
 *     when turned into an address), a duplicate handle, byte_count,
 *     byte_offset and rangecount Linux never sends, bodies that overrun or
 *     name no header: GPADL_CREATED with a failure status for every refused
 *     header (Linux waits for it with no time-out), silence for a body
 *     without a header; in-progress GPADLs announcing 8190 pages until the
 *     host's page budget refuses one; GPADLs until the table is full;
 *     headers posted without taking the replies until HvCallPostMessage says
 *     HV_STATUS_INSUFFICIENT_BUFFERS, after which every reply still comes;
 *   - OPENCHANNEL with a bad downstream offset, an unknown relid, an unknown,
 *     incomplete or too small GPADL, a VP the guest does not have, ring
 *     indices out of range, or an open channel: OPENCHANNEL_RESULT failure;
 *   - in an open channel: write_index out of range, unaligned, a packet whose
 *     len8 exceeds what was written, one too short for its descriptor: the
 *     host stops the channel (no more heartbeats); close and reopen and it
 *     works again. A packet too long for the device, one of the wrong type,
 *     an answer to nothing: dropped, the channel keeps working. A flood of
 *     HvSignalEvent calls; the ring GPADL torn down while open (QEMU answers
 *     GPADL_TORNDOWN and keeps the pages until the close);
 *   - UNLOAD with a channel open, a GPADL half sent and replies queued: the
 *     reply already in the slot, then UNLOAD_RESPONSE, then silence;
 *   - then a clean contact, offers, GPADL, open, negotiation and heartbeat;
 *   - last: INITIATE_CONTACT naming a VP that does not exist, its replies
 *     piling up undeliverable; a new INITIATE_CONTACT resets the bus and must
 *     be accepted.
 *
 * METRICs give the host test the numbers it compares with the counters:
 * malformed_posted, refused_posted, open_failures, ring_corruptions,
 * device_drops, queue_full_posts, gpadls_until_table_full,
 * gpadls_until_budget, reopen_negotiations.
 */
#include <enlight_guest/guest.h>
#include <enlight_guest/vmbus.h>

#define VMBUS_VECTOR 0xF3u  /* Linux's HYPERVISOR_CALLBACK_VECTOR */
#define RING_PAGES 4u       /* hv_util's ring: header + 3 data pages each way */
#define REPLY_WAIT (500u * VMBUS_MS)
#define QUIET_WAIT (20u * VMBUS_MS)
#define HEARTBEAT_WAIT (3000u * VMBUS_MS)
/* Longer than two heartbeat intervals of the host test (100 ms). */
#define STOPPED_WAIT (300u * VMBUS_MS)
/* A PFN whose address (PFN * 4096) wraps to 0 in 64 bits. */
#define WRAPPING_PFN_SHIFT 52u
/* x86-64 physical addresses have at most 52 bits: far outside any RAM. */
#define FAR_PFN (UINT64_C(1) << 40)
/* A relid, VP and connection no host gives this guest. */
#define UNKNOWN_RELID 999u
#define MISSING_VP 7u
#define FLOOD_SIGNALS 5000u
#define TABLE_ATTEMPTS 4096u
#define BUDGET_ATTEMPTS 1024u
#define QUEUE_ATTEMPTS 1000u
/* A packet the IC device cannot take (its buffer is 2088 bytes) but the
 * ring can. */
#define OVERSIZED_PACKET 4000u

static hv_info hv;
static uint8_t simp[4096] __attribute__((aligned(4096)));
static uint8_t siefp[4096] __attribute__((aligned(4096)));
static uint8_t ring_pages[2 * RING_PAGES][4096] __attribute__((aligned(4096)));
/* Pages for GPADLs that are never used as rings. */
static uint8_t spare_pages[32][4096] __attribute__((aligned(4096)));
static uint8_t big_packet[OVERSIZED_PACKET];
static const uint8_t heartbeat_guid[VMBUS_GUID_SIZE] = HV_HEART_BEAT_GUID_BYTES;
static const uint32_t heartbeat_versions[] = {IC_HB_VERSION, IC_HB_VERSION_1};

static uint32_t vp_index;
static uint32_t heartbeat_relid, heartbeat_connection;
static uint32_t next_handle = 0x10000u; /* guest-chosen; any value is a handle */
static uint32_t malformed_posted, refused_posted, open_failures, ring_corruptions, device_drops, reopen_negotiations;
static vmbus_channel chan;

static uint32_t new_handle(void) { return next_handle++; }

/* Posts a raw payload; the status is returned. */
static uint16_t post_bytes(uint32_t message_type, const void* bytes, uint32_t size) {
  return vmbus_post_raw(VMBUS_MESSAGE_CONNECTION_ID, message_type, bytes, size);
}

/* Nothing arrives within QUIET_WAIT; what did is taken. */
static bool silent(void) {
  vmbus_msg r;
  bool any = false;
  while (vmbus_wait(&r, QUIET_WAIT)) {
    guest_printf("test-vmbus-hostile: unexpected message type %u size %u\n", vmbus_msg_type(&r), r.size);
    any = true;
  }
  return !any;
}

static bool contact(uint32_t version, uint32_t target) {
  vmbus_msg m, r;
  vmbus_msg_initiate_contact(&m, version, target, 0, 0, 0);
  const uint16_t s = vmbus_post(&m);
  if (s != HV_STATUS_SUCCESS) {
    guest_printf("test-vmbus-hostile: INITIATE_CONTACT answered HV_STATUS 0x%x\n", s);
    return false;
  }
  if (target != vp_index) return true;
  return vmbus_wait_type(&r, CHANNELMSG_VERSION_RESPONSE, REPLY_WAIT, NULL) &&
         r.bytes[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET] == 1;
}

/* REQUESTOFFERS; true when ALLOFFERS_DELIVERED came (heartbeat ids kept). */
static bool request_offers(uint32_t* count) {
  vmbus_msg m, r;
  vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
  *count = 0;
  if (vmbus_post(&m) != HV_STATUS_SUCCESS) return false;
  while (vmbus_wait(&r, REPLY_WAIT)) {
    const uint32_t type = vmbus_msg_type(&r);
    if (type == CHANNELMSG_ALLOFFERS_DELIVERED) return true;
    if (type != CHANNELMSG_OFFERCHANNEL || r.size < VMBUS_OFFERCHANNEL_SIZE) continue;
    ++*count;
    if (memcmp(r.bytes + VMBUS_OFFERCHANNEL_IF_TYPE_OFFSET, heartbeat_guid, VMBUS_GUID_SIZE) == 0) {
      heartbeat_relid = vmbus_get32(r.bytes, VMBUS_OFFERCHANNEL_CHILD_RELID_OFFSET);
      heartbeat_connection = vmbus_get32(r.bytes, VMBUS_OFFERCHANNEL_CONNECTION_ID_OFFSET);
    }
  }
  return false;
}

/* The GPADL_CREATED for `handle`: its status, or UINT32_MAX without one. */
static uint32_t created_status(uint32_t relid, uint32_t handle) {
  vmbus_msg r;
  if (!vmbus_wait_type(&r, CHANNELMSG_GPADL_CREATED, REPLY_WAIT, NULL)) return UINT32_MAX;
  if (vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_GPADL_OFFSET) != handle ||
      vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_CHILD_RELID_OFFSET) != relid)
    return UINT32_MAX - 1;
  return vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET);
}

/* A header the table must refuse: answered with a failure for its relid and
 * handle. */
static void expect_refused_header(const char* name, vmbus_msg* m) {
  const uint32_t relid = vmbus_get32(m->bytes, VMBUS_GPADL_HEADER_CHILD_RELID_OFFSET);
  const uint32_t handle = vmbus_get32(m->bytes, VMBUS_GPADL_HEADER_GPADL_OFFSET);
  vmbus_post(m);
  ++refused_posted;
  const uint32_t s = created_status(relid, handle);
  if (!CHECK_TRUE(name, s != UINT32_MAX && s != UINT32_MAX - 1 && s != VMBUS_CHANNEL_STATUS_SUCCESS))
    guest_printf("test-vmbus-hostile: %s: GPADL_CREATED status 0x%x (0xffffffff: none)\n", name, s);
}

static uint32_t create_gpadl(uint32_t relid, const void* pages, uint32_t count) {
  uint64_t pfns[2 * RING_PAGES + 32];
  vmbus_pfns_of(pages, count, pfns);
  const uint32_t handle = new_handle();
  vmbus_gpadl_send(relid, handle, pfns, count);
  return created_status(relid, handle) == VMBUS_CHANNEL_STATUS_SUCCESS ? handle : 0;
}

/* OPENCHANNEL; the result's status (UINT32_MAX without one, or when it
 * does not echo relid and openid). */
static uint32_t open_channel(uint32_t relid, uint32_t gpadl, uint32_t target_vp, uint32_t downstream) {
  vmbus_msg m, r;
  const uint32_t openid = relid ^ 0x5A5Au;
  vmbus_msg_open_channel(&m, relid, openid, gpadl, target_vp, downstream);
  vmbus_post(&m);
  if (!vmbus_wait_type(&r, CHANNELMSG_OPENCHANNEL_RESULT, REPLY_WAIT, NULL)) return UINT32_MAX;
  if (vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_CHILD_RELID_OFFSET) != relid ||
      vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_OPENID_OFFSET) != openid)
    return UINT32_MAX;
  return vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_STATUS_OFFSET);
}

static void expect_open_refused(const char* name, uint32_t relid, uint32_t gpadl, uint32_t vp, uint32_t downstream) {
  const uint32_t s = open_channel(relid, gpadl, vp, downstream);
  ++open_failures;
  CHECK_TRUE(name, s != UINT32_MAX && s != VMBUS_CHANNEL_STATUS_SUCCESS);
}

static void close_channel(uint32_t relid) {
  vmbus_msg m;
  vmbus_msg_relid(&m, CHANNELMSG_CLOSECHANNEL, relid);
  vmbus_post(&m);
}

/* Serves the next IC request of the heartbeat channel. */
static bool serve(uint16_t want_type, uint64_t timeout) {
  vmbus_ic_event ev;
  const uint64_t start = vmbus_now();
  irq_enable();
  while (vmbus_now() - start < timeout) {
    vmbus_event_take(chan.relid);
    if (vmbus_ic_serve(&chan, heartbeat_versions, 2, &ev))
      return ev.icmsgtype == want_type && ev.answered && ev.signal_status == HV_STATUS_SUCCESS &&
             (want_type != ICMSGTYPE_NEGOTIATE || ev.negotiated);
    if (ev.ring != VMBUS_RING_EMPTY) return false;
    cpu_relax();
  }
  return false;
}

/* Fresh rings on the ring GPADL's pages, OPENCHANNEL, the negotiation and
 * one heartbeat: the channel works. */
static bool open_and_negotiate(uint32_t gpadl, const char* what) {
  char name[96];
  vmbus_channel_rings(&chan, ring_pages, RING_PAGES, RING_PAGES);
  guest_snprintf(name, sizeof name, "%s.open_success", what);
  if (!CHECK_EQ(name, VMBUS_CHANNEL_STATUS_SUCCESS, open_channel(chan.relid, gpadl, vp_index, RING_PAGES))) return false;
  guest_snprintf(name, sizeof name, "%s.negotiated", what);
  if (!CHECK_TRUE(name, serve(ICMSGTYPE_NEGOTIATE, HEARTBEAT_WAIT))) return false;
  ++reopen_negotiations;
  guest_snprintf(name, sizeof name, "%s.heartbeat_answered", what);
  return CHECK_TRUE(name, serve(ICMSGTYPE_HEARTBEAT, HEARTBEAT_WAIT));
}

/* No packet arrives in the inbound ring for STOPPED_WAIT. */
static bool channel_stopped(void) {
  const uint32_t w = vmbus_ring_field(&chan.in, VMBUS_RING_WRITE_INDEX_OFFSET);
  const uint64_t start = vmbus_now();
  while (vmbus_now() - start < STOPPED_WAIT) cpu_relax();
  return w == vmbus_ring_field(&chan.in, VMBUS_RING_WRITE_INDEX_OFFSET);
}

/* ------------------------------------------------------------------------ */

static void before_contact(void) {
  vmbus_msg m;
  vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
  CHECK_EQ("before_contact.request_offers.post", HV_STATUS_SUCCESS, vmbus_post(&m));
  CHECK_TRUE("before_contact.request_offers.no_reply", silent());
  uint64_t pfn;
  vmbus_pfns_of(spare_pages, 1, &pfn);
  vmbus_msg_gpadl_header(&m, 1, new_handle(), &pfn, 1);
  vmbus_post(&m);
  CHECK_TRUE("before_contact.gpadl_header.no_reply", silent());
  vmbus_msg_open_channel(&m, 1, 1, 0x1234, vp_index, RING_PAGES);
  vmbus_post(&m);
  CHECK_TRUE("before_contact.open_channel.no_reply", silent());
  vmbus_msg_start(&m, CHANNELMSG_UNLOAD, VMBUS_UNLOAD_SIZE);
  vmbus_post(&m);
  CHECK_TRUE("before_contact.unload.no_reply", silent());
  refused_posted += 4;
}

static void malformed(void) {
  vmbus_msg m;
  uint32_t posted = 0;
  /* Shorter than the channel message header. */
  static const uint32_t tiny[] = {0, 4, VMBUS_CHANNEL_MESSAGE_HEADER_SIZE - 1};
  for (uint32_t i = 0; i < sizeof tiny / sizeof tiny[0]; ++i) {
    vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
    posted += post_bytes(VMBUS_MESSAGE_TYPE, m.bytes, tiny[i]) == HV_STATUS_SUCCESS;
  }
  /* Each guest-to-host type one byte short of its fixed part. */
  static const uint32_t fixed[][2] = {
      {CHANNELMSG_INITIATE_CONTACT, VMBUS_INITIATE_CONTACT_SIZE}, {CHANNELMSG_OPENCHANNEL, VMBUS_OPENCHANNEL_SIZE},
      {CHANNELMSG_CLOSECHANNEL, VMBUS_CLOSECHANNEL_SIZE},         {CHANNELMSG_GPADL_HEADER, VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET},
      {CHANNELMSG_GPADL_BODY, VMBUS_GPADL_BODY_SIZE},             {CHANNELMSG_GPADL_TEARDOWN, VMBUS_GPADL_TEARDOWN_SIZE},
      {CHANNELMSG_RELID_RELEASED, VMBUS_RELID_RELEASED_SIZE},     {CHANNELMSG_MODIFYCHANNEL, VMBUS_MODIFYCHANNEL_SIZE},
      {CHANNELMSG_TL_CONNECT_REQUEST, VMBUS_TL_CONNECT_REQUEST_SIZE}};
  for (uint32_t i = 0; i < sizeof fixed / sizeof fixed[0]; ++i) {
    vmbus_msg_start(&m, fixed[i][0], fixed[i][1] - 1);
    posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  }
  /* Types nobody defines, and every host-to-guest type. */
  static const uint32_t bad_types[] = {
      CHANNELMSG_INVALID,           18u, 19u, 20u, CHANNELMSG_COUNT, 0x7FFFFFFFu, 0xFFFFFFFFu,
      CHANNELMSG_OFFERCHANNEL,      CHANNELMSG_RESCIND_CHANNELOFFER, CHANNELMSG_ALLOFFERS_DELIVERED,
      CHANNELMSG_OPENCHANNEL_RESULT, CHANNELMSG_GPADL_CREATED, CHANNELMSG_GPADL_TORNDOWN,
      CHANNELMSG_VERSION_RESPONSE,  CHANNELMSG_UNLOAD_RESPONSE, CHANNELMSG_TL_CONNECT_RESULT,
      CHANNELMSG_MODIFYCHANNEL_RESPONSE};
  for (uint32_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; ++i) {
    vmbus_msg_start(&m, bad_types[i], HV_MESSAGE_PAYLOAD_BYTE_COUNT);
    posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  }
  /* A SynIC message type other than VMBus's. */
  vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
  posted += post_bytes(VMBUS_MESSAGE_TYPE + 1, m.bytes, m.size) == HV_STATUS_SUCCESS;
  posted += post_bytes(0x7FFFFFFFu, m.bytes, m.size) == HV_STATUS_SUCCESS;
  /* GPADL headers that contradict themselves. */
  uint64_t pfns[VMBUS_GPADL_HEADER_MAX_PFNS];
  vmbus_pfns_of(spare_pages, VMBUS_GPADL_HEADER_MAX_PFNS, pfns);
  vmbus_msg_gpadl_header(&m, 1, new_handle(), pfns, 2);
  vmbus_put16(m.bytes, VMBUS_GPADL_HEADER_RANGECOUNT_OFFSET, 0);
  posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  vmbus_msg_gpadl_header(&m, 1, new_handle(), pfns, 2);
  vmbus_put16(m.bytes, VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET, 3 * VMBUS_GPADL_PFN_SIZE + 1); /* not whole PFNs */
  posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  vmbus_msg_gpadl_header(&m, 1, new_handle(), pfns, 2);
  vmbus_put16(m.bytes, VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET, VMBUS_GPA_RANGE_HEADER_SIZE); /* fewer than it carries */
  posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  vmbus_msg_gpadl_header(&m, 1, new_handle(), pfns, 2);
  vmbus_put16(m.bytes, VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET, 0xFFF8u); /* more, but the header is not full */
  posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  vmbus_msg_gpadl_header(&m, 1, new_handle(), pfns, 2);
  m.size -= 4; /* half a PFN */
  posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  vmbus_msg_gpadl_body(&m, new_handle(), pfns, 2);
  m.size -= 4;
  posted += vmbus_post(&m) == HV_STATUS_SUCCESS;
  const uint32_t expected = 3 + 9 + 17 + 2 + 6;
  CHECK_EQ("malformed.posts_accepted", expected, posted);
  malformed_posted += posted;
  CHECK_TRUE("malformed.no_reply", silent());

  /* Over 240 bytes: HvCallPostMessage itself refuses. */
  vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
  CHECK_EQ("malformed.payload_241.invalid_parameter", HV_STATUS_INVALID_PARAMETER,
           post_bytes(VMBUS_MESSAGE_TYPE, m.bytes, HV_MESSAGE_PAYLOAD_BYTE_COUNT + 1));
  CHECK_EQ("malformed.payload_4g.invalid_parameter", HV_STATUS_INVALID_PARAMETER,
           post_bytes(VMBUS_MESSAGE_TYPE, m.bytes, UINT32_MAX));
  CHECK_EQ("malformed.synic_type_0.invalid_parameter", HV_STATUS_INVALID_PARAMETER, post_bytes(0, m.bytes, m.size));
  /* Unsupported but well formed (4.1 and hv_sock): no answer. */
  vmbus_msg_start(&m, CHANNELMSG_MODIFYCHANNEL, VMBUS_MODIFYCHANNEL_SIZE);
  vmbus_post(&m);
  vmbus_msg_start(&m, CHANNELMSG_TL_CONNECT_REQUEST, VMBUS_TL_CONNECT_REQUEST_SIZE);
  vmbus_post(&m);
  refused_posted += 2;
  CHECK_TRUE("unsupported.no_reply", silent());
  /* The short INITIATE_CONTACT did not reset anything: still connected. */
  uint32_t count = 0;
  CHECK_TRUE("malformed.still_connected", request_offers(&count));
}

static void gpadl_rules(void) {
  vmbus_msg m;
  uint64_t pfns[40];
  const uint32_t relid = heartbeat_relid;
  vmbus_pfns_of(spare_pages, 30, pfns);

  uint64_t bad[2] = {pfns[0], FAR_PFN};
  vmbus_msg_gpadl_header(&m, relid, new_handle(), bad, 2);
  expect_refused_header("gpadl.pfn_beyond_ram.refused", &m);
  bad[1] = (UINT64_C(1) << WRAPPING_PFN_SHIFT) + pfns[1];
  vmbus_msg_gpadl_header(&m, relid, new_handle(), bad, 2);
  expect_refused_header("gpadl.pfn_wrapping_to_ram.refused", &m);
  bad[1] = UINT64_MAX;
  vmbus_msg_gpadl_header(&m, relid, new_handle(), bad, 2);
  expect_refused_header("gpadl.pfn_all_ones.refused", &m);

  /* A bad PFN in the body: the GPADL is refused when the body comes. */
  uint64_t long_list[30];
  memcpy(long_list, pfns, sizeof long_list);
  long_list[28] = FAR_PFN;
  uint32_t handle = new_handle();
  vmbus_gpadl_send(relid, handle, long_list, 30);
  ++refused_posted;
  const uint32_t body_status = created_status(relid, handle);
  CHECK_TRUE("gpadl.body_pfn_beyond_ram.refused", body_status != UINT32_MAX && body_status != VMBUS_CHANNEL_STATUS_SUCCESS);

  /* Duplicate handles: the second header is refused, the first GPADL kept. */
  handle = new_handle();
  vmbus_msg_gpadl_header(&m, relid, handle, pfns, 2);
  vmbus_post(&m);
  CHECK_EQ("gpadl.first_of_duplicate.created", VMBUS_CHANNEL_STATUS_SUCCESS, created_status(relid, handle));
  vmbus_msg_gpadl_header(&m, relid, handle, pfns + 4, 3);
  expect_refused_header("gpadl.duplicate_handle.refused", &m);
  /* Overlapping pages under another handle: allowed (a GPADL is only a
   * description), answered. */
  const uint32_t overlap = new_handle();
  vmbus_msg_gpadl_header(&m, relid, overlap, pfns, 2);
  vmbus_post(&m);
  CHECK_NE("gpadl.overlapping.answered", UINT32_MAX, created_status(relid, overlap));

  /* Shapes Linux never sends. */
  vmbus_msg_gpadl_header(&m, relid, new_handle(), pfns, 2);
  vmbus_put32(m.bytes, VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET, 0);
  expect_refused_header("gpadl.byte_count_0.refused", &m);
  vmbus_msg_gpadl_header(&m, relid, new_handle(), pfns, 2);
  vmbus_put32(m.bytes, VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET, 2 * HV_PAGE_SIZE + 1);
  expect_refused_header("gpadl.byte_count_over_pages.refused", &m);
  vmbus_msg_gpadl_header(&m, relid, new_handle(), pfns, 2);
  vmbus_put32(m.bytes, VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET, UINT32_MAX);
  expect_refused_header("gpadl.byte_count_all_ones.refused", &m);
  vmbus_msg_gpadl_header(&m, relid, new_handle(), pfns, 2);
  vmbus_put32(m.bytes, VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET, 1 * HV_PAGE_SIZE);
  expect_refused_header("gpadl.byte_count_under_pages.refused", &m);
  vmbus_msg_gpadl_header(&m, relid, new_handle(), pfns, 2);
  vmbus_put32(m.bytes, VMBUS_GPADL_HEADER_BYTE_OFFSET_OFFSET, VMBUS_PACKET_ALIGNMENT);
  expect_refused_header("gpadl.byte_offset.refused", &m);
  vmbus_msg_gpadl_header(&m, relid, new_handle(), pfns, 2);
  vmbus_put16(m.bytes, VMBUS_GPADL_HEADER_RANGECOUNT_OFFSET, 2); /* two ranges of... one PFN and none */
  expect_refused_header("gpadl.rangecount_2.refused", &m);

  /* Bodies: one without a header (silence), one that overruns (refused,
   * the GPADL in progress dropped, its next body then has no header). */
  vmbus_msg_gpadl_body(&m, 0xFFFFFFF0u, pfns, 4);
  vmbus_post(&m);
  ++refused_posted;
  CHECK_TRUE("gpadl.body_without_header.no_reply", silent());
  handle = new_handle();
  vmbus_msg_gpadl_header(&m, relid, handle, pfns, 30);
  vmbus_post(&m);
  CHECK_TRUE("gpadl.header_of_30.no_reply_yet", silent());
  vmbus_msg_gpadl_body(&m, handle, pfns, VMBUS_GPADL_BODY_MAX_PFNS);
  vmbus_post(&m);
  ++refused_posted;
  const uint32_t overrun = created_status(relid, handle);
  CHECK_TRUE("gpadl.body_overrun.refused", overrun != UINT32_MAX && overrun != VMBUS_CHANNEL_STATUS_SUCCESS);
  vmbus_msg_gpadl_body(&m, handle, pfns, 4);
  vmbus_post(&m);
  ++refused_posted;
  CHECK_TRUE("gpadl.body_after_refusal.no_reply", silent());
  /* A body after completion changes nothing; the host may say so. */
  handle = new_handle();
  vmbus_gpadl_send(relid, handle, pfns, 2);
  CHECK_EQ("gpadl.complete.created", VMBUS_CHANNEL_STATUS_SUCCESS, created_status(relid, handle));
  vmbus_msg_gpadl_body(&m, handle, pfns, 1);
  vmbus_post(&m);
  ++refused_posted;
  vmbus_drain(QUIET_WAIT);
  vmbus_msg_gpadl_teardown(&m, relid, handle);
  vmbus_post(&m);
  vmbus_msg r;
  CHECK_TRUE("gpadl.body_after_complete.gpadl_kept",
             vmbus_wait_type(&r, CHANNELMSG_GPADL_TORNDOWN, REPLY_WAIT, NULL) &&
                 vmbus_get32(r.bytes, VMBUS_GPADL_TORNDOWN_GPADL_OFFSET) == handle);
  /* Teardown of a handle that does not exist: nothing to answer. */
  vmbus_msg_gpadl_teardown(&m, relid, 0xFFFFFFF1u);
  vmbus_post(&m);
  ++refused_posted;
  CHECK_TRUE("gpadl.teardown_unknown.no_reply", silent());
}

/* In-progress GPADLs announcing the most pages a header can: the host's
 * page budget must refuse one long before BUDGET_ATTEMPTS. */
static void gpadl_budget(void) {
  vmbus_msg m, r;
  uint64_t pfns[VMBUS_GPADL_HEADER_MAX_PFNS];
  vmbus_pfns_of(spare_pages, VMBUS_GPADL_HEADER_MAX_PFNS, pfns);
  uint32_t accepted = 0;
  bool refused = false;
  for (uint32_t i = 0; i < BUDGET_ATTEMPTS && !refused; ++i) {
    const uint32_t handle = new_handle();
    vmbus_msg_gpadl_header(&m, heartbeat_relid, handle, pfns, VMBUS_GPADL_MAX_PFNS);
    if (vmbus_post(&m) != HV_STATUS_SUCCESS) break;
    if (vmbus_wait(&r, QUIET_WAIT / 4)) {
      refused = vmbus_msg_type(&r) == CHANNELMSG_GPADL_CREATED &&
                vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_GPADL_OFFSET) == handle &&
                vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET) != VMBUS_CHANNEL_STATUS_SUCCESS;
      if (refused) ++refused_posted;
    } else {
      ++accepted;
    }
  }
  CHECK_TRUE("gpadl.page_budget.refused", refused);
  METRIC("gpadls_until_budget", accepted);
}

/* One-page GPADLs, each reply taken, until one is refused. */
static void gpadl_table_full(void) {
  vmbus_msg m;
  uint64_t pfn;
  vmbus_pfns_of(spare_pages, 1, &pfn);
  uint32_t created = 0;
  bool refused = false;
  for (uint32_t i = 0; i < TABLE_ATTEMPTS && !refused; ++i) {
    const uint32_t handle = new_handle();
    vmbus_msg_gpadl_header(&m, heartbeat_relid, handle, &pfn, 1);
    if (vmbus_post(&m) != HV_STATUS_SUCCESS) break;
    const uint32_t s = created_status(heartbeat_relid, handle);
    if (s == VMBUS_CHANNEL_STATUS_SUCCESS) ++created;
    else refused = true;
  }
  if (refused) ++refused_posted;
  CHECK_TRUE("gpadl.table_full.refused", refused);
  CHECK_GE("gpadl.table_full.some_created", 1, created);
  METRIC("gpadls_until_table_full", created);
}

/* Headers without taking the replies: the host must say
 * INSUFFICIENT_BUFFERS before it queues without bound, and every accepted
 * header must still be answered. */
static void queue_full(void) {
  vmbus_msg m;
  uint64_t pfn;
  vmbus_pfns_of(spare_pages, 1, &pfn);
  uint32_t accepted = 0, full = 0;
  irq_disable(); /* nothing is taken meanwhile (the handler only counts anyway) */
  for (uint32_t i = 0; i < QUEUE_ATTEMPTS && full == 0; ++i) {
    vmbus_msg_gpadl_header(&m, heartbeat_relid, new_handle(), &pfn, 1);
    const uint16_t s = vmbus_post(&m);
    if (s == HV_STATUS_SUCCESS) ++accepted;
    else if (s == HV_STATUS_INSUFFICIENT_BUFFERS) ++full;
  }
  irq_enable();
  CHECK_EQ("queue.insufficient_buffers", 1, full);
  CHECK_TRUE("queue.bounded", accepted < QUEUE_ATTEMPTS);
  METRIC("queue_full_posts", full);
  CHECK_EQ("queue.every_accepted_answered", accepted, vmbus_drain(QUIET_WAIT));
}

static void open_rules(uint32_t ring) {
  const uint32_t relid = heartbeat_relid;
  expect_open_refused("open.downstream_0.refused", relid, ring, vp_index, 0);
  expect_open_refused("open.downstream_1.refused", relid, ring, vp_index, 1);
  expect_open_refused("open.downstream_last_page.refused", relid, ring, vp_index, 2 * RING_PAGES - 1);
  expect_open_refused("open.downstream_past_end.refused", relid, ring, vp_index, 2 * RING_PAGES);
  expect_open_refused("open.downstream_all_ones.refused", relid, ring, vp_index, UINT32_MAX);
  expect_open_refused("open.relid_0.refused", 0, ring, vp_index, RING_PAGES);
  expect_open_refused("open.relid_unknown.refused", UNKNOWN_RELID, ring, vp_index, RING_PAGES);
  expect_open_refused("open.relid_beyond_flags.refused", HV_EVENT_FLAGS_COUNT, ring, vp_index, RING_PAGES);
  expect_open_refused("open.relid_all_ones.refused", UINT32_MAX, ring, vp_index, RING_PAGES);
  expect_open_refused("open.gpadl_unknown.refused", relid, 0xFFFFFFF2u, vp_index, RING_PAGES);
  expect_open_refused("open.vp_missing.refused", relid, ring, MISSING_VP, RING_PAGES);
  /* A GPADL still waiting for its body. */
  vmbus_msg m;
  uint64_t pfns[30];
  vmbus_pfns_of(spare_pages, 30, pfns);
  const uint32_t partial = new_handle();
  vmbus_msg_gpadl_header(&m, relid, partial, pfns, 30);
  vmbus_post(&m);
  expect_open_refused("open.gpadl_in_progress.refused", relid, partial, vp_index, 2);
  /* Too small for two rings. */
  const uint32_t small = create_gpadl(relid, spare_pages, 3);
  CHECK_NE("open.small_gpadl.created", 0, small);
  expect_open_refused("open.gpadl_too_small.refused", relid, small, vp_index, 2);
  /* Ring indices the host cannot take over (QEMU ringbufs_init refuses). */
  vmbus_channel_rings(&chan, ring_pages, RING_PAGES, RING_PAGES);
  vmbus_ring_set_field(&chan.in, VMBUS_RING_WRITE_INDEX_OFFSET, UINT32_MAX - 7);
  expect_open_refused("open.in_write_index_out_of_range.refused", relid, ring, vp_index, RING_PAGES);
  ++ring_corruptions;
  vmbus_channel_rings(&chan, ring_pages, RING_PAGES, RING_PAGES);
  vmbus_ring_set_field(&chan.out, VMBUS_RING_READ_INDEX_OFFSET, 4);
  expect_open_refused("open.out_read_index_unaligned.refused", relid, ring, vp_index, RING_PAGES);
  ++ring_corruptions;
  vmbus_channel_rings(&chan, ring_pages, RING_PAGES, RING_PAGES);
  vmbus_ring_set_field(&chan.in, VMBUS_RING_READ_INDEX_OFFSET, (RING_PAGES - 1) * HV_PAGE_SIZE);
  expect_open_refused("open.in_read_index_at_size.refused", relid, ring, vp_index, RING_PAGES);
  ++ring_corruptions;
}

/* Corrupts the open channel with `how`, signals, checks the channel
 * stopped, then closes and reopens it. */
static void corrupt_and_recover(uint32_t ring, const char* what, int how) {
  char name[96];
  vmbus_ring* out = &chan.out;
  const uint32_t w = vmbus_ring_field(out, VMBUS_RING_WRITE_INDEX_OFFSET);
  uint8_t desc[VMBUS_PACKET_DESCRIPTOR_SIZE];
  memset(desc, 0, sizeof desc);
  vmbus_put16(desc, VMBUS_PACKET_TYPE_OFFSET, VM_PKT_DATA_INBAND);
  vmbus_put16(desc, VMBUS_PACKET_OFFSET8_OFFSET, VMBUS_PACKET_DESCRIPTOR_SIZE / VMBUS_PACKET_ALIGNMENT);
  switch (how) {
    case 0: vmbus_ring_set_field(out, VMBUS_RING_WRITE_INDEX_OFFSET, out->size + VMBUS_PACKET_ALIGNMENT); break;
    case 1: vmbus_ring_set_field(out, VMBUS_RING_WRITE_INDEX_OFFSET, w + VMBUS_PACKET_ALIGNMENT / 2); break;
    case 2: /* len8 says 512 KiB; 24 bytes were written */
      vmbus_put16(desc, VMBUS_PACKET_LEN8_OFFSET, 0xFFFFu);
      break;
    case 3: /* len8 shorter than the descriptor */
      vmbus_put16(desc, VMBUS_PACKET_LEN8_OFFSET, 1);
      break;
    default: /* data offset past the packet's end */
      vmbus_put16(desc, VMBUS_PACKET_LEN8_OFFSET, 3);
      vmbus_put16(desc, VMBUS_PACKET_OFFSET8_OFFSET, 4);
      break;
  }
  if (how >= 2) {
    for (uint32_t i = 0; i < sizeof desc; ++i) out->data[(w + i) % out->size] = desc[i];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    vmbus_ring_set_field(out, VMBUS_RING_WRITE_INDEX_OFFSET, (w + 3 * VMBUS_PACKET_ALIGNMENT) % out->size);
  }
  guest_snprintf(name, sizeof name, "%s.signal_success", what);
  CHECK_EQ(name, HV_STATUS_SUCCESS, vmbus_signal(chan.connection_id));
  ++ring_corruptions;
  guest_snprintf(name, sizeof name, "%s.channel_stopped", what);
  CHECK_TRUE(name, channel_stopped());
  close_channel(chan.relid);
  CHECK_TRUE("corrupt.close.no_reply", silent());
  open_and_negotiate(ring, what);
}

static void channel_abuse(uint32_t ring) {
  vmbus_msg m, r;
  chan.relid = heartbeat_relid;
  chan.connection_id = heartbeat_connection;
  if (!open_and_negotiate(ring, "channel.first_open")) return;
  expect_open_refused("open.already_open.refused", chan.relid, ring, vp_index, RING_PAGES);

  static const char* const names[] = {"corrupt.write_index_out_of_range", "corrupt.write_index_unaligned",
                                      "corrupt.len8_beyond_data", "corrupt.len8_below_descriptor",
                                      "corrupt.offset8_beyond_len8"};
  for (int how = 0; how < 5; ++how) corrupt_and_recover(ring, names[how], how);

  /* Well framed but nothing the device asked for: dropped, the channel
   * keeps working. */
  memset(big_packet, 0xA5, sizeof big_packet);
  CHECK_EQ("device.oversized.written", VMBUS_RING_OK,
           vmbus_send(&chan, VM_PKT_DATA_INBAND, 0, 1, big_packet, sizeof big_packet, NULL, NULL));
  CHECK_EQ("device.completion_packet.written", VMBUS_RING_OK,
           vmbus_send(&chan, VM_PKT_COMP, 0, 2, big_packet, 64, NULL, NULL));
  CHECK_EQ("device.answer_to_nothing.written", VMBUS_RING_OK,
           vmbus_send(&chan, VM_PKT_DATA_INBAND, 0, 0xFFFFFFFFu, big_packet, 64, NULL, NULL));
  vmbus_signal(chan.connection_id);
  device_drops += 3;
  CHECK_TRUE("device.drops.host_consumed",
             vmbus_ring_field(&chan.out, VMBUS_RING_READ_INDEX_OFFSET) ==
                 vmbus_ring_field(&chan.out, VMBUS_RING_WRITE_INDEX_OFFSET));
  CHECK_TRUE("device.drops.heartbeat_still_answered", serve(ICMSGTYPE_HEARTBEAT, HEARTBEAT_WAIT));

  /* Signals: a flood on the channel, then ones the host must refuse. */
  uint32_t ok = 0;
  for (uint32_t i = 0; i < FLOOD_SIGNALS; ++i) ok += vmbus_signal(chan.connection_id) == HV_STATUS_SUCCESS;
  CHECK_EQ("signal.flood.success", FLOOD_SIGNALS, ok);
  CHECK_EQ("signal.unknown_connection.invalid_connection_id", HV_STATUS_INVALID_CONNECTION_ID,
           vmbus_signal(chan.connection_id + UNKNOWN_RELID));
  CHECK_TRUE("signal.flood.heartbeat_still_answered", serve(ICMSGTYPE_HEARTBEAT, HEARTBEAT_WAIT));

  /* The ring GPADL torn down while the channel is open: QEMU
   * (hw/hyperv/vmbus.c handle_gpadl_teardown) answers GPADL_TORNDOWN at
   * once and keeps the pages mapped until the close; Linux waits for the
   * answer with no time-out (vmbus_teardown_gpadl). */
  vmbus_msg_gpadl_teardown(&m, chan.relid, ring);
  vmbus_post(&m);
  bool torndown = vmbus_wait_type(&r, CHANNELMSG_GPADL_TORNDOWN, REPLY_WAIT, NULL);
  CHECK_TRUE("teardown.open_ring.answered", torndown);
  CHECK_TRUE("teardown.open_ring.heartbeat_still_answered", serve(ICMSGTYPE_HEARTBEAT, HEARTBEAT_WAIT));
  close_channel(chan.relid);
  if (!torndown) {
    /* Tidy up for the steps below: once closed it can go. */
    vmbus_post(&m);
    vmbus_wait_type(&r, CHANNELMSG_GPADL_TORNDOWN, REPLY_WAIT, NULL);
  }
  vmbus_drain(QUIET_WAIT);
}

/* UNLOAD amid everything: a channel open, a GPADL half sent, replies
 * queued behind a full slot. */
static void unload_midway(void) {
  vmbus_msg m, r;
  const uint32_t ring = create_gpadl(chan.relid, ring_pages, 2 * RING_PAGES);
  if (!CHECK_NE("unload_midway.ring_created", 0, ring)) return;
  if (!open_and_negotiate(ring, "unload_midway.open")) return;
  uint64_t pfns[30];
  vmbus_pfns_of(spare_pages, 30, pfns);
  const uint32_t partial = new_handle();
  vmbus_msg_gpadl_header(&m, chan.relid, partial, pfns, 30);
  vmbus_post(&m);
  irq_disable();
  const uint32_t first = new_handle();
  vmbus_msg_gpadl_header(&m, chan.relid, first, pfns, 1);
  vmbus_post(&m);
  for (uint32_t i = 0; i < 5; ++i) {
    vmbus_msg_gpadl_header(&m, chan.relid, new_handle(), pfns, 1);
    vmbus_post(&m);
  }
  vmbus_msg_start(&m, CHANNELMSG_UNLOAD, VMBUS_UNLOAD_SIZE);
  CHECK_EQ("unload_midway.post_success", HV_STATUS_SUCCESS, vmbus_post(&m));
  irq_enable();
  /* What was in the slot stays; the queue behind it is dropped. */
  bool got = vmbus_wait(&r, REPLY_WAIT);
  CHECK_TRUE("unload_midway.slot_message_kept",
             got && vmbus_msg_type(&r) == CHANNELMSG_GPADL_CREATED &&
                 vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_GPADL_OFFSET) == first);
  got = vmbus_wait(&r, REPLY_WAIT);
  CHECK_TRUE("unload_midway.unload_response_next", got && vmbus_msg_type(&r) == CHANNELMSG_UNLOAD_RESPONSE);
  CHECK_TRUE("unload_midway.then_silence", silent());
  CHECK_TRUE("unload_midway.channel_closed", channel_stopped());
  vmbus_msg_gpadl_body(&m, partial, pfns + VMBUS_GPADL_HEADER_MAX_PFNS, 4);
  vmbus_post(&m);
  uint32_t count = 0;
  CHECK_TRUE("unload_midway.not_connected", !request_offers(&count) && count == 0);
  refused_posted += 2;
}

static void clean_run(void) {
  CHECK_TRUE("clean.contact", contact(VMBUS_VERSION_WIN10, vp_index));
  uint32_t count = 0;
  CHECK_TRUE("clean.offers", request_offers(&count));
  CHECK_GE("clean.offers.count", 1, count);
  const uint32_t ring = create_gpadl(chan.relid, ring_pages, 2 * RING_PAGES);
  if (!CHECK_NE("clean.gpadl_created", 0, ring)) return;
  if (!open_and_negotiate(ring, "clean")) return;
  vmbus_msg m, r;
  close_channel(chan.relid);
  CHECK_TRUE("clean.close.no_reply", silent());
  vmbus_msg_gpadl_teardown(&m, chan.relid, ring);
  vmbus_post(&m);
  CHECK_TRUE("clean.torndown", vmbus_wait_type(&r, CHANNELMSG_GPADL_TORNDOWN, REPLY_WAIT, NULL));
  vmbus_msg_start(&m, CHANNELMSG_UNLOAD, VMBUS_UNLOAD_SIZE);
  vmbus_post(&m);
  CHECK_TRUE("clean.unload_response", vmbus_wait_type(&r, CHANNELMSG_UNLOAD_RESPONSE, REPLY_WAIT, NULL));
}

/* INITIATE_CONTACT naming a VP this guest does not have: the replies have
 * nowhere to go and pile up. INITIATE_CONTACT resets the bus (QEMU
 * handle_initiate_contact, docs/vmbus.md), so a new one cannot overflow
 * anything and must still be taken. */
static void unreachable_target(void) {
  CHECK_TRUE("unreachable.contact_posted", contact(VMBUS_VERSION_WIN10, MISSING_VP));
  CHECK_TRUE("unreachable.no_reply_here", silent());
  vmbus_msg m;
  vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
  uint32_t posts = 0;
  while (posts < QUEUE_ATTEMPTS && vmbus_post(&m) == HV_STATUS_SUCCESS) ++posts;
  CHECK_TRUE("unreachable.queue_bounded", posts < QUEUE_ATTEMPTS);
  CHECK_TRUE("unreachable.new_contact_accepted", contact(VMBUS_VERSION_WIN10, vp_index));
  vmbus_msg r;
  vmbus_msg_start(&m, CHANNELMSG_UNLOAD, VMBUS_UNLOAD_SIZE);
  vmbus_post(&m);
  vmbus_wait_type(&r, CHANNELMSG_UNLOAD_RESPONSE, REPLY_WAIT, NULL);
}

int main(void) {
  if (!hv_detect(&hv) || !(hv.privileges_low & HV_ACCESS_SYNIC_REGS) || !(hv.privileges_high & HV_POST_MESSAGES) ||
      !(hv.privileges_high & HV_SIGNAL_EVENTS)) {
    CHECK_TRUE("hyperv.synic_messages_events", false);
    return (int)guest_checks_failed();
  }
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  if (!vmbus_guest_setup(&hv, simp, siefp, VMBUS_VECTOR, &vp_index)) return (int)guest_checks_failed();

  before_contact();
  if (!CHECK_TRUE("contact", contact(VMBUS_VERSION_WIN10, vp_index))) return (int)guest_checks_failed();
  uint32_t offers = 0;
  CHECK_TRUE("offers", request_offers(&offers));
  if (!CHECK_NE("offers.heartbeat", 0, heartbeat_relid)) return (int)guest_checks_failed();
  chan.relid = heartbeat_relid;
  chan.connection_id = heartbeat_connection;
  malformed();
  gpadl_rules();
  gpadl_budget();
  /* A new contact forgets every GPADL (the budget's with them). */
  CHECK_TRUE("recontact.after_budget", contact(VMBUS_VERSION_WIN10, vp_index));
  gpadl_table_full();
  CHECK_TRUE("recontact.after_table", contact(VMBUS_VERSION_WIN10, vp_index));
  queue_full();
  const uint32_t ring = create_gpadl(chan.relid, ring_pages, 2 * RING_PAGES);
  if (CHECK_NE("ring.created", 0, ring)) {
    open_rules(ring);
    channel_abuse(ring);
  }
  unload_midway();
  clean_run();
  unreachable_target();

  METRIC("malformed_posted", malformed_posted);
  METRIC("refused_posted", refused_posted);
  METRIC("open_failures", open_failures);
  METRIC("ring_corruptions", ring_corruptions);
  METRIC("device_drops", device_drops);
  METRIC("reopen_negotiations", reopen_negotiations);
  METRIC("sint2_interrupts", vmbus_sint_interrupts());
  hv_synic_disable();
  return (int)guest_checks_failed();
}
