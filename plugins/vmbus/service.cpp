// The "vmbus" service's C entry points (services/vmbus.h): argument checks,
// then the channel or the bus. Nothing here trusts the calling plugin
// either: a bad handle or size is ENLIGHT_VMBUS_INVALID, not a crash.
#include "vmbus.hpp"

#include <enlight/tlfs.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace enlight_vmbus {
namespace {

Vm& self(void* ctx) { return *static_cast<Vm*>(ctx); }

// The channel `ch` if it is one of this bus's, else nullptr.
enlight_vmbus_channel* own(Vm& vm, const enlight_vmbus_channel* ch) noexcept {
  for (enlight_vmbus_channel& c : vm.channels)
    if (&c == ch) return &c;
  return nullptr;
}

uint16_t on_channel_event(void* arg, uint32_t calling_vp, uint16_t) noexcept {
  auto& ch = *static_cast<enlight_vmbus_channel*>(arg);
  uint32_t vcpu = ch.vm->vcpu_of_vp_index(calling_vp);
  if (vcpu >= ch.vm->vcpu_count()) vcpu = 0;
  ch.on_guest_signal(vcpu);
  return HV_STATUS_SUCCESS;
}

bool name_ok(const char* name) {
  if (name == nullptr) return false;
  const std::string_view n(name);
  return !n.empty() && n.size() <= 32 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

int svc_register_device(void* ctx, const enlight_vmbus_device* d, enlight_vmbus_channel** out) noexcept {
  Vm& vm = self(ctx);
  if (vm.registration_closed || d == nullptr || out == nullptr || d->size < sizeof(enlight_vmbus_device) ||
      !name_ok(d->name) || d->ops.open == nullptr || d->ops.close == nullptr || d->ops.notify == nullptr)
    return -1;
  enlight::vmbus::ChannelOffer offer;
  std::memcpy(offer.if_type.data(), d->interface_type, offer.if_type.size());
  std::memcpy(offer.if_instance.data(), d->interface_instance, offer.if_instance.size());
  offer.chn_flags = d->channel_flags;
  std::memcpy(offer.user_def.data(), d->user_defined, offer.user_def.size());
  std::lock_guard<std::recursive_mutex> guard(vm.lock);
  for (const auto& c : vm.bus.channels())
    if (c.offer.if_type == offer.if_type && c.offer.if_instance == offer.if_instance) return -1;
  for (const auto& c : vm.channels)
    if (c.name == d->name) return -1;  // the name is the channel's metrics label
  try {
    const uint32_t relid = vm.bus.add_offer(offer);
    if (relid == 0) return -1;
    enlight_vmbus_channel& ch = vm.channels.emplace_back(*d, relid, vm);
    ch.synic = vm.synic;
    // The offer's connection id (QEMU's 16 + relid, protocol/bus.cpp):
    // Linux's vmbus_set_event signals it.
    if (vm.synic->register_event_port(vm.synic->ctx, vm.bus.channels().back().connection_id, &on_channel_event, &ch) != 0)
      return -1;
    *out = &ch;
  } catch (...) {
    return -1;
  }
  return 0;
}

enlight_vmbus_result svc_recv(void* ctx, enlight_vmbus_channel* ch, void* buffer, uint32_t capacity,
                              enlight_vmbus_packet* info) noexcept {
  enlight_vmbus_channel* c = own(self(ctx), ch);
  return c ? c->recv(buffer, capacity, info) : ENLIGHT_VMBUS_INVALID;
}

enlight_vmbus_result svc_recv_drop(void* ctx, enlight_vmbus_channel* ch) noexcept {
  enlight_vmbus_channel* c = own(self(ctx), ch);
  return c ? c->recv_drop() : ENLIGHT_VMBUS_INVALID;
}

enlight_vmbus_result svc_send(void* ctx, enlight_vmbus_channel* ch, uint16_t type, uint16_t flags, uint64_t trans_id,
                              const void* payload, uint32_t size) noexcept {
  enlight_vmbus_channel* c = own(self(ctx), ch);
  if (c == nullptr || (payload == nullptr && size != 0)) return ENLIGHT_VMBUS_INVALID;
  return c->send(type, flags, trans_id, {static_cast<const uint8_t*>(payload), size});
}

// A GPADL of this channel, copied a page at a time: the pages are the
// guest's choice and need not be contiguous.
template <bool kWrite>
enlight_vmbus_result gpadl_copy(void* ctx, enlight_vmbus_channel* ch, uint32_t handle, uint64_t offset, uint8_t* host,
                                uint32_t len) noexcept {
  Vm& vm = self(ctx);
  enlight_vmbus_channel* c = own(vm, ch);
  if (c == nullptr || (host == nullptr && len != 0)) return ENLIGHT_VMBUS_INVALID;
  if (!c->is_open()) return ENLIGHT_VMBUS_CLOSED;
  std::lock_guard<std::recursive_mutex> guard(vm.lock);
  const enlight::vmbus::Gpadl* g = vm.bus.gpadl_of(c->relid, handle);
  if (g == nullptr || offset > g->byte_count || len > g->byte_count - offset) return ENLIGHT_VMBUS_INVALID;
  uint64_t at = g->byte_offset + offset;
  while (len > 0) {
    const uint64_t page = at / HV_PAGE_SIZE, in_page = at % HV_PAGE_SIZE;
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(len, HV_PAGE_SIZE - in_page));
    if (page >= g->pfns.size()) return ENLIGHT_VMBUS_INVALID;
    auto* p = static_cast<uint8_t*>(vm.map_guest(g->pfns[page] * HV_PAGE_SIZE + in_page, n));
    if (p == nullptr) return ENLIGHT_VMBUS_INVALID;
    if constexpr (kWrite)
      std::memcpy(p, host, n);
    else
      std::memcpy(host, p, n);
    host += n;
    at += n;
    len -= n;
  }
  return ENLIGHT_VMBUS_OK;
}

enlight_vmbus_result svc_gpadl_read(void* ctx, enlight_vmbus_channel* ch, uint32_t gpadl, uint64_t offset, void* dst,
                                    uint32_t len) noexcept {
  return gpadl_copy<false>(ctx, ch, gpadl, offset, static_cast<uint8_t*>(dst), len);
}

enlight_vmbus_result svc_gpadl_write(void* ctx, enlight_vmbus_channel* ch, uint32_t gpadl, uint64_t offset,
                                     const void* src, uint32_t len) noexcept {
  return gpadl_copy<true>(ctx, ch, gpadl, offset, static_cast<uint8_t*>(const_cast<void*>(src)), len);
}

enlight_vmbus_result svc_recv_packet(void* ctx, enlight_vmbus_channel* ch, void* buffer, uint32_t capacity,
                                     enlight_vmbus_packet* info) noexcept {
  enlight_vmbus_channel* c = own(self(ctx), ch);
  return c ? c->recv_packet(buffer, capacity, info) : ENLIGHT_VMBUS_INVALID;
}

enlight_vmbus_result svc_send_extended(void* ctx, enlight_vmbus_channel* ch, uint16_t type, uint16_t flags,
                                       uint64_t trans_id, const void* extension, uint32_t extension_size,
                                       const void* payload, uint32_t size) noexcept {
  enlight_vmbus_channel* c = own(self(ctx), ch);
  if (c == nullptr || (payload == nullptr && size != 0) || (extension == nullptr && extension_size != 0) ||
      extension_size % VMBUS_PACKET_ALIGNMENT != 0)
    return ENLIGHT_VMBUS_INVALID;
  return c->send(type, flags, trans_id, {static_cast<const uint8_t*>(payload), size},
                 {static_cast<const uint8_t*>(extension), extension_size});
}

// Guest RAM a page at a time: map_guest answers for whole ranges inside
// one memory slot, and a GPA_DIRECT buffer may straddle two.
enlight_vmbus_result svc_gpa_read(void* ctx, enlight_vmbus_channel* ch, uint64_t gpa, void* dst,
                                  uint32_t len) noexcept {
  Vm& vm = self(ctx);
  enlight_vmbus_channel* c = own(vm, ch);
  if (c == nullptr || (dst == nullptr && len != 0)) return ENLIGHT_VMBUS_INVALID;
  if (!c->is_open()) return ENLIGHT_VMBUS_CLOSED;
  if (gpa > UINT64_MAX - len) return ENLIGHT_VMBUS_INVALID;
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(len, HV_PAGE_SIZE - gpa % HV_PAGE_SIZE));
    const auto* p = static_cast<const uint8_t*>(vm.map_guest(gpa, n));
    if (p == nullptr) return ENLIGHT_VMBUS_INVALID;
    std::memcpy(out, p, n);
    out += n;
    gpa += n;
    len -= n;
  }
  return ENLIGHT_VMBUS_OK;
}

