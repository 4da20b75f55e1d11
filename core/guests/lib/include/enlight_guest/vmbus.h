/*
 * The guest side of VMBus, as Linux's hv_vmbus does it (drivers/hv/
 * connection.c, channel.c, channel_mgmt.c, ring_buffer.c), reduced to what a
 * conformance guest needs: channel messages posted with HvCallPostMessage and
 * taken from this vCPU's SINT2 message slot, GPADLs over guest pages, the two
 * rings of a channel, HvCallSignalEvent on the channel's connection id and
 * the channel's flag in the SIEF slot of SINT2. Every number is from
 * <enlight/tlfs.h> (VMBus section). One vCPU drives the bus: the library
 * keeps its state in plain statics.
 *
 * The host is not trusted either: everything read from a message or a ring
 * is bounds-checked before use, so a host bug shows up as a failed check, not
 * as a guest crash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <enlight/tlfs.h>

#include <enlight_guest/hv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Records this vCPU's SynIC pages (already enabled, hv_synic_enable) and
 * unmasks SINT2 with `vector` (RsvdP bits kept, no AutoEOI), with
 * its own handler on it. `hv` tells the library which clock to wait with:
 * a reference TSC page of its own when advertised (enabled here), else
 * HV_X64_MSR_TIME_REF_COUNT, else a spin count. The hypercall page must be
 * enabled. Returns false if the SINT write faulted.
 */
bool vmbus_init(const hv_info* hv, void* simp_page, void* siefp_page, uint8_t vector);
/*
 * The set-up every VMBus guest program does, one named check per step
 * ("x2apic", "hypercall_page.enable", "synic.enable", "synic.sint2.unmask"):
 * x2APIC on, the hypercall page, the SynIC with `simp_page` and
 * `siefp_page`, vmbus_init with `vector`; then interrupts on. *vp_index
 * gets this vCPU's VP index when it is advertised (else it is left alone).
 * The caller has set the guest OS id and checked the SynIC, PostMessages
 * and SignalEvents privileges. false at the first failed check.
 */
bool vmbus_guest_setup(const hv_info* hv, void* simp_page, void* siefp_page, uint8_t vector, uint32_t* vp_index);
/* SINT2 interrupts taken by the handler vmbus_init installs (it counts,
 * then EOIs). */
uint64_t vmbus_sint_interrupts(void);

/* Reference time in 100 ns units (or spin rounds without a reference
 * counter; the waits below scale to either). */
uint64_t vmbus_now(void);
#define VMBUS_MS (HV_REFERENCE_TIME_UNITS_PER_SECOND / 1000u)

/* ------------------------------------------------------------------------ */
/* Little-endian field access (messages and packets are byte arrays)        */
/* ------------------------------------------------------------------------ */

