/*
 * The guest side of the VMBus synthetic NIC, as Linux 6.1's hv_netvsc
 * drives it (drivers/net/hyperv/netvsc.c, rndis_filter.c, hyperv_net.h):
 * NVSP messages on the channel, RNDIS control messages sent as GPA_DIRECT
 * page buffers, frames through the send buffer's sections or page buffers,
 * and everything from the host through the receive buffer in
 * XFER_PAGES packets, each returned with an 8-byte completion.
 *
 * The host is checked, not trusted: every XFER_PAGES packet, range and
 * RNDIS message is validated as Linux validates it (and as the host
 * contract promises, which is stricter) before use, and what was wrong is
 * counted in netvsc_stats, so a conformance guest turns host bugs into
 * failed checks. Requests are matched to completions by transaction id,
 * RNDIS replies to requests by req_id; anything else is counted.
 *
 * No static state: a program owns its netvsc_nic and the buffers, so
 * several NICs can be driven at once. One vCPU drives a NIC.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <enlight/tlfs.h>

#include <enlight_guest/vmbus.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ethernet (IEEE 802.3; Linux include/uapi/linux/if_ether.h). */
#define ETH_ALEN 6u
#define ETH_HLEN 14u
#define ETH_ZLEN 60u
#define ETH_DATA_LEN 1500u
#define ETH_FRAME_LEN 1514u
#define VLAN_HLEN 4u
/* IEEE 802 local experimental ethertype: frames nobody else parses. */
#define ETH_P_802_EX1 0x88B5u

/* ------------------------------------------------------------------------ */
/* State                                                                    */
/* ------------------------------------------------------------------------ */

/* Host completions kept until a caller claims them, and requests sent
 * whose completion has not come. */
#define NETVSC_MAX_COMPLETIONS 16u
#define NETVSC_MAX_OUTSTANDING 64u
/* RNDIS messages from the host kept until claimed (replies, indications,
 * frames), each up to NETVSC_EVENT_BYTES. */
#define NETVSC_MAX_EVENTS 32u
#define NETVSC_EVENT_BYTES 2048u
/* Receive completions not yet sent back (held on purpose, or the ring was
 * full). */
#define NETVSC_MAX_HELD 512u
/* The largest packet read from the host ring: an XFER_PAGES descriptor
 * with Linux's maximum of ranges and a full NVSP message fit. */
#define NETVSC_PACKET_BYTES 4096u

typedef struct netvsc_completion {
  bool used;
  uint64_t trans_id;
  uint16_t flags;
  uint32_t len; /* data bytes of the COMP packet (padding included) */
  uint8_t data[NVSP_MESSAGE_SIZE];
} netvsc_completion;

/* One RNDIS message from the receive buffer, copied out (Linux copies
 * into nvchan->recv_buf before parsing, so the host cannot change it
 * under the guest). */
typedef struct netvsc_event {
  bool used;
  uint32_t seq;          /* arrival order */
  uint32_t channel_type; /* of the XFER_PAGES packet it came in */
  uint32_t len;          /* msg_len */
  uint8_t bytes[NETVSC_EVENT_BYTES];
} netvsc_event;

/* What the guest saw the host do wrong, by kind, and what it did. */
typedef struct netvsc_stats {
  uint32_t xfer_packets, xfer_ranges;
  uint32_t comp_packets;
  uint32_t bad_packet_type;     /* neither COMP nor XFER_PAGES */
  uint32_t bad_xfer_header;     /* offset8 below the ranges, pageset id, sender_owns_set, range count 0 or too many */
  uint32_t bad_xfer_flags;      /* completion not requested */
  uint32_t bad_xfer_nvsp;       /* not SEND_RNDIS_PKT {0|1, 0xFFFFFFFF, 0}, or short */
  uint32_t bad_range;           /* outside the buffer, longer than a section, not at a section start */
  uint32_t bad_rndis;           /* msg_len below the header or past the range; a short reply; PACKET bounds */
  uint32_t channel_type_mismatch; /* PACKET in a control packet, or a completion in a data packet */
  uint32_t unmatched_completions; /* COMP for no request outstanding */
  uint32_t ring_errors;         /* corrupt indices or a packet too big for NETVSC_PACKET_BYTES */
  uint32_t events_dropped;      /* the event or completion table was full */
  uint32_t receive_completions_sent;
} netvsc_stats;

