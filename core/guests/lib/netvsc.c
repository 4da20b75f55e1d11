/* The synthetic NIC, guest side: see enlight_guest/netvsc.h. */
#include <enlight_guest/guest.h>
#include <enlight_guest/netvsc.h>

/* sizeof(struct rndis_query_request) and struct rndis_query_complete: the
 * info_buf_offset each side writes (counted from the body, after the
 * 8-byte header). */
#define QUERY_REQUEST_INFO_OFFSET (RNDIS_OID_REQ_SIZE - RNDIS_HEADER_SIZE)
#define QUERY_COMPLETE_INFO_OFFSET (RNDIS_QUERY_C_SIZE - RNDIS_HEADER_SIZE)
/* HALT and KEEPALIVE: the header and a u32 req_id. */
#define RNDIS_SIMPLE_SIZE (RNDIS_REQ_ID_OFFSET + 4u)
/* Linux's receive completion (send_recv_completions struct recv_comp_msg):
 * the NVSP type and a status, 8 bytes, not a whole nvsp_message. */
#define RECV_COMPLETION_SIZE (NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET + 4u)
/* The smallest NVSP payload of a receive (netvsc_receive: header and
 * struct nvsp_1_message_send_rndis_packet). */
#define RNDIS_PKT_NVSP_MIN (NVSP_RNDIS_PKT_SECTION_SIZE_OFFSET + 4u)

void netvsc_init(netvsc_nic* n, uint32_t relid, uint32_t connection_id, void* ring_pages, uint32_t pages_each,
                 void* control) {
  memset(n, 0, sizeof *n);
  n->chan.relid = relid;
  n->chan.connection_id = connection_id;
  vmbus_channel_rings(&n->chan, ring_pages, pages_each, pages_each);
  n->control = (uint8_t*)control;
  /* Linux's requestor ids start at 1: 0 is Hyper-V's "unsolicited". */
  n->next_trans_id = 1;
  n->next_req_id = 1;
}

/* ---- Sending -------------------------------------------------------------- */

void netvsc_nvsp_start(uint8_t msg[NVSP_MESSAGE_SIZE], uint32_t type) {
  memset(msg, 0, NVSP_MESSAGE_SIZE);
  vmbus_put32(msg, NVSP_MESSAGE_TYPE_OFFSET, type);
}

static void remember(netvsc_nic* n, uint64_t id) {
  for (uint32_t i = 0; i < NETVSC_MAX_OUTSTANDING; ++i)
    if (n->outstanding[i] == 0) {
      n->outstanding[i] = id;
      return;
    }
}

/* Forgets `id` if it was outstanding; returns whether it was. */
static bool forget(netvsc_nic* n, uint64_t id) {
  for (uint32_t i = 0; i < NETVSC_MAX_OUTSTANDING; ++i)
    if (n->outstanding[i] == id && id != 0) {
      n->outstanding[i] = 0;
      return true;
    }
  return false;
}

uint64_t netvsc_send_nvsp(netvsc_nic* n, const void* msg, uint32_t len, bool completion) {
  const uint64_t id = completion ? n->next_trans_id++ : VMBUS_RQST_ID_NO_RESPONSE;
  const uint16_t flags = completion ? VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED : 0;
  if (vmbus_send(&n->chan, VM_PKT_DATA_INBAND, flags, id, msg, len, NULL, NULL) != VMBUS_RING_OK) return 0;
  if (completion) remember(n, id);
  return id;
}

uint64_t netvsc_send_raw(netvsc_nic* n, uint16_t type, const void* ext, uint32_t ext_len, const void* data,
                         uint32_t len) {
  const uint64_t id = n->next_trans_id++;
  if (vmbus_send_ext(&n->chan, type, VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED, id, ext, ext_len, data, len, NULL,
                     NULL) != VMBUS_RING_OK)
    return 0;
  remember(n, id);
  return id;
}