static inline uint16_t vmbus_get16(const void* p, uint32_t off) {
  const volatile uint8_t* b = (const volatile uint8_t*)p + off;
  return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t vmbus_get32(const void* p, uint32_t off) {
  return (uint32_t)vmbus_get16(p, off) | ((uint32_t)vmbus_get16(p, off + 2) << 16);
}
static inline uint64_t vmbus_get64(const void* p, uint32_t off) {
  return (uint64_t)vmbus_get32(p, off) | ((uint64_t)vmbus_get32(p, off + 4) << 32);
}
static inline void vmbus_put16(void* p, uint32_t off, uint16_t v) {
  volatile uint8_t* b = (volatile uint8_t*)p + off;
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
}
static inline void vmbus_put32(void* p, uint32_t off, uint32_t v) {
  vmbus_put16(p, off, (uint16_t)v);
  vmbus_put16(p, off + 2, (uint16_t)(v >> 16));
}
static inline void vmbus_put64(void* p, uint32_t off, uint64_t v) {
  vmbus_put32(p, off, (uint32_t)v);
  vmbus_put32(p, off + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------------ */
/* Channel messages                                                         */
/* ------------------------------------------------------------------------ */

/* One channel message: payload bytes as posted or received. */
typedef struct vmbus_msg {
  uint32_t size;  /* payload bytes (SynIC payload_size) */
  uint8_t bytes[HV_MESSAGE_PAYLOAD_BYTE_COUNT];
} vmbus_msg;

/* A zeroed message of `size` bytes with the channel message header's type. */
void vmbus_msg_start(vmbus_msg* m, uint32_t channel_message_type, uint32_t size);
static inline uint32_t vmbus_msg_type(const vmbus_msg* m) {
  return m->size >= VMBUS_CHANNEL_MESSAGE_HEADER_SIZE ? vmbus_get32(m->bytes, VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET)
                                                       : CHANNELMSG_INVALID;
}

/* HvCallPostMessage with any connection, SynIC message type and payload
 * size (the size is what the input says; at most the input page's payload
 * bytes are copied). Returns the hypercall status. */
uint16_t vmbus_post_raw(uint32_t connection_id, uint32_t message_type, const void* payload, uint32_t size);
/* A channel message to VMBUS_MESSAGE_CONNECTION_ID with VMBUS_MESSAGE_TYPE,
 * as Linux's vmbus_post_msg (one try: callers see INSUFFICIENT_BUFFERS). */
uint16_t vmbus_post(const vmbus_msg* m);

/* Takes the message in this vCPU's SINT2 slot, if any: copies it out, then
 * frees the slot (type 0, barrier, EOM when MessagePending; Linux
 * vmbus_signal_eom). `synic_type` (may be NULL) gets the SynIC message type. */
bool vmbus_take(vmbus_msg* out, uint32_t* synic_type);
/* vmbus_take, waiting up to `timeout` (100 ns) with interrupts enabled. */
bool vmbus_wait(vmbus_msg* out, uint64_t timeout);
/* Waits for a message of `channel_message_type`, dropping (and counting in
 * *skipped, may be NULL) any other; false on time-out. */
bool vmbus_wait_type(vmbus_msg* out, uint32_t channel_message_type, uint64_t timeout, uint32_t* skipped);
/* Takes every message that arrives within `quiet` of the last one; returns
 * how many. */
uint32_t vmbus_drain(uint64_t quiet);

/* Builders of the guest-to-host messages Linux sends, at their Linux sizes. */
void vmbus_msg_initiate_contact(vmbus_msg* m, uint32_t version, uint32_t target_vcpu, uint64_t interrupt_page,
                                uint64_t monitor_page1, uint64_t monitor_page2);
void vmbus_msg_open_channel(vmbus_msg* m, uint32_t relid, uint32_t openid, uint32_t ring_gpadl, uint32_t target_vp,
                            uint32_t downstream_page_offset);
void vmbus_msg_relid(vmbus_msg* m, uint32_t channel_message_type, uint32_t relid); /* CLOSECHANNEL, RELID_RELEASED */
void vmbus_msg_gpadl_teardown(vmbus_msg* m, uint32_t relid, uint32_t gpadl);

/* ------------------------------------------------------------------------ */
/* A device driver's bus steps, as Linux takes them                         */
/* ------------------------------------------------------------------------ */

/* INITIATE_CONTACT for `version` on VMBUS_MESSAGE_CONNECTION_ID with
 * `target_vp` and no interrupt or monitor pages; true when the
 * VERSION_RESPONSE came and says supported. */
bool vmbus_connect(uint32_t version, uint32_t target_vp, uint64_t timeout);

/* One channel offer, the fields a driver keeps. */
typedef struct vmbus_offer {
  uint8_t if_type[VMBUS_GUID_SIZE];
  uint8_t if_instance[VMBUS_GUID_SIZE];
  uint32_t relid, connection_id;
  uint16_t sub_channel_index;
} vmbus_offer;
/* REQUESTOFFERS, then every full-size OFFERCHANNEL until
 * ALLOFFERS_DELIVERED: the first `max` kept in order, *count (may be NULL)
 * gets how many came. False without ALLOFFERS_DELIVERED. */
bool vmbus_request_offers(vmbus_offer* offers, uint32_t max, uint32_t* count, uint64_t timeout);

/* A GPADL over `count` contiguous pages (header and bodies, at most
 * VMBUS_GPADL_CREATE_MAX_PAGES) and its GPADL_CREATED: the creation
 * status, or UINT32_MAX when none came for this relid and handle. */
#define VMBUS_GPADL_CREATE_MAX_PAGES 256u
uint32_t vmbus_gpadl_create(uint32_t relid, uint32_t gpadl, const void* pages, uint32_t count, uint64_t timeout);
/* OPENCHANNEL and its OPENCHANNEL_RESULT: the status, or UINT32_MAX when
 * none came echoing relid and openid. */
uint32_t vmbus_open(uint32_t relid, uint32_t openid, uint32_t ring_gpadl, uint32_t target_vp,
                    uint32_t downstream_page_offset, uint64_t timeout);
/* GPADL_TEARDOWN; true when GPADL_TORNDOWN for it came. */
bool vmbus_gpadl_teardown(uint32_t relid, uint32_t gpadl, uint64_t timeout);

/* ------------------------------------------------------------------------ */
/* GPADLs                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A GPADL_HEADER the way Linux's create_gpadl_header builds it: one range,
 * byte_offset 0, byte_count = count * 4096, range_buflen = 8 + 8 * count,
 * the first min(count, VMBUS_GPADL_HEADER_MAX_PFNS) PFNs. Returns how many
 * PFNs it carries; the rest go in vmbus_msg_gpadl_body messages.
 */
uint32_t vmbus_msg_gpadl_header(vmbus_msg* m, uint32_t relid, uint32_t gpadl, const uint64_t* pfns, uint32_t count);
/* A GPADL_BODY with up to VMBUS_GPADL_BODY_MAX_PFNS PFNs (msgnumber 0, as
 * Linux sends it). Returns how many it carries. */
uint32_t vmbus_msg_gpadl_body(vmbus_msg* m, uint32_t gpadl, const uint64_t* pfns, uint32_t count);
/* Header plus bodies for `count` PFNs; the first non-success post status,
 * else HV_STATUS_SUCCESS. The GPADL_CREATED reply is the caller's to take. */
uint16_t vmbus_gpadl_send(uint32_t relid, uint32_t gpadl, const uint64_t* pfns, uint32_t count);
/* PFNs of `count` contiguous guest pages from `pages` (identity mapped). */
void vmbus_pfns_of(const void* pages, uint32_t count, uint64_t* pfns);

/* ------------------------------------------------------------------------ */
/* Rings (Linux struct hv_ring_buffer) and signalling                       */
/* ------------------------------------------------------------------------ */

/* One ring: a header page and `size` data bytes right after it. */
typedef struct vmbus_ring {
  volatile uint8_t* header;
  volatile uint8_t* data;
  uint32_t size;
  uint32_t priv_read;  /* inbound only: the next packet, before read_index is published */
} vmbus_ring;

/* A channel as the guest drives it: the offer's ids and the ring pair in
 * one buffer, the guest-to-host ring first (Linux vmbus_open). */
typedef struct vmbus_channel {
  uint32_t relid;
  uint32_t connection_id;
  vmbus_ring out; /* guest to host */
  vmbus_ring in;  /* host to guest */
  uint64_t signals; /* HvSignalEvent calls made for this channel */
} vmbus_channel;

/* Lays the two rings over `pages` (out_pages + in_pages contiguous pages,
 * each ring a header page and at least one data page) and initialises both
 * headers as Linux hv_ringbuffer_init: indices 0, interrupt_mask 0,
 * pending_send_sz 0, feat_pending_send_sz set. */
void vmbus_channel_rings(vmbus_channel* c, void* pages, uint32_t out_pages, uint32_t in_pages);

static inline uint32_t vmbus_ring_field(const vmbus_ring* r, uint32_t offset) {
  return __atomic_load_n((const volatile uint32_t*)(r->header + offset), __ATOMIC_SEQ_CST);
}
static inline void vmbus_ring_set_field(vmbus_ring* r, uint32_t offset, uint32_t v) {
  __atomic_store_n((volatile uint32_t*)(r->header + offset), v, __ATOMIC_SEQ_CST);
}

/* A packet read from the inbound ring. */
typedef struct vmbus_packet {
  uint16_t type, flags;
  uint16_t offset8, len8;
  uint64_t trans_id;
  uint32_t data_len; /* bytes from the data offset to the end (padding included) */
} vmbus_packet;

enum {
  VMBUS_RING_OK = 0,
  VMBUS_RING_EMPTY = 1,
  VMBUS_RING_FULL = 2,      /* writer: no room (Linux -EAGAIN) */
  VMBUS_RING_TOO_BIG = 3,   /* reader: the data does not fit the buffer (nothing consumed) */
  VMBUS_RING_CORRUPT = 4,   /* reader: the host's indices or framing are impossible */
};

/*
 * Writes one packet to c->out as Linux hv_ringbuffer_write: descriptor
 * (offset8 = 2), data, zero padding to 8 bytes, the trailer holding the old
 * write index in its high half; write_index published after a full barrier.
 * *signal (may be NULL) says whether Linux would signal: interrupt_mask clear
 * and the ring was empty before (read_index == the old write index;
 * hv_signal_on_write). It does not signal: vmbus_send does.
 */
int vmbus_ring_write(vmbus_ring* r, uint16_t type, uint16_t flags, uint64_t trans_id, const void* data, uint32_t len,
                     bool* signal);
/* vmbus_ring_write on c->out, then HvSignalEvent when the rule says so.
 * *status (may be NULL) gets the signal's hypercall status. */
int vmbus_send(vmbus_channel* c, uint16_t type, uint16_t flags, uint64_t trans_id, const void* data, uint32_t len,
               bool* signalled, uint16_t* status);

/*
 * vmbus_ring_write with a descriptor extension: `ext_len` bytes (a multiple
 * of VMBUS_PACKET_ALIGNMENT) right after the 16-byte descriptor, the data
 * at offset8 = (16 + ext_len) / 8, as Linux writes GPA_DIRECT and
 * XFER_PAGES packets. VMBUS_RING_TOO_BIG for an unaligned extension or one
 * offset8 cannot express.
 */
int vmbus_ring_write_ext(vmbus_ring* r, uint16_t type, uint16_t flags, uint64_t trans_id, const void* ext,
                         uint32_t ext_len, const void* data, uint32_t len, bool* signal);
int vmbus_send_ext(vmbus_channel* c, uint16_t type, uint16_t flags, uint64_t trans_id, const void* ext,
                   uint32_t ext_len, const void* data, uint32_t len, bool* signalled, uint16_t* status);

/* One GPA_DIRECT page buffer (Linux struct hv_page_buffer): `len` bytes at
 * `offset` in guest page `pfn`. */
typedef struct vmbus_page_buffer {
  uint32_t len, offset;
  uint64_t pfn;
} vmbus_page_buffer;
/* The most page buffers vmbus_send_gpa_direct encodes: more than Linux's
 * MAX_PAGE_BUFFER_COUNT, so a hostile guest can send what Linux never does. */
#define VMBUS_GPA_DIRECT_ENCODE_MAX (2u * MAX_PAGE_BUFFER_COUNT)
/*
 * A VM_PKT_DATA_USING_GPA_DIRECT packet as Linux's
 * vmbus_sendpacket_pagebuffer builds it: {u32 reserved 0, u32 rangecount,
 * the page buffers} after the descriptor, then `data` (the NVSP message);
 * `count` is copied as given (0 allowed), at most
 * VMBUS_GPA_DIRECT_ENCODE_MAX. Signals as vmbus_send.
 */
int vmbus_send_gpa_direct(vmbus_channel* c, uint16_t flags, uint64_t trans_id, const vmbus_page_buffer* pb,
                          uint32_t count, const void* data, uint32_t len, bool* signalled, uint16_t* status);

/* Reads the next packet of c->in into `buf` (its data part, Linux
 * hv_ringbuffer_read without raw) and advances the private read index; the
 * header's read_index moves only at vmbus_ring_commit_read. */
int vmbus_ring_read(vmbus_ring* r, vmbus_packet* info, void* buf, uint32_t capacity);
/* vmbus_ring_read, but `buf` gets the whole packet from its descriptor on
 * (len8 * 8 bytes, Linux's raw read): the descriptor extension sits
 * between byte 16 and offset8 * 8 (XFER_PAGES ranges live there), the data
 * after it. info->data_len is still the data part's length. */
int vmbus_ring_read_raw(vmbus_ring* r, vmbus_packet* info, void* buf, uint32_t capacity);
/* Publishes read_index (Linux hv_pkt_iter_close). Returns true when Linux
 * would signal the host: feat_pending_send_sz, pending_send_sz non-zero and
 * this read took the free space from <= pending_send_sz to above it. */
bool vmbus_ring_commit_read(vmbus_ring* r);
/* Read, commit, and signal c's connection if the commit asks for it. */
int vmbus_recv(vmbus_channel* c, vmbus_packet* info, void* buf, uint32_t capacity);
/* vmbus_recv with vmbus_ring_read_raw. */
int vmbus_recv_raw(vmbus_channel* c, vmbus_packet* info, void* buf, uint32_t capacity);

/* HvCallSignalEvent, fast form, flag 0 (Linux vmbus_set_event). */
uint16_t vmbus_signal(uint32_t connection_id);
/* HvCallSignalEvent with an arbitrary flag number. */
uint16_t vmbus_signal_flag(uint32_t connection_id, uint16_t flag);

/* Test-and-clear of flag `relid` in this vCPU's SIEF slot of SINT2 (Linux
 * vmbus_chan_sched). */
bool vmbus_event_take(uint32_t relid);
/* Waits until flag `relid` is set (and clears it) or `timeout` passes. */
bool vmbus_event_wait(uint32_t relid, uint64_t timeout);


/* ------------------------------------------------------------------------ */
/* Integration components (Linux drivers/hv/hv_util.c)                      */
/* ------------------------------------------------------------------------ */

/*
 * Rewrites a NEGOTIATE request of `len` bytes in place into the answer
 * Linux's vmbus_prep_negotiate_resp gives: icmsgsize 16, the first of the
 * guest's framework versions `fw` the host offered and likewise of `msg`
 * (both lists packed major << 16 | minor, in the guest's order of
 * preference), counts 1/1 and the two picks in the first two slots, or
 * counts 0/0 when either has no match or the request is malformed. icflags
 * are left to the caller. Returns whether both matched; *fw_out and *msg_out
 * (may be NULL) get the picks.
 */
bool vmbus_ic_negotiate_answer(uint8_t* buf, uint32_t len, const uint32_t* fw, uint32_t fw_count, const uint32_t* msg,
                               uint32_t msg_count, uint32_t* fw_out, uint32_t* msg_out);

/* What vmbus_ic_serve saw and did. */
typedef struct vmbus_ic_event {
  int ring;            /* VMBUS_RING_* of the read */
  uint16_t packet_type; /* VM_PKT_* */
  uint16_t offset8;
  uint16_t icmsgtype;  /* ICMSGTYPE_* of the request */
  uint8_t icflags;     /* of the request */
  uint32_t len;        /* data bytes of the request (answered with as many) */
  uint64_t trans_id;
  bool negotiated;     /* a NEGOTIATE with a common version */
  uint32_t fw, msg;    /* its picks */
  uint64_t seq;        /* a HEARTBEAT's sequence number as received */
  bool answered;       /* the answer went into the ring */
  bool signalled;      /* ... and the host was signalled (Linux's rule) */
  uint16_t signal_status;
} vmbus_ic_event;

/*
 * Reads one packet of c->in and answers it as hv_util's heartbeat callback
 * does: NEGOTIATE with vmbus_ic_negotiate_answer (framework 3.0/1.0 and the
 * message versions given), HEARTBEAT with seq_num + 1, anything else with
 * status HV_E_FAIL; icflags TRANSACTION | RESPONSE; the whole packet sent
 * back as VM_PKT_DATA_INBAND with the request's transaction id. Returns
 * false when there was nothing to read (ev->ring says why).
 */
bool vmbus_ic_serve(vmbus_channel* c, const uint32_t* msg_versions, uint32_t msg_count, vmbus_ic_event* ev);

#ifdef __cplusplus
}
#endif