enlight_vmbus_result svc_gpadl_size(void* ctx, enlight_vmbus_channel* ch, uint32_t handle, uint64_t* bytes) noexcept {
  Vm& vm = self(ctx);
  enlight_vmbus_channel* c = own(vm, ch);
  if (c == nullptr || bytes == nullptr) return ENLIGHT_VMBUS_INVALID;
  if (!c->is_open()) return ENLIGHT_VMBUS_CLOSED;
  std::lock_guard<std::recursive_mutex> guard(vm.lock);
  const enlight::vmbus::Gpadl* g = vm.bus.gpadl_of(c->relid, handle);
  if (g == nullptr) return ENLIGHT_VMBUS_INVALID;
  *bytes = g->byte_count;
  return ENLIGHT_VMBUS_OK;
}

uint32_t svc_relid(void* ctx, const enlight_vmbus_channel* ch) noexcept {
  const enlight_vmbus_channel* c = own(self(ctx), ch);
  return c ? c->relid : 0;
}

int svc_is_open(void* ctx, const enlight_vmbus_channel* ch) noexcept {
  const enlight_vmbus_channel* c = own(self(ctx), ch);
  return c != nullptr && c->is_open() ? 1 : 0;
}

}  // namespace

void fill_service(Vm& vm) noexcept {
  vm.iface.ctx = &vm;
  vm.iface.register_device = &svc_register_device;
  vm.iface.recv = &svc_recv;
  vm.iface.recv_drop = &svc_recv_drop;
  vm.iface.send = &svc_send;
  vm.iface.gpadl_read = &svc_gpadl_read;
  vm.iface.gpadl_write = &svc_gpadl_write;
  vm.iface.relid = &svc_relid;
  vm.iface.is_open = &svc_is_open;
  vm.iface.recv_packet = &svc_recv_packet;
  vm.iface.send_extended = &svc_send_extended;
  vm.iface.gpa_read = &svc_gpa_read;
  vm.iface.gpadl_size = &svc_gpadl_size;
}

}  // namespace enlight_vmbus
