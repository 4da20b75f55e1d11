/*
 * test-vmbus-net-hostile: a synthetic NIC guest that breaks the NVSP and
 * RNDIS rules one at a time on NIC 0 (two loopback NICs: NIC 1 only lends
 * a GPADL of another channel) and after each group checks that the host
 * did what its contract says (a FAIL completion, or no reply) and still
 * answers a good request on the same channel (an RNDIS KEEPALIVE, and a
 * frame round trip where frames are involved):
 *
 *   init      INIT with an unknown version, with min > max: FAIL, then 6.1.
 *   buffers   SEND_RECV_BUF with a GPADL nobody made and with NIC 1's;
 *             SEND_SEND_BUF with an unknown one: FAIL.
 *   nvsp      an empty packet, types 0, 9999, 0xFFFFFFFF, host-to-guest
 *             types, a packet type netvsc never sends: no reply.
 *   comp      completions for transaction ids the host never used, and one
 *             receive completed twice: ignored.
 *   section   index = section count (partly inside the buffer), far out,
 *             size past the section, size 0: FAIL, nothing sent.
 *   rndis     msg_len 0, below the header, past the section data, a frame
 *             past msg_len, a bad message behind a good one in a batch, a
 *             bad control message: FAIL.
 *   gpa       no page buffers, 33, one past its page, a PFN outside RAM, a
 *             range count larger than the descriptor holds: FAIL.
 *   oversize  1519 bytes in a section and 3000 by page buffers: completed,
 *             not looped back; 1518 (one VLAN tag) is.
 *   hold      receives never completed: the host runs out of sections and
 *             drops; completing them lets frames through again.
 *   oid       unknown OIDs: NOT_SUPPORTED.
 *   clean     close, tear down, reopen and a clean session end to end.
 *
 * METRICs give the host test what was sent per drop reason:
 * malformed_nvsp_sent, unknown_completions_sent, bad_section_sent,
 * malformed_rndis_sent, bad_gpa_sent, oversize_sent, filtered_sent,
 * receive_sections, held_frames_sent, held_frames_received.
 */
#include <enlight_guest/guest.h>
#include <enlight_guest/netvsc.h>
#include <enlight_guest/vmbus.h>

#define VMBUS_VECTOR 0xF3u
#define FIRST_GPADL_HANDLE 0xE1E10u
#define RING_PAGES 16u
/* A small receive buffer (a few sections) so running out is quick; a
 * send buffer of two 6144-byte sections and a partial third. */
#define RECV_PAGES 8u
#define SEND_PAGES 4u
/* Answers come within milliseconds; the margin is for a loaded machine
 * (waits end as soon as the answer is there). */
#define REPLY_WAIT (2000u * VMBUS_MS)
#define QUIET_WAIT (100u * VMBUS_MS)
#define MAX_OFFERS 16u
/* Frames past the section pool while receives are held. */
#define HOLD_EXTRA 4u
/* Far outside any guest RAM (x86-64 physical addresses have 52 bits). */
#define FAR_PFN (UINT64_C(1) << 40)
/* A GPADL handle nobody created, and an OID no NDIS version defines. */
#define UNKNOWN_GPADL 0x0BADu
#define UNKNOWN_OID 0x00FFFF01u
#define UNKNOWN_NVSP_TYPE 9999u

