/* VMBus, guest side: see enlight_guest/vmbus.h. */
#include <enlight_guest/apic.h>
#include <enlight_guest/guest.h>
#include <enlight_guest/vmbus.h>

/* Byte k of the SIEF slot holds flags 8k..8k+7 (TLFS HV_SYNIC_EVENT_FLAGS). */
#define FLAG_BITS_PER_BYTE 8u
/* Spin rounds per 100 ns "tick" of vmbus_now when there is no reference
 * counter: a guess that only keeps the waits finite. */
#define SPIN_ROUNDS_PER_TICK 1u

static uint8_t post_input[HV_PAGE_SIZE] __attribute__((aligned(4096)));
static void* simp;
static void* siefp;
static bool have_ref_counter;
/* The waits read the clock in tight loops: the reference TSC page costs no
 * exit, the MSR one each (the MSR stays the fallback, as the TLFS says). */
static uint8_t tsc_page[HV_PAGE_SIZE] __attribute__((aligned(4096)));
static bool tsc_page_on;
static uint64_t spin_clock;
static volatile uint64_t sint_interrupts;

static void on_sint(guest_frame* frame) {
  (void)frame;
  sint_interrupts++;
  /* No AutoEOI: the EOI is also how the host learns the slot may be free
   * (the synic plugin retries queued messages on it, as KVM does). */
  apic_eoi();
}

bool vmbus_init(const hv_info* hv, void* simp_page, void* siefp_page, uint8_t vector) {
  simp = simp_page;
  siefp = siefp_page;
  have_ref_counter = (hv->privileges_low & HV_ACCESS_PARTITION_REFERENCE_COUNTER) != 0;
  tsc_page_on = (hv->privileges_low & HV_ACCESS_PARTITION_REFERENCE_TSC) != 0 &&
                !wrmsr_safe(HV_X64_MSR_REFERENCE_TSC, (uint64_t)(uintptr_t)tsc_page | HV_X64_MSR_REFERENCE_TSC_ENABLE);
  guest_set_irq_handler(vector, on_sint);
  uint64_t v = 0;
  if (rdmsr_safe(HV_X64_MSR_SINT0 + VMBUS_MESSAGE_SINT, &v)) return false;
  return !wrmsr_safe(HV_X64_MSR_SINT0 + VMBUS_MESSAGE_SINT, (v & HV_SYNIC_SINT_RSVDP_MASK) | hv_sint_value(vector));
}

bool vmbus_guest_setup(const hv_info* hv, void* simp_page, void* siefp_page, uint8_t vector, uint32_t* vp_index) {
  if (hv->privileges_low & HV_ACCESS_VP_INDEX) *vp_index = (uint32_t)rdmsr(HV_X64_MSR_VP_INDEX);
  if (!CHECK_TRUE("x2apic", apic_init()) ||
      !CHECK_TRUE("hypercall_page.enable", hv_enable_hypercall_page((uint64_t)(uintptr_t)hv_default_hypercall_page())) ||
      !CHECK_TRUE("synic.enable", hv_synic_enable(simp_page, siefp_page)) ||
      !CHECK_TRUE("synic.sint2.unmask", vmbus_init(hv, simp_page, siefp_page, vector)))
    return false;
  irq_enable();
  return true;
}

uint64_t vmbus_sint_interrupts(void) { return sint_interrupts; }

uint64_t vmbus_now(void) {
  uint64_t t;
  if (tsc_page_on && hv_ref_tsc_page_read((const hv_ref_tsc_page*)tsc_page, &t)) return t;
  if (have_ref_counter) return rdmsr(HV_X64_MSR_TIME_REF_COUNT);
  spin_clock += SPIN_ROUNDS_PER_TICK;
  return spin_clock;
}

/* ---- Channel messages ---------------------------------------------------- */

void vmbus_msg_start(vmbus_msg* m, uint32_t channel_message_type, uint32_t size) {
  memset(m, 0, sizeof *m);
  m->size = size <= sizeof m->bytes ? size : (uint32_t)sizeof m->bytes;
  vmbus_put32(m->bytes, VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET, channel_message_type);
}

uint16_t vmbus_post_raw(uint32_t connection_id, uint32_t message_type, const void* payload, uint32_t size) {
  memset(post_input, 0, HV_POST_MESSAGE_INPUT_SIZE);
  vmbus_put32(post_input, HV_POST_MESSAGE_CONNECTION_ID_OFFSET, connection_id);
  vmbus_put32(post_input, HV_POST_MESSAGE_MESSAGE_TYPE_OFFSET, message_type);
  vmbus_put32(post_input, HV_POST_MESSAGE_PAYLOAD_SIZE_OFFSET, size);
  const uint32_t room = HV_POST_MESSAGE_INPUT_SIZE - HV_POST_MESSAGE_PAYLOAD_OFFSET;
  if (payload != NULL) memcpy(post_input + HV_POST_MESSAGE_PAYLOAD_OFFSET, payload, size < room ? size : room);
  return hv_result_status(hv_hypercall(hv_control(HvCallPostMessage, 0), (uint64_t)(uintptr_t)post_input, 0));
}

