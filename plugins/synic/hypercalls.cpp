// hv-synic: HvCallPostMessage and HvCallSignalEvent (TLFS hypercalls/
// HvCallPostMessage, HvCallSignalEvent), and the echo connection, a test
// device that answers them on the calling vCPU (README "Echo connection").
//
// The core has already checked the control word, the shape, the input GPA
// (alignment, page, RAM) and the enforce-cpuid gates (PostMessages /
// SignalEvents, manifest), so the input here is the guest's bytes, to be
// validated field by field: the guest is not trusted.
#include "synic.hpp"

#include <cstring>

namespace enlight_synic {

namespace {

template <class T>
T load(const uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

enlight_hypercall_result status(uint16_t s) noexcept { return {s, 0}; }

}  // namespace

enlight_hypercall_result post_message_call(Vcpu& v, const enlight_hypercall& call) {
  const uint8_t* in = call.input;
  const uint32_t connection = load<uint32_t>(in + HV_POST_MESSAGE_CONNECTION_ID_OFFSET);
  const uint32_t reserved = load<uint32_t>(in + HV_POST_MESSAGE_RSVDZ_OFFSET);
  const uint32_t type = load<uint32_t>(in + HV_POST_MESSAGE_MESSAGE_TYPE_OFFSET);
  const uint32_t payload_size = load<uint32_t>(in + HV_POST_MESSAGE_PAYLOAD_SIZE_OFFSET);
  // Reserved bits (ConnectionId 31:24, the RsvdZ dword): the TLFS names no
  // status; KVM and QEMU answer INVALID_HYPERCALL_INPUT for the same bits of
  // HvCallSignalEvent, so we do the same here (choice: QEMU ignores them in
  // HvCallPostMessage).
  if ((connection & ~HV_CONNECTION_ID_MASK) != 0 || reserved != 0) return status(HV_STATUS_INVALID_HYPERCALL_INPUT);
  // TLFS Return Values: INVALID_PARAMETER for a type of 0 or with the most
  // significant bit set, and for a payload over 240 bytes (QEMU answers
  // INVALID_HYPERCALL_INPUT for the size and checks no type; we follow the
  // TLFS). Checked before the connection, in QEMU's order.
  if (type == HvMessageTypeNone || (type & HV_MESSAGE_TYPE_HYPERVISOR_MASK) != 0 ||
      payload_size > HV_MESSAGE_PAYLOAD_BYTE_COUNT)
    return status(HV_STATUS_INVALID_PARAMETER);
  const MessagePort* port = v.vm().message_port(connection);
  if (port == nullptr) return status(HV_STATUS_INVALID_CONNECTION_ID);
  return status(port->fn(port->arg, call.vp_index, type, in + HV_POST_MESSAGE_PAYLOAD_OFFSET, payload_size));
}

enlight_hypercall_result signal_event_call(Vcpu& v, const enlight_hypercall& call) {
  // Fast form: the 8 input bytes are RDX; memory form: the same 8 bytes at
  // the input GPA. Either way the decoder copied them to input[0..8].
  const uint64_t raw = load<uint64_t>(call.input);
  // KVM (kvm_hvcall_signal_event) and QEMU: ConnectionId 31:24 or the
  // RsvdZ word set is INVALID_HYPERCALL_INPUT.
  if ((raw & HV_SIGNAL_EVENT_FAST_RSVDZ_MASK) != 0) return status(HV_STATUS_INVALID_HYPERCALL_INPUT);
  const auto connection = static_cast<uint32_t>((raw & HV_SIGNAL_EVENT_FAST_CONNECTION_ID_MASK) >>
                                                HV_SIGNAL_EVENT_FAST_CONNECTION_ID_SHIFT);
  const auto flag = static_cast<uint16_t>((raw & HV_SIGNAL_EVENT_FAST_FLAG_NUMBER_MASK) >>
                                          HV_SIGNAL_EVENT_FAST_FLAG_NUMBER_SHIFT);
  const EventPort* port = v.vm().event_port(connection);
  // QEMU: an unknown connection is INVALID_CONNECTION_ID (TLFS too).
  if (port == nullptr) return status(HV_STATUS_INVALID_CONNECTION_ID);
  // The port checks FlagNumber against its own flag count (TLFS
  // INVALID_PARAMETER); QEMU, which supports no flag number but 0, answers
  // INVALID_PORT_ID instead.
  return status(port->fn(port->arg, call.vp_index, flag));
}

// ---- Echo connection ---------------------------------------------------

uint16_t Vm::echo_message(uint32_t vcpu, uint32_t message_type, const void* payload, uint32_t payload_size) noexcept {
  if (vcpu >= vcpu_count() || payload_size > HV_MESSAGE_PAYLOAD_BYTE_COUNT) return HV_STATUS_INVALID_PARAMETER;
  HeldMessage& held = vp(vcpu).echo_held;
  // TLFS: messages arrive in the order they were posted, so nothing
  // overtakes the held one; with it still waiting the port is out of
  // buffers (the TLFS gives a port 16, the echo port has one).
  if (held.full) return HV_STATUS_INSUFFICIENT_BUFFERS;

  alignas(8) uint8_t msg[HV_MESSAGE_SIZE] = {};
  std::memcpy(msg + HV_MESSAGE_TYPE_OFFSET, &message_type, sizeof message_type);
  msg[HV_MESSAGE_PAYLOAD_SIZE_OFFSET] = static_cast<uint8_t>(payload_size);
  // Origin: the port the message came through; the echo port has the
  // connection's id (choice: the TLFS only says "information about the
  // sender").
  const uint64_t origin = echo_connection_id;
  std::memcpy(msg + HV_MESSAGE_ORIGIN_OFFSET, &origin, sizeof origin);
  std::memcpy(msg + HV_MESSAGE_PAYLOAD_OFFSET, payload, payload_size);
  const uint32_t size = HV_MESSAGE_HEADER_SIZE + payload_size;

  switch (post_message(vcpu, echo_sint, msg, size)) {
    case ENLIGHT_SYNIC_DELIVERED:
      return HV_STATUS_SUCCESS;
    case ENLIGHT_SYNIC_BUSY:
      // Posted = queued (TLFS HvCallPostMessage): it lands when the guest
      // frees the slot (EOM or EOI, echo_redeliver()).
      std::memcpy(held.bytes, msg, size);
      held.size = size;
      held.full = true;
      return HV_STATUS_SUCCESS;
    case ENLIGHT_SYNIC_UNAVAILABLE:
      // TLFS: "The target VP's SynIC is disabled" / "SIM page is disabled".
      return HV_STATUS_INVALID_SYNIC_STATE;
    case ENLIGHT_SYNIC_INVALID:
      break;
  }
  return HV_STATUS_INVALID_PARAMETER;
}

void Vm::echo_redeliver(uint32_t vcpu) noexcept {
  HeldMessage& held = vp(vcpu).echo_held;
  if (!held.full) return;
  // Still busy: MessagePending is set again and we wait for the next EOM
  // or EOI. Page disabled meanwhile: kept, as KVM keeps a timer message,
  // until the guest enables it and writes EOM.
  const enlight_synic_result r = post_message(vcpu, echo_sint, held.bytes, held.size);
  if (r == ENLIGHT_SYNIC_DELIVERED || r == ENLIGHT_SYNIC_INVALID) held.full = false;
}

uint16_t Vm::echo_event(uint32_t vcpu, uint16_t flag_number) noexcept {
  if (vcpu >= vcpu_count()) return HV_STATUS_INVALID_PARAMETER;
  // TLFS: a flag number at or above the port's flag count is
  // INVALID_PARAMETER; the echo port spans the SINT's whole 2048 flags.
  if (flag_number >= HV_EVENT_FLAGS_COUNT) return HV_STATUS_INVALID_PARAMETER;
  // TLFS Event Flag Delivery: "If the SINTx is masked, HvSignalEvent returns
  // HV_STATUS_INVALID_SYNIC_STATE" (the flag is not set: the call failed).
  if (sint_masked(vp(vcpu).sint[echo_sint].load(std::memory_order_acquire))) return HV_STATUS_INVALID_SYNIC_STATE;
  switch (signal_event(vcpu, echo_sint, flag_number)) {
    case ENLIGHT_SYNIC_DELIVERED: return HV_STATUS_SUCCESS;
    case ENLIGHT_SYNIC_UNAVAILABLE: return HV_STATUS_INVALID_SYNIC_STATE;  // SynIC or SIEF page disabled
    default: return HV_STATUS_INVALID_PARAMETER;
  }
}

}  // namespace enlight_synic