uint64_t netvsc_send_rndis(netvsc_nic* n, uint32_t channel_type, uint32_t index, uint32_t size,
                           const vmbus_page_buffer* pb, uint32_t count) {
  uint8_t msg[NVSP_MESSAGE_SIZE];
  netvsc_nvsp_start(msg, NVSP_MSG1_TYPE_SEND_RNDIS_PKT);
  vmbus_put32(msg, NVSP_RNDIS_PKT_CHANNEL_TYPE_OFFSET, channel_type);
  vmbus_put32(msg, NVSP_RNDIS_PKT_SECTION_INDEX_OFFSET, index);
  vmbus_put32(msg, NVSP_RNDIS_PKT_SECTION_SIZE_OFFSET, size);
  if (count == 0) return netvsc_send_nvsp(n, msg, sizeof msg, true);
  const uint64_t id = n->next_trans_id++;
  if (vmbus_send_gpa_direct(&n->chan, VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED, id, pb, count, msg, sizeof msg,
                            NULL, NULL) != VMBUS_RING_OK)
    return 0;
  remember(n, id);
  return id;
}

uint32_t netvsc_page_buffers(const void* p, uint32_t len, vmbus_page_buffer* pb, uint32_t max) {
  uintptr_t at = (uintptr_t)p;
  uint32_t count = 0;
  while (len > 0 && count < max) {
    const uint32_t offset = (uint32_t)(at % HV_PAGE_SIZE);
    const uint32_t here = len < HV_PAGE_SIZE - offset ? len : HV_PAGE_SIZE - offset;
    pb[count].pfn = at / HV_PAGE_SIZE;
    pb[count].offset = offset;
    pb[count].len = here;
    ++count;
    at += here;
    len -= here;
  }
  return count;
}

uint64_t netvsc_send_control(netvsc_nic* n, uint32_t at) {
  const uint8_t* m = n->control + at;
  vmbus_page_buffer pb[2];
  const uint32_t count = netvsc_page_buffers(m, vmbus_get32(m, RNDIS_MSG_LEN_OFFSET), pb, 2);
  return netvsc_send_rndis(n, NVSP_RNDIS_CHANNEL_TYPE_CONTROL, NETVSC_INVALID_INDEX, 0, pb, count);
}

/* ---- RNDIS builders -------------------------------------------------------- */

static void rndis_header(uint8_t* m, uint32_t type, uint32_t len) {
  memset(m, 0, len);
  vmbus_put32(m, RNDIS_MSG_TYPE_OFFSET, type);
  vmbus_put32(m, RNDIS_MSG_LEN_OFFSET, len);
}

uint32_t netvsc_rndis_init(uint8_t* m, uint32_t req_id) {
  rndis_header(m, RNDIS_MSG_INIT, RNDIS_INIT_SIZE);
  vmbus_put32(m, RNDIS_REQ_ID_OFFSET, req_id);
  vmbus_put32(m, RNDIS_INIT_MAJOR_OFFSET, RNDIS_MAJOR_VERSION);
  vmbus_put32(m, RNDIS_INIT_MINOR_OFFSET, RNDIS_MINOR_VERSION);
  vmbus_put32(m, RNDIS_INIT_MAX_XFER_SIZE_OFFSET, RNDIS_INIT_MAX_XFER_SIZE_LINUX);
  return RNDIS_INIT_SIZE;
}

uint32_t netvsc_rndis_oid(uint8_t* m, uint32_t type, uint32_t req_id, uint32_t oid, const void* info,
                          uint32_t info_len) {
  const uint32_t len = RNDIS_OID_REQ_SIZE + info_len;
  rndis_header(m, type, len);
  vmbus_put32(m, RNDIS_REQ_ID_OFFSET, req_id);
  vmbus_put32(m, RNDIS_OID_REQ_OID_OFFSET, oid);
  vmbus_put32(m, RNDIS_OID_REQ_INFO_BUFLEN_OFFSET, info_len);
  vmbus_put32(m, RNDIS_OID_REQ_INFO_BUF_OFFSET_OFFSET, QUERY_REQUEST_INFO_OFFSET);
  if (info != NULL) memcpy(m + RNDIS_OID_REQ_SIZE, info, info_len);
  return len;
}