uint16_t vmbus_post(const vmbus_msg* m) {
  return vmbus_post_raw(VMBUS_MESSAGE_CONNECTION_ID, VMBUS_MESSAGE_TYPE, m->bytes, m->size);
}

bool vmbus_take(vmbus_msg* out, uint32_t* synic_type) {
  volatile hv_message* slot = hv_message_slot(simp, VMBUS_MESSAGE_SINT);
  const uint32_t type = slot->type;
  if (type == HvMessageTypeNone) return false;
  /* The type is read before the payload (the host stores it last). */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  uint32_t size = slot->payload_size;
  if (size > HV_MESSAGE_PAYLOAD_BYTE_COUNT) size = HV_MESSAGE_PAYLOAD_BYTE_COUNT;
  memset(out, 0, sizeof *out);
  out->size = size;
  const volatile uint8_t* p = (const volatile uint8_t*)slot->payload;
  for (uint32_t i = 0; i < size; ++i) out->bytes[i] = p[i];
  if (synic_type != NULL) *synic_type = type;
  hv_message_ack(slot);
  return true;
}

bool vmbus_wait(vmbus_msg* out, uint64_t timeout) {
  irq_enable();
  const uint64_t start = vmbus_now();
  for (;;) {
    if (vmbus_take(out, NULL)) return true;
    if (vmbus_now() - start >= timeout) return false;
    cpu_relax();
  }
}

bool vmbus_wait_type(vmbus_msg* out, uint32_t channel_message_type, uint64_t timeout, uint32_t* skipped) {
  const uint64_t start = vmbus_now();
  for (;;) {
    const uint64_t spent = vmbus_now() - start;
    if (spent >= timeout) return false;
    if (!vmbus_wait(out, timeout - spent)) return false;
    if (vmbus_msg_type(out) == channel_message_type) return true;
    if (skipped != NULL) ++*skipped;
  }
}

uint32_t vmbus_drain(uint64_t quiet) {
  vmbus_msg m;
  uint32_t n = 0;
  while (vmbus_wait(&m, quiet)) ++n;
  return n;
}

void vmbus_msg_initiate_contact(vmbus_msg* m, uint32_t version, uint32_t target_vcpu, uint64_t interrupt_page,
                                uint64_t monitor_page1, uint64_t monitor_page2) {
  vmbus_msg_start(m, CHANNELMSG_INITIATE_CONTACT, VMBUS_INITIATE_CONTACT_SIZE);
  vmbus_put32(m->bytes, VMBUS_INITIATE_CONTACT_VMBUS_VERSION_REQUESTED_OFFSET, version);
  vmbus_put32(m->bytes, VMBUS_INITIATE_CONTACT_TARGET_VCPU_OFFSET, target_vcpu);
  if (version >= VMBUS_VERSION_WIN10_V5) {
    /* 5.0 on: the interrupt page's place holds the message SINT (Linux
     * vmbus_negotiate_version). */
    m->bytes[VMBUS_INITIATE_CONTACT_MSG_SINT_OFFSET] = (uint8_t)VMBUS_MESSAGE_SINT;
  } else {
    vmbus_put64(m->bytes, VMBUS_INITIATE_CONTACT_INTERRUPT_PAGE_OFFSET, interrupt_page);
  }
  vmbus_put64(m->bytes, VMBUS_INITIATE_CONTACT_MONITOR_PAGE1_OFFSET, monitor_page1);
  vmbus_put64(m->bytes, VMBUS_INITIATE_CONTACT_MONITOR_PAGE2_OFFSET, monitor_page2);
}

void vmbus_msg_open_channel(vmbus_msg* m, uint32_t relid, uint32_t openid, uint32_t ring_gpadl, uint32_t target_vp,
                            uint32_t downstream_page_offset) {
  vmbus_msg_start(m, CHANNELMSG_OPENCHANNEL, VMBUS_OPENCHANNEL_SIZE);
  vmbus_put32(m->bytes, VMBUS_OPENCHANNEL_CHILD_RELID_OFFSET, relid);
  vmbus_put32(m->bytes, VMBUS_OPENCHANNEL_OPENID_OFFSET, openid);
  vmbus_put32(m->bytes, VMBUS_OPENCHANNEL_RINGBUFFER_GPADLHANDLE_OFFSET, ring_gpadl);
  vmbus_put32(m->bytes, VMBUS_OPENCHANNEL_TARGET_VP_OFFSET, target_vp);
  vmbus_put32(m->bytes, VMBUS_OPENCHANNEL_DOWNSTREAM_RINGBUFFER_PAGEOFFSET_OFFSET, downstream_page_offset);
}

void vmbus_msg_relid(vmbus_msg* m, uint32_t channel_message_type, uint32_t relid) {
  /* CLOSECHANNEL and RELID_RELEASED have the same shape. */
  _Static_assert(VMBUS_CLOSECHANNEL_SIZE == VMBUS_RELID_RELEASED_SIZE, "layout");
  _Static_assert(VMBUS_CLOSECHANNEL_CHILD_RELID_OFFSET == VMBUS_RELID_RELEASED_CHILD_RELID_OFFSET, "layout");
  vmbus_msg_start(m, channel_message_type, VMBUS_CLOSECHANNEL_SIZE);
  vmbus_put32(m->bytes, VMBUS_CLOSECHANNEL_CHILD_RELID_OFFSET, relid);
}

