/*
 * conformance-vmbus: the VMBus host, driven the way Linux 6.1's hv_vmbus and
 * hv_utils drive it (drivers/hv/connection.c vmbus_connect and
 * vmbus_negotiate_version, channel_mgmt.c vmbus_onoffer, channel.c
 * vmbus_establish_gpadl, vmbus_open and vmbus_close, hv_util.c
 * heartbeat_onchannelcallback), with every answer checked:
 *
 *   contact   5.3 .. 5.0 on connection 4 get HV_STATUS_INVALID_CONNECTION_ID
 *             (nobody owns it) and nothing in the slot; 4.1 on connection 1
 *             is answered version_supported = 0; 4.0 is answered 1, in this
 *             vCPU's SINT2 slot with SynIC type VMBUS_MESSAGE_TYPE and the
 *             SINT's interrupt.
 *   offers    REQUESTOFFERS: OFFERCHANNELs, then ALLOFFERS_DELIVERED; each
 *             offer full size, relid in 1..2047 and unique, a connection id
 *             of its own clear of the well-known ids, no monitor page, a
 *             dedicated interrupt. With the vmbus-util plugin: the heartbeat,
 *             shutdown and time sync interface GUIDs.
 *   GPADL     the heartbeat's ring pair (4 + 4 pages, hv_util's
 *             VMBUS_RING_SIZE(3 * 4 KiB) each way) in one GPADL_HEADER:
 *             GPADL_CREATED echoes relid and handle with status 0.
 *   open      OPENCHANNEL (openid = relid, target VP = this vCPU): result 0,
 *             relid and openid echoed; the host set feat_pending_send_sz on
 *             the ring it writes.
 *   IC        the host speaks first: a NEGOTIATE in the inbound ring, with
 *             the channel's flag in the SIEF slot and a SINT2 interrupt; the
 *             guest answers as Linux (counts 1/1, framework 3.0, heartbeat
 *             3.0, icflags TRANSACTION | RESPONSE, the request's transaction
 *             id and length), signalling by Linux's rule; the host consumes
 *             it at once. Then HEARTBEAT requests, sequence numbers rising,
 *             each answered with seq + 1.
 *   close     CLOSECHANNEL has no reply and stops the heartbeats;
 *             GPADL_TEARDOWN -> GPADL_TORNDOWN; UNLOAD -> UNLOAD_RESPONSE.
 *
 * Without offers (the vmbus plugin alone) the channel steps are skipped,
 * said on the console. METRICs: offers, heartbeat_offered, ic_framework,
 * ic_message, heartbeats_answered, heartbeat_interval_100ns,
 * guest_signals, sint2_interrupts, vmbus_version.
 */
#include <enlight_guest/guest.h>
#include <enlight_guest/vmbus.h>

/* Linux's HYPERVISOR_CALLBACK_VECTOR (arch/x86/include/asm/irq_vectors.h),
 * the vector hv_vmbus programs into SINT2. */
#define VMBUS_VECTOR 0xF3u
/* Linux's first GPADL handle (drivers/hv/connection.c, next_gpadl_handle). */
#define FIRST_GPADL_HANDLE 0xE1E10u
/* hv_util's rings: VMBUS_RING_SIZE(3 * HV_HYP_PAGE_SIZE) per direction, a
 * header page and three data pages. */
#define RING_PAGES 4u
#define HEARTBEATS 4u
#define MAX_OFFERS 16u
/* The well-known connection ids end at the monitor's (hyperv_vmbus.h). */
#define LAST_WELL_KNOWN_CONNECTION_ID VMBUS_MESSAGE_CONNECTION_ID_4

#define REPLY_WAIT (500u * VMBUS_MS)
/* A message that is not coming: the host answers inside the hypercall, so
 * a short look is enough. */
#define QUIET_WAIT (20u * VMBUS_MS)
/* Heartbeats come every heartbeat-interval-ms (1000 by default). */
#define HEARTBEAT_WAIT (3000u * VMBUS_MS)

static hv_info hv;
static uint8_t simp[4096] __attribute__((aligned(4096)));
static uint8_t siefp[4096] __attribute__((aligned(4096)));
/* What Linux's INITIATE_CONTACT names: the interrupt page and the two
 * monitor pages (the host may ignore them). */