uint32_t netvsc_rndis_simple(uint8_t* m, uint32_t type, uint32_t req_id) {
  rndis_header(m, type, RNDIS_SIMPLE_SIZE);
  vmbus_put32(m, RNDIS_REQ_ID_OFFSET, req_id);
  return RNDIS_SIMPLE_SIZE;
}

uint32_t netvsc_rndis_packet(uint8_t* m, const uint8_t* frame, uint32_t frame_len) {
  rndis_header(m, RNDIS_MSG_PACKET, RNDIS_PACKET_SIZE);
  vmbus_put32(m, RNDIS_MSG_LEN_OFFSET, RNDIS_PACKET_SIZE + frame_len);
  vmbus_put32(m, RNDIS_PACKET_DATA_OFFSET_OFFSET, RNDIS_PACKET_BODY_SIZE);
  vmbus_put32(m, RNDIS_PACKET_DATA_LEN_OFFSET, frame_len);
  /* netvsc_xmit points per_pkt_info_offset at the (empty) PPI area. */
  vmbus_put32(m, RNDIS_PACKET_PPI_OFFSET_OFFSET, RNDIS_PACKET_BODY_SIZE);
  if (frame != NULL) memcpy(m + RNDIS_PACKET_SIZE, frame, frame_len);
  return RNDIS_PACKET_SIZE + frame_len;
}

/* ---- Receiving -------------------------------------------------------------- */

static void keep_completion(netvsc_nic* n, const vmbus_packet* p, const uint8_t* data) {
  n->stats.comp_packets++;
  if (!forget(n, p->trans_id)) {
    n->stats.unmatched_completions++;
    guest_printf("netvsc: completion for trans id 0x%llx, which is not outstanding\n",
                 (unsigned long long)p->trans_id);
    return;
  }
  for (uint32_t i = 0; i < NETVSC_MAX_COMPLETIONS; ++i) {
    netvsc_completion* c = &n->completions[i];
    if (c->used) continue;
    c->used = true;
    c->trans_id = p->trans_id;
    c->flags = p->flags;
    c->len = p->data_len;
    memset(c->data, 0, sizeof c->data);
    memcpy(c->data, data, p->data_len < sizeof c->data ? p->data_len : sizeof c->data);
    return;
  }
  n->stats.events_dropped++;
}

/* A free event slot (counted as dropped when there is none). */
static netvsc_event* free_event(netvsc_nic* n) {
  for (uint32_t i = 0; i < NETVSC_MAX_EVENTS; ++i)
    if (!n->events[i].used) return &n->events[i];
  n->stats.events_dropped++;
  return NULL;
}

static void send_receive_completion(netvsc_nic* n, uint64_t cookie, uint32_t status) {
  uint8_t msg[RECV_COMPLETION_SIZE];
  vmbus_put32(msg, NVSP_MESSAGE_TYPE_OFFSET, NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE);
  vmbus_put32(msg, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET, status);
  /* A full ring keeps it for later (Linux: rx_comp_busy, retried). */
  if (n->hold_receives || vmbus_send(&n->chan, VM_PKT_COMP, 0, cookie, msg, sizeof msg, NULL, NULL) != VMBUS_RING_OK) {
    if (n->held_count < NETVSC_MAX_HELD) n->held[n->held_count++] = cookie;
    return;
  }
  n->stats.receive_completions_sent++;
}

uint32_t netvsc_release_held(netvsc_nic* n) {
  uint8_t msg[RECV_COMPLETION_SIZE];
  vmbus_put32(msg, NVSP_MESSAGE_TYPE_OFFSET, NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE);
  vmbus_put32(msg, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET, NVSP_STAT_SUCCESS);
  uint32_t sent = 0;
  while (sent < n->held_count &&
         vmbus_send(&n->chan, VM_PKT_COMP, 0, n->held[sent], msg, sizeof msg, NULL, NULL) == VMBUS_RING_OK)
    ++sent;
  memmove(n->held, n->held + sent, (n->held_count - sent) * sizeof n->held[0]);
  n->held_count -= sent;
  n->stats.receive_completions_sent += sent;
  return sent;
}

