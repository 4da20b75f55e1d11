// Test fixture: a plugin that consumes the "synic" service the way stimer or
// a VMBus device would, and hands the service table to the test process
// through exported C functions (the test finds them with dlsym on the
// already-loaded module). One VM at a time.
#include <enlight/plugin.hpp>
#include <enlight/services/synic.h>

#include <array>
#include <atomic>
#include <memory>

namespace {

struct PortCall {
  std::atomic<uint64_t> count{0};
  std::atomic<uint32_t> vp{0}, type{0}, size{0}, flag{0};
  std::array<uint8_t, HV_MESSAGE_PAYLOAD_BYTE_COUNT> payload{};
};

struct Vm;
std::atomic<Vm*> g_vm{nullptr};

void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept;
uint16_t on_message(void* arg, uint32_t vp, uint32_t type, const void* payload, uint32_t size) noexcept;
uint16_t on_event(void* arg, uint32_t vp, uint16_t flag) noexcept;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p), slot_free(new std::atomic<uint64_t>[p.vcpu_count * HV_SYNIC_SINT_COUNT]()) {
    svc = service<enlight_synic_service>(ENLIGHT_SYNIC_SERVICE, ENLIGHT_SYNIC_SERVICE_MAJOR, 0);
    if (svc == nullptr) throw enlight::PluginError("no synic service");
    answer = static_cast<uint16_t>(option_u64("status"));
    listen_result = svc->on_slot_free(svc->ctx, &on_slot_free, this);
    const uint64_t port = option_u64("port");
    if (port != 0) {
      message_result = svc->register_message_port(svc->ctx, static_cast<uint32_t>(port), &on_message, this);
      event_result = svc->register_event_port(svc->ctx, static_cast<uint32_t>(port), &on_event, this);
      // A second registration of the same id is always refused.
      duplicate_result = svc->register_message_port(svc->ctx, static_cast<uint32_t>(port), &on_message, this);
    }
    g_vm.store(this);
  }
  ~Vm() override {
    Vm* self = this;  // a newer VM may already have taken over
    g_vm.compare_exchange_strong(self, nullptr);
  }

  const enlight_synic_service* svc = nullptr;
  std::unique_ptr<std::atomic<uint64_t>[]> slot_free;
  uint16_t answer = 0;
  int listen_result = -2, message_result = -2, event_result = -2, duplicate_result = -2;
  PortCall message, event;
};

void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept {
  auto& vm = *static_cast<Vm*>(arg);
  if (vcpu < vm.vcpu_count() && sint < HV_SYNIC_SINT_COUNT) vm.slot_free[vcpu * HV_SYNIC_SINT_COUNT + sint].fetch_add(1);
}

uint16_t on_message(void* arg, uint32_t vp, uint32_t type, const void* payload, uint32_t size) noexcept {
  auto& c = static_cast<Vm*>(arg)->message;
  c.vp = vp;
  c.type = type;
  c.size = size;
  if (size <= c.payload.size()) std::memcpy(c.payload.data(), payload, size);
  c.count.fetch_add(1);
  return static_cast<Vm*>(arg)->answer;
}

uint16_t on_event(void* arg, uint32_t vp, uint16_t flag) noexcept {
  auto& c = static_cast<Vm*>(arg)->event;
  c.vp = vp;
  c.flag = flag;
  c.count.fetch_add(1);
  return static_cast<Vm*>(arg)->answer;
}

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

extern "C" {
ENLIGHT_EXPORT const enlight_synic_service* synic_probe_service(void) {
  Vm* vm = g_vm.load();
  return vm ? vm->svc : nullptr;
}
ENLIGHT_EXPORT uint64_t synic_probe_slot_free(uint32_t vcpu, uint32_t sint) {
  Vm* vm = g_vm.load();
  if (vm == nullptr || vcpu >= vm->vcpu_count() || sint >= HV_SYNIC_SINT_COUNT) return ~uint64_t{0};
  return vm->slot_free[vcpu * HV_SYNIC_SINT_COUNT + sint].load();
}
// which: 0 on_slot_free, 1 message port, 2 event port, 3 duplicate message port
ENLIGHT_EXPORT int synic_probe_register_result(int which) {
  Vm* vm = g_vm.load();
  if (vm == nullptr) return -3;
  switch (which) {
    case 0: return vm->listen_result;
    case 1: return vm->message_result;
    case 2: return vm->event_result;
    default: return vm->duplicate_result;
  }
}
// which: 0 message port, 1 event port. Returns the call count and fills the
// last call's fields.
ENLIGHT_EXPORT uint64_t synic_probe_port_call(int which, uint32_t* vp, uint32_t* type_or_flag, uint32_t* size,
                                              uint8_t* payload) {
  Vm* vm = g_vm.load();
  if (vm == nullptr) return 0;
  PortCall& c = which == 0 ? vm->message : vm->event;
  if (vp) *vp = c.vp;
  if (type_or_flag) *type_or_flag = which == 0 ? c.type.load() : c.flag.load();
  if (size) *size = c.size;
  if (payload) std::memcpy(payload, c.payload.data(), c.payload.size());
  return c.count.load();
}
}

ENLIGHT_PLUGIN_EXPLICIT("synic-probe", "1.0.0", Vm, Vcpu, enlight::none<enlight_msr_claim>,
               enlight::none<enlight_hypercall_claim>, enlight::none<enlight_io_claim>, enlight::none<enlight_cpuid_claim>)