static uint8_t interrupt_page[4096] __attribute__((aligned(4096)));
static uint8_t monitor_pages[2][4096] __attribute__((aligned(4096)));
static uint8_t ring_pages[2 * RING_PAGES][4096] __attribute__((aligned(4096)));

typedef struct offer {
  uint8_t if_type[VMBUS_GUID_SIZE];
  uint8_t if_instance[VMBUS_GUID_SIZE];
  uint32_t relid, connection_id;
} offer;
static offer offers[MAX_OFFERS];
static uint32_t offer_count;

static const uint8_t heartbeat_guid[VMBUS_GUID_SIZE] = HV_HEART_BEAT_GUID_BYTES;
static const uint8_t shutdown_guid[VMBUS_GUID_SIZE] = HV_SHUTDOWN_GUID_BYTES;
static const uint8_t timesync_guid[VMBUS_GUID_SIZE] = HV_TS_GUID_BYTES;
/* hv_util.c hb_versions, newest first. */
static const uint32_t heartbeat_versions[] = {IC_HB_VERSION, IC_HB_VERSION_1};

static uint32_t vp_index;

static uint16_t contact(uint32_t connection, uint32_t version) {
  vmbus_msg m;
  vmbus_msg_initiate_contact(&m, version, vp_index, (uint64_t)(uintptr_t)interrupt_page,
                             (uint64_t)(uintptr_t)monitor_pages[0], (uint64_t)(uintptr_t)monitor_pages[1]);
  return vmbus_post_raw(connection, VMBUS_MESSAGE_TYPE, m.bytes, m.size);
}

static bool step_contact(void) {
  vmbus_msg r;
  /* Linux 6.1 starts at 5.3 and walks down; 5.x goes to connection 4. */
  static const uint32_t v5[] = {VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN10_V5_1,
                                VMBUS_VERSION_WIN10_V5};
  uint32_t refused = 0;
  for (uint32_t i = 0; i < sizeof v5 / sizeof v5[0]; ++i)
    refused += contact(VMBUS_MESSAGE_CONNECTION_ID_4, v5[i]) == HV_STATUS_INVALID_CONNECTION_ID;
  CHECK_EQ("contact.v5_on_connection4.invalid_connection_id", 4, refused);
  CHECK_TRUE("contact.v5_on_connection4.no_reply", !vmbus_wait(&r, QUIET_WAIT));

  /* 4.1 is the next one Linux offers, on connection 1: not supported here. */
  CHECK_EQ("contact.v4_1.post_success", HV_STATUS_SUCCESS, contact(VMBUS_MESSAGE_CONNECTION_ID, VMBUS_VERSION_WIN10_V4_1));
  bool got = vmbus_wait(&r, REPLY_WAIT);
  CHECK_TRUE("contact.v4_1.answered", got);
  if (got) {
    CHECK_EQ("contact.v4_1.version_response", CHANNELMSG_VERSION_RESPONSE, vmbus_msg_type(&r));
    CHECK_EQ("contact.v4_1.version_supported_0", 0, r.bytes[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET]);
  }

  const uint64_t irqs = vmbus_sint_interrupts();
  CHECK_EQ("contact.v4_0.post_success", HV_STATUS_SUCCESS, contact(VMBUS_MESSAGE_CONNECTION_ID, VMBUS_VERSION_WIN10));
  uint32_t synic_type = 0;
  const uint64_t start = vmbus_now();
  got = false;
  irq_enable();
  while (!got && vmbus_now() - start < REPLY_WAIT) got = vmbus_take(&r, &synic_type);
  if (!CHECK_TRUE("contact.v4_0.answered", got)) return false;
  CHECK_EQ("contact.v4_0.synic_message_type", VMBUS_MESSAGE_TYPE, synic_type);
  CHECK_TRUE("contact.v4_0.sint2_interrupt", vmbus_sint_interrupts() > irqs);
  CHECK_EQ("contact.v4_0.version_response", CHANNELMSG_VERSION_RESPONSE, vmbus_msg_type(&r));
  CHECK_GE("contact.v4_0.payload_size", VMBUS_VERSION_RESPONSE_SIZE, r.size);
  METRIC("vmbus_version", VMBUS_VERSION_WIN10);
  return CHECK_EQ("contact.v4_0.version_supported_1", 1, r.bytes[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET]);
}