/* One range's RNDIS message (Linux rndis_filter_receive): a header, a
 * msg_len inside the range; completions long enough for their req_id. */
static bool rndis_ok(netvsc_nic* n, uint32_t channel_type, const uint8_t* msg, uint32_t len) {
  if (len < RNDIS_HEADER_SIZE) return false;
  const uint32_t type = vmbus_get32(msg, RNDIS_MSG_TYPE_OFFSET);
  const uint32_t msg_len = vmbus_get32(msg, RNDIS_MSG_LEN_OFFSET);
  if (msg_len < RNDIS_HEADER_SIZE || msg_len > len) return false;
  if (type == RNDIS_MSG_PACKET) {
    if (channel_type != NVSP_RNDIS_CHANNEL_TYPE_DATA) n->stats.channel_type_mismatch++;
  } else if (type & RNDIS_MSG_COMPLETION) {
    if (channel_type != NVSP_RNDIS_CHANNEL_TYPE_CONTROL) n->stats.channel_type_mismatch++;
    /* rndis_filter_receive_response needs the req_id. */
    if (msg_len < RNDIS_REQ_ID_OFFSET + 4) return false;
  }
  return true;
}

static void receive_xfer(netvsc_nic* n, const vmbus_packet* p) {
  const uint8_t* raw = n->packet;
  const uint32_t offset = (uint32_t)p->offset8 * VMBUS_PACKET_ALIGNMENT;
  const uint8_t* ext = raw + VMBUS_PACKET_DESCRIPTOR_SIZE;
  const uint8_t* nvsp = raw + offset;
  n->stats.xfer_packets++;
  if ((p->flags & VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED) == 0) n->stats.bad_xfer_flags++;
  /* netvsc_receive: the NVSP message is SEND_RNDIS_PKT; the contract adds
   * index NETVSC_INVALID_INDEX and size 0. */
  uint32_t channel_type = NVSP_RNDIS_CHANNEL_TYPE_DATA;
  bool ok = p->data_len >= RNDIS_PKT_NVSP_MIN &&
            vmbus_get32(nvsp, NVSP_MESSAGE_TYPE_OFFSET) == NVSP_MSG1_TYPE_SEND_RNDIS_PKT;
  if (ok) {
    channel_type = vmbus_get32(nvsp, NVSP_RNDIS_PKT_CHANNEL_TYPE_OFFSET);
    if (channel_type > NVSP_RNDIS_CHANNEL_TYPE_CONTROL ||
        vmbus_get32(nvsp, NVSP_RNDIS_PKT_SECTION_INDEX_OFFSET) != NETVSC_INVALID_INDEX ||
        vmbus_get32(nvsp, NVSP_RNDIS_PKT_SECTION_SIZE_OFFSET) != 0)
      n->stats.bad_xfer_nvsp++;
  } else {
    n->stats.bad_xfer_nvsp++;
  }
  /* The transfer page header: Linux's checks (pageset id, the ranges inside
   * offset8), and at least one range. */
  const uint32_t header_end = VMBUS_PACKET_DESCRIPTOR_SIZE + VMBUS_XFER_RANGES_OFFSET;
  uint32_t count = 0;
  if (offset >= header_end) count = vmbus_get32(ext, VMBUS_XFER_RANGE_COUNT_OFFSET);
  /* The contract adds sender_owns_set 0 (the guest's buffer). */
  if (offset < header_end + VMBUS_XFER_RANGE_SIZE || vmbus_get16(ext, VMBUS_XFER_PAGESET_ID_OFFSET) != NETVSC_RECEIVE_BUFFER_ID ||
      ext[VMBUS_XFER_SENDER_OWNS_SET_OFFSET] != 0 || count == 0 || count > NETVSC_MAX_XFER_PAGE_RANGES ||
      (uint64_t)header_end + (uint64_t)count * VMBUS_XFER_RANGE_SIZE > offset) {
    n->stats.bad_xfer_header++;
    ok = false;
  }
  uint32_t status = NVSP_STAT_SUCCESS;
  for (uint32_t i = 0; ok && i < count; ++i) {
    const uint8_t* range = ext + VMBUS_XFER_RANGES_OFFSET + i * VMBUS_XFER_RANGE_SIZE;
    const uint32_t len = vmbus_get32(range, VMBUS_XFER_RANGE_BYTE_COUNT_OFFSET);
    const uint32_t at = vmbus_get32(range, VMBUS_XFER_RANGE_BYTE_OFFSET_OFFSET);
    n->stats.xfer_ranges++;
    /* Linux: inside the buffer and no longer than a section; the contract:
     * each range starts a section. */
    if (at > n->recv_bytes || len > n->recv_bytes - at || len > n->recv_section_size || n->recv_section_size == 0 ||
        at % n->recv_section_size != 0) {
      n->stats.bad_range++;
      status = NVSP_STAT_FAIL;
      continue;
    }
    /* Copy first, then parse the copy: the host may still write the
     * buffer. */
    netvsc_event* e = len <= NETVSC_EVENT_BYTES ? free_event(n) : NULL;
    if (e == NULL) {
      if (len > NETVSC_EVENT_BYTES) n->stats.events_dropped++;
      continue;
    }
    memcpy(e->bytes, n->recv_buf + at, len);
    if (!rndis_ok(n, channel_type, e->bytes, len)) {
      n->stats.bad_rndis++;
      status = NVSP_STAT_FAIL;
      continue;
    }
    e->used = true;
    e->seq = n->event_seq++;
    e->channel_type = channel_type;
    e->len = vmbus_get32(e->bytes, RNDIS_MSG_LEN_OFFSET);
  }
  if (!ok && status == NVSP_STAT_SUCCESS) status = NVSP_STAT_FAIL;
  send_receive_completion(n, p->trans_id, status);
}

