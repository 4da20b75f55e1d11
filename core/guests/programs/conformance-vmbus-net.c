/*
 * conformance-vmbus-net: the synthetic NIC (plugin vmbus-net, loopback
 * backend) driven the way Linux 6.1's hv_netvsc drives it (drivers/net/
 * hyperv/netvsc.c netvsc_connect_vsp and netvsc_init_buf, rndis_filter.c
 * rndis_filter_device_add, rndis_filter_open/close, netvsc_drv.c
 * netvsc_xmit), every answer checked against Linux's own checks and the
 * host contract (docs/vmbus-net.md):
 *
 *   bus       contact 4.0, the NIC offered (HV_NIC_GUID), ring GPADL, open;
 *             without a NIC offer the rest is skipped, said on the console.
 *   nvsp      INIT 6.1 first (as Linux) -> INIT_COMPLETE, full 40 bytes;
 *             NDIS config and version unanswered; receive buffer
 *             (1 section at 0, sub-allocations of S = 1792, as many as fit)
 *             and send buffer (6144-byte sections).
 *   rndis     INIT, QUERY max frame size, MAC, friendly name, hardware
 *             capabilities, SET offload parameters, QUERY link state, link
 *             speed, RSS capabilities, current MAC, SET config parameter,
 *             KEEPALIVE, a QUERY straddling two pages, SET packet filter and
 *             the one MEDIA_CONNECT indication. Each control packet's COMP
 *             and each reply's framing, req_id and values.
 *   data      frames through send sections, one batch of three (padded as
 *             Linux pads), one by GPA_DIRECT page buffers across a page,
 *             one partly copied (cp_partial); each comes back intact from
 *             the loopback, through XFER_PAGES ranges the guest checks and
 *             completes; a frame to another MAC does not come back.
 *   filter    DIRECTED alone (broadcast and multicast stay out),
 *             PROMISCUOUS (another MAC comes in), Linux's filter again
 *             without a second indication.
 *   close     packet filter 0 (then nothing comes back), HALT, revokes,
 *             CLOSECHANNEL, the three GPADLs torn down, UNLOAD.
 *
 * METRICs for the host test: nics_offered, tx_frames, tx_bytes, rx_frames,
 * rx_bytes (what the host's counters must say), filtered_frames,
 * nvsp_version, link_speed_100bps, rndis_max_xfer_size, xfer_packets,
 * guest_signals.
 */
#include <enlight_guest/guest.h>
#include <enlight_guest/netvsc.h>
#include <enlight_guest/vmbus.h>

#define VMBUS_VECTOR 0xF3u                 /* Linux's HYPERVISOR_CALLBACK_VECTOR */
#define FIRST_GPADL_HANDLE 0xE1E10u        /* Linux's next_gpadl_handle start */
/* Smaller than Linux's defaults (128-page rings, 16 MiB receive and 1 MiB
 * send buffers): the guest has a few MiB, and the protocol is the same. */
#define RING_PAGES 16u
#define RECV_PAGES 64u
#define SEND_PAGES 16u
#define MAX_OFFERS 16u
/* Answers come within milliseconds; the margin is for a loaded machine
 * (waits end as soon as the answer is there). */
#define REPLY_WAIT (2000u * VMBUS_MS)
/* Frames come back from the host's receive thread, not inside the
 * hypercall: a frame that is coming arrives well within this. */
#define QUIET_WAIT (100u * VMBUS_MS)
/* The host contract's receive sub-allocation (plugins/vmbus-net,
 * docs/vmbus-net.md; OpenVMM's 256 + MTU + 36): a host choice, not a
 * protocol number, so it stays here. */
#define HOST_RECEIVE_SECTION_SIZE 1792u

/* Where control requests are built (offsets into the two control pages):
 * normally at 0; one on purpose across the page boundary. */
#define AT_START 0u
#define AT_STRADDLE (HV_PAGE_SIZE - 12u)

