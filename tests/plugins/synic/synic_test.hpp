// Helpers shared by the synic plugin's tests: VM construction, the guest's
// view of its SIM/SIEF pages, and the synic-probe fixture's exports.
#pragma once

#include "enlight_test.hpp"

#include <enlight/services/synic.h>

#include <dlfcn.h>
#include <link.h>

#include <atomic>
#include <cstring>
#include <string>

namespace enlight::test::synic {

using direct::control;

// Guest-physical layout used by every test. Each vCPU gets its own SIM and
// SIEF pages (TLFS: they "should be unique for each virtual processor").
constexpr uint64_t kHypercallPage = 0x10000;
constexpr uint64_t kInput = 0x11000;  // hypercall input page
constexpr uint64_t simp_gpa(uint32_t vcpu) { return 0x20000 + uint64_t{vcpu} * 0x2000; }
constexpr uint64_t sief_gpa(uint32_t vcpu) { return 0x21000 + uint64_t{vcpu} * 0x2000; }
constexpr uint64_t kRamBytes = 64ull << 20;  // VmOptions' default guest RAM

constexpr uint8_t kVector = 0x50;
constexpr uint32_t kEchoId = 0x4242;
constexpr uint32_t kEchoSint = 3;  // the manifest's default

inline const char* const kPosted = "enlight_synic_messages_posted_total";
inline const char* const kBusy = "enlight_synic_slots_busy_total";
inline const char* const kSignalled = "enlight_synic_events_signalled_total";
inline const char* const kEoms = "enlight_synic_eom_total";

inline std::unique_ptr<DirectVm> make_synic(uint32_t vcpus = 1, const std::string& extra_flags = "") {
  return make_vm("hv-vpindex,hv-synic" + (extra_flags.empty() ? "" : "," + extra_flags), vcpus);
}

// A VM with the echo connection (and optionally the probe fixture).
inline std::string profile(uint32_t vcpus, const std::string& synic_options, const std::string& probe_options = "",
                           bool with_probe = false, bool enforce = false) {
  std::string y = "name: t\nvcpus: " + std::to_string(vcpus) + "\n";
  if (enforce) y += "enforce-cpuid: true\n";
  y += "enlightenments:\n  - vpindex\n";
  y += synic_options.empty() ? "  - synic\n" : "  - synic: { " + synic_options + " }\n";
  if (with_probe) y += probe_options.empty() ? "  - synic-probe\n" : "  - synic-probe: { " + probe_options + " }\n";
  return y;
}

inline std::unique_ptr<DirectVm> make_echo(uint32_t vcpus = 1, uint32_t echo_sint = kEchoSint) {
  return make_vm_from_profile(profile(vcpus, "echo-connection-id: " + std::to_string(kEchoId) +
                                                 ", echo-sint: " + std::to_string(echo_sint)));
}

inline std::vector<std::string> probe_search_path() {
  return {std::string(ENLIGHT_TEST_FIXTURE_DIR) + "/synic-probe", ENLIGHT_TEST_PLUGIN_DIR};
}

inline std::unique_ptr<DirectVm> make_probe(uint32_t vcpus = 1, const std::string& synic_options = "",
                                            const std::string& probe_options = "") {
  return make_vm_from_profile(profile(vcpus, synic_options, probe_options, true), {}, probe_search_path());
}

// The probe fixture's exports, found in the already-loaded module.
struct Probe {
  const enlight_synic_service* (*service_fn)() = nullptr;
  uint64_t (*slot_free)(uint32_t vcpu, uint32_t sint) = nullptr;
  int (*register_result)(int which) = nullptr;
  uint64_t (*port_call)(int which, uint32_t* vp, uint32_t* type_or_flag, uint32_t* size, uint8_t* payload) = nullptr;
  const enlight_synic_service& svc() const { return *service_fn(); }
  explicit operator bool() const { return service_fn && slot_free && register_result && port_call; }
};

inline Probe probe() {
  std::string name;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const std::string n = info->dlpi_name ? info->dlpi_name : "";
        const std::string suffix = "/synic-probe.so";
        if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
          *static_cast<std::string*>(out) = n;
          return 1;
        }
        return 0;
      },
      &name);
  Probe p;
  if (name.empty()) return p;
  void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return p;
  p.service_fn = reinterpret_cast<decltype(p.service_fn)>(dlsym(h, "synic_probe_service"));
  p.slot_free = reinterpret_cast<decltype(p.slot_free)>(dlsym(h, "synic_probe_slot_free"));
  p.register_result = reinterpret_cast<decltype(p.register_result)>(dlsym(h, "synic_probe_register_result"));
  p.port_call = reinterpret_cast<decltype(p.port_call)>(dlsym(h, "synic_probe_port_call"));
  dlclose(h);  // drops only the reference NOLOAD took
  return p;
}

// ---- The guest's side ------------------------------------------------------