typedef struct netvsc_nic {
  vmbus_channel chan;
  uint32_t nvsp_version;
  /* Receive and send buffers (the program's pages) and what the host made
   * of them. */
  uint8_t* recv_buf;
  uint32_t recv_bytes, recv_section_size, recv_sections;
  uint8_t* send_buf;
  uint32_t send_bytes, send_section_size, send_sections;
  /* Two pages where control requests are built (a request may straddle
   * them, as Linux's kzalloc'd rndis_request may). */
  uint8_t* control;
  uint64_t next_trans_id;
  uint32_t next_req_id;
  /* Do not complete XFER_PAGES packets (a guest that never returns its
   * receive sections); netvsc_release_held sends them later. */
  bool hold_receives;
  uint64_t held[NETVSC_MAX_HELD];
  uint32_t held_count;
  uint64_t outstanding[NETVSC_MAX_OUTSTANDING];
  netvsc_completion completions[NETVSC_MAX_COMPLETIONS];
  netvsc_event events[NETVSC_MAX_EVENTS];
  uint32_t event_seq;
  netvsc_stats stats;
  uint8_t packet[NETVSC_PACKET_BYTES] __attribute__((aligned(8)));
} netvsc_nic;

/* Clears *n and lays the channel's rings over `ring_pages` (`pages_each`
 * pages per direction, guest-to-host first). `control` is two pages. */
void netvsc_init(netvsc_nic* n, uint32_t relid, uint32_t connection_id, void* ring_pages, uint32_t pages_each,
                 void* control);

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

/* A zeroed 40-byte NVSP message of `type` (Linux memsets the whole
 * struct nvsp_message before filling it). */
void netvsc_nvsp_start(uint8_t msg[NVSP_MESSAGE_SIZE], uint32_t type);

/* An NVSP message as VM_PKT_DATA_INBAND. With `completion` it gets the next
 * transaction id and COMPLETION_REQUESTED, and is expected back; without,
 * VMBUS_RQST_ID_NO_RESPONSE and no flags. Returns the transaction id, 0 when
 * the ring was full. `len` may be anything (hostile guests). */
uint64_t netvsc_send_nvsp(netvsc_nic* n, const void* msg, uint32_t len, bool completion);

/* Any packet `type` with a descriptor extension, completion requested and
 * the next transaction id, expected back like the others (hostile guests
 * build what netvsc never sends). */
uint64_t netvsc_send_raw(netvsc_nic* n, uint16_t type, const void* ext, uint32_t ext_len, const void* data,
                         uint32_t len);

/* SEND_RNDIS_PKT {channel_type, index, size} with completion requested:
 * in-band when `count` is 0, else GPA_DIRECT with the page buffers. Returns
 * the transaction id, 0 when the ring was full. */
uint64_t netvsc_send_rndis(netvsc_nic* n, uint32_t channel_type, uint32_t index, uint32_t size,
                           const vmbus_page_buffer* pb, uint32_t count);

/* Page buffers for `len` bytes at `p`, one per page touched (Linux's
 * init_page_array / rndis_filter_send_request split). Returns how many, at
 * most `max`. */
uint32_t netvsc_page_buffers(const void* p, uint32_t len, vmbus_page_buffer* pb, uint32_t max);

/* A control request built at n->control + at (msg_len bytes), sent as Linux
 * rndis_filter_send_request does: GPA_DIRECT, one page buffer or two when
 * it crosses a page, SEND_RNDIS_PKT {CONTROL, NETVSC_INVALID_INDEX, 0}. */
uint64_t netvsc_send_control(netvsc_nic* n, uint32_t at);

/* ------------------------------------------------------------------------ */
/* RNDIS message builders (Linux's sizes; return msg_len)                   */
/* ------------------------------------------------------------------------ */