static const offer* find_offer(const uint8_t* guid) {
  for (uint32_t i = 0; i < offer_count; ++i)
    if (memcmp(offers[i].if_type, guid, VMBUS_GUID_SIZE) == 0) return &offers[i];
  return NULL;
}

static void step_offers(void) {
  vmbus_msg m;
  vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
  CHECK_EQ("offers.request.post_success", HV_STATUS_SUCCESS, vmbus_post(&m));
  uint32_t short_offers = 0, bad_relid = 0, duplicate_relid = 0, bad_connection = 0, duplicate_connection = 0;
  uint32_t monitored = 0, not_dedicated = 0, subchannels = 0, other = 0;
  bool all_delivered = false;
  vmbus_msg r;
  while (!all_delivered && vmbus_wait(&r, REPLY_WAIT)) {
    const uint32_t type = vmbus_msg_type(&r);
    if (type == CHANNELMSG_ALLOFFERS_DELIVERED) {
      all_delivered = true;
      continue;
    }
    if (type != CHANNELMSG_OFFERCHANNEL) {
      ++other;
      continue;
    }
    if (r.size < VMBUS_OFFERCHANNEL_SIZE) {
      ++short_offers;
      continue;
    }
    const uint32_t relid = vmbus_get32(r.bytes, VMBUS_OFFERCHANNEL_CHILD_RELID_OFFSET);
    const uint32_t connection = vmbus_get32(r.bytes, VMBUS_OFFERCHANNEL_CONNECTION_ID_OFFSET);
    if (relid < VMBUS_CHILD_RELID_MIN || relid > VMBUS_CHILD_RELID_MAX) ++bad_relid;
    if (connection <= LAST_WELL_KNOWN_CONNECTION_ID || (connection & ~HV_CONNECTION_ID_MASK) != 0) ++bad_connection;
    for (uint32_t i = 0; i < offer_count; ++i) {
      duplicate_relid += offers[i].relid == relid;
      duplicate_connection += offers[i].connection_id == connection;
    }
    monitored += (r.bytes[VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED_OFFSET] & VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED) != 0;
    not_dedicated +=
        (vmbus_get16(r.bytes, VMBUS_OFFERCHANNEL_IS_DEDICATED_INTERRUPT_OFFSET) & VMBUS_OFFERCHANNEL_IS_DEDICATED_INTERRUPT) == 0;
    subchannels += vmbus_get16(r.bytes, VMBUS_OFFERCHANNEL_SUB_CHANNEL_INDEX_OFFSET) != 0;
    if (offer_count < MAX_OFFERS) {
      offer* o = &offers[offer_count++];
      memcpy(o->if_type, r.bytes + VMBUS_OFFERCHANNEL_IF_TYPE_OFFSET, VMBUS_GUID_SIZE);
      memcpy(o->if_instance, r.bytes + VMBUS_OFFERCHANNEL_IF_INSTANCE_OFFSET, VMBUS_GUID_SIZE);
      o->relid = relid;
      o->connection_id = connection;
      guest_printf("conformance-vmbus: offer relid %u connection %u type %02x%02x%02x%02x...\n", relid, connection,
                   o->if_type[3], o->if_type[2], o->if_type[1], o->if_type[0]);
    }
  }
  CHECK_TRUE("offers.all_offers_delivered", all_delivered);
  CHECK_EQ("offers.no_other_messages", 0, other);
  CHECK_EQ("offers.full_size", 0, short_offers);
  CHECK_EQ("offers.relid_in_range", 0, bad_relid);
  CHECK_EQ("offers.relid_unique", 0, duplicate_relid);
  CHECK_EQ("offers.connection_id_own", 0, bad_connection);
  CHECK_EQ("offers.connection_id_unique", 0, duplicate_connection);
  /* Every signal a hypercall (no monitor page), each channel its own
   * interrupt (docs/vmbus.md). */
  CHECK_EQ("offers.monitor_not_allocated", 0, monitored);
  CHECK_EQ("offers.dedicated_interrupt", 0, not_dedicated);
  CHECK_EQ("offers.no_subchannels", 0, subchannels);
  METRIC("offers", offer_count);
  if (offer_count != 0) {
    /* The util ICs come together from vmbus-util (all three by default). */
    CHECK_TRUE("offers.heartbeat_interface", find_offer(heartbeat_guid) != NULL);
    CHECK_TRUE("offers.shutdown_interface", find_offer(shutdown_guid) != NULL);
    CHECK_TRUE("offers.timesync_interface", find_offer(timesync_guid) != NULL);
  }
}