void vmbus_msg_gpadl_teardown(vmbus_msg* m, uint32_t relid, uint32_t gpadl) {
  vmbus_msg_start(m, CHANNELMSG_GPADL_TEARDOWN, VMBUS_GPADL_TEARDOWN_SIZE);
  vmbus_put32(m->bytes, VMBUS_GPADL_TEARDOWN_CHILD_RELID_OFFSET, relid);
  vmbus_put32(m->bytes, VMBUS_GPADL_TEARDOWN_GPADL_OFFSET, gpadl);
}

/* ---- GPADLs -------------------------------------------------------------- */

uint32_t vmbus_msg_gpadl_header(vmbus_msg* m, uint32_t relid, uint32_t gpadl, const uint64_t* pfns, uint32_t count) {
  const uint32_t here = count < VMBUS_GPADL_HEADER_MAX_PFNS ? count : VMBUS_GPADL_HEADER_MAX_PFNS;
  vmbus_msg_start(m, CHANNELMSG_GPADL_HEADER, VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET + here * VMBUS_GPADL_PFN_SIZE);
  vmbus_put32(m->bytes, VMBUS_GPADL_HEADER_CHILD_RELID_OFFSET, relid);
  vmbus_put32(m->bytes, VMBUS_GPADL_HEADER_GPADL_OFFSET, gpadl);
  vmbus_put16(m->bytes, VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET,
              (uint16_t)(VMBUS_GPA_RANGE_HEADER_SIZE + count * VMBUS_GPADL_PFN_SIZE));
  vmbus_put16(m->bytes, VMBUS_GPADL_HEADER_RANGECOUNT_OFFSET, 1);
  vmbus_put32(m->bytes, VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET, count * HV_PAGE_SIZE);
  vmbus_put32(m->bytes, VMBUS_GPADL_HEADER_BYTE_OFFSET_OFFSET, 0);
  for (uint32_t i = 0; i < here; ++i)
    vmbus_put64(m->bytes, VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET + i * VMBUS_GPADL_PFN_SIZE, pfns[i]);
  return here;
}

uint32_t vmbus_msg_gpadl_body(vmbus_msg* m, uint32_t gpadl, const uint64_t* pfns, uint32_t count) {
  const uint32_t here = count < VMBUS_GPADL_BODY_MAX_PFNS ? count : VMBUS_GPADL_BODY_MAX_PFNS;
  vmbus_msg_start(m, CHANNELMSG_GPADL_BODY, VMBUS_GPADL_BODY_PFN_OFFSET + here * VMBUS_GPADL_PFN_SIZE);
  vmbus_put32(m->bytes, VMBUS_GPADL_BODY_GPADL_OFFSET, gpadl);
  for (uint32_t i = 0; i < here; ++i)
    vmbus_put64(m->bytes, VMBUS_GPADL_BODY_PFN_OFFSET + i * VMBUS_GPADL_PFN_SIZE, pfns[i]);
  return here;
}

uint16_t vmbus_gpadl_send(uint32_t relid, uint32_t gpadl, const uint64_t* pfns, uint32_t count) {
  vmbus_msg m;
  uint32_t sent = vmbus_msg_gpadl_header(&m, relid, gpadl, pfns, count);
  uint16_t s = vmbus_post(&m);
  while (s == HV_STATUS_SUCCESS && sent < count) {
    sent += vmbus_msg_gpadl_body(&m, gpadl, pfns + sent, count - sent);
    s = vmbus_post(&m);
  }
  return s;
}

void vmbus_pfns_of(const void* pages, uint32_t count, uint64_t* pfns) {
  const uint64_t first = (uint64_t)(uintptr_t)pages / HV_PAGE_SIZE;
  for (uint32_t i = 0; i < count; ++i) pfns[i] = first + i;
}

/* ---- A driver's bus steps --------------------------------------------------- */

bool vmbus_connect(uint32_t version, uint32_t target_vp, uint64_t timeout) {
  vmbus_msg m, r;
  vmbus_msg_initiate_contact(&m, version, target_vp, 0, 0, 0);
  if (vmbus_post(&m) != HV_STATUS_SUCCESS) return false;
  return vmbus_wait_type(&r, CHANNELMSG_VERSION_RESPONSE, timeout, NULL) &&
         r.bytes[VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET] == 1;
}

