/*
 * The "vmbus" service: what the vmbus plugin offers VMBus devices. A device
 * is its own plugin (`requires: vmbus`): it registers during vm_create, the
 * bus offers it to the guest, and from the guest's OPENCHANNEL to its
 * CLOSECHANNEL (or a bus reset) the device reads and writes packets on the
 * channel's two rings. A device never sees a guest physical address: the
 * rings are the bus's, and bulk buffers are reached by GPADL handle, only
 * those the guest created for this channel (docs/vmbus.md, "Writing a
 * device").
 *
 * Look it up during vm_create:
 *   host->service_lookup(host->ctx, ENLIGHT_VMBUS_SERVICE,
 *                        ENLIGHT_VMBUS_SERVICE_MAJOR, 0)
 * and pass `ctx` back as the first argument of every call. The layout of
 * enlight_vmbus_service only grows at its end (minor versions).
 *
 * Threads. Callbacks run on a vCPU thread: open and close on the thread of
 * the vCPU that sent the channel message, notify on the thread of the vCPU
 * that signalled. recv, send and the GPADL copies may be called from any
 * thread (a device's timer, a backend thread); the bus serialises them per
 * channel, so a device needs no lock of its own for the rings. They are
 * cheap (a bounds-checked copy, an uncontended lock, at most one event-flag
 * store and interrupt), and never allocate. open, close, notify and the
 * device's own timers can run at the same time on different threads (the
 * guest closes on one vCPU while it signals on another): a device guards
 * its own state.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENLIGHT_VMBUS_SERVICE "vmbus"
#define ENLIGHT_VMBUS_SERVICE_MAJOR 1u
#define ENLIGHT_VMBUS_SERVICE_MINOR 1u

/* A channel, as the bus hands it to its device; opaque. Valid from
 * register_device until vm_destroy, open or not. */
typedef struct enlight_vmbus_channel enlight_vmbus_channel;

typedef enum enlight_vmbus_result {
  ENLIGHT_VMBUS_OK = 0,
  /* recv: no packet waiting. Not an error. */
  ENLIGHT_VMBUS_EMPTY = 1,
  /* send: the host-to-guest ring has no room now. The bus has asked the
   * guest (pending_send_sz) to signal once it has read enough; notify then
   * runs and the device sends again. */
  ENLIGHT_VMBUS_FULL = 2,
  /* recv: the packet is longer than `capacity` (info->length says how
   * long); it stays in the ring until read with room or dropped with
   * recv_drop. send: the packet can never fit in this ring. */
  ENLIGHT_VMBUS_TOO_LARGE = 3,
  /* The channel is not open (never opened, closed, or the bus was reset). */
  ENLIGHT_VMBUS_CLOSED = 4,
  /* The guest corrupted the ring (an index or a packet's framing that cannot
   * be valid). Counted by the bus; the ring is not read again until the
   * guest reopens the channel, as a hardware device would stop. */
  ENLIGHT_VMBUS_CORRUPT = 5,
  /* A bad argument from the device (unknown GPADL, a range outside it). */
  ENLIGHT_VMBUS_INVALID = 6
} enlight_vmbus_result;

/* The packet recv returned. */
typedef struct enlight_vmbus_packet {
  uint16_t type;           /* VM_PKT_* (enlight/tlfs.h) */
  uint16_t flags;          /* VMBUS_DATA_PACKET_FLAG_* */
  uint32_t length;         /* bytes copied to the buffer: from the packet's data offset on, padding included */
  uint64_t transaction_id; /* the guest's requestid, echoed in a completion */
} enlight_vmbus_packet;

typedef struct enlight_vmbus_device_ops {
  /* The guest opened the channel; its rings are mapped and send works.
   * Return 0 to accept; anything else answers the guest's OPENCHANNEL
   * with a failure. Sending from inside open is allowed (the util devices
   * start their negotiation there). */
  int (*open)(void* arg, enlight_vmbus_channel* channel);
  /* The guest closed the channel, or the bus was reset (a new
   * INITIATE_CONTACT, UNLOAD). When it returns the rings are gone: recv
   * and send answer CLOSED. */
  void (*close)(void* arg, enlight_vmbus_channel* channel);
  /* The guest signalled the channel (HvSignalEvent on its connection id):
   * packets are waiting, or it has freed room the device was waiting for.
   * Read until EMPTY. While notify runs the bus has masked the guest's
   * signals for this ring (interrupt_mask), and it calls notify again if
   * packets arrived after the device's last recv. */
  void (*notify)(void* arg, enlight_vmbus_channel* channel, uint32_t vcpu);
} enlight_vmbus_device_ops;