static hv_info hv;
static uint8_t simp[4096] __attribute__((aligned(4096)));
static uint8_t siefp[4096] __attribute__((aligned(4096)));
static uint8_t ring_pages[2 * RING_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t recv_pages[RECV_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t send_pages[SEND_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t control_pages[2][4096] __attribute__((aligned(4096)));
static uint8_t frame_pages[4][4096] __attribute__((aligned(4096)));
static uint8_t foreign_page[4096] __attribute__((aligned(4096)));
static netvsc_nic nic;
static vmbus_offer offers[MAX_OFFERS];
static const uint8_t nic_guid[VMBUS_GUID_SIZE] = HV_NIC_GUID_BYTES;
static const uint8_t broadcast[ETH_ALEN] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
static const uint8_t other_mac[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x77};
static uint8_t mac[ETH_ALEN];
static uint8_t f[2 * HV_PAGE_SIZE];
static uint32_t vp_index, nic0, nic1, next_gpadl = FIRST_GPADL_HANDLE;
static uint32_t malformed_nvsp_sent, unknown_completions_sent, bad_section_sent, malformed_rndis_sent, bad_gpa_sent,
    oversize_sent, filtered_sent;

static char name_buf[96];
static const char* nm(const char* what, const char* check) {
  guest_snprintf(name_buf, sizeof name_buf, "%s.%s", what, check);
  return name_buf;
}

static void frame(uint8_t* p, const uint8_t* dst, uint32_t len, uint8_t seed) {
  memcpy(p, dst, ETH_ALEN);
  memcpy(p + ETH_ALEN, mac, ETH_ALEN);
  p[2 * ETH_ALEN] = (uint8_t)(ETH_P_802_EX1 >> 8);
  p[2 * ETH_ALEN + 1] = (uint8_t)ETH_P_802_EX1;
  for (uint32_t i = ETH_HLEN; i < len; ++i) p[i] = (uint8_t)(seed ^ i);
}

/* ---- Probes ---------------------------------------------------------------- */

/* The COMP of `id`: its SEND_RNDIS_PKT status (UINT32_MAX: none or not
 * one; UINT32_MAX - 1: no packet was sent). */
static uint32_t status_of(uint64_t id, uint64_t timeout) {
  if (id == 0) return UINT32_MAX - 1;
  netvsc_completion c;
  if (!netvsc_wait_completion(&nic, id, &c, timeout)) return UINT32_MAX;
  return netvsc_rndis_completion_status(&c);
}

/* The host still answers on this channel: KEEPALIVE -> COMP, KEEPALIVE_C. */
static bool still_answers(const char* what) {
  const uint32_t req = nic.next_req_id++;
  netvsc_rndis_simple(nic.control, RNDIS_MSG_KEEPALIVE, req);
  netvsc_call c;
  netvsc_control_call(&nic, 0, RNDIS_MSG_KEEPALIVE_C, REPLY_WAIT, &c);
  const bool ok = c.completion_status == NVSP_STAT_SUCCESS && c.reply != NULL &&
                  netvsc_get32(c.reply, RNDIS_COMPLETE_STATUS_OFFSET) == RNDIS_STATUS_SUCCESS;
  netvsc_release(c.reply);
  return CHECK_TRUE(nm(what, "still_answers"), ok);
}

/* A frame in send section `index`, whole (msg_len = size). */
static uint64_t send_frame(uint32_t index, const uint8_t* dst, uint32_t len, uint8_t seed) {
  frame(f, dst, len, seed);
  const uint32_t size = netvsc_rndis_packet(nic.send_buf + index * nic.send_section_size, f, len);
  return netvsc_send_rndis(&nic, NVSP_RNDIS_CHANNEL_TYPE_DATA, index, size, NULL, 0);
}

/* The next frame back (within `timeout`) has `len` bytes; it is released. */
static bool frame_back(uint32_t len, uint64_t timeout) {
  netvsc_event* e = netvsc_wait_event(&nic, RNDIS_MSG_PACKET, false, 0, timeout);
  uint32_t got = 0;
  const bool ok = e != NULL && netvsc_packet_frame(e, &got) != NULL && got == len;
  netvsc_release(e);
  return ok;
}

/* A good frame still loops back, and nothing else came first. */
static void frames_still_flow(const char* what) {
  CHECK_EQ(nm(what, "good_frame_sent"), NVSP_STAT_SUCCESS, status_of(send_frame(0, broadcast, 99, 1), REPLY_WAIT));
  CHECK_TRUE(nm(what, "good_frame_back"), frame_back(99, REPLY_WAIT));
}

/* A SEND_RNDIS_PKT the host must answer with FAIL, sending nothing on. */
static void expect_fail(const char* what, uint64_t id, uint32_t* counter) {
  ++*counter;
  CHECK_EQ(nm(what, "fail"), NVSP_STAT_FAIL, status_of(id, REPLY_WAIT));
}

/* ---- Set-up ------------------------------------------------------------------ */

static bool bus_up(void) {
  if (!CHECK_TRUE("bus.contact", vmbus_connect(VMBUS_VERSION_WIN10, vp_index, REPLY_WAIT))) return false;
  uint32_t count = 0, nics = 0;
  CHECK_TRUE("offers.all_delivered", vmbus_request_offers(offers, MAX_OFFERS, &count, REPLY_WAIT));
  for (uint32_t i = 0; i < count && i < MAX_OFFERS; ++i)
    if (memcmp(offers[i].if_type, nic_guid, VMBUS_GUID_SIZE) == 0) {
      if (nics == 0) nic0 = i;
      if (nics == 1) nic1 = i;
      ++nics;
    }
  return CHECK_EQ("offers.two_nics", 2, nics);
}

static uint32_t open_nic0(void) {
  netvsc_init(&nic, offers[nic0].relid, offers[nic0].connection_id, ring_pages, RING_PAGES, control_pages);
  const uint32_t ring = next_gpadl++;
  if (!CHECK_EQ("open.ring_gpadl", VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_gpadl_create(nic.chan.relid, ring, ring_pages, 2 * RING_PAGES, REPLY_WAIT)))
    return 0;
  if (!CHECK_EQ("open.channel", VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_open(nic.chan.relid, nic.chan.relid, ring, vp_index, RING_PAGES, REPLY_WAIT)))
    return 0;
  return ring;
}

/* INIT {min, max}: the INIT_COMPLETE status (UINT32_MAX without one);
 * *version (may be NULL) gets the negotiated version. */
static uint32_t nvsp_init(uint32_t min, uint32_t max, uint32_t* version) {
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_nvsp_start(msg, NVSP_MSG_TYPE_INIT);
  vmbus_put32(msg, NVSP_INIT_MIN_VERSION_OFFSET, min);
  vmbus_put32(msg, NVSP_INIT_MAX_VERSION_OFFSET, max);
  netvsc_completion c;
  const uint64_t id = netvsc_send_nvsp(&nic, msg, sizeof msg, true);
  if (id == 0 || !netvsc_wait_completion(&nic, id, &c, REPLY_WAIT) ||
      vmbus_get32(c.data, NVSP_MESSAGE_TYPE_OFFSET) != NVSP_MSG_TYPE_INIT_COMPLETE)
    return UINT32_MAX;
  if (version != NULL) *version = vmbus_get32(c.data, NVSP_INIT_COMPLETE_VERSION_OFFSET);
  return vmbus_get32(c.data, NVSP_INIT_COMPLETE_STATUS_OFFSET);
}

/* SEND_RECV_BUF / SEND_SEND_BUF with `gpadl`: the completion's status. */
static uint32_t send_buffer(uint32_t type, uint32_t gpadl, uint16_t id) {
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_nvsp_start(msg, type);
  vmbus_put32(msg, NVSP_SEND_BUF_GPADL_OFFSET, gpadl);
  vmbus_put16(msg, NVSP_SEND_BUF_ID_OFFSET, id);
  netvsc_completion c;
  const uint64_t t = netvsc_send_nvsp(&nic, msg, sizeof msg, true);
  if (t == 0 || !netvsc_wait_completion(&nic, t, &c, REPLY_WAIT)) return UINT32_MAX;
  return vmbus_get32(c.data, NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET);
}

/* The buffers, RNDIS INIT, the MAC and the packet filter. */
static bool bring_up(const char* what, uint32_t* recv_gpadl, uint32_t* send_gpadl) {
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_SEND_NDIS_VER);
  vmbus_put32(msg, NVSP_NDIS_VER_MAJOR_OFFSET, NDIS_VERSION_6_30 >> 16);
  vmbus_put32(msg, NVSP_NDIS_VER_MINOR_OFFSET, NDIS_VERSION_6_30 & 0xFFFFu);
  netvsc_send_nvsp(&nic, msg, sizeof msg, false);
  *recv_gpadl = next_gpadl++;
  *send_gpadl = next_gpadl++;
  if (!CHECK_EQ(nm(what, "recv_gpadl"), VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_gpadl_create(nic.chan.relid, *recv_gpadl, recv_pages, RECV_PAGES, REPLY_WAIT)) ||
      !CHECK_EQ(nm(what, "send_gpadl"), VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_gpadl_create(nic.chan.relid, *send_gpadl, send_pages, SEND_PAGES, REPLY_WAIT)))
    return false;
  uint8_t c[NVSP_MESSAGE_SIZE];
  netvsc_nvsp_start(c, NVSP_MSG1_TYPE_SEND_RECV_BUF);
  vmbus_put32(c, NVSP_SEND_BUF_GPADL_OFFSET, *recv_gpadl);
  vmbus_put16(c, NVSP_SEND_BUF_ID_OFFSET, NETVSC_RECEIVE_BUFFER_ID);
  netvsc_completion rc;
  const uint64_t id = netvsc_send_nvsp(&nic, c, sizeof c, true);
  if (!CHECK_TRUE(nm(what, "recv_buf"), id != 0 && netvsc_wait_completion(&nic, id, &rc, REPLY_WAIT) &&
                                            vmbus_get32(rc.data, NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET) == NVSP_STAT_SUCCESS))
    return false;
  nic.recv_buf = &recv_pages[0][0];
  nic.recv_bytes = RECV_PAGES * HV_PAGE_SIZE;
  nic.recv_section_size = vmbus_get32(rc.data, NVSP_RECV_BUF_SECTION_SUB_ALLOC_SIZE_OFFSET);
  nic.recv_sections = vmbus_get32(rc.data, NVSP_RECV_BUF_SECTION_NUM_SUB_ALLOCS_OFFSET);
  netvsc_nvsp_start(c, NVSP_MSG1_TYPE_SEND_SEND_BUF);
  vmbus_put32(c, NVSP_SEND_BUF_GPADL_OFFSET, *send_gpadl);
  vmbus_put16(c, NVSP_SEND_BUF_ID_OFFSET, NETVSC_SEND_BUFFER_ID);
  const uint64_t sid = netvsc_send_nvsp(&nic, c, sizeof c, true);
  if (!CHECK_TRUE(nm(what, "send_buf"), sid != 0 && netvsc_wait_completion(&nic, sid, &rc, REPLY_WAIT) &&
                                            vmbus_get32(rc.data, NVSP_SEND_BUF_COMPLETE_STATUS_OFFSET) == NVSP_STAT_SUCCESS))
    return false;
  nic.send_buf = &send_pages[0][0];
  nic.send_bytes = SEND_PAGES * HV_PAGE_SIZE;
  nic.send_section_size = vmbus_get32(rc.data, NVSP_SEND_BUF_COMPLETE_SECTION_SIZE_OFFSET);
  nic.send_sections = nic.send_section_size != 0 ? nic.send_bytes / nic.send_section_size : 0;
  if (!CHECK_GE(nm(what, "two_send_sections"), 2, nic.send_sections)) return false;

  netvsc_call call;
  netvsc_rndis_init(nic.control, nic.next_req_id++);
  netvsc_control_call(&nic, 0, RNDIS_MSG_INIT_C, REPLY_WAIT, &call);
  const bool inited = call.reply != NULL && netvsc_get32(call.reply, RNDIS_INIT_C_STATUS_OFFSET) == RNDIS_STATUS_SUCCESS;
  netvsc_release(call.reply);
  if (!CHECK_TRUE(nm(what, "rndis_init"), inited)) return false;
  netvsc_rndis_oid(nic.control, RNDIS_MSG_QUERY, nic.next_req_id++, RNDIS_OID_802_3_PERMANENT_ADDRESS, NULL, 0);
  netvsc_control_call(&nic, 0, RNDIS_MSG_QUERY_C, REPLY_WAIT, &call);
  uint32_t len = 0;
  const uint8_t* data = call.reply != NULL ? netvsc_query_info(call.reply, &len) : NULL;
  if (data != NULL && len == ETH_ALEN) memcpy(mac, data, ETH_ALEN);
  netvsc_release(call.reply);
  if (!CHECK_TRUE(nm(what, "mac"), data != NULL && len == ETH_ALEN)) return false;
  uint8_t v[4];
  vmbus_put32(v, 0, NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_ALL_MULTICAST | NDIS_PACKET_TYPE_DIRECTED);
  netvsc_rndis_oid(nic.control, RNDIS_MSG_SET, nic.next_req_id++, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, v, sizeof v);
  netvsc_control_call(&nic, 0, RNDIS_MSG_SET_C, REPLY_WAIT, &call);
  const bool filtered = call.reply != NULL && netvsc_get32(call.reply, RNDIS_COMPLETE_STATUS_OFFSET) == RNDIS_STATUS_SUCCESS;
  netvsc_release(call.reply);
  netvsc_release(netvsc_wait_event(&nic, RNDIS_MSG_INDICATE, false, 0, REPLY_WAIT));
  return CHECK_TRUE(nm(what, "packet_filter"), filtered);
}

/* ---- The hostile cases --------------------------------------------------------- */

static void bad_init(void) {
  CHECK_EQ("init.unknown_version.fail", NVSP_STAT_FAIL, nvsp_init(0x12345u, 0x12345u, NULL));
  CHECK_EQ("init.min_above_max.fail", NVSP_STAT_FAIL,
           nvsp_init(NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6, NULL));
  CHECK_EQ("init.max_unknown.fail", NVSP_STAT_FAIL, nvsp_init(NVSP_PROTOCOL_VERSION_1, 0x12345u, NULL));
  /* Not Linux's (min = max) but valid: the host picks the requested max. */
  uint32_t v = 0;
  CHECK_EQ("init.range.success", NVSP_STAT_SUCCESS, nvsp_init(NVSP_PROTOCOL_VERSION_1, NVSP_PROTOCOL_VERSION_5, &v));
  CHECK_EQ("init.range.max_chosen", NVSP_PROTOCOL_VERSION_5, v);
  CHECK_EQ("init.v61_after_failures.success", NVSP_STAT_SUCCESS,
           nvsp_init(NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_61, &v));
  CHECK_EQ("init.v61_after_failures.version", NVSP_PROTOCOL_VERSION_61, v);
}

static void bad_buffers(void) {
  const uint32_t foreign = next_gpadl++;
  CHECK_EQ("buffers.foreign_gpadl_created", VMBUS_CHANNEL_STATUS_SUCCESS,
           vmbus_gpadl_create(offers[nic1].relid, foreign, foreign_page, 1, REPLY_WAIT));
  CHECK_EQ("buffers.recv_unknown_gpadl.fail", NVSP_STAT_FAIL,
           send_buffer(NVSP_MSG1_TYPE_SEND_RECV_BUF, UNKNOWN_GPADL, NETVSC_RECEIVE_BUFFER_ID));
  CHECK_EQ("buffers.recv_other_channels_gpadl.fail", NVSP_STAT_FAIL,
           send_buffer(NVSP_MSG1_TYPE_SEND_RECV_BUF, foreign, NETVSC_RECEIVE_BUFFER_ID));
  CHECK_EQ("buffers.send_unknown_gpadl.fail", NVSP_STAT_FAIL,
           send_buffer(NVSP_MSG1_TYPE_SEND_SEND_BUF, UNKNOWN_GPADL, NETVSC_SEND_BUFFER_ID));
  CHECK_TRUE("buffers.foreign_gpadl_torndown", vmbus_gpadl_teardown(offers[nic1].relid, foreign, REPLY_WAIT));
}

static void bad_nvsp(void) {
  uint8_t msg[NVSP_MESSAGE_SIZE] = {0};
  uint64_t ids[8];
  uint32_t n = 0;
  ids[n++] = netvsc_send_nvsp(&nic, msg, 0, true); /* no NVSP header at all */
  static const uint32_t types[] = {NVSP_MSG_TYPE_NONE, UNKNOWN_NVSP_TYPE, 0xFFFFFFFFu, NVSP_MSG_TYPE_INIT_COMPLETE,
                                   NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE};
  for (uint32_t i = 0; i < sizeof types / sizeof types[0]; ++i) {
    netvsc_nvsp_start(msg, types[i]);
    ids[n++] = netvsc_send_nvsp(&nic, msg, sizeof msg, true);
  }
  /* A well-formed INIT in a packet type netvsc never uses. */
  netvsc_nvsp_start(msg, NVSP_MSG_TYPE_INIT);
  vmbus_put32(msg, NVSP_INIT_MIN_VERSION_OFFSET, NVSP_PROTOCOL_VERSION_61);
  vmbus_put32(msg, NVSP_INIT_MAX_VERSION_OFFSET, NVSP_PROTOCOL_VERSION_61);
  ids[n++] = netvsc_send_raw(&nic, VM_PKT_DATA_USING_GPADL, NULL, 0, msg, sizeof msg);
  malformed_nvsp_sent += n;
  uint32_t answered = 0;
  netvsc_completion c;
  for (uint32_t i = 0; i < n; ++i) answered += netvsc_wait_completion(&nic, ids[i], &c, i == 0 ? QUIET_WAIT : 0);
  CHECK_EQ("nvsp.malformed.no_reply", 0, answered);
  CHECK_EQ("nvsp.malformed.no_guest_side_surprises", 0, nic.stats.unmatched_completions);
  still_answers("nvsp.malformed");
}

static void bad_completions(void) {
  uint8_t msg[8];
  vmbus_put32(msg, NVSP_MESSAGE_TYPE_OFFSET, NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE);
  vmbus_put32(msg, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET, NVSP_STAT_SUCCESS);
  static const uint64_t never[] = {0, 0xDEADu, UINT64_MAX};
  for (uint32_t i = 0; i < sizeof never / sizeof never[0]; ++i)
    vmbus_send(&nic.chan, VM_PKT_COMP, 0, never[i], msg, sizeof msg, NULL, NULL);
  unknown_completions_sent += 3;
  /* A real receive, completed, then completed again. */
  nic.hold_receives = true;
  CHECK_EQ("comp.frame_sent", NVSP_STAT_SUCCESS, status_of(send_frame(0, broadcast, 80, 2), REPLY_WAIT));
  const bool back = frame_back(80, REPLY_WAIT);
  CHECK_TRUE("comp.frame_back", back);
  nic.hold_receives = false;
  if (CHECK_EQ("comp.one_receive_held", 1, nic.held_count)) {
    const uint64_t cookie = nic.held[0];
    CHECK_EQ("comp.completed_once", 1, netvsc_release_held(&nic));
    vmbus_send(&nic.chan, VM_PKT_COMP, 0, cookie, msg, sizeof msg, NULL, NULL);
    ++unknown_completions_sent;
  }
  still_answers("comp.unknown");
  frames_still_flow("comp.unknown");
}

static void bad_sections(void) {
  uint8_t* s0 = nic.send_buf;
  const uint32_t size = netvsc_rndis_packet(s0, NULL, 100);
  frame(s0 + RNDIS_PACKET_SIZE, broadcast, 100, 3);
  /* Section 2 starts inside the buffer but does not fit in it: the count
   * is whole sections only. */
  expect_fail("section.index_partial_past_count", netvsc_send_rndis(&nic, 0, nic.send_sections, size, NULL, 0),
              &bad_section_sent);
  expect_fail("section.index_far", netvsc_send_rndis(&nic, 0, 0x7FFFFFFFu, size, NULL, 0), &bad_section_sent);
  expect_fail("section.size_past_section", netvsc_send_rndis(&nic, 0, 0, nic.send_section_size + 1, NULL, 0),
              &bad_section_sent);
  expect_fail("section.size_0", netvsc_send_rndis(&nic, 0, 0, 0, NULL, 0), &bad_section_sent);
  CHECK_TRUE("section.nothing_sent_on", !frame_back(100, QUIET_WAIT));
  still_answers("section");
  frames_still_flow("section");
}

/* A broken RNDIS message in section 0: msg_len as given, `size` bytes. */
static uint64_t send_broken(uint32_t msg_len, uint32_t size, uint32_t data_len) {
  uint8_t* s0 = nic.send_buf;
  netvsc_rndis_packet(s0, NULL, 100);
  frame(s0 + RNDIS_PACKET_SIZE, broadcast, 100, 4);
  vmbus_put32(s0, RNDIS_MSG_LEN_OFFSET, msg_len);
  vmbus_put32(s0, RNDIS_PACKET_DATA_LEN_OFFSET, data_len);
  return netvsc_send_rndis(&nic, 0, 0, size, NULL, 0);
}

static void bad_rndis(void) {
  const uint32_t whole = RNDIS_PACKET_SIZE + 100;
  expect_fail("rndis.msg_len_0", send_broken(0, whole, 100), &malformed_rndis_sent);
  expect_fail("rndis.msg_len_below_header", send_broken(4, whole, 100), &malformed_rndis_sent);
  expect_fail("rndis.msg_len_past_data", send_broken(whole + 64, whole, 100), &malformed_rndis_sent);
  expect_fail("rndis.msg_len_past_section", send_broken(2 * NETVSC_SEND_SECTION_SIZE, whole, 100),
              &malformed_rndis_sent);
  expect_fail("rndis.frame_past_msg_len", send_broken(whole, whole, 5000), &malformed_rndis_sent);
  /* A good message, then one with msg_len 0 behind it. */
  uint8_t* s1 = nic.send_buf + nic.send_section_size;
  frame(f, broadcast, 64, 5);
  const uint32_t first = netvsc_rndis_packet(s1, f, 64);
  memset(s1 + first, 0, RNDIS_PACKET_SIZE);
  vmbus_put32(s1 + first, RNDIS_MSG_TYPE_OFFSET, RNDIS_MSG_PACKET);
  expect_fail("rndis.bad_second_in_batch", netvsc_send_rndis(&nic, 0, 1, first + RNDIS_PACKET_SIZE, NULL, 0),
              &malformed_rndis_sent);
  /* A control message with msg_len 0, by page buffer as Linux sends them. */
  memset(nic.control, 0, RNDIS_OID_REQ_SIZE);
  vmbus_put32(nic.control, RNDIS_MSG_TYPE_OFFSET, RNDIS_MSG_QUERY);
  vmbus_page_buffer pb;
  netvsc_page_buffers(nic.control, RNDIS_OID_REQ_SIZE, &pb, 1);
  expect_fail("rndis.control_msg_len_0",
              netvsc_send_rndis(&nic, NVSP_RNDIS_CHANNEL_TYPE_CONTROL, NETVSC_INVALID_INDEX, 0, &pb, 1),
              &malformed_rndis_sent);
  /* Whatever the host made of the batch's good first frame, drain it. */
  while (frame_back(64, QUIET_WAIT)) {
  }
  still_answers("rndis");
  frames_still_flow("rndis");
}

static void bad_gpa(void) {
  uint8_t* hdr = frame_pages[0];
  netvsc_rndis_packet(hdr, NULL, 100);
  frame(hdr + RNDIS_PACKET_SIZE, broadcast, 100, 6);
  vmbus_page_buffer pb[MAX_PAGE_BUFFER_COUNT + 1];
  netvsc_page_buffers(hdr, RNDIS_PACKET_SIZE + 100, pb, 1);
  /* The NVSP message every raw GPA_DIRECT case carries: data, no section. */
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_SEND_RNDIS_PKT);
  vmbus_put32(msg, NVSP_RNDIS_PKT_SECTION_INDEX_OFFSET, NETVSC_INVALID_INDEX);
  /* A GPA_DIRECT packet with rangecount 0 (the library sends in-band then). */
  uint8_t ext[VMBUS_GPA_DIRECT_RANGES_OFFSET + VMBUS_PAGE_BUFFER_SIZE];
  memset(ext, 0, sizeof ext);
  expect_fail("gpa.no_ranges",
              netvsc_send_raw(&nic, VM_PKT_DATA_USING_GPA_DIRECT, ext, VMBUS_GPA_DIRECT_RANGES_OFFSET, msg, sizeof msg),
              &bad_gpa_sent);
  /* 33 page buffers: the message, then 32 one-byte pieces of nothing. */
  for (uint32_t i = 1; i <= MAX_PAGE_BUFFER_COUNT; ++i) pb[i] = (vmbus_page_buffer){1, 0, pb[0].pfn + 1};
  expect_fail("gpa.33_ranges", netvsc_send_rndis(&nic, 0, NETVSC_INVALID_INDEX, 0, pb, MAX_PAGE_BUFFER_COUNT + 1),
              &bad_gpa_sent);
  vmbus_page_buffer over = {200, HV_PAGE_SIZE - 100, pb[0].pfn};
  expect_fail("gpa.past_page_end", netvsc_send_rndis(&nic, 0, NETVSC_INVALID_INDEX, 0, &over, 1), &bad_gpa_sent);
  vmbus_page_buffer far = {RNDIS_PACKET_SIZE + 100, 0, FAR_PFN};
  expect_fail("gpa.pfn_outside_ram", netvsc_send_rndis(&nic, 0, NETVSC_INVALID_INDEX, 0, &far, 1), &bad_gpa_sent);
  /* rangecount 4 with room for one page buffer in the descriptor. */
  vmbus_put32(ext, VMBUS_GPA_DIRECT_RANGE_COUNT_OFFSET, 4);
  vmbus_put32(ext, VMBUS_GPA_DIRECT_RANGES_OFFSET + VMBUS_PAGE_BUFFER_LEN_OFFSET, pb[0].len);
  vmbus_put64(ext, VMBUS_GPA_DIRECT_RANGES_OFFSET + VMBUS_PAGE_BUFFER_PFN_OFFSET, pb[0].pfn);
  expect_fail("gpa.range_count_past_descriptor",
              netvsc_send_raw(&nic, VM_PKT_DATA_USING_GPA_DIRECT, ext, sizeof ext, msg, sizeof msg), &bad_gpa_sent);
  CHECK_TRUE("gpa.nothing_sent_on", !frame_back(100, QUIET_WAIT));
  still_answers("gpa");
  frames_still_flow("gpa");
}

static void oversize(void) {
  /* ETH_FRAME_LEN + one VLAN tag is the largest the host takes. */
  const uint32_t largest = ETH_FRAME_LEN + VLAN_HLEN;
  CHECK_NE("oversize.section.completed", UINT32_MAX, status_of(send_frame(0, broadcast, largest + 1, 7), REPLY_WAIT));
  ++oversize_sent;
  uint8_t* hdr = frame_pages[0];
  uint8_t* big = frame_pages[1] + 500;
  frame(big, broadcast, 3000, 8);
  netvsc_rndis_packet(hdr, NULL, 3000);
  vmbus_page_buffer pb[4];
  uint32_t count = netvsc_page_buffers(hdr, RNDIS_PACKET_SIZE, pb, 4);
  count += netvsc_page_buffers(big, 3000, pb + count, 4 - count);
  CHECK_NE("oversize.gpa.completed", UINT32_MAX,
           status_of(netvsc_send_rndis(&nic, 0, NETVSC_INVALID_INDEX, 0, pb, count), REPLY_WAIT));
  ++oversize_sent;
  CHECK_TRUE("oversize.not_looped_back", !frame_back(largest + 1, QUIET_WAIT) && netvsc_event_count(&nic) == 0);
  CHECK_EQ("oversize.largest.sent", NVSP_STAT_SUCCESS, status_of(send_frame(0, broadcast, largest, 9), REPLY_WAIT));
  CHECK_TRUE("oversize.largest.back", frame_back(largest, REPLY_WAIT));
  still_answers("oversize");
}

static void filtered(void) {
  CHECK_EQ("filtered.sent", NVSP_STAT_SUCCESS, status_of(send_frame(0, other_mac, 70, 10), REPLY_WAIT));
  ++filtered_sent;
  CHECK_TRUE("filtered.not_back", !frame_back(70, QUIET_WAIT));
}

/* Receives never completed: the host fills its sections, then drops. */
static void hold_receives(void) {
  const uint32_t sections = nic.recv_sections, n = sections + HOLD_EXTRA;
  nic.hold_receives = true;
  uint32_t sent = 0, received = 0;
  for (uint32_t i = 0; i < n; ++i) {
    sent += status_of(send_frame(i % 2, broadcast, 120, (uint8_t)(20 + i)), REPLY_WAIT) == NVSP_STAT_SUCCESS;
    /* Each frame looped back is read (and its receive held). */
    while (frame_back(120, 0)) ++received;
  }
  /* The host fills every section: wait for the last ones, then see that
   * no more come. */
  const uint64_t start = vmbus_now();
  while (received < sections && vmbus_now() - start < REPLY_WAIT) received += frame_back(120, QUIET_WAIT);
  while (frame_back(120, QUIET_WAIT)) ++received;
  CHECK_EQ("hold.all_sent", n, sent);
  CHECK_EQ("hold.sections_filled", sections, received);
  /* One held completion per XFER_PAGES packet, which may carry several. */
  const uint32_t held = nic.held_count;
  CHECK_TRUE("hold.receives_held", held >= 1 && held <= received);
  METRIC("receive_sections", sections);
  METRIC("held_frames_sent", n);
  METRIC("held_frames_received", received);
  nic.hold_receives = false;
  CHECK_EQ("hold.released", held, netvsc_release_held(&nic));
  still_answers("hold");
  frames_still_flow("hold.resumed");
}

static void unknown_oids(void) {
  netvsc_call call;
  netvsc_rndis_oid(nic.control, RNDIS_MSG_QUERY, nic.next_req_id++, UNKNOWN_OID, NULL, 0);
  netvsc_control_call(&nic, 0, RNDIS_MSG_QUERY_C, REPLY_WAIT, &call);
  CHECK_EQ("oid.query_unknown.not_supported", RNDIS_STATUS_NOT_SUPPORTED,
           call.reply != NULL ? netvsc_get32(call.reply, RNDIS_COMPLETE_STATUS_OFFSET) : UINT32_MAX);
  netvsc_release(call.reply);
  uint8_t v[4] = {0};
  netvsc_rndis_oid(nic.control, RNDIS_MSG_SET, nic.next_req_id++, UNKNOWN_OID, v, sizeof v);
  netvsc_control_call(&nic, 0, RNDIS_MSG_SET_C, REPLY_WAIT, &call);
  CHECK_EQ("oid.set_unknown.not_supported", RNDIS_STATUS_NOT_SUPPORTED,
           call.reply != NULL ? netvsc_get32(call.reply, RNDIS_COMPLETE_STATUS_OFFSET) : UINT32_MAX);
  netvsc_release(call.reply);
}

static void close_nic0(const char* what, uint32_t ring, uint32_t recv, uint32_t send) {
  vmbus_msg m;
  vmbus_msg_relid(&m, CHANNELMSG_CLOSECHANNEL, nic.chan.relid);
  vmbus_post(&m);
  CHECK_TRUE(nm(what, "ring_torndown"), vmbus_gpadl_teardown(nic.chan.relid, ring, REPLY_WAIT));
  CHECK_TRUE(nm(what, "recv_torndown"), vmbus_gpadl_teardown(nic.chan.relid, recv, REPLY_WAIT));
  CHECK_TRUE(nm(what, "send_torndown"), vmbus_gpadl_teardown(nic.chan.relid, send, REPLY_WAIT));
}

/* A fresh open of the same channel works end to end. */
static void clean_session(void) {
  const uint32_t ring = open_nic0();
  if (!CHECK_NE("clean.open", 0, ring)) return;
  uint32_t recv = 0, send = 0;
  CHECK_EQ("clean.init", NVSP_STAT_SUCCESS, nvsp_init(NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_61, NULL));
  if (bring_up("clean", &recv, &send)) {
    still_answers("clean");
    frames_still_flow("clean");
    const netvsc_stats* s = &nic.stats;
    CHECK_EQ("clean.host_well_behaved", 0,
             s->bad_packet_type + s->bad_xfer_header + s->bad_xfer_flags + s->bad_xfer_nvsp + s->bad_range +
                 s->bad_rndis + s->unmatched_completions + s->ring_errors);
  }
  close_nic0("clean", ring, recv, send);
  vmbus_msg m, r;
  vmbus_msg_start(&m, CHANNELMSG_UNLOAD, VMBUS_UNLOAD_SIZE);
  vmbus_post(&m);
  CHECK_TRUE("clean.unload_response", vmbus_wait_type(&r, CHANNELMSG_UNLOAD_RESPONSE, REPLY_WAIT, NULL));
}

int main(void) {
  if (!hv_detect(&hv) || !(hv.privileges_low & HV_ACCESS_SYNIC_REGS) || !(hv.privileges_high & HV_POST_MESSAGES) ||
      !(hv.privileges_high & HV_SIGNAL_EVENTS)) {
    CHECK_TRUE("hyperv.synic_messages_events", false);
    return (int)guest_checks_failed();
  }
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  if (!vmbus_guest_setup(&hv, simp, siefp, VMBUS_VECTOR, &vp_index)) return (int)guest_checks_failed();

  uint32_t ring = 0, recv = 0, send = 0;
  if (bus_up() && (ring = open_nic0()) != 0) {
    bad_init();
    bad_buffers();
    if (bring_up("setup", &recv, &send)) {
      still_answers("setup");
      bad_nvsp();
      bad_completions();
      bad_sections();
      bad_rndis();
      bad_gpa();
      oversize();
      filtered();
      hold_receives();
      unknown_oids();
    }
    close_nic0("close", ring, recv, send);
    clean_session();
  }
  METRIC("malformed_nvsp_sent", malformed_nvsp_sent);
  METRIC("unknown_completions_sent", unknown_completions_sent);
  METRIC("bad_section_sent", bad_section_sent);
  METRIC("malformed_rndis_sent", malformed_rndis_sent);
  METRIC("bad_gpa_sent", bad_gpa_sent);
  METRIC("oversize_sent", oversize_sent);
  METRIC("filtered_sent", filtered_sent);
  hv_synic_disable();
  return (int)guest_checks_failed();
}