uint32_t netvsc_poll(netvsc_nic* n) {
  uint32_t read = 0;
  /* The flag says there is something; the ring is read either way. */
  vmbus_event_take(n->chan.relid);
  for (;;) {
    vmbus_packet p;
    const int r = vmbus_recv_raw(&n->chan, &p, n->packet, sizeof n->packet);
    if (r == VMBUS_RING_EMPTY) break;
    if (r != VMBUS_RING_OK) {
      /* Nothing more can be read past a packet this guest cannot take. */
      n->stats.ring_errors++;
      break;
    }
    ++read;
    const uint8_t* data = n->packet + (uint32_t)p.offset8 * VMBUS_PACKET_ALIGNMENT;
    if (p.type == VM_PKT_COMP)
      keep_completion(n, &p, data);
    else if (p.type == VM_PKT_DATA_USING_XFER_PAGES)
      receive_xfer(n, &p);
    else
      n->stats.bad_packet_type++;
  }
  return read;
}

bool netvsc_wait_completion(netvsc_nic* n, uint64_t trans_id, netvsc_completion* out, uint64_t timeout) {
  const uint64_t start = vmbus_now();
  /* The ring is read at least once, whatever the timeout. */
  for (;;) {
    const bool read = netvsc_poll(n) != 0;
    for (uint32_t i = 0; i < NETVSC_MAX_COMPLETIONS; ++i) {
      netvsc_completion* c = &n->completions[i];
      if (c->used && c->trans_id == trans_id) {
        *out = *c;
        c->used = false;
        return true;
      }
    }
    if (vmbus_now() - start >= timeout) return false;
    if (!read) cpu_relax();
  }
}

uint32_t netvsc_rndis_completion_status(const netvsc_completion* c) {
  if (c->len < RECV_COMPLETION_SIZE ||
      vmbus_get32(c->data, NVSP_MESSAGE_TYPE_OFFSET) != NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE)
    return UINT32_MAX;
  return vmbus_get32(c->data, NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET);
}