bool vmbus_request_offers(vmbus_offer* offers, uint32_t max, uint32_t* count, uint64_t timeout) {
  vmbus_msg m, r;
  uint32_t n = 0;
  if (count != NULL) *count = 0;
  vmbus_msg_start(&m, CHANNELMSG_REQUESTOFFERS, VMBUS_REQUESTOFFERS_SIZE);
  if (vmbus_post(&m) != HV_STATUS_SUCCESS) return false;
  while (vmbus_wait(&r, timeout)) {
    const uint32_t type = vmbus_msg_type(&r);
    if (type == CHANNELMSG_ALLOFFERS_DELIVERED) {
      if (count != NULL) *count = n;
      return true;
    }
    if (type != CHANNELMSG_OFFERCHANNEL || r.size < VMBUS_OFFERCHANNEL_SIZE) continue;
    if (n < max) {
      vmbus_offer* o = &offers[n];
      memcpy(o->if_type, r.bytes + VMBUS_OFFERCHANNEL_IF_TYPE_OFFSET, VMBUS_GUID_SIZE);
      memcpy(o->if_instance, r.bytes + VMBUS_OFFERCHANNEL_IF_INSTANCE_OFFSET, VMBUS_GUID_SIZE);
      o->relid = vmbus_get32(r.bytes, VMBUS_OFFERCHANNEL_CHILD_RELID_OFFSET);
      o->connection_id = vmbus_get32(r.bytes, VMBUS_OFFERCHANNEL_CONNECTION_ID_OFFSET);
      o->sub_channel_index = vmbus_get16(r.bytes, VMBUS_OFFERCHANNEL_SUB_CHANNEL_INDEX_OFFSET);
    }
    ++n;
  }
  if (count != NULL) *count = n;
  return false;
}

uint32_t vmbus_gpadl_create(uint32_t relid, uint32_t gpadl, const void* pages, uint32_t count, uint64_t timeout) {
  uint64_t pfns[VMBUS_GPADL_CREATE_MAX_PAGES];
  if (count > VMBUS_GPADL_CREATE_MAX_PAGES) return UINT32_MAX;
  vmbus_pfns_of(pages, count, pfns);
  if (vmbus_gpadl_send(relid, gpadl, pfns, count) != HV_STATUS_SUCCESS) return UINT32_MAX;
  vmbus_msg r;
  if (!vmbus_wait_type(&r, CHANNELMSG_GPADL_CREATED, timeout, NULL) ||
      vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_CHILD_RELID_OFFSET) != relid ||
      vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_GPADL_OFFSET) != gpadl)
    return UINT32_MAX;
  return vmbus_get32(r.bytes, VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET);
}

uint32_t vmbus_open(uint32_t relid, uint32_t openid, uint32_t ring_gpadl, uint32_t target_vp,
                    uint32_t downstream_page_offset, uint64_t timeout) {
  vmbus_msg m, r;
  vmbus_msg_open_channel(&m, relid, openid, ring_gpadl, target_vp, downstream_page_offset);
  if (vmbus_post(&m) != HV_STATUS_SUCCESS) return UINT32_MAX;
  if (!vmbus_wait_type(&r, CHANNELMSG_OPENCHANNEL_RESULT, timeout, NULL) ||
      vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_CHILD_RELID_OFFSET) != relid ||
      vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_OPENID_OFFSET) != openid)
    return UINT32_MAX;
  return vmbus_get32(r.bytes, VMBUS_OPENCHANNEL_RESULT_STATUS_OFFSET);
}

bool vmbus_gpadl_teardown(uint32_t relid, uint32_t gpadl, uint64_t timeout) {
  vmbus_msg m, r;
  vmbus_msg_gpadl_teardown(&m, relid, gpadl);
  if (vmbus_post(&m) != HV_STATUS_SUCCESS) return false;
  return vmbus_wait_type(&r, CHANNELMSG_GPADL_TORNDOWN, timeout, NULL) &&
         vmbus_get32(r.bytes, VMBUS_GPADL_TORNDOWN_GPADL_OFFSET) == gpadl;
}

/* ---- Rings --------------------------------------------------------------- */

static void ring_lay(vmbus_ring* r, uint8_t* pages, uint32_t page_count) {
  r->header = pages;
  r->data = pages + VMBUS_RING_HEADER_SIZE;
  r->size = (page_count - 1) * HV_PAGE_SIZE;
  r->priv_read = 0;
  /* Linux hv_ringbuffer_init: a clean header that says the guest honours
   * pending_send_sz on both rings. */
  memset(pages, 0, VMBUS_RING_HEADER_SIZE);
  vmbus_ring_set_field(r, VMBUS_RING_FEATURE_BITS_OFFSET, VMBUS_RING_BUFFER_FEAT_PENDING_SZ);
}

void vmbus_channel_rings(vmbus_channel* c, void* pages, uint32_t out_pages, uint32_t in_pages) {
  ring_lay(&c->out, (uint8_t*)pages, out_pages);
  ring_lay(&c->in, (uint8_t*)pages + (size_t)out_pages * HV_PAGE_SIZE, in_pages);
}

/* Bytes the writer may still use, as Linux hv_get_bytes_to_write. */
static uint32_t bytes_to_write(uint32_t size, uint32_t read, uint32_t write) {
  return write >= read ? size - (write - read) : read - write;
}

/* Copies in and out of the data area, wrapping at its end; `off` must be
 * below the size and `len` at most the size (the callers' checks). */
static void ring_copy_in(vmbus_ring* r, uint32_t off, const void* src, uint32_t len) {
  const uint8_t* s = (const uint8_t*)src;
  for (uint32_t i = 0; i < len; ++i) {
    r->data[off] = s[i];
    if (++off == r->size) off = 0;
  }
}