/* SINT2 interrupts seen just before the channel's flag was last taken:
 * any later setting of the flag found it clear, so it must have raised
 * SINT2 after this count (TLFS Event Flag Delivery). */
static uint64_t irqs_before_take;

/* Waits for the channel's flag and takes it (Linux vmbus_chan_sched), then
 * serves the packet that came. */
static bool serve_next(vmbus_channel* c, const char* what, vmbus_ic_event* ev) {
  char name[96];
  irq_enable();
  bool flagged = false;
  uint64_t before = 0;
  const uint64_t start = vmbus_now();
  while (!flagged && vmbus_now() - start < HEARTBEAT_WAIT) {
    before = vmbus_sint_interrupts();
    flagged = vmbus_event_take(c->relid);
    if (!flagged) cpu_relax();
  }
  guest_snprintf(name, sizeof name, "%s.event_flag", what);
  CHECK_TRUE(name, flagged);
  if (flagged) {
    guest_snprintf(name, sizeof name, "%s.sint2_interrupt", what);
    const uint64_t wait = vmbus_now();
    while (vmbus_sint_interrupts() == irqs_before_take && vmbus_now() - wait < QUIET_WAIT) cpu_relax();
    CHECK_TRUE(name, vmbus_sint_interrupts() > irqs_before_take);
    irqs_before_take = before;
  }
  const bool read = vmbus_ic_serve(c, heartbeat_versions, sizeof heartbeat_versions / sizeof heartbeat_versions[0], ev);
  guest_snprintf(name, sizeof name, "%s.packet_read", what);
  CHECK_TRUE(name, read && ev->ring == VMBUS_RING_OK);
  return read && ev->ring == VMBUS_RING_OK;
}

/* After an answer: Linux signalled (the host's ring was empty and not
 * masked), the call succeeded, and the host consumed the answer. */
static void check_answer_taken(vmbus_channel* c, const char* what, const vmbus_ic_event* ev) {
  char name[96];
  guest_snprintf(name, sizeof name, "%s.answer_written", what);
  CHECK_TRUE(name, ev->answered);
  guest_snprintf(name, sizeof name, "%s.answer_signalled", what);
  CHECK_TRUE(name, ev->signalled);
  guest_snprintf(name, sizeof name, "%s.signal_success", what);
  CHECK_EQ(name, HV_STATUS_SUCCESS, ev->signal_status);
  const uint64_t start = vmbus_now();
  while (vmbus_ring_field(&c->out, VMBUS_RING_READ_INDEX_OFFSET) != vmbus_ring_field(&c->out, VMBUS_RING_WRITE_INDEX_OFFSET) &&
         vmbus_now() - start < REPLY_WAIT)
    cpu_relax();
  guest_snprintf(name, sizeof name, "%s.host_consumed_answer", what);
  CHECK_EQ(name, vmbus_ring_field(&c->out, VMBUS_RING_WRITE_INDEX_OFFSET),
           vmbus_ring_field(&c->out, VMBUS_RING_READ_INDEX_OFFSET));
  guest_snprintf(name, sizeof name, "%s.out_ring_unmasked_after_drain", what);
  CHECK_EQ(name, 0, vmbus_ring_field(&c->out, VMBUS_RING_INTERRUPT_MASK_OFFSET));
}

