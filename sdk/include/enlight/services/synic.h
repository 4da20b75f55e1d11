/*
 * The "synic" service: what the synic plugin (hv-synic) offers other plugins
 * so they can talk to a vCPU's synthetic interrupt controller without
 * knowing its pages (TLFS "Inter-Partition Communication", "SynIC").
 * Producers: stimer (HVMSG_TIMER_EXPIRED), later VMBus. Consumers of guest
 * traffic: whoever owns a connection id of HvCallPostMessage /
 * HvCallSignalEvent.
 *
 * Look it up during vm_create:
 *   host->service_lookup(host->ctx, ENLIGHT_SYNIC_SERVICE,
 *                        ENLIGHT_SYNIC_SERVICE_MAJOR, 0)
 * and pass `ctx` back as the first argument of every call. The layout of
 * enlight_synic_service only grows at its end (minor versions).
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENLIGHT_SYNIC_SERVICE "synic"
#define ENLIGHT_SYNIC_SERVICE_MAJOR 1u
#define ENLIGHT_SYNIC_SERVICE_MINOR 0u

/* What post_message / signal_event report. */
typedef enum enlight_synic_result {
  /* Delivered: the message is in the slot (or the flag is set) and the SINT
   * was asserted unless it is masked (a masked SINT is the guest's polling
   * mode: the message still lands in its slot). */
  ENLIGHT_SYNIC_DELIVERED = 0,
  /* The message slot is occupied. The slot's MessagePending flag is now set,
   * so the guest will write EOM once it has emptied the slot; the producer
   * keeps its message and posts it again when its slot_free callback runs. */
  ENLIGHT_SYNIC_BUSY = 1,
  /* Nothing was delivered: SCONTROL disabled, the SIMP (or SIEFP) page
   * disabled or outside guest RAM. The producer drops or keeps the message
   * as its own semantics say (stimer keeps it, as KVM does). */
  ENLIGHT_SYNIC_UNAVAILABLE = 2,
  /* A bad argument from the calling plugin (vcpu, sint, size, flag). */
  ENLIGHT_SYNIC_INVALID = 3
} enlight_synic_result;

/* Runs on vCPU `vcpu`'s thread when the guest may have freed message slot
 * `sint` there: on a write to HV_X64_MSR_EOM, and on the EOI of that SINT's
 * vector (TLFS: the guest writes EOM after clearing a slot whose
 * MessagePending flag was set). */
typedef void (*enlight_synic_slot_free_fn)(void* arg, uint32_t vcpu, uint32_t sint);

/* A HvCallPostMessage the guest sent to connection id `connection_id`,
 * already validated (TLFS 7.5: payload size <= 240, message type without
 * the hypervisor bit). `calling_vp` is the caller's VP index (TLFS), not
 * its vCPU number: enlight_host.vcpu_of_vp_index (ABI 1.2) turns it into
 * one. Runs on the calling vCPU's thread. Returns the
 * HV_STATUS the guest sees (HV_STATUS_SUCCESS, HV_STATUS_INSUFFICIENT_BUFFERS
 * when the receiver is full, ...). */
typedef uint16_t (*enlight_synic_message_port_fn)(void* arg, uint32_t calling_vp, uint32_t message_type,
                                                  const void* payload, uint32_t payload_size);

/* A HvCallSignalEvent to `connection_id` with `flag_number`, already
 * validated; `calling_vp` as above. Runs on the calling vCPU's thread;
 * returns the HV_STATUS. */
typedef uint16_t (*enlight_synic_event_port_fn)(void* arg, uint32_t calling_vp, uint16_t flag_number);

typedef struct enlight_synic_service {
  void* ctx;

  /* Posts one message (a whole HV_MESSAGE: 16-byte header then payload,
   * `size` = 16 + payload size, at most HV_MESSAGE_SIZE bytes) into vCPU
   * `vcpu`'s SIMP slot `sint` and asserts that SINT. Any thread; posts to
   * one (vcpu, sint) from several threads are serialized by the service. */
  enlight_synic_result (*post_message)(void* ctx, uint32_t vcpu, uint32_t sint, const void* message, uint32_t size);

  /* Sets event flag `flag` (< 2048) of vCPU `vcpu`'s SIEF slot `sint`
   * atomically, and asserts the SINT if the flag was clear. Any thread. */
  enlight_synic_result (*signal_event)(void* ctx, uint32_t vcpu, uint32_t sint, uint32_t flag);

  /* Only during vm_create: be told when slots may have been freed. */
  int (*on_slot_free)(void* ctx, enlight_synic_slot_free_fn fn, void* arg);

  /* Only during vm_create: receive the guest's HvCallPostMessage /
   * HvCallSignalEvent to a connection id. -1 when the id is taken. */
  int (*register_message_port)(void* ctx, uint32_t connection_id, enlight_synic_message_port_fn fn, void* arg);
  int (*register_event_port)(void* ctx, uint32_t connection_id, enlight_synic_event_port_fn fn, void* arg);

  /* The SINT register of vCPU `vcpu` as the guest last wrote it (for a
   * producer that needs its vector, e.g. to count deliveries); any thread. */
  uint64_t (*sint_value)(void* ctx, uint32_t vcpu, uint32_t sint);
} enlight_synic_service;

#ifdef __cplusplus
}
#endif