static void ring_copy_out(const vmbus_ring* r, uint32_t off, void* dst, uint32_t len) {
  uint8_t* d = (uint8_t*)dst;
  for (uint32_t i = 0; i < len; ++i) {
    d[i] = r->data[off];
    if (++off == r->size) off = 0;
  }
}

static uint32_t ring_advance(const vmbus_ring* r, uint32_t off, uint32_t by) {
  const uint64_t n = (uint64_t)off + by;
  return (uint32_t)(n % r->size);
}

int vmbus_ring_write_ext(vmbus_ring* r, uint16_t type, uint16_t flags, uint64_t trans_id, const void* ext,
                         uint32_t ext_len, const void* data, uint32_t len, bool* signal) {
  if (signal != NULL) *signal = false;
  const uint32_t offset = VMBUS_PACKET_DESCRIPTOR_SIZE + ext_len;
  const uint32_t padded = (len + VMBUS_PACKET_ALIGNMENT - 1) & ~(VMBUS_PACKET_ALIGNMENT - 1);
  /* offset8 and len8 are u16 counts of 8 bytes; the extension must keep
   * the data 8-byte aligned. */
  if (ext_len % VMBUS_PACKET_ALIGNMENT != 0 || (uint64_t)offset + padded > UINT16_MAX * (uint64_t)VMBUS_PACKET_ALIGNMENT)
    return VMBUS_RING_TOO_BIG;
  const uint64_t total = (uint64_t)offset + padded + VMBUS_PACKET_TRAILER_SIZE;
  const uint32_t read = vmbus_ring_field(r, VMBUS_RING_READ_INDEX_OFFSET);
  const uint32_t old_write = vmbus_ring_field(r, VMBUS_RING_WRITE_INDEX_OFFSET);
  if (read >= r->size || old_write >= r->size) return VMBUS_RING_CORRUPT;
  /* Never fill the ring completely: equal indices mean empty (Linux
   * hv_ringbuffer_write, -EAGAIN when avail <= total). */
  if (bytes_to_write(r->size, read, old_write) <= total) return VMBUS_RING_FULL;

  uint8_t desc[VMBUS_PACKET_DESCRIPTOR_SIZE];
  memset(desc, 0, sizeof desc);
  vmbus_put16(desc, VMBUS_PACKET_TYPE_OFFSET, type);
  vmbus_put16(desc, VMBUS_PACKET_OFFSET8_OFFSET, (uint16_t)(offset / VMBUS_PACKET_ALIGNMENT));
  vmbus_put16(desc, VMBUS_PACKET_LEN8_OFFSET, (uint16_t)((offset + padded) / VMBUS_PACKET_ALIGNMENT));
  vmbus_put16(desc, VMBUS_PACKET_FLAGS_OFFSET, flags);
  vmbus_put64(desc, VMBUS_PACKET_TRANS_ID_OFFSET, trans_id);
  uint32_t at = old_write;
  ring_copy_in(r, at, desc, sizeof desc);
  at = ring_advance(r, at, sizeof desc);
  ring_copy_in(r, at, ext, ext_len);
  at = ring_advance(r, at, ext_len);
  ring_copy_in(r, at, data, len);
  at = ring_advance(r, at, len);
  const uint8_t zeros[VMBUS_PACKET_ALIGNMENT] = {0};
  ring_copy_in(r, at, zeros, padded - len);
  at = ring_advance(r, at, padded - len);
  uint8_t trailer[VMBUS_PACKET_TRAILER_SIZE];
  /* Linux's trailer: the packet's start offset in the high 32 bits. */
  vmbus_put64(trailer, 0, (uint64_t)old_write << 32);
  ring_copy_in(r, at, trailer, sizeof trailer);
  at = ring_advance(r, at, sizeof trailer);
  /* The packet bytes before the index that publishes them (Linux: virt_mb()
   * before the write_index store). */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  vmbus_ring_set_field(r, VMBUS_RING_WRITE_INDEX_OFFSET, at);
  /* Linux hv_signal_on_write: not while the host masks this ring, and only
   * on the empty -> non-empty transition (the host had read up to our old
   * write index); the seq_cst loads keep mask before read_index. */
  if (signal != NULL && vmbus_ring_field(r, VMBUS_RING_INTERRUPT_MASK_OFFSET) == 0 &&
      vmbus_ring_field(r, VMBUS_RING_READ_INDEX_OFFSET) == old_write)
    *signal = true;
  return VMBUS_RING_OK;
}

int vmbus_ring_write(vmbus_ring* r, uint16_t type, uint16_t flags, uint64_t trans_id, const void* data, uint32_t len,
                     bool* signal) {
  return vmbus_ring_write_ext(r, type, flags, trans_id, NULL, 0, data, len, signal);
}

int vmbus_send_ext(vmbus_channel* c, uint16_t type, uint16_t flags, uint64_t trans_id, const void* ext,
                   uint32_t ext_len, const void* data, uint32_t len, bool* signalled, uint16_t* status) {
  bool signal = false;
  const int r = vmbus_ring_write_ext(&c->out, type, flags, trans_id, ext, ext_len, data, len, &signal);
  if (signalled != NULL) *signalled = signal;
  if (status != NULL) *status = HV_STATUS_SUCCESS;
  if (r == VMBUS_RING_OK && signal) {
    const uint16_t s = vmbus_signal(c->connection_id);
    c->signals++;
    if (status != NULL) *status = s;
  }
  return r;
}