typedef struct enlight_vmbus_device {
  uint32_t size;                       /* sizeof(enlight_vmbus_device) */
  const char* name;                    /* metrics label and log name, [a-z0-9_-], copied */
  uint8_t interface_type[16];          /* offer if_type, wire (Windows GUID) order: *_GUID_BYTES in tlfs.h */
  uint8_t interface_instance[16];      /* unique per interface type */
  uint16_t channel_flags;              /* VMBUS_CHANNEL_* offer flags */
  uint16_t reserved;
  uint8_t user_defined[120];           /* offer user_def (VMBUS_MAX_USER_DEFINED_BYTES) */
  enlight_vmbus_device_ops ops;
  void* arg;                           /* first argument of every op */
} enlight_vmbus_device;

typedef struct enlight_vmbus_service {
  void* ctx;

  /* Only during vm_create. Offers `device` to the guest (one channel;
   * relids in registration order). 0 and *channel filled, or -1: the bus
   * is full, the pair of GUIDs is already offered, or an op is missing. */
  int (*register_device)(void* ctx, const enlight_vmbus_device* device, enlight_vmbus_channel** channel);

  /* Copies the next guest-to-host packet's data (from its data offset to
   * its end) into `buffer` and consumes it: OK, EMPTY, TOO_LARGE (nothing
   * consumed), CLOSED, CORRUPT. Signals the guest when it was waiting for
   * room (pending_send_sz). */
  enlight_vmbus_result (*recv)(void* ctx, enlight_vmbus_channel* channel, void* buffer, uint32_t capacity,
                               enlight_vmbus_packet* info);
  /* Drops the packet a TOO_LARGE recv found (a device that refuses it). */
  enlight_vmbus_result (*recv_drop)(void* ctx, enlight_vmbus_channel* channel);

  /* Writes one packet (descriptor, `size` bytes of payload padded to 8,
   * trailer) to the host-to-guest ring and signals the guest when the ring
   * went from empty to non-empty and the guest has not masked it: OK,
   * FULL, TOO_LARGE, CLOSED, CORRUPT (the guest's read index). */
  enlight_vmbus_result (*send)(void* ctx, enlight_vmbus_channel* channel, uint16_t type, uint16_t flags,
                               uint64_t transaction_id, const void* payload, uint32_t size);

  /* Copies between host memory and a GPADL the guest created for this
   * channel (GPADL_HEADER's child_relid), at byte `offset` of the buffer it
   * describes: OK, CLOSED, INVALID (unknown or foreign handle, a range past
   * its byte count). */
  enlight_vmbus_result (*gpadl_read)(void* ctx, enlight_vmbus_channel* channel, uint32_t gpadl, uint64_t offset,
                                     void* dst, uint32_t len);
  enlight_vmbus_result (*gpadl_write)(void* ctx, enlight_vmbus_channel* channel, uint32_t gpadl, uint64_t offset,
                                      const void* src, uint32_t len);

  /* The channel's relid (its event flag number), and whether it is open. */
  uint32_t (*relid)(void* ctx, const enlight_vmbus_channel* channel);
  int (*is_open)(void* ctx, const enlight_vmbus_channel* channel);

  /* ---- Minor 1: what a device with bulk data needs (the synthetic NIC). */

  /* recv, but the whole packet from its descriptor on: the 16-byte
   * descriptor, its extension (a GPA_DIRECT packet's page buffers, a
   * transfer page header) and the data; info->length is the bytes copied
   * (the packet's len8 * 8, without the trailer). Same results as recv. */
  enlight_vmbus_result (*recv_packet)(void* ctx, enlight_vmbus_channel* channel, void* buffer, uint32_t capacity,
                                      enlight_vmbus_packet* info);
  /* send with `extension_size` bytes (a multiple of 8, else INVALID)
   * between the descriptor and the payload; the packet's data offset points
   * past them (VM_PKT_DATA_USING_XFER_PAGES carries its transfer page
   * header there). Same results as send. */
  enlight_vmbus_result (*send_extended)(void* ctx, enlight_vmbus_channel* channel, uint16_t type, uint16_t flags,
                                        uint64_t transaction_id, const void* extension, uint32_t extension_size,
                                        const void* payload, uint32_t size);
  /* Copies `len` bytes of guest RAM at `gpa` into `dst`: what a GPA_DIRECT
   * page buffer names. OK, CLOSED, INVALID (a byte outside guest RAM). The
   * device checks each page buffer against its page first. */
  enlight_vmbus_result (*gpa_read)(void* ctx, enlight_vmbus_channel* channel, uint64_t gpa, void* dst, uint32_t len);
  /* The byte count of a GPADL the guest created for this channel: OK,
   * CLOSED, INVALID (unknown or foreign handle). */
  enlight_vmbus_result (*gpadl_size)(void* ctx, enlight_vmbus_channel* channel, uint32_t gpadl, uint64_t* bytes);
} enlight_vmbus_service;

#ifdef __cplusplus
}
#endif