// Enables SCONTROL (already 1 at reset, written anyway), SIMP and SIEFP of
// `vcpu` at its own pages, and programs SINT `sint` with `sint_value`.
inline void enable(DirectVm& d, uint32_t vcpu) {
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SCONTROL, HV_SYNIC_SCONTROL_ENABLE), Access::Ok);
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SIMP, simp_gpa(vcpu) | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SIEFP, sief_gpa(vcpu) | HV_SYNIC_SIEFP_ENABLE), Access::Ok);
}
inline void set_sint(DirectVm& d, uint32_t vcpu, uint32_t sint, uint64_t value) {
  ASSERT_EQ(d.wrmsr(vcpu, HV_X64_MSR_SINT0 + sint, value), Access::Ok);
}
inline uint64_t sint_value(uint8_t vector, bool masked = false, bool auto_eoi = false) {
  return uint64_t{vector} | (masked ? HV_SYNIC_SINT_MASKED : 0) | (auto_eoi ? HV_SYNIC_SINT_AUTO_EOI : 0);
}

inline uint8_t* slot(DirectVm& d, uint32_t vcpu, uint32_t sint) {
  return d.memory().base() + simp_gpa(vcpu) + uint64_t{sint} * HV_MESSAGE_SIZE;
}
inline uint32_t slot_type(DirectVm& d, uint32_t vcpu, uint32_t sint) {
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(slot(d, vcpu, sint))).load();
}
inline uint8_t slot_flags(DirectVm& d, uint32_t vcpu, uint32_t sint) {
  return slot(d, vcpu, sint)[HV_MESSAGE_FLAGS_OFFSET];
}
inline uint8_t slot_payload_size(DirectVm& d, uint32_t vcpu, uint32_t sint) {
  return slot(d, vcpu, sint)[HV_MESSAGE_PAYLOAD_SIZE_OFFSET];
}
// What the guest's ISR does (TLFS "Recommended Message Handling"): empty
// the slot, then look at MessagePending.
inline bool consume(DirectVm& d, uint32_t vcpu, uint32_t sint) {
  std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(slot(d, vcpu, sint))).store(HvMessageTypeNone);
  return (slot_flags(d, vcpu, sint) & HV_MESSAGE_FLAG_PENDING) != 0;
}
inline bool event_flag(DirectVm& d, uint32_t vcpu, uint32_t sint, uint32_t flag) {
  const uint8_t* block = d.memory().base() + sief_gpa(vcpu) + uint64_t{sint} * HV_EVENT_FLAGS_BYTE_COUNT;
  return (block[flag / 8] >> (flag % 8)) & 1u;
}
constexpr uint32_t kX2ApicEoi = 0x80B;
inline void guest_eoi(DirectVm& d, uint32_t vcpu) { ASSERT_TRUE(d.apic_write(vcpu, kX2ApicEoi, 0)); }

// A whole HV_MESSAGE as a producer builds it.
struct Message {
  alignas(8) uint8_t bytes[HV_MESSAGE_SIZE] = {};
  uint32_t size = HV_MESSAGE_HEADER_SIZE;
  Message(uint32_t type, uint32_t payload_size, uint8_t fill = 0xA5) {
    std::memcpy(bytes + HV_MESSAGE_TYPE_OFFSET, &type, sizeof type);
    bytes[HV_MESSAGE_PAYLOAD_SIZE_OFFSET] = static_cast<uint8_t>(payload_size);
    std::memset(bytes + HV_MESSAGE_PAYLOAD_OFFSET, fill, payload_size);
    size = HV_MESSAGE_HEADER_SIZE + payload_size;
  }
};

// HvCallPostMessage input at kInput.
inline void write_post_input(DirectVm& d, uint32_t connection, uint32_t type, uint32_t payload_size, uint8_t fill = 0x5A,
                             uint32_t reserved = 0, uint64_t gpa = kInput) {
  uint8_t in[HV_POST_MESSAGE_INPUT_SIZE] = {};
  std::memcpy(in + HV_POST_MESSAGE_CONNECTION_ID_OFFSET, &connection, 4);
  std::memcpy(in + HV_POST_MESSAGE_RSVDZ_OFFSET, &reserved, 4);
  std::memcpy(in + HV_POST_MESSAGE_MESSAGE_TYPE_OFFSET, &type, 4);
  std::memcpy(in + HV_POST_MESSAGE_PAYLOAD_SIZE_OFFSET, &payload_size, 4);
  for (uint32_t i = 0; i < HV_MESSAGE_PAYLOAD_BYTE_COUNT; ++i)
    in[HV_POST_MESSAGE_PAYLOAD_OFFSET + i] = static_cast<uint8_t>(fill + i);
  ASSERT_TRUE(d.memory().write(gpa, in, sizeof in));
}
inline uint16_t post(DirectVm& d, uint32_t vcpu, uint64_t gpa = kInput) {
  return d.hypercall(vcpu, control(HvCallPostMessage), gpa, 0).status();
}
inline uint64_t signal_rdx(uint32_t connection, uint16_t flag) {
  return uint64_t{connection} | (uint64_t{flag} << HV_SIGNAL_EVENT_FAST_FLAG_NUMBER_SHIFT);
}
inline uint16_t signal(DirectVm& d, uint32_t vcpu, uint64_t rdx, uint64_t r8 = 0) {
  return d.fast_hypercall(vcpu, control(HvCallSignalEvent, true), rdx, r8).status();
}

}  // namespace enlight::test::synic