int vmbus_send(vmbus_channel* c, uint16_t type, uint16_t flags, uint64_t trans_id, const void* data, uint32_t len,
               bool* signalled, uint16_t* status) {
  return vmbus_send_ext(c, type, flags, trans_id, NULL, 0, data, len, signalled, status);
}

int vmbus_send_gpa_direct(vmbus_channel* c, uint16_t flags, uint64_t trans_id, const vmbus_page_buffer* pb,
                          uint32_t count, const void* data, uint32_t len, bool* signalled, uint16_t* status) {
  if (count > VMBUS_GPA_DIRECT_ENCODE_MAX) return VMBUS_RING_TOO_BIG;
  /* Linux struct vmbus_channel_packet_page_buffer after the descriptor:
   * reserved, rangecount, then only the `count` page buffers used. */
  uint8_t ext[VMBUS_GPA_DIRECT_RANGES_OFFSET + VMBUS_GPA_DIRECT_ENCODE_MAX * VMBUS_PAGE_BUFFER_SIZE];
  memset(ext, 0, VMBUS_GPA_DIRECT_RANGES_OFFSET);
  vmbus_put32(ext, VMBUS_GPA_DIRECT_RANGE_COUNT_OFFSET, count);
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* e = ext + VMBUS_GPA_DIRECT_RANGES_OFFSET + i * VMBUS_PAGE_BUFFER_SIZE;
    vmbus_put32(e, VMBUS_PAGE_BUFFER_LEN_OFFSET, pb[i].len);
    vmbus_put32(e, VMBUS_PAGE_BUFFER_OFFSET_OFFSET, pb[i].offset);
    vmbus_put64(e, VMBUS_PAGE_BUFFER_PFN_OFFSET, pb[i].pfn);
  }
  return vmbus_send_ext(c, VM_PKT_DATA_USING_GPA_DIRECT, flags, trans_id, ext,
                        VMBUS_GPA_DIRECT_RANGES_OFFSET + count * VMBUS_PAGE_BUFFER_SIZE, data, len, signalled, status);
}

/* The next packet of r: its descriptor into *info, and into `buf` the
 * packet from its data offset (raw = false) or from its descriptor (raw =
 * true). */
static int ring_read(vmbus_ring* r, vmbus_packet* info, void* buf, uint32_t capacity, bool raw) {
  const uint32_t write = vmbus_ring_field(r, VMBUS_RING_WRITE_INDEX_OFFSET);
  if (write >= r->size || r->priv_read >= r->size) return VMBUS_RING_CORRUPT;
  const uint32_t avail = write >= r->priv_read ? write - r->priv_read : r->size - r->priv_read + write;
  /* Linux hv_pkt_iter_first: less than a descriptor is nothing to read. */
  if (avail < VMBUS_PACKET_DESCRIPTOR_SIZE) return avail == 0 ? VMBUS_RING_EMPTY : VMBUS_RING_CORRUPT;
  /* The packet bytes after the index that published them. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  uint8_t desc[VMBUS_PACKET_DESCRIPTOR_SIZE];
  ring_copy_out(r, r->priv_read, desc, sizeof desc);
  memset(info, 0, sizeof *info);
  info->type = vmbus_get16(desc, VMBUS_PACKET_TYPE_OFFSET);
  info->offset8 = vmbus_get16(desc, VMBUS_PACKET_OFFSET8_OFFSET);
  info->len8 = vmbus_get16(desc, VMBUS_PACKET_LEN8_OFFSET);
  info->flags = vmbus_get16(desc, VMBUS_PACKET_FLAGS_OFFSET);
  info->trans_id = vmbus_get64(desc, VMBUS_PACKET_TRANS_ID_OFFSET);
  const uint32_t length = (uint32_t)info->len8 * VMBUS_PACKET_ALIGNMENT;
  const uint32_t offset = (uint32_t)info->offset8 * VMBUS_PACKET_ALIGNMENT;
  /* Linux clamps these; a conformance guest calls them what they are. */
  if (length < VMBUS_PACKET_DESCRIPTOR_SIZE || offset < VMBUS_PACKET_DESCRIPTOR_SIZE || offset > length ||
      (uint64_t)length + VMBUS_PACKET_TRAILER_SIZE > avail)
    return VMBUS_RING_CORRUPT;
  info->data_len = length - offset;
  const uint32_t from = raw ? 0 : offset;
  if (length - from > capacity) return VMBUS_RING_TOO_BIG;
  ring_copy_out(r, ring_advance(r, r->priv_read, from), buf, length - from);
  /* The trailer is skipped unread, as Linux __hv_pkt_iter_next does. */
  r->priv_read = ring_advance(r, r->priv_read, length + VMBUS_PACKET_TRAILER_SIZE);
  return VMBUS_RING_OK;
}