static void step_heartbeat_channel(void) {
  const offer* o = find_offer(heartbeat_guid);
  METRIC("heartbeat_offered", o != NULL);
  if (o == NULL) {
    guest_printf("conformance-vmbus: no heartbeat offer (vmbus-util not loaded?); channel steps skipped\n");
    return;
  }
  vmbus_channel c;
  memset(&c, 0, sizeof c);
  c.relid = o->relid;
  c.connection_id = o->connection_id;
  vmbus_channel_rings(&c, ring_pages, RING_PAGES, RING_PAGES);
  uint64_t pfns[2 * RING_PAGES];
  vmbus_pfns_of(ring_pages, 2 * RING_PAGES, pfns);
  const uint32_t gpadl = FIRST_GPADL_HANDLE;
  vmbus_msg r;

  CHECK_EQ("gpadl.post_success", HV_STATUS_SUCCESS, vmbus_gpadl_send(c.relid, gpadl, pfns, 2 * RING_PAGES));
  if (!CHECK_TRUE("gpadl.created", vmbus_wait_type(&r, CHANNELMSG_GPADL_CREATED, REPLY_WAIT, NULL))) return;
  CHECK_GE("gpadl.created.payload_size", VMBUS_GPADL_CREATED_SIZE, r.size);
  CHECK_EQ("gpadl.created.child_relid", c.relid, vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_CHILD_RELID_OFFSET));
  CHECK_EQ("gpadl.created.gpadl", gpadl, vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_GPADL_OFFSET));
  if (!CHECK_EQ("gpadl.created.status_success", VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET)))
    return;

  vmbus_msg m;
  vmbus_event_take(c.relid);
  irqs_before_take = vmbus_sint_interrupts();
  /* Linux: openid = child_relid, the util channels bound to CPU 0. */
  vmbus_msg_open_channel(&m, c.relid, c.relid, gpadl, vp_index, RING_PAGES);
  CHECK_EQ("open.post_success", HV_STATUS_SUCCESS, vmbus_post(&m));
  if (!CHECK_TRUE("open.result", vmbus_wait_type(&r, CHANNELMSG_OPENCHANNEL_RESULT, REPLY_WAIT, NULL))) return;
  CHECK_GE("open.result.payload_size", VMBUS_OPENCHANNEL_RESULT_SIZE, r.size);
  CHECK_EQ("open.result.child_relid", c.relid, vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_CHILD_RELID_OFFSET));
  CHECK_EQ("open.result.openid", c.relid, vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_OPENID_OFFSET));
  if (!CHECK_EQ("open.result.status_success", VMBUS_CHANNEL_STATUS_SUCCESS,
                vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_STATUS_OFFSET)))
    return;
  CHECK_EQ("open.in_ring.feat_pending_send_sz", VMBUS_RING_BUFFER_FEAT_PENDING_SZ,
           vmbus_ring_field(&c.in, VMBUS_RING_FEATURE_BITS_OFFSET) & VMBUS_RING_BUFFER_FEAT_PENDING_SZ);

  /* The host speaks first. */
  vmbus_ic_event ev;
  if (!serve_next(&c, "ic.negotiate", &ev)) return;
  CHECK_EQ("ic.negotiate.packet_inband", VM_PKT_DATA_INBAND, ev.packet_type);
  CHECK_EQ("ic.negotiate.data_after_descriptor", VMBUS_PACKET_DESCRIPTOR_SIZE / VMBUS_PACKET_ALIGNMENT, ev.offset8);
  CHECK_EQ("ic.negotiate.icmsgtype", ICMSGTYPE_NEGOTIATE, ev.icmsgtype);
  CHECK_EQ("ic.negotiate.request_flags", ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST, ev.icflags);
  CHECK_TRUE("ic.negotiate.common_version", ev.negotiated);
  CHECK_EQ("ic.negotiate.framework_3_0", UTIL_FW_VERSION, ev.fw);
  CHECK_EQ("ic.negotiate.heartbeat_3_0", IC_HB_VERSION, ev.msg);
  METRIC("ic_framework", ev.fw);
  METRIC("ic_message", ev.msg);
  check_answer_taken(&c, "ic.negotiate", &ev);

  uint64_t last_seq = 0, first_at = 0, last_at = 0;
  uint32_t answered = 0, rising = 0;
  for (uint32_t i = 0; i < HEARTBEATS; ++i) {
    if (!serve_next(&c, "ic.heartbeat", &ev)) break;
    last_at = vmbus_now();
    /* The first heartbeat goes out as the negotiation completes, while this
     * guest is still checking that answer: the interval is measured from
     * the second. */
    if (i == 1) first_at = last_at;
    CHECK_EQ("ic.heartbeat.packet_inband", VM_PKT_DATA_INBAND, ev.packet_type);
    CHECK_EQ("ic.heartbeat.icmsgtype", ICMSGTYPE_HEARTBEAT, ev.icmsgtype);
    CHECK_EQ("ic.heartbeat.request_flags", ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST, ev.icflags);
    CHECK_GE("ic.heartbeat.length", HEARTBEAT_MSG_SEQ_NUM_OFFSET + sizeof(uint64_t), ev.len);
    rising += ev.seq > last_seq;
    last_seq = ev.seq;
    check_answer_taken(&c, "ic.heartbeat", &ev);
    answered += ev.answered;
  }
  CHECK_EQ("ic.heartbeat.answered", HEARTBEATS, answered);
  CHECK_EQ("ic.heartbeat.sequence_rising", HEARTBEATS, rising);
  METRIC("heartbeats_answered", answered);
  if (answered > 2) METRIC("heartbeat_interval_100ns", (last_at - first_at) / (answered - 2));
  METRIC("guest_signals", c.signals);

  vmbus_msg_relid(&m, CHANNELMSG_CLOSECHANNEL, c.relid);
  CHECK_EQ("close.post_success", HV_STATUS_SUCCESS, vmbus_post(&m));
  CHECK_TRUE("close.no_reply", !vmbus_wait(&r, QUIET_WAIT));
  /* Closed: nothing more is written into the ring. */
  vmbus_event_take(c.relid);
  const uint32_t write = vmbus_ring_field(&c.in, VMBUS_RING_WRITE_INDEX_OFFSET);
  const bool flagged = vmbus_event_wait(c.relid, HEARTBEAT_WAIT / 2);
  CHECK_TRUE("close.no_more_signals", !flagged);
  CHECK_EQ("close.no_more_packets", write, vmbus_ring_field(&c.in, VMBUS_RING_WRITE_INDEX_OFFSET));

  vmbus_msg_gpadl_teardown(&m, c.relid, gpadl);
  CHECK_EQ("teardown.post_success", HV_STATUS_SUCCESS, vmbus_post(&m));
  if (CHECK_TRUE("teardown.torndown", vmbus_wait_type(&r, CHANNELMSG_GPADL_TORNDOWN, REPLY_WAIT, NULL))) {
    CHECK_GE("teardown.torndown.payload_size", VMBUS_GPADL_TORNDOWN_SIZE, r.size);
    CHECK_EQ("teardown.torndown.gpadl", gpadl, vmbus_get32(r.bytes, VMBUS_GPADL_TORNDOWN_GPADL_OFFSET));
  }
}

