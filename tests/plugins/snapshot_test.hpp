// Saved state of plugins, driven as the core's restore does: every blob of a
// plugin saved through its descriptor (vm_save, each vCPU's vcpu_save) on
// one VM, loaded (vm_load, then each vcpu_load) into a fresh VM. The
// plugin's per-VM and per-vCPU contexts are reached through the core's
// private per-plugin record (core/src/vm/host_services.hpp), so a test that
// includes this adds ${PROJECT_SOURCE_DIR}/core/src/vm to its include path.
//
// Plus the hostile-blob sweep: every truncation, every byte flipped, a
// wrong format version and trailing bytes, each of which must either load
// a valid state or fail with a message, and never crash.
#pragma once

#include "enlight_test.hpp"

#include "host_services.hpp"

#include <gmock/gmock.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace enlight::test::snapshot {

inline Vm::PluginRecord& record(DirectVm& d, const std::string& plugin) {
  for (uint16_t s = 0; s < d.vm().plugin_count(); ++s)
    if (d.vm().record(s).name == plugin) return d.vm().record(s);
  throw std::runtime_error(plugin + " is not in the VM");
}

inline void* vcpu_ctx(DirectVm& d, const std::string& plugin, uint32_t vcpu) {
  return d.vm().vcpu(vcpu).plugin_ctx[record(d, plugin).slot];
}

// What the core's save loop does: grow the buffer while the plugin asks.
inline std::vector<uint8_t> save_with(enlight_save_fn fn, void* ctx) {
  std::vector<uint8_t> blob(16);
  for (;;) {
    const int64_t n = fn(ctx, blob.data(), blob.size());
    if (n >= 0) {
      blob.resize(static_cast<size_t>(n));
      return blob;
    }
    if (n != -1 || blob.size() > (1u << 20)) throw std::runtime_error("save failed: " + std::to_string(n));
    blob.resize(blob.size() * 2);
  }
}

inline std::string load_with(enlight_load_fn fn, void* ctx, const std::vector<uint8_t>& blob) {
  char text[512] = {};
  enlight_error error{text, sizeof text, 0};
  const int rc = fn(ctx, blob.data(), blob.size(), &error);
  if (rc == 0) return "";
  return text[0] ? std::string(text) : std::string("(load failed without a message)");
}

struct Blobs {
  std::vector<uint8_t> vm;                  // empty when the plugin has no vm_save
  std::vector<std::vector<uint8_t>> vcpus;  // empty when it has no vcpu_save
};

inline Blobs save(DirectVm& d, const std::string& plugin) {
  Vm::PluginRecord& r = record(d, plugin);
  Blobs b;
  if (r.descriptor->vm_save) b.vm = save_with(r.descriptor->vm_save, r.vm_ctx);
  if (r.descriptor->vcpu_save)
    for (uint32_t v = 0; v < d.vcpu_count(); ++v) b.vcpus.push_back(save_with(r.descriptor->vcpu_save, vcpu_ctx(d, plugin, v)));
  return b;
}

inline std::string load_vm(DirectVm& d, const std::string& plugin, const std::vector<uint8_t>& blob) {
  Vm::PluginRecord& r = record(d, plugin);
  return load_with(r.descriptor->vm_load, r.vm_ctx, blob);
}
inline std::string load_vcpu(DirectVm& d, const std::string& plugin, uint32_t vcpu, const std::vector<uint8_t>& blob) {
  return load_with(record(d, plugin).descriptor->vcpu_load, vcpu_ctx(d, plugin, vcpu), blob);
}

// The restore order: the VM's state, then each vCPU's. "" on success, else
// the first message.
inline std::string load(DirectVm& d, const std::string& plugin, const Blobs& b) {
  Vm::PluginRecord& r = record(d, plugin);
  if (r.descriptor->vm_load) {
    const std::string why = load_vm(d, plugin, b.vm);
    if (!why.empty()) return why;
  }
  if (r.descriptor->vcpu_load)
    for (uint32_t v = 0; v < b.vcpus.size() && v < d.vcpu_count(); ++v) {
      const std::string why = load_vcpu(d, plugin, v, b.vcpus[v]);
      if (!why.empty()) return why;
    }
  return "";
}

// Every damaged copy of `blob` loaded through `load_one` (one VM reused:
// a load replaces the whole state or nothing): each truncation, each byte
// XORed with 0xFF and with 0x01, the version word changed, one trailing
// byte. `after` runs after each successful load (e.g. run the VM's timers)
// to show the accepted state is one the plugin can run on.
inline void sweep(const std::vector<uint8_t>& blob, const std::function<std::string(const std::vector<uint8_t>&)>& load_one,
                  const std::function<void()>& after = {}) {
  ASSERT_GE(blob.size(), 8u);
  EXPECT_EQ(load_one(blob), "") << "the intact blob";
  for (size_t n = 0; n < blob.size(); ++n) {
    const std::vector<uint8_t> cut(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string why = load_one(cut);
    EXPECT_NE(why, "") << "truncated to " << n << " of " << blob.size() << " bytes, accepted";
  }
  for (size_t i = 0; i < blob.size(); ++i)
    for (uint8_t mask : {uint8_t{0xFF}, uint8_t{0x01}}) {
      std::vector<uint8_t> bad = blob;
      bad[i] ^= mask;
      const std::string why = load_one(bad);
      if (i < 8) {
        EXPECT_NE(why, "") << "header byte " << i << " changed, accepted";
      }
      if (why.empty() && after) after();
    }
  std::vector<uint8_t> version = blob;
  version[4] = static_cast<uint8_t>(version[4] + 1);
  EXPECT_THAT(load_one(version), ::testing::HasSubstr("format version"));
  std::vector<uint8_t> trailing = blob;
  trailing.push_back(0);
  EXPECT_THAT(load_one(trailing), ::testing::HasSubstr("left unread"));
  EXPECT_EQ(load_one(blob), "") << "the intact blob, after the sweep";
}

// A blob with the SDK's header and `body` (fields little-endian).
inline std::vector<uint8_t> blob_of(const std::vector<uint64_t>& words, uint32_t version = 1) {
  std::vector<uint8_t> b;
  const auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  put(0x54534E45, 4);  // "ENST"
  put(version, 4);
  for (uint64_t w : words) put(w, 8);
  return b;
}

// Overwrites the little-endian u64 at `offset` of a blob.
inline std::vector<uint8_t> with_u64(std::vector<uint8_t> blob, size_t offset, uint64_t value) {
  for (int i = 0; i < 8; ++i) blob.at(offset + i) = static_cast<uint8_t>(value >> (8 * i));
  return blob;
}

}  // namespace enlight::test::snapshot
