// hv-synic: message slots, event flags, slot-free notifications and the
// "synic" service table (TLFS "SynIC Messages", "SynIC Event Flags").
//
// The SIM and SIEF pages are guest RAM the guest reads and writes without
// exits while we write into them from any producer thread, so every access
// that takes part in the protocol is an atomic on the mapped page
// (std::atomic_ref); nothing here locks (beyond the per-slot flag below) or
// allocates.
#include "synic.hpp"

#include <cstring>

namespace enlight_synic {

namespace {

// The page a SIMP/SIEFP value names, or nullptr when SCONTROL or the page is
// disabled or any byte of it lies outside guest RAM (TLFS: "Virtual
// processors whose SynIC or SIM page is disabled will not be considered as
// potential targets"; a base "beyond the end of the partition's GPA space"
// is not accessible). Acquire pairs with the MSR handlers' release stores.
uint8_t* page_of(const Vm& vm, const VpState& s, const std::atomic<uint64_t>& reg, uint64_t enable) noexcept {
  if ((s.scontrol.load(std::memory_order_acquire) & HV_SYNIC_SCONTROL_ENABLE) == 0) return nullptr;
  const uint64_t value = reg.load(std::memory_order_acquire);
  if ((value & enable) == 0) return nullptr;
  return static_cast<uint8_t*>(vm.map_guest(value & HV_SYNIC_PAGE_MASK, HV_PAGE_SIZE));
}

// The per-slot flag that serializes producers of one (vCPU, SINT). Held for
// a few hundred bytes of copying, never across a call out of the plugin.
class SlotLock {
 public:
  explicit SlotLock(std::atomic_flag& f) noexcept : f_(f) {
    while (f_.test_and_set(std::memory_order_acquire)) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
  ~SlotLock() { f_.clear(std::memory_order_release); }
  SlotLock(const SlotLock&) = delete;
  SlotLock& operator=(const SlotLock&) = delete;

 private:
  std::atomic_flag& f_;
};

uint32_t load_u32(const void* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void Vm::assert_sint(uint32_t vcpu, uint64_t sint_value) const noexcept {
  // TLFS: "If the APIC is software disabled or the SINTx is masked, the
  // interrupt is lost" (a masked SINT is how a guest polls). A vector below
  // 16 can only be there through a host restore or while masked: never
  // injected (the APIC would drop it anyway).
  if (sint_masked(sint_value)) return;
  const uint8_t vector = sint_vector(sint_value);
  if (vector < HV_SYNIC_FIRST_VALID_VECTOR) return;
  // AutoEOI (TLFS SINTx Registers): the APIC retires the vector as the CPU
  // takes it. A backend that cannot deliver loses the edge, as a software-
  // disabled APIC would; the message or flag is in place for a poll.
  inject_interrupt(vcpu, vector, sint_auto_eoi(sint_value) ? ENLIGHT_IRQ_AUTO_EOI : 0);
}

enlight_synic_result Vm::post_message(uint32_t vcpu, uint32_t sint, const void* message, uint32_t size) noexcept {
  if (vcpu >= vcpu_count() || sint >= HV_SYNIC_SINT_COUNT || message == nullptr || size < HV_MESSAGE_HEADER_SIZE ||
      size > HV_MESSAGE_SIZE)
    return ENLIGHT_SYNIC_INVALID;
  const auto* src = static_cast<const uint8_t*>(message);
  const uint32_t type = load_u32(src + HV_MESSAGE_TYPE_OFFSET);
  const uint32_t payload = src[HV_MESSAGE_PAYLOAD_SIZE_OFFSET];
  // A message of type None would read as an empty slot; a payload larger
  // than the slot or than what the caller handed over is a caller bug.
  if (type == HvMessageTypeNone || payload > HV_MESSAGE_PAYLOAD_BYTE_COUNT || HV_MESSAGE_HEADER_SIZE + payload > size)
    return ENLIGHT_SYNIC_INVALID;

  VpState& s = vp(vcpu);
  uint8_t* const page = page_of(*this, s, s.simp, HV_SYNIC_SIMP_ENABLE);
  if (page == nullptr) return ENLIGHT_SYNIC_UNAVAILABLE;
  uint8_t* const slot = page + static_cast<size_t>(sint) * HV_MESSAGE_SIZE;
  std::atomic_ref<uint32_t> slot_type(*reinterpret_cast<uint32_t*>(slot + HV_MESSAGE_TYPE_OFFSET));
  std::atomic_ref<uint8_t> slot_flags(slot[HV_MESSAGE_FLAGS_OFFSET]);

  {
    SlotLock lock(s.slot_lock[sint]);
    if (slot_type.load(std::memory_order_seq_cst) != HvMessageTypeNone) {
      // TLFS Messages: the slot is full; MessagePending asks the guest to
      // write EOM once it has emptied it. The guest empties a slot by
      // storing MessageType = None and *then* reading MessagePending (TLFS
      // "Recommended Message Handling"; Linux orders the two with a full
      // barrier). We set MessagePending and *then* look at MessageType
      // again, both sequentially consistent: one of the two sides must see
      // the other's store, so either the guest writes EOM or we find the
      // slot free now. This is the order the TLFS mandates and KVM skips
      // only because it writes from the vCPU's own context.
      const bool was_waiting = s.waiting[sint].exchange(true, std::memory_order_seq_cst);
      slot_flags.fetch_or(static_cast<uint8_t>(HV_MESSAGE_FLAG_PENDING), std::memory_order_seq_cst);
      if (slot_type.load(std::memory_order_seq_cst) != HvMessageTypeNone) {
        slots_busy.add(vcpu);
        return ENLIGHT_SYNIC_BUSY;
      }
      s.waiting[sint].store(was_waiting, std::memory_order_relaxed);
    }
    // The slot is ours: the header after MessageType, then the payload
    // (TLFS: only the payload bytes need be copied), MessageType last with
    // release, so a guest that sees the type sees the whole message.
    std::memcpy(slot + HV_MESSAGE_PAYLOAD_SIZE_OFFSET, src + HV_MESSAGE_PAYLOAD_SIZE_OFFSET,
                HV_MESSAGE_HEADER_SIZE + payload - HV_MESSAGE_PAYLOAD_SIZE_OFFSET);
    // MessagePending is ours to set, not the producer's: it is set when a
    // producer is still waiting for this slot, so the guest writes EOM
    // after this message too (it may have read the flags of the previous
    // one after we overwrote them, and would otherwise never say the slot
    // is free again). Otherwise clear, as KVM's fresh header is.
    const uint8_t flags = static_cast<uint8_t>(src[HV_MESSAGE_FLAGS_OFFSET] & ~HV_MESSAGE_FLAG_PENDING);
    slot_flags.store(static_cast<uint8_t>(flags | (s.waiting[sint].load(std::memory_order_relaxed)
                                                       ? HV_MESSAGE_FLAG_PENDING
                                                       : 0)),
                     std::memory_order_relaxed);
    slot_type.store(type, std::memory_order_release);
  }
  messages_posted.add(vcpu);
  assert_sint(vcpu, s.sint[sint].load(std::memory_order_acquire));
  return ENLIGHT_SYNIC_DELIVERED;
}

enlight_synic_result Vm::signal_event(uint32_t vcpu, uint32_t sint, uint32_t flag) noexcept {
  if (vcpu >= vcpu_count() || sint >= HV_SYNIC_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT)
    return ENLIGHT_SYNIC_INVALID;
  VpState& s = vp(vcpu);
  uint8_t* const page = page_of(*this, s, s.siefp, HV_SYNIC_SIEFP_ENABLE);
  if (page == nullptr) return ENLIGHT_SYNIC_UNAVAILABLE;
  // Flag k is bit k % 8 of byte k / 8 (TLFS HV_SYNIC_EVENT_FLAGS); on a
  // little-endian machine that is bit k % 64 of qword k / 64, so one locked
  // OR on an aligned qword sets it atomically against the guest's own
  // locked clears (TLFS "Recommended Event Flag Handling").
  constexpr uint32_t kBitsPerWord = 64;
  auto* word = reinterpret_cast<uint64_t*>(page + static_cast<size_t>(sint) * HV_EVENT_FLAGS_BYTE_COUNT) + flag / kBitsPerWord;
  const uint64_t bit = uint64_t{1} << (flag % kBitsPerWord);
  const uint64_t old = std::atomic_ref<uint64_t>(*word).fetch_or(bit, std::memory_order_seq_cst);
  events_signalled.add(vcpu);
  // TLFS Event Flag Delivery: an interrupt only if the flag was clear.
  if ((old & bit) == 0) assert_sint(vcpu, s.sint[sint].load(std::memory_order_acquire));
  return ENLIGHT_SYNIC_DELIVERED;
}

void Vm::slot_freed(uint32_t vcpu, uint32_t sint) noexcept {
  // Whoever was waiting hears about it now; if it is still refused it sets
  // `waiting` again.
  vp(vcpu).waiting[sint].store(false, std::memory_order_relaxed);
  if (echo_connection_id != 0 && sint == echo_sint) echo_redeliver(vcpu);
  for (const SlotFreeListener& l : listeners) l.fn(l.arg, vcpu, sint);
}

void Vm::update_eoi_watch(uint32_t vcpu, uint64_t vector) const noexcept {
  // Watch `vector` while some unmasked SINT without AutoEOI uses it: only
  // those get an EOI from the guest (TLFS: with AutoEOI "it must not perform
  // an EOI"). Several SINTs may share a vector (KVM keeps a bitmap for the
  // same reason), so the answer is recomputed over all of them.
  if (vector < HV_SYNIC_FIRST_VALID_VECTOR) return;
  bool on = false;
  for (const auto& reg : vp(vcpu).sint) {
    const uint64_t v = reg.load(std::memory_order_relaxed);
    if (!sint_masked(v) && !sint_auto_eoi(v) && sint_vector(v) == vector) on = true;
  }
  eoi_watch(vcpu, static_cast<uint8_t>(vector), on);
}

// ---- The service table: C thunks over the Vm --------------------------

namespace {

Vm& self(void* ctx) noexcept { return *static_cast<Vm*>(ctx); }

enlight_synic_result svc_post_message(void* ctx, uint32_t vcpu, uint32_t sint, const void* message,
                                      uint32_t size) noexcept {
  return self(ctx).post_message(vcpu, sint, message, size);
}

enlight_synic_result svc_signal_event(void* ctx, uint32_t vcpu, uint32_t sint, uint32_t flag) noexcept {
  return self(ctx).signal_event(vcpu, sint, flag);
}

// Registration happens during vm_create only (service contract): once the
// first vCPU exists the tables are frozen, because the exit path reads them
// without a lock. The vector may allocate: we are not on the exit path yet.
int svc_on_slot_free(void* ctx, enlight_synic_slot_free_fn fn, void* arg) noexcept {
  Vm& vm = self(ctx);
  if (vm.frozen || fn == nullptr) return -1;
  try {
    vm.listeners.push_back({fn, arg});
  } catch (...) {
    return -1;
  }
  return 0;
}

int svc_register_message_port(void* ctx, uint32_t connection_id, enlight_synic_message_port_fn fn, void* arg) noexcept {
  Vm& vm = self(ctx);
  // Connection ids are 24 bits (TLFS HV_CONNECTION_ID).
  if (vm.frozen || fn == nullptr || (connection_id & ~HV_CONNECTION_ID_MASK) != 0 ||
      vm.message_port(connection_id) != nullptr)
    return -1;
  try {
    vm.message_ports.push_back({connection_id, fn, arg});
  } catch (...) {
    return -1;
  }
  return 0;
}

int svc_register_event_port(void* ctx, uint32_t connection_id, enlight_synic_event_port_fn fn, void* arg) noexcept {
  Vm& vm = self(ctx);
  if (vm.frozen || fn == nullptr || (connection_id & ~HV_CONNECTION_ID_MASK) != 0 ||
      vm.event_port(connection_id) != nullptr)
    return -1;
  try {
    vm.event_ports.push_back({connection_id, fn, arg});
  } catch (...) {
    return -1;
  }
  return 0;
}

uint64_t svc_sint_value(void* ctx, uint32_t vcpu, uint32_t sint) noexcept {
  Vm& vm = self(ctx);
  // A SINT that does not exist reads as the reset value: masked, so a
  // producer that trusts it delivers nothing.
  if (vcpu >= vm.vcpu_count() || sint >= HV_SYNIC_SINT_COUNT) return HV_SYNIC_SINT_RESET_VALUE;
  return vm.vp(vcpu).sint[sint].load(std::memory_order_acquire);
}

}  // namespace

void fill_service(Vm& vm) noexcept {
  vm.iface.ctx = &vm;
  vm.iface.post_message = &svc_post_message;
  vm.iface.signal_event = &svc_signal_event;
  vm.iface.on_slot_free = &svc_on_slot_free;
  vm.iface.register_message_port = &svc_register_message_port;
  vm.iface.register_event_port = &svc_register_event_port;
  vm.iface.sint_value = &svc_sint_value;
}

}  // namespace enlight_synic