netvsc_event* netvsc_find_event(netvsc_nic* n, uint32_t type, bool match_req, uint32_t req_id) {
  netvsc_event* best = NULL;
  for (uint32_t i = 0; i < NETVSC_MAX_EVENTS; ++i) {
    netvsc_event* e = &n->events[i];
    if (!e->used || vmbus_get32(e->bytes, RNDIS_MSG_TYPE_OFFSET) != type) continue;
    if (match_req && netvsc_get32(e, RNDIS_REQ_ID_OFFSET) != req_id) continue;
    if (best == NULL || e->seq < best->seq) best = e;
  }
  return best;
}

netvsc_event* netvsc_wait_event(netvsc_nic* n, uint32_t type, bool match_req, uint32_t req_id, uint64_t timeout) {
  const uint64_t start = vmbus_now();
  for (;;) {
    const bool read = netvsc_poll(n) != 0;
    netvsc_event* e = netvsc_find_event(n, type, match_req, req_id);
    if (e != NULL) return e;
    if (vmbus_now() - start >= timeout) return NULL;
    if (!read) cpu_relax();
  }
}

void netvsc_release(netvsc_event* e) {
  if (e != NULL) e->used = false;
}

uint32_t netvsc_event_count(const netvsc_nic* n) {
  uint32_t count = 0;
  for (uint32_t i = 0; i < NETVSC_MAX_EVENTS; ++i) count += n->events[i].used;
  return count;
}

const uint8_t* netvsc_packet_frame(const netvsc_event* e, uint32_t* frame_len) {
  /* rndis_filter_receive_data: the header and struct rndis_packet fit,
   * data_offset inside the packet, data_len inside what follows it. */
  if (e->len < RNDIS_PACKET_SIZE) return NULL;
  const uint32_t data_offset = vmbus_get32(e->bytes, RNDIS_PACKET_DATA_OFFSET_OFFSET);
  const uint32_t data_len = vmbus_get32(e->bytes, RNDIS_PACKET_DATA_LEN_OFFSET);
  if (data_offset >= e->len - RNDIS_HEADER_SIZE) return NULL;
  if (data_len > e->len - RNDIS_HEADER_SIZE - data_offset) return NULL;
  *frame_len = data_len;
  return e->bytes + RNDIS_HEADER_SIZE + data_offset;
}

const uint8_t* netvsc_query_info(const netvsc_event* e, uint32_t* info_len) {
  /* rndis_filter_query_device's checks on the answer. */
  if (e->len < RNDIS_QUERY_C_SIZE) return NULL;
  const uint32_t len = vmbus_get32(e->bytes, RNDIS_QUERY_C_INFO_BUFLEN_OFFSET);
  const uint32_t off = vmbus_get32(e->bytes, RNDIS_QUERY_C_INFO_BUF_OFFSET_OFFSET);
  const uint32_t body = e->len - RNDIS_HEADER_SIZE;
  if (off < QUERY_COMPLETE_INFO_OFFSET || off > body || len > body - off) return NULL;
  *info_len = len;
  return e->bytes + RNDIS_HEADER_SIZE + off;
}

void netvsc_control_call(netvsc_nic* n, uint32_t at, uint32_t reply_type, uint64_t timeout, netvsc_call* call) {
  memset(call, 0, sizeof *call);
  const uint32_t req_id = vmbus_get32(n->control + at, RNDIS_REQ_ID_OFFSET);
  const uint64_t id = netvsc_send_control(n, at);
  call->sent = id != 0;
  if (!call->sent) return;
  netvsc_completion c;
  call->completed = netvsc_wait_completion(n, id, &c, timeout);
  call->completion_status = call->completed ? netvsc_rndis_completion_status(&c) : UINT32_MAX;
  if (reply_type != 0) call->reply = netvsc_wait_event(n, reply_type, true, req_id, timeout);
}