uint32_t netvsc_rndis_init(uint8_t* m, uint32_t req_id);
/* QUERY or SET with `info_len` bytes of `info` (may be NULL: zeros) after
 * the request; info_buf_offset = sizeof(struct rndis_query_request). */
uint32_t netvsc_rndis_oid(uint8_t* m, uint32_t type, uint32_t req_id, uint32_t oid, const void* info,
                          uint32_t info_len);
/* HALT and KEEPALIVE: the header and a req_id. */
uint32_t netvsc_rndis_simple(uint8_t* m, uint32_t type, uint32_t req_id);
/* RNDIS_MSG_PACKET as netvsc_xmit builds it without per-packet info:
 * data_offset = per_pkt_info_offset = 36, the frame after the header (when
 * `frame` is non-NULL; NULL writes the 44-byte header only, msg_len still
 * counting the frame). */
uint32_t netvsc_rndis_packet(uint8_t* m, const uint8_t* frame, uint32_t frame_len);

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */
/* ------------------------------------------------------------------------ */

/* Reads every packet in the host-to-guest ring: completions are matched
 * and kept, XFER_PAGES packets checked, their RNDIS messages kept as
 * events and the packet completed (unless hold_receives). Returns how many
 * packets were read. */
uint32_t netvsc_poll(netvsc_nic* n);

/* Waits (polling, the ring read at least once) for the completion of
 * `trans_id`; copies it to *out. */
bool netvsc_wait_completion(netvsc_nic* n, uint64_t trans_id, netvsc_completion* out, uint64_t timeout);
/* The status of a completion of SEND_RNDIS_PKT, or UINT32_MAX when it is
 * not one (type or length). */
uint32_t netvsc_rndis_completion_status(const netvsc_completion* c);

/* The oldest kept event of RNDIS `type`, matching `req_id` when
 * `match_req`; NULL if none. netvsc_release frees it. */
netvsc_event* netvsc_find_event(netvsc_nic* n, uint32_t type, bool match_req, uint32_t req_id);
/* netvsc_find_event, polling until `timeout`. */
netvsc_event* netvsc_wait_event(netvsc_nic* n, uint32_t type, bool match_req, uint32_t req_id, uint64_t timeout);
void netvsc_release(netvsc_event* e);
/* Events kept now (of any type). */
uint32_t netvsc_event_count(const netvsc_nic* n);

/* Sends the receive completions held back. Returns how many went out. */
uint32_t netvsc_release_held(netvsc_nic* n);

/* A received RNDIS_MSG_PACKET's frame: pointer and length, after Linux's
 * rndis_filter_receive_data checks; NULL when they fail. */
const uint8_t* netvsc_packet_frame(const netvsc_event* e, uint32_t* frame_len);

/* A QUERY_C's information buffer, after Linux's rndis_filter_query_device
 * checks (info_buf_offset >= 16, inside msg_len); NULL when they fail. */
const uint8_t* netvsc_query_info(const netvsc_event* e, uint32_t* info_len);

/* Little-endian u32 of a message. */
static inline uint32_t netvsc_get32(const netvsc_event* e, uint32_t off) {
  return off + 4 <= e->len ? vmbus_get32(e->bytes, off) : UINT32_MAX;
}

/* ------------------------------------------------------------------------ */
/* Linux's bring-up, one call per step (the conformance guests check each)  */
/* ------------------------------------------------------------------------ */

/* An RNDIS control call: the request at n->control + at, the COMP of its
 * packet and, unless `reply_type` is 0, the reply with the request's req_id
 * (left in *reply for the caller to check and release). */
typedef struct netvsc_call {
  bool sent, completed;
  uint32_t completion_status; /* NVSP status of the packet's COMP */
  netvsc_event* reply;
} netvsc_call;
void netvsc_control_call(netvsc_nic* n, uint32_t at, uint32_t reply_type, uint64_t timeout, netvsc_call* call);

#ifdef __cplusplus
}
#endif