int vmbus_ring_read(vmbus_ring* r, vmbus_packet* info, void* buf, uint32_t capacity) {
  return ring_read(r, info, buf, capacity, false);
}

int vmbus_ring_read_raw(vmbus_ring* r, vmbus_packet* info, void* buf, uint32_t capacity) {
  return ring_read(r, info, buf, capacity, true);
}

bool vmbus_ring_commit_read(vmbus_ring* r) {
  const uint32_t start = vmbus_ring_field(r, VMBUS_RING_READ_INDEX_OFFSET);
  /* Our reads of the packets before the host may reuse their space. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  vmbus_ring_set_field(r, VMBUS_RING_READ_INDEX_OFFSET, r->priv_read);
  /* Linux hv_pkt_iter_close: the read_index store before the
   * pending_send_sz load (full barrier: seq_cst store and load). */
  if ((vmbus_ring_field(r, VMBUS_RING_FEATURE_BITS_OFFSET) & VMBUS_RING_BUFFER_FEAT_PENDING_SZ) == 0) return false;
  const uint32_t pending = vmbus_ring_field(r, VMBUS_RING_PENDING_SEND_SZ_OFFSET);
  if (pending == 0) return false;
  const uint32_t write = vmbus_ring_field(r, VMBUS_RING_WRITE_INDEX_OFFSET);
  if (write >= r->size || start >= r->size) return false;
  const uint32_t free_now = bytes_to_write(r->size, r->priv_read, write);
  const uint32_t bytes_read = r->priv_read >= start ? r->priv_read - start : r->size - start + r->priv_read;
  /* Signal only when this read made the space cross pending_send_sz. */
  if (free_now - bytes_read > pending) return false;
  if (free_now <= pending) return false;
  return true;
}

/* Read, then publish and signal by Linux's rule. */
static int recv(vmbus_channel* c, vmbus_packet* info, void* buf, uint32_t capacity, bool raw) {
  const int r = ring_read(&c->in, info, buf, capacity, raw);
  if (r != VMBUS_RING_OK) return r;
  if (vmbus_ring_commit_read(&c->in)) {
    vmbus_signal(c->connection_id);
    c->signals++;
  }
  return r;
}

int vmbus_recv(vmbus_channel* c, vmbus_packet* info, void* buf, uint32_t capacity) {
  return recv(c, info, buf, capacity, false);
}

int vmbus_recv_raw(vmbus_channel* c, vmbus_packet* info, void* buf, uint32_t capacity) {
  return recv(c, info, buf, capacity, true);
}

uint16_t vmbus_signal_flag(uint32_t connection_id, uint16_t flag) {
  const uint64_t input = ((uint64_t)connection_id << HV_SIGNAL_EVENT_FAST_CONNECTION_ID_SHIFT) |
                         ((uint64_t)flag << HV_SIGNAL_EVENT_FAST_FLAG_NUMBER_SHIFT);
  return hv_result_status(hv_hypercall_fast(hv_control(HvCallSignalEvent, 0), input, 0));
}

uint16_t vmbus_signal(uint32_t connection_id) { return vmbus_signal_flag(connection_id, 0); }

bool vmbus_event_take(uint32_t relid) {
  if (relid >= HV_EVENT_FLAGS_COUNT) return false;
  volatile uint8_t* flags = (volatile uint8_t*)siefp + (size_t)VMBUS_MESSAGE_SINT * HV_EVENT_FLAGS_BYTE_COUNT;
  const uint8_t bit = (uint8_t)(1u << (relid % FLAG_BITS_PER_BYTE));
  const uint8_t old = __atomic_fetch_and(&flags[relid / FLAG_BITS_PER_BYTE], (uint8_t)~bit, __ATOMIC_SEQ_CST);
  return (old & bit) != 0;
}

bool vmbus_event_wait(uint32_t relid, uint64_t timeout) {
  irq_enable();
  const uint64_t start = vmbus_now();
  for (;;) {
    if (vmbus_event_take(relid)) return true;
    if (vmbus_now() - start >= timeout) return false;
    cpu_relax();
  }
}

/* ---- Integration components ---------------------------------------------- */

/* hv_util's receive buffer is one page (util_probe: HV_HYP_PAGE_SIZE). */
static uint8_t ic_buffer[HV_PAGE_SIZE] __attribute__((aligned(8)));

/* Framework versions Linux 6.1 offers, newest first (hv_util.c fw_versions). */
static const uint32_t ic_framework_versions[] = {UTIL_FW_VERSION, UTIL_WS2K8_FW_VERSION};

static uint32_t ic_version_at(const uint8_t* buf, uint32_t slot) {
  const uint32_t off = ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + slot * IC_VERSION_SIZE;
  return ((uint32_t)vmbus_get16(buf, off + IC_VERSION_MAJOR_OFFSET) << IC_VERSION_MAJOR_SHIFT) |
         vmbus_get16(buf, off + IC_VERSION_MINOR_OFFSET);
}