static hv_info hv;
static uint8_t simp[4096] __attribute__((aligned(4096)));
static uint8_t siefp[4096] __attribute__((aligned(4096)));
static uint8_t ring_pages[2 * RING_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t recv_pages[RECV_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t send_pages[SEND_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t control_pages[2][4096] __attribute__((aligned(4096)));
/* Frames sent by page buffers live here (Linux: the skb's pages). */
static uint8_t frame_pages[4][4096] __attribute__((aligned(4096)));
static netvsc_nic nic;
static vmbus_offer offers[MAX_OFFERS];

static const uint8_t nic_guid[VMBUS_GUID_SIZE] = HV_NIC_GUID_BYTES;
/* NIC 0's default MAC (the host contract: 02:00:00:00:00:(i+1)). */
static const uint8_t default_mac[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t broadcast[ETH_ALEN] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
static const uint8_t other_mac[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
static const uint8_t multicast[ETH_ALEN] = {0x01, 0x00, 0x5E, 0x00, 0x00, 0x01};
static uint8_t mac[ETH_ALEN];
static uint32_t vp_index;
static uint32_t tx_frames, tx_bytes, rx_frames, rx_bytes, filtered_frames;

static char name_buf[96];
static const char* nm(const char* what, const char* check) {
  guest_snprintf(name_buf, sizeof name_buf, "%s.%s", what, check);
  return name_buf;
}

/* ---- Bus ------------------------------------------------------------------ */

static const vmbus_offer* find_nic(uint32_t count) {
  const vmbus_offer* found = NULL;
  uint32_t nics = 0;
  for (uint32_t i = 0; i < count && i < MAX_OFFERS; ++i)
    if (memcmp(offers[i].if_type, nic_guid, VMBUS_GUID_SIZE) == 0) {
      if (found == NULL) found = &offers[i];
      ++nics;
    }
  METRIC("nics_offered", nics);
  /* The default `nics` option is one loopback NIC. */
  if (nics != 0) CHECK_EQ("offers.one_nic", 1, nics);
  return found;
}

static bool bus_up(void) {
  if (!CHECK_TRUE("bus.contact", vmbus_connect(VMBUS_VERSION_WIN10, vp_index, REPLY_WAIT))) return false;
  uint32_t count = 0;
  CHECK_TRUE("offers.all_delivered", vmbus_request_offers(offers, MAX_OFFERS, &count, REPLY_WAIT));
  const vmbus_offer* o = find_nic(count);
  if (o == NULL) {
    /* As conformance-vmbus without devices: said, not failed; the host
     * test checks nics_offered. */
    guest_printf("conformance-vmbus-net: no NIC offer (vmbus-net not loaded?); NIC steps skipped\n");
    return false;
  }
  CHECK_EQ("offers.nic.primary_channel", 0, o->sub_channel_index);
  netvsc_init(&nic, o->relid, o->connection_id, ring_pages, RING_PAGES, control_pages);
  if (!CHECK_EQ("channel.ring_gpadl_created", VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_gpadl_create(nic.chan.relid, FIRST_GPADL_HANDLE, ring_pages, 2 * RING_PAGES, REPLY_WAIT)))
    return false;
  /* Linux: openid = child_relid; this vCPU takes the channel's events. */
  return CHECK_EQ("channel.open", VMBUS_CHANNEL_STATUS_SUCCESS,
                  vmbus_open(nic.chan.relid, nic.chan.relid, FIRST_GPADL_HANDLE, vp_index, RING_PAGES, REPLY_WAIT));
}

/* ---- NVSP ----------------------------------------------------------------- */

/* Sends `msg` with completion requested and waits for its COMP. */
static bool nvsp_call(const char* what, const uint8_t* msg, netvsc_completion* c) {
  const uint64_t id = netvsc_send_nvsp(&nic, msg, NVSP_MESSAGE_SIZE, true);
  if (!CHECK_NE(nm(what, "sent"), 0, id)) return false;
  if (!CHECK_TRUE(nm(what, "completed"), netvsc_wait_completion(&nic, id, c, REPLY_WAIT))) return false;
  /* Linux copies sizeof(struct nvsp_message) from the completion. */
  CHECK_GE(nm(what, "full_message"), NVSP_MESSAGE_SIZE, c->len);
  return true;
}

static bool nvsp_init(void) {
  /* netvsc_connect_vsp: newest first, min = max, the next on failure. */
  static const uint32_t versions[] = {NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6, NVSP_PROTOCOL_VERSION_5,
                                      NVSP_PROTOCOL_VERSION_4,  NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_1};
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_completion c;
  for (uint32_t i = 0; i < sizeof versions / sizeof versions[0] && nic.nvsp_version == 0; ++i) {
    netvsc_nvsp_start(msg, NVSP_MSG_TYPE_INIT);
    vmbus_put32(msg, NVSP_INIT_MIN_VERSION_OFFSET, versions[i]);
    vmbus_put32(msg, NVSP_INIT_MAX_VERSION_OFFSET, versions[i]);
    if (!nvsp_call("nvsp.init", msg, &c)) return false;
    CHECK_EQ("nvsp.init.init_complete", NVSP_MSG_TYPE_INIT_COMPLETE, vmbus_get32(c.data, NVSP_MESSAGE_TYPE_OFFSET));
    if (vmbus_get32(c.data, NVSP_INIT_COMPLETE_STATUS_OFFSET) != NVSP_STAT_SUCCESS) continue;
    nic.nvsp_version = versions[i];
    CHECK_EQ("nvsp.init.negotiated_version", versions[i], vmbus_get32(c.data, NVSP_INIT_COMPLETE_VERSION_OFFSET));
    CHECK_EQ("nvsp.init.max_mdl_chain_len_0", 0, vmbus_get32(c.data, NVSP_INIT_COMPLETE_MAX_MDL_CHAIN_OFFSET));
  }
  /* The host knows all six; Linux takes the first it accepts. */
  CHECK_EQ("nvsp.init.v61_accepted", NVSP_PROTOCOL_VERSION_61, nic.nvsp_version);
  METRIC("nvsp_version", nic.nvsp_version);
  if (nic.nvsp_version == 0) return false;

  const uint32_t comps = nic.stats.comp_packets, xfers = nic.stats.xfer_packets;
  if (nic.nvsp_version > NVSP_PROTOCOL_VERSION_1) {
    netvsc_nvsp_start(msg, NVSP_MSG2_TYPE_SEND_NDIS_CONFIG);
    vmbus_put32(msg, NVSP_NDIS_CONFIG_MTU_OFFSET, ETH_DATA_LEN + ETH_HLEN);
    uint64_t caps = NVSP_NDIS_CONFIG_CAP_IEEE8021Q;
    if (nic.nvsp_version >= NVSP_PROTOCOL_VERSION_5) caps |= NVSP_NDIS_CONFIG_CAP_SRIOV | NVSP_NDIS_CONFIG_CAP_TEAMING;
    if (nic.nvsp_version >= NVSP_PROTOCOL_VERSION_61) caps |= NVSP_NDIS_CONFIG_CAP_RSC;
    vmbus_put64(msg, NVSP_NDIS_CONFIG_CAPABILITY_OFFSET, caps);
    CHECK_EQ("nvsp.ndis_config.sent", VMBUS_RQST_ID_NO_RESPONSE, netvsc_send_nvsp(&nic, msg, sizeof msg, false));
  }
  const uint32_t ndis = nic.nvsp_version <= NVSP_PROTOCOL_VERSION_4 ? NDIS_VERSION_6_1 : NDIS_VERSION_6_30;
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_SEND_NDIS_VER);
  vmbus_put32(msg, NVSP_NDIS_VER_MAJOR_OFFSET, ndis >> 16);
  vmbus_put32(msg, NVSP_NDIS_VER_MINOR_OFFSET, ndis & 0xFFFFu);
  CHECK_EQ("nvsp.ndis_version.sent", VMBUS_RQST_ID_NO_RESPONSE, netvsc_send_nvsp(&nic, msg, sizeof msg, false));
  const uint64_t start = vmbus_now();
  while (vmbus_now() - start < QUIET_WAIT) netvsc_poll(&nic);
  CHECK_TRUE("nvsp.config_and_version.no_reply",
             nic.stats.comp_packets == comps && nic.stats.xfer_packets == xfers);
  return true;
}

static bool nvsp_buffers(void) {
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_completion c;
  const uint32_t recv_gpadl = FIRST_GPADL_HANDLE + 1, send_gpadl = FIRST_GPADL_HANDLE + 2;
  if (!CHECK_EQ("recv_buf.gpadl_created", VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_gpadl_create(nic.chan.relid, recv_gpadl, recv_pages, RECV_PAGES, REPLY_WAIT)))
    return false;
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_SEND_RECV_BUF);
  vmbus_put32(msg, NVSP_SEND_BUF_GPADL_OFFSET, recv_gpadl);
  vmbus_put16(msg, NVSP_SEND_BUF_ID_OFFSET, NETVSC_RECEIVE_BUFFER_ID);
  if (!nvsp_call("recv_buf", msg, &c)) return false;
  const uint32_t bytes = RECV_PAGES * HV_PAGE_SIZE;
  const uint32_t size = vmbus_get32(c.data, NVSP_RECV_BUF_SECTION_SUB_ALLOC_SIZE_OFFSET);
  const uint32_t count = vmbus_get32(c.data, NVSP_RECV_BUF_SECTION_NUM_SUB_ALLOCS_OFFSET);
  CHECK_EQ("recv_buf.complete_type", NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE, vmbus_get32(c.data, NVSP_MESSAGE_TYPE_OFFSET));
  CHECK_EQ("recv_buf.status_success", NVSP_STAT_SUCCESS, vmbus_get32(c.data, NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET));
  /* netvsc_init_buf's checks, then the contract's numbers. */
  CHECK_EQ("recv_buf.one_section", 1, vmbus_get32(c.data, NVSP_RECV_BUF_COMPLETE_NUM_SECTIONS_OFFSET));
  CHECK_EQ("recv_buf.section_offset_0", 0, vmbus_get32(c.data, NVSP_RECV_BUF_SECTION_OFFSET_OFFSET));
  CHECK_GE("recv_buf.sub_alloc_at_least_mtu_min", NETVSC_MTU_MIN, size);
  CHECK_TRUE("recv_buf.sub_allocs_fit", (uint64_t)size * count <= bytes);
  CHECK_EQ("recv_buf.sub_alloc_size", HOST_RECEIVE_SECTION_SIZE, size);
  CHECK_EQ("recv_buf.num_sub_allocs", bytes / HOST_RECEIVE_SECTION_SIZE, count);
  CHECK_EQ("recv_buf.end_offset", (uint64_t)size * count, vmbus_get32(c.data, NVSP_RECV_BUF_SECTION_END_OFFSET_OFFSET));
  nic.recv_buf = &recv_pages[0][0];
  nic.recv_bytes = bytes;
  nic.recv_section_size = size;
  nic.recv_sections = count;

  if (!CHECK_EQ("send_buf.gpadl_created", VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_gpadl_create(nic.chan.relid, send_gpadl, send_pages, SEND_PAGES, REPLY_WAIT)))
    return false;
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_SEND_SEND_BUF);
  vmbus_put32(msg, NVSP_SEND_BUF_GPADL_OFFSET, send_gpadl);
  vmbus_put16(msg, NVSP_SEND_BUF_ID_OFFSET, NETVSC_SEND_BUFFER_ID);
  if (!nvsp_call("send_buf", msg, &c)) return false;
  CHECK_EQ("send_buf.complete_type", NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE, vmbus_get32(c.data, NVSP_MESSAGE_TYPE_OFFSET));
  CHECK_EQ("send_buf.status_success", NVSP_STAT_SUCCESS, vmbus_get32(c.data, NVSP_SEND_BUF_COMPLETE_STATUS_OFFSET));
  const uint32_t section = vmbus_get32(c.data, NVSP_SEND_BUF_COMPLETE_SECTION_SIZE_OFFSET);
  CHECK_GE("send_buf.section_at_least_mtu_min", NETVSC_MTU_MIN, section);
  CHECK_EQ("send_buf.section_size", NETVSC_SEND_SECTION_SIZE, section);
  nic.send_buf = &send_pages[0][0];
  nic.send_bytes = SEND_PAGES * HV_PAGE_SIZE;
  nic.send_section_size = section;
  nic.send_sections = section != 0 ? nic.send_bytes / section : 0;
  return nic.recv_sections != 0 && nic.send_sections >= 5;
}

/* ---- RNDIS control ---------------------------------------------------------- */

/* The request at `at` (already built), its packet's COMP, and the reply of
 * `reply_type` with its req_id (NULL when any of that failed). */
static netvsc_event* call(const char* what, uint32_t at, uint32_t reply_type, uint32_t min_len) {
  netvsc_call c;
  netvsc_control_call(&nic, at, reply_type, REPLY_WAIT, &c);
  CHECK_TRUE(nm(what, "sent"), c.sent);
  CHECK_TRUE(nm(what, "packet_completed"), c.completed);
  CHECK_EQ(nm(what, "packet_status_success"), NVSP_STAT_SUCCESS, c.completion_status);
  if (reply_type == 0) return NULL;
  if (!CHECK_TRUE(nm(what, "reply"), c.reply != NULL)) return NULL;
  if (!CHECK_GE(nm(what, "reply_size"), min_len, c.reply->len)) {
    netvsc_release(c.reply);
    return NULL;
  }
  return c.reply;
}

/* A QUERY of `oid` (with `info_len` bytes of `info`); returns its QUERY_C
 * with *data and *len set when Linux's checks pass, its status in *status. */
static netvsc_event* query(const char* what, uint32_t at, uint32_t oid, const void* info, uint32_t info_len,
                           uint32_t* status, const uint8_t** data, uint32_t* len) {
  netvsc_rndis_oid(nic.control + at, RNDIS_MSG_QUERY, nic.next_req_id++, oid, info, info_len);
  netvsc_event* e = call(what, at, RNDIS_MSG_QUERY_C, RNDIS_QUERY_C_SIZE);
  if (e == NULL) return NULL;
  *status = netvsc_get32(e, RNDIS_COMPLETE_STATUS_OFFSET);
  *data = netvsc_query_info(e, len);
  CHECK_TRUE(nm(what, "info_buffer_valid"), *data != NULL);
  /* The contract: the information right after the 16-byte body. */
  CHECK_EQ(nm(what, "info_buf_offset_16"), RNDIS_QUERY_C_SIZE - RNDIS_HEADER_SIZE,
           netvsc_get32(e, RNDIS_QUERY_C_INFO_BUF_OFFSET_OFFSET));
  if (*data == NULL) *len = 0;
  return e;
}

/* A QUERY answered with a u32; UINT32_MAX when it was not. */
static uint32_t query_u32(const char* what, uint32_t oid) {
  uint32_t status = UINT32_MAX, len = 0;
  const uint8_t* data = NULL;
  netvsc_event* e = query(what, AT_START, oid, NULL, 0, &status, &data, &len);
  uint32_t v = UINT32_MAX;
  if (e != NULL) {
    CHECK_EQ(nm(what, "status_success"), RNDIS_STATUS_SUCCESS, status);
    if (CHECK_EQ(nm(what, "u32"), 4, len)) v = vmbus_get32(data, 0);
  }
  netvsc_release(e);
  return v;
}

/* A QUERY the host must refuse: NOT_SUPPORTED and no information. */
static void query_unsupported(const char* what, uint32_t oid, const void* info, uint32_t info_len) {
  uint32_t status = UINT32_MAX, len = UINT32_MAX;
  const uint8_t* data = NULL;
  netvsc_event* e = query(what, AT_START, oid, info, info_len, &status, &data, &len);
  if (e != NULL) {
    CHECK_EQ(nm(what, "not_supported"), RNDIS_STATUS_NOT_SUPPORTED, status);
    CHECK_EQ(nm(what, "empty"), 0, len);
  }
  netvsc_release(e);
}

static void query_mac(const char* what, uint32_t at, uint32_t oid) {
  uint32_t status = UINT32_MAX, len = 0;
  const uint8_t* data = NULL;
  netvsc_event* e = query(what, at, oid, NULL, 0, &status, &data, &len);
  if (e != NULL) {
    CHECK_EQ(nm(what, "status_success"), RNDIS_STATUS_SUCCESS, status);
    if (CHECK_EQ(nm(what, "six_bytes"), ETH_ALEN, len))
      CHECK_TRUE(nm(what, "nic0_default"), memcmp(data, default_mac, ETH_ALEN) == 0);
    if (len == ETH_ALEN) memcpy(mac, data, ETH_ALEN);
  }
  netvsc_release(e);
}

/* A SET; the SET_C's status (UINT32_MAX without one). */
static uint32_t set(const char* what, uint32_t oid, const void* info, uint32_t info_len) {
  netvsc_rndis_oid(nic.control, RNDIS_MSG_SET, nic.next_req_id++, oid, info, info_len);
  netvsc_event* e = call(what, AT_START, RNDIS_MSG_SET_C, RNDIS_SET_C_SIZE);
  const uint32_t status = e != NULL ? netvsc_get32(e, RNDIS_COMPLETE_STATUS_OFFSET) : UINT32_MAX;
  netvsc_release(e);
  return status;
}

static bool rndis_init(void) {
  const uint32_t req = nic.next_req_id++;
  netvsc_rndis_init(nic.control, req);
  netvsc_event* e = call("rndis.init", AT_START, RNDIS_MSG_INIT_C, RNDIS_INIT_C_SIZE);
  if (e == NULL) return false;
  CHECK_EQ("rndis.init.control_channel", NVSP_RNDIS_CHANNEL_TYPE_CONTROL, e->channel_type);
  const bool ok = CHECK_EQ("rndis.init.status_success", RNDIS_STATUS_SUCCESS, netvsc_get32(e, RNDIS_INIT_C_STATUS_OFFSET));
  CHECK_EQ("rndis.init.major", RNDIS_MAJOR_VERSION, netvsc_get32(e, RNDIS_INIT_C_MAJOR_OFFSET));
  CHECK_EQ("rndis.init.minor", RNDIS_MINOR_VERSION, netvsc_get32(e, RNDIS_INIT_C_MINOR_OFFSET));
  CHECK_EQ("rndis.init.connectionless", RNDIS_DF_CONNECTIONLESS, netvsc_get32(e, RNDIS_INIT_C_DEV_FLAGS_OFFSET));
  CHECK_EQ("rndis.init.medium_802_3", RNDIS_MEDIUM_802_3, netvsc_get32(e, RNDIS_INIT_C_MEDIUM_OFFSET));
  CHECK_EQ("rndis.init.max_pkt_per_msg", RNDIS_MAX_PKT_DEFAULT, netvsc_get32(e, RNDIS_INIT_C_MAX_PKT_PER_MSG_OFFSET));
  /* pkt_alignment_factor is log2 (nvdev->pkt_align = 1 << factor). */
  CHECK_EQ("rndis.init.pkt_alignment_8", RNDIS_PKT_ALIGN_DEFAULT,
           1u << (netvsc_get32(e, RNDIS_INIT_C_PKT_ALIGNMENT_OFFSET) & 31u));
  const uint32_t max_xfer = netvsc_get32(e, RNDIS_INIT_C_MAX_XFER_SIZE_OFFSET);
  CHECK_TRUE("rndis.init.max_xfer_size_nonzero", max_xfer != 0 && max_xfer != UINT32_MAX);
  METRIC("rndis_max_xfer_size", max_xfer);
  netvsc_release(e);
  return ok;
}

static void rndis_queries(void) {
  /* rndis_filter_device_add's order. */
  CHECK_EQ("rndis.max_frame_size.1500", ETH_DATA_LEN, query_u32("rndis.max_frame_size", RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE));
  query_mac("rndis.permanent_address", AT_START, RNDIS_OID_802_3_PERMANENT_ADDRESS);
  query_unsupported("rndis.friendly_name", RNDIS_OID_GEN_FRIENDLY_NAME, NULL, 0);

  /* Hardware capabilities: revision and size by NVSP version, as asked. */
  const bool v5 = nic.nvsp_version >= NVSP_PROTOCOL_VERSION_5;
  const uint32_t rev = v5 ? NDIS_OFFLOAD_PARAMETERS_REVISION_3
                          : nic.nvsp_version >= NVSP_PROTOCOL_VERSION_4 ? NDIS_OFFLOAD_PARAMETERS_REVISION_2
                                                                        : NDIS_OFFLOAD_PARAMETERS_REVISION_1;
  const uint32_t size = v5 ? NDIS_OFFLOAD_SIZE
                           : nic.nvsp_version >= NVSP_PROTOCOL_VERSION_4 ? NDIS_OFFLOAD_SIZE_6_1 : NDIS_OFFLOAD_SIZE_6_0;
  uint8_t caps[NDIS_OFFLOAD_SIZE];
  memset(caps, 0, sizeof caps);
  caps[NDIS_OBJECT_HEADER_TYPE_OFFSET] = (uint8_t)NDIS_OBJECT_TYPE_OFFLOAD;
  caps[NDIS_OBJECT_HEADER_REVISION_OFFSET] = (uint8_t)rev;
  vmbus_put16(caps, NDIS_OBJECT_HEADER_SIZE_OFFSET, (uint16_t)size);
  uint32_t status = UINT32_MAX, len = 0;
  const uint8_t* data = NULL;
  netvsc_event* e = query("rndis.hwcaps", AT_START, OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, caps, size, &status, &data, &len);
  if (e != NULL && data != NULL) {
    CHECK_EQ("rndis.hwcaps.status_success", RNDIS_STATUS_SUCCESS, status);
    /* rndis_query_hwcaps: at most what Linux's struct holds, type, rev,
     * size between 6.0's and what came. */
    CHECK_TRUE("rndis.hwcaps.fits_struct", len <= NDIS_OFFLOAD_SIZE);
    CHECK_EQ("rndis.hwcaps.type_offload", NDIS_OBJECT_TYPE_OFFLOAD, len >= 4 ? data[NDIS_OBJECT_HEADER_TYPE_OFFSET] : 0);
    CHECK_EQ("rndis.hwcaps.revision_asked", rev, len >= 4 ? data[NDIS_OBJECT_HEADER_REVISION_OFFSET] : 0);
    const uint32_t got = len >= 4 ? vmbus_get16(data, NDIS_OBJECT_HEADER_SIZE_OFFSET) : 0;
    CHECK_EQ("rndis.hwcaps.size_asked", size, got);
    CHECK_TRUE("rndis.hwcaps.size_within_buffer", got <= len && got >= NDIS_OFFLOAD_SIZE_6_0);
    uint32_t nonzero = 0;
    for (uint32_t i = 4; i < len; ++i) nonzero += data[i] != 0;
    CHECK_EQ("rndis.hwcaps.no_offloads", 0, nonzero);
  }
  netvsc_release(e);

  /* rndis_netdev_set_hwcaps with no capabilities: only IPv4 header
   * checksums, "disabled" (the host computes nothing). */
  uint8_t params[NDIS_OFFLOAD_PARAMETERS_SIZE];
  const uint32_t plen = nic.nvsp_version <= NVSP_PROTOCOL_VERSION_4 ? VERSION_4_OFFLOAD_SIZE : NDIS_OFFLOAD_PARAMETERS_SIZE;
  memset(params, 0, sizeof params);
  params[NDIS_OBJECT_HEADER_TYPE_OFFSET] = (uint8_t)NDIS_OBJECT_TYPE_DEFAULT;
  params[NDIS_OBJECT_HEADER_REVISION_OFFSET] = (uint8_t)NDIS_OFFLOAD_PARAMETERS_REVISION_3;
  vmbus_put16(params, NDIS_OBJECT_HEADER_SIZE_OFFSET, (uint16_t)plen);
  params[NDIS_OFFLOAD_PARAMETERS_IP_V4_CSUM_OFFSET] = (uint8_t)NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED;
  CHECK_EQ("rndis.set_offload.success", RNDIS_STATUS_SUCCESS, set("rndis.set_offload", OID_TCP_OFFLOAD_PARAMETERS, params, plen));

  CHECK_EQ("rndis.media_connect_status.connected", NDIS_MEDIA_STATE_CONNECTED,
           query_u32("rndis.media_connect_status", RNDIS_OID_GEN_MEDIA_CONNECT_STATUS));
  if (v5) {
    const uint32_t speed = query_u32("rndis.link_speed", RNDIS_OID_GEN_LINK_SPEED);
    CHECK_TRUE("rndis.link_speed.nonzero", speed != 0 && speed != UINT32_MAX);
    METRIC("link_speed_100bps", speed);
    uint8_t rss[NDIS_RECV_SCALE_CAP_SIZE];
    memset(rss, 0, sizeof rss);
    rss[NDIS_OBJECT_HEADER_TYPE_OFFSET] = (uint8_t)NDIS_OBJECT_TYPE_RSS_CAPABILITIES;
    rss[NDIS_OBJECT_HEADER_REVISION_OFFSET] = (uint8_t)NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2;
    vmbus_put16(rss, NDIS_OBJECT_HEADER_SIZE_OFFSET, (uint16_t)sizeof rss);
    query_unsupported("rndis.rss_capabilities", RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, rss, sizeof rss);
  }
  query_mac("rndis.current_address", AT_START, RNDIS_OID_802_3_CURRENT_ADDRESS);
  /* A request crossing a page: Linux sends it as two page buffers. */
  query_mac("rndis.query_across_pages", AT_STRADDLE, RNDIS_OID_802_3_PERMANENT_ADDRESS);
}

/* rndis_filter_set_device_mac's SET (what `ip link set address` sends):
 * "NetworkAddress" = the MAC as 12 UTF-16 hex digits. Not supported here. */
static void rndis_set_mac(void) {
  static const char name[] = "NetworkAddress";
  static const char value[] = "020000000042";
  const uint32_t name_len = 2 * (sizeof name - 1), value_len = 2 * (sizeof value - 1);
  uint8_t info[RNDIS_CONFIG_PARAMETER_INFO_SIZE + 2 * (sizeof name - 1) + 2 * (sizeof value - 1)];
  vmbus_put32(info, 0, RNDIS_CONFIG_PARAMETER_INFO_SIZE);                    /* parameter_name_offset */
  vmbus_put32(info, 4, name_len);                                      /* parameter_name_length */
  vmbus_put32(info, 8, RNDIS_CONFIG_PARAM_TYPE_STRING);                /* parameter_type */
  vmbus_put32(info, 12, RNDIS_CONFIG_PARAMETER_INFO_SIZE + name_len);        /* parameter_value_offset */
  vmbus_put32(info, 16, value_len);                                    /* parameter_value_length */
  for (uint32_t i = 0; i + 1 < sizeof name; ++i) vmbus_put16(info, RNDIS_CONFIG_PARAMETER_INFO_SIZE + 2 * i, (uint16_t)name[i]);
  for (uint32_t i = 0; i + 1 < sizeof value; ++i)
    vmbus_put16(info, RNDIS_CONFIG_PARAMETER_INFO_SIZE + name_len + 2 * i, (uint16_t)value[i]);
  CHECK_EQ("rndis.set_config_parameter.not_supported", RNDIS_STATUS_NOT_SUPPORTED,
           set("rndis.set_config_parameter", RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER, info, sizeof info));
}

static void rndis_keepalive(void) {
  const uint32_t req = nic.next_req_id++;
  netvsc_rndis_simple(nic.control, RNDIS_MSG_KEEPALIVE, req);
  netvsc_event* e = call("rndis.keepalive", AT_START, RNDIS_MSG_KEEPALIVE_C, RNDIS_SET_C_SIZE);
  if (e != NULL) CHECK_EQ("rndis.keepalive.status_success", RNDIS_STATUS_SUCCESS, netvsc_get32(e, RNDIS_COMPLETE_STATUS_OFFSET));
  netvsc_release(e);
}

static void rndis_open(void) {
  /* rndis_filter_open_device's filter; the first non-zero one brings the
   * host's MEDIA_CONNECT indication. */
  const uint32_t filter = NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_ALL_MULTICAST | NDIS_PACKET_TYPE_DIRECTED;
  uint8_t v[4];
  vmbus_put32(v, 0, filter);
  CHECK_EQ("rndis.packet_filter.success", RNDIS_STATUS_SUCCESS,
           set("rndis.packet_filter", RNDIS_OID_GEN_CURRENT_PACKET_FILTER, v, sizeof v));
  netvsc_event* e = netvsc_wait_event(&nic, RNDIS_MSG_INDICATE, false, 0, REPLY_WAIT);
  if (CHECK_TRUE("rndis.indicate.arrived", e != NULL)) {
    CHECK_GE("rndis.indicate.size", RNDIS_INDICATE_SIZE, e->len);
    CHECK_EQ("rndis.indicate.media_connect", RNDIS_STATUS_MEDIA_CONNECT, netvsc_get32(e, RNDIS_INDICATE_STATUS_OFFSET));
  }
  netvsc_release(e);
}

/* ---- Frames ----------------------------------------------------------------- */

/* An Ethernet frame of `len` bytes from this NIC to `dst`, payload a
 * pattern from `seed` so frames differ. */
static void frame(uint8_t* f, const uint8_t* dst, uint32_t len, uint8_t seed) {
  memcpy(f, dst, ETH_ALEN);
  memcpy(f + ETH_ALEN, mac, ETH_ALEN);
  f[2 * ETH_ALEN] = (uint8_t)(ETH_P_802_EX1 >> 8);
  f[2 * ETH_ALEN + 1] = (uint8_t)ETH_P_802_EX1;
  for (uint32_t i = ETH_HLEN; i < len; ++i) f[i] = (uint8_t)(seed + i * 7u);
}

static void sent(uint32_t len) {
  ++tx_frames;
  tx_bytes += len;
}

/* Waits for the packet's COMP; its NVSP status must be success. */
static void expect_sent(const char* what, uint64_t id) {
  netvsc_completion c;
  CHECK_NE(nm(what, "sent"), 0, id);
  const bool got = netvsc_wait_completion(&nic, id, &c, REPLY_WAIT);
  CHECK_TRUE(nm(what, "completed"), got);
  if (got) CHECK_EQ(nm(what, "status_success"), NVSP_STAT_SUCCESS, netvsc_rndis_completion_status(&c));
}

/* The next frame back must be `f`, whole, as RNDIS_MSG_PACKET with the
 * contract's data_offset and no per-packet info. */
static void expect_back(const char* what, const uint8_t* f, uint32_t len) {
  netvsc_event* e = netvsc_wait_event(&nic, RNDIS_MSG_PACKET, false, 0, REPLY_WAIT);
  if (!CHECK_TRUE(nm(what, "received"), e != NULL)) return;
  uint32_t got_len = 0;
  const uint8_t* got = netvsc_packet_frame(e, &got_len);
  CHECK_TRUE(nm(what, "framing_valid"), got != NULL);
  CHECK_EQ(nm(what, "data_channel"), NVSP_RNDIS_CHANNEL_TYPE_DATA, e->channel_type);
  CHECK_EQ(nm(what, "data_offset_36"), RNDIS_PACKET_BODY_SIZE, netvsc_get32(e, RNDIS_PACKET_DATA_OFFSET_OFFSET));
  CHECK_EQ(nm(what, "no_per_packet_info"), 0, netvsc_get32(e, RNDIS_PACKET_PPI_LEN_OFFSET));
  CHECK_EQ(nm(what, "length"), len, got_len);
  CHECK_TRUE(nm(what, "intact"), got != NULL && got_len == len && memcmp(got, f, len) == 0);
  ++rx_frames;
  rx_bytes += got_len;
  netvsc_release(e);
}

/* Nothing comes back within QUIET_WAIT. */
static void expect_nothing(const char* what) {
  netvsc_event* e = netvsc_wait_event(&nic, RNDIS_MSG_PACKET, false, 0, QUIET_WAIT);
  CHECK_TRUE(nm(what, "not_received"), e == NULL);
  netvsc_release(e);
}

/* One frame alone in send section `index` (netvsc_send without xmit_more). */
static uint64_t send_in_section(uint32_t index, const uint8_t* f, uint32_t len) {
  const uint32_t size = netvsc_rndis_packet(nic.send_buf + index * nic.send_section_size, f, len);
  sent(len);
  return netvsc_send_rndis(&nic, NVSP_RNDIS_CHANNEL_TYPE_DATA, index, size, NULL, 0);
}

/* Linux's batching: each message but the last padded to pkt_align, the
 * padding counted in its msg_len (netvsc_copy_to_send_buf). */
static uint32_t batch_add(uint8_t* section, uint32_t at, const uint8_t* f, uint32_t len, bool more) {
  uint32_t size = netvsc_rndis_packet(section + at, f, len);
  const uint32_t remain = size & (RNDIS_PKT_ALIGN_DEFAULT - 1);
  if (more && remain != 0) {
    const uint32_t pad = RNDIS_PKT_ALIGN_DEFAULT - remain;
    memset(section + at + size, 0, pad);
    size += pad;
    vmbus_put32(section + at, RNDIS_MSG_LEN_OFFSET, size);
  }
  sent(len);
  return at + size;
}

static uint8_t f1[ETH_FRAME_LEN], f2[ETH_FRAME_LEN], f3[ETH_FRAME_LEN];

static void data_path(void) {
  frame(f1, broadcast, 128, 1);
  expect_sent("tx.section.broadcast", send_in_section(0, f1, 128));
  expect_back("rx.broadcast", f1, 128);

  frame(f1, mac, ETH_ZLEN, 2);
  expect_sent("tx.section.directed", send_in_section(1, f1, ETH_ZLEN));
  expect_back("rx.directed", f1, ETH_ZLEN);

  /* A full-size frame by page buffers, as when no section is free: the
   * RNDIS header in one, the frame across a page boundary in two more. */
  uint8_t* hdr = frame_pages[0];
  uint8_t* big = frame_pages[1] + HV_PAGE_SIZE - 700;
  frame(big, mac, ETH_FRAME_LEN, 3);
  netvsc_rndis_packet(hdr, NULL, ETH_FRAME_LEN);
  vmbus_page_buffer pb[4];
  uint32_t count = netvsc_page_buffers(hdr, RNDIS_PACKET_SIZE, pb, 4);
  count += netvsc_page_buffers(big, ETH_FRAME_LEN, pb + count, 4 - count);
  CHECK_EQ("tx.gpa_direct.three_page_buffers", 3, count);
  sent(ETH_FRAME_LEN);
  expect_sent("tx.gpa_direct.max_frame",
              netvsc_send_rndis(&nic, NVSP_RNDIS_CHANNEL_TYPE_DATA, NETVSC_INVALID_INDEX, 0, pb, count));
  expect_back("rx.gpa_direct.max_frame", big, ETH_FRAME_LEN);

  /* Three frames batched in one section: broadcast, directed, multicast
   * (ALL_MULTICAST is in the filter). */
  uint8_t* s2 = nic.send_buf + 2 * nic.send_section_size;
  frame(f1, broadcast, 61, 4);
  frame(f2, mac, 203, 5);
  frame(f3, multicast, 90, 6);
  uint32_t at = batch_add(s2, 0, f1, 61, true);
  at = batch_add(s2, at, f2, 203, true);
  at = batch_add(s2, at, f3, 90, false);
  expect_sent("tx.batch", netvsc_send_rndis(&nic, NVSP_RNDIS_CHANNEL_TYPE_DATA, 2, at, NULL, 0));
  expect_back("rx.batch.first", f1, 61);
  expect_back("rx.batch.second", f2, 203);
  expect_back("rx.batch.multicast", f3, 90);

  /* cp_partial: a batched frame whole, then only the next one's RNDIS
   * header in the section, its frame in page buffers after it. */
  uint8_t* s3 = nic.send_buf + 3 * nic.send_section_size;
  uint8_t* tail = frame_pages[3] + 100;
  frame(f1, broadcast, 300, 7);
  frame(tail, mac, 1000, 8);
  at = batch_add(s3, 0, f1, 300, true);
  netvsc_rndis_packet(s3 + at, NULL, 1000);
  sent(1000);
  count = netvsc_page_buffers(tail, 1000, pb, 4);
  expect_sent("tx.cp_partial",
              netvsc_send_rndis(&nic, NVSP_RNDIS_CHANNEL_TYPE_DATA, 3, at + RNDIS_PACKET_SIZE, pb, count));
  expect_back("rx.cp_partial.batched", f1, 300);
  expect_back("rx.cp_partial.paged", tail, 1000);

  /* To another unicast MAC: transmitted, not received (DIRECTED is our
   * MAC only). The directed frame after it must be the next one back. */
  frame(f1, other_mac, 100, 9);
  expect_sent("tx.other_unicast", send_in_section(4, f1, 100));
  ++filtered_frames;
  frame(f2, mac, 100, 10);
  expect_sent("tx.after_other_unicast", send_in_section(0, f2, 100));
  expect_back("rx.other_unicast_filtered", f2, 100);
  expect_nothing("rx.other_unicast");
}

/* Sets the packet filter; its SET_C must say success. */
static void set_filter(const char* what, uint32_t filter) {
  uint8_t v[4];
  vmbus_put32(v, 0, filter);
  CHECK_EQ(nm(what, "success"), RNDIS_STATUS_SUCCESS, set(what, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, v, sizeof v));
}

/* The filter bits one at a time (the contract: directed to our MAC,
 * broadcast, multicast with (ALL_)MULTICAST, everything when
 * PROMISCUOUS), then Linux's filter again; no second MEDIA_CONNECT. */
static void filters(void) {
  set_filter("filter.directed_only", NDIS_PACKET_TYPE_DIRECTED);
  frame(f1, broadcast, 70, 12);
  expect_sent("filter.directed_only.tx_broadcast", send_in_section(0, f1, 70));
  frame(f2, multicast, 71, 13);
  expect_sent("filter.directed_only.tx_multicast", send_in_section(1, f2, 71));
  filtered_frames += 2;
  frame(f3, mac, 72, 14);
  expect_sent("filter.directed_only.tx_directed", send_in_section(2, f3, 72));
  expect_back("filter.directed_only.rx_directed_first", f3, 72);
  expect_nothing("filter.directed_only.rest");

  set_filter("filter.promiscuous", NDIS_PACKET_TYPE_PROMISCUOUS);
  frame(f1, other_mac, 73, 15);
  expect_sent("filter.promiscuous.tx_other_unicast", send_in_section(0, f1, 73));
  expect_back("filter.promiscuous.rx_other_unicast", f1, 73);

  set_filter("filter.linux_again",
             NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_ALL_MULTICAST | NDIS_PACKET_TYPE_DIRECTED);
  netvsc_poll(&nic);
  netvsc_event* e = netvsc_find_event(&nic, RNDIS_MSG_INDICATE, false, 0);
  CHECK_TRUE("filter.indicate_only_once", e == NULL);
  netvsc_release(e);
}

/* Everything the host sent was well formed and is answered. */
static void host_behaviour(void) {
  const netvsc_stats* s = &nic.stats;
  CHECK_EQ("host.packet_types", 0, s->bad_packet_type);
  CHECK_EQ("host.xfer_headers", 0, s->bad_xfer_header);
  CHECK_EQ("host.xfer_completion_requested", 0, s->bad_xfer_flags);
  CHECK_EQ("host.xfer_nvsp", 0, s->bad_xfer_nvsp);
  CHECK_EQ("host.xfer_ranges", 0, s->bad_range);
  CHECK_EQ("host.rndis_framing", 0, s->bad_rndis);
  CHECK_EQ("host.channel_types", 0, s->channel_type_mismatch);
  CHECK_EQ("host.completions_matched", 0, s->unmatched_completions);
  CHECK_EQ("host.ring", 0, s->ring_errors);
  CHECK_EQ("host.events_kept", 0, s->events_dropped);
  CHECK_EQ("host.no_stray_messages", 0, netvsc_event_count(&nic));
  CHECK_EQ("rx.every_receive_completed", s->xfer_packets, s->receive_completions_sent);
  METRIC("xfer_packets", s->xfer_packets);
}

static void close_down(void) {
  /* rndis_filter_close_device: filter 0 receives nothing. */
  set_filter("close.packet_filter_0", 0);
  frame(f1, broadcast, 100, 11);
  expect_sent("close.tx.broadcast", send_in_section(0, f1, 100));
  ++filtered_frames;
  expect_nothing("close.filter_0");
  /* rndis_filter_halt_device: HALT has no reply. */
  netvsc_rndis_simple(nic.control, RNDIS_MSG_HALT, nic.next_req_id++);
  call("close.halt", AT_START, 0, 0);
  /* netvsc_device_remove: revokes ask for no completion. */
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_REVOKE_RECV_BUF);
  vmbus_put16(msg, NVSP_REVOKE_BUF_ID_OFFSET, NETVSC_RECEIVE_BUFFER_ID);
  netvsc_send_nvsp(&nic, msg, sizeof msg, false);
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_REVOKE_SEND_BUF);
  vmbus_put16(msg, NVSP_REVOKE_BUF_ID_OFFSET, NETVSC_SEND_BUFFER_ID);
  netvsc_send_nvsp(&nic, msg, sizeof msg, false);
  const uint32_t packets = nic.stats.comp_packets + nic.stats.xfer_packets;
  const uint64_t start = vmbus_now();
  while (vmbus_now() - start < QUIET_WAIT) netvsc_poll(&nic);
  CHECK_EQ("close.halt_and_revokes.no_reply", packets, nic.stats.comp_packets + nic.stats.xfer_packets);
  host_behaviour();
  METRIC("guest_signals", nic.chan.signals);

  vmbus_msg m, r;
  vmbus_msg_relid(&m, CHANNELMSG_CLOSECHANNEL, nic.chan.relid);
  CHECK_EQ("close.channel", HV_STATUS_SUCCESS, vmbus_post(&m));
  CHECK_TRUE("close.ring_gpadl_torndown", vmbus_gpadl_teardown(nic.chan.relid, FIRST_GPADL_HANDLE, REPLY_WAIT));
  CHECK_TRUE("close.recv_gpadl_torndown", vmbus_gpadl_teardown(nic.chan.relid, FIRST_GPADL_HANDLE + 1, REPLY_WAIT));
  CHECK_TRUE("close.send_gpadl_torndown", vmbus_gpadl_teardown(nic.chan.relid, FIRST_GPADL_HANDLE + 2, REPLY_WAIT));
  vmbus_msg_start(&m, CHANNELMSG_UNLOAD, VMBUS_UNLOAD_SIZE);
  vmbus_post(&m);
  CHECK_TRUE("close.unload_response", vmbus_wait_type(&r, CHANNELMSG_UNLOAD_RESPONSE, REPLY_WAIT, NULL));
}

int main(void) {
  if (!hv_detect(&hv) || !(hv.privileges_low & HV_ACCESS_SYNIC_REGS) || !(hv.privileges_high & HV_POST_MESSAGES) ||
      !(hv.privileges_high & HV_SIGNAL_EVENTS)) {
    CHECK_TRUE("hyperv.synic_messages_events", false);
    return (int)guest_checks_failed();
  }
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  if (!vmbus_guest_setup(&hv, simp, siefp, VMBUS_VECTOR, &vp_index)) return (int)guest_checks_failed();

  if (bus_up() && nvsp_init() && nvsp_buffers() && rndis_init()) {
    rndis_queries();
    rndis_set_mac();
    rndis_keepalive();
    rndis_open();
    if (CHECK_TRUE("mac.known", memcmp(mac, default_mac, ETH_ALEN) == 0)) {
      data_path();
      filters();
    }
    close_down();
  }
  METRIC("tx_frames", tx_frames);
  METRIC("tx_bytes", tx_bytes);
  METRIC("rx_frames", rx_frames);
  METRIC("rx_bytes", rx_bytes);
  METRIC("filtered_frames", filtered_frames);
  hv_synic_disable();
  return (int)guest_checks_failed();
}