static void step_unload(void) {
  vmbus_msg m, r;
  vmbus_msg_start(&m, CHANNELMSG_UNLOAD, VMBUS_UNLOAD_SIZE);
  CHECK_EQ("unload.post_success", HV_STATUS_SUCCESS, vmbus_post(&m));
  CHECK_TRUE("unload.response", vmbus_wait_type(&r, CHANNELMSG_UNLOAD_RESPONSE, REPLY_WAIT, NULL));
  CHECK_TRUE("unload.nothing_after", !vmbus_wait(&r, QUIET_WAIT));
}

int main(void) {
  if (!hv_detect(&hv)) {
    CHECK_TRUE("hyperv.present", false);
    return (int)guest_checks_failed();
  }
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  /* What hv_vmbus needs before it speaks (vmbus-facts.md section 0). */
  if (!(hv.privileges_low & HV_ACCESS_SYNIC_REGS) || !(hv.privileges_high & HV_POST_MESSAGES) ||
      !(hv.privileges_high & HV_SIGNAL_EVENTS)) {
    guest_printf("conformance-vmbus: no SynIC, PostMessages or SignalEvents advertised; nothing to check\n");
    return 0;
  }
  if (!vmbus_guest_setup(&hv, simp, siefp, VMBUS_VECTOR, &vp_index)) return (int)guest_checks_failed();

  if (step_contact()) {
    step_offers();
    step_heartbeat_channel();
    step_unload();
  }
  METRIC("sint2_interrupts", vmbus_sint_interrupts());
  hv_synic_disable();
  return (int)guest_checks_failed();
}