/* The first of `mine` found among the host's versions [from, from + count). */
static bool ic_pick(const uint8_t* buf, uint32_t from, uint32_t count, const uint32_t* mine, uint32_t mine_count,
                    uint32_t* pick) {
  for (uint32_t i = 0; i < mine_count; ++i)
    for (uint32_t j = from; j < from + count; ++j)
      if (ic_version_at(buf, j) == mine[i]) {
        *pick = mine[i];
        return true;
      }
  return false;
}

bool vmbus_ic_negotiate_answer(uint8_t* buf, uint32_t len, const uint32_t* fw, uint32_t fw_count, const uint32_t* msg,
                               uint32_t msg_count, uint32_t* fw_out, uint32_t* msg_out) {
  /* Linux refuses to touch a buffer without room for the two counts. */
  if (len < ICMSG_NEGOTIATE_RESERVED_OFFSET) return false;
  vmbus_put16(buf, ICMSG_HDR_ICMSGSIZE_OFFSET, (uint16_t)ICMSG_NEGOTIATE_RESPONSE_SIZE);
  const uint32_t fw_offered = vmbus_get16(buf, ICMSG_NEGOTIATE_ICFRAME_VERCNT_OFFSET);
  const uint32_t msg_offered = vmbus_get16(buf, ICMSG_NEGOTIATE_ICMSG_VERCNT_OFFSET);
  uint32_t fw_pick = 0, msg_pick = 0;
  bool found = fw_offered <= IC_VERSION_NEGOTIATION_MAX_VER_COUNT && msg_offered <= IC_VERSION_NEGOTIATION_MAX_VER_COUNT &&
               (uint64_t)ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + (uint64_t)(fw_offered + msg_offered) * IC_VERSION_SIZE <= len;
  found = found && ic_pick(buf, 0, fw_offered, fw, fw_count, &fw_pick);
  found = found && ic_pick(buf, fw_offered, msg_offered, msg, msg_count, &msg_pick);
  /* The answer always has two version slots (Linux writes both whatever
   * the counts); a request too short for them is answered with counts only. */
  vmbus_put16(buf, ICMSG_NEGOTIATE_ICFRAME_VERCNT_OFFSET, found ? 1 : 0);
  vmbus_put16(buf, ICMSG_NEGOTIATE_ICMSG_VERCNT_OFFSET, found ? 1 : 0);
  if (len >= ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + 2 * IC_VERSION_SIZE) {
    const uint32_t v[2] = {fw_pick, msg_pick};
    for (uint32_t i = 0; i < 2; ++i) {
      const uint32_t off = ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + i * IC_VERSION_SIZE;
      vmbus_put16(buf, off + IC_VERSION_MAJOR_OFFSET, (uint16_t)(v[i] >> IC_VERSION_MAJOR_SHIFT));
      vmbus_put16(buf, off + IC_VERSION_MINOR_OFFSET, (uint16_t)(v[i] & IC_VERSION_MINOR_MASK));
    }
  }
  if (fw_out != NULL) *fw_out = fw_pick;
  if (msg_out != NULL) *msg_out = msg_pick;
  return found;
}

bool vmbus_ic_serve(vmbus_channel* c, const uint32_t* msg_versions, uint32_t msg_count, vmbus_ic_event* ev) {
  memset(ev, 0, sizeof *ev);
  vmbus_packet p;
  ev->ring = vmbus_recv(c, &p, ic_buffer, sizeof ic_buffer);
  if (ev->ring != VMBUS_RING_OK) return false;
  ev->packet_type = p.type;
  ev->offset8 = p.offset8;
  ev->len = p.data_len;
  ev->trans_id = p.trans_id;
  /* hv_util drops anything shorter than the two headers. */
  if (p.data_len < ICMSG_HDR) return true;
  ev->icmsgtype = vmbus_get16(ic_buffer, ICMSG_HDR_ICMSGTYPE_OFFSET);
  ev->icflags = ic_buffer[ICMSG_HDR_ICFLAGS_OFFSET];
  if (ev->icmsgtype == ICMSGTYPE_NEGOTIATE) {
    ev->negotiated = vmbus_ic_negotiate_answer(ic_buffer, p.data_len, ic_framework_versions,
                                               sizeof ic_framework_versions / sizeof ic_framework_versions[0],
                                               msg_versions, msg_count, &ev->fw, &ev->msg);
  } else if (ev->icmsgtype == ICMSGTYPE_HEARTBEAT &&
             p.data_len >= HEARTBEAT_MSG_SEQ_NUM_OFFSET + sizeof(uint64_t)) {
    ev->seq = vmbus_get64(ic_buffer, HEARTBEAT_MSG_SEQ_NUM_OFFSET);
    vmbus_put64(ic_buffer, HEARTBEAT_MSG_SEQ_NUM_OFFSET, ev->seq + 1);
  } else {
    vmbus_put32(ic_buffer, ICMSG_HDR_STATUS_OFFSET, HV_E_FAIL);
  }
  ic_buffer[ICMSG_HDR_ICFLAGS_OFFSET] = (uint8_t)(ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE);
  ev->answered = vmbus_send(c, VM_PKT_DATA_INBAND, 0, p.trans_id, ic_buffer, p.data_len, &ev->signalled,
                            &ev->signal_status) == VMBUS_RING_OK;
  return true;
}
