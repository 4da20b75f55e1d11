// Plugins' saved state for snapshots: asked of each plugin through its
// descriptor's vm_save/vcpu_save, handed back through vm_load/vcpu_load,
// in dependency order (docs/snapshots.md, "Plugins").
#include <enlight/core/vm.hpp>

#include "vm/host_services.hpp"

#include <sys/mman.h>

#include <cstring>
#include <stdexcept>

namespace enlight {

namespace {

// A plugin's blobs have no fixed size: ask with a page, then with twice
// as much each time the plugin says it needs more (ABI: -1), up to a
// bound no sane plugin state reaches.
std::vector<uint8_t> ask(enlight_save_fn save, void* ctx, const std::string& who) {
  constexpr uint64_t kMax = 256ull << 20;
  std::vector<uint8_t> buffer(4096);
  for (;;) {
    const int64_t n = save(ctx, buffer.data(), buffer.size());
    if (n >= 0 && static_cast<uint64_t>(n) <= buffer.size()) {
      buffer.resize(static_cast<size_t>(n));
      return buffer;
    }
    if (n != -1) throw std::runtime_error(who + ": its save failed");
    if (buffer.size() >= kMax) throw std::runtime_error(who + ": its saved state exceeds 256 MiB");
    buffer.resize(buffer.size() * 2);
  }
}

}  // namespace

std::vector<SnapshotBlob> Vm::save_plugin_state() const {
  std::vector<SnapshotBlob> out;
  for (uint16_t slot = 0; slot < records_.size(); ++slot) {
    const PluginRecord& rec = *records_[slot];
    const std::string& says = resolution_.plugins[slot].manifest->snapshot;
    if (says == "unsupported")
      throw std::runtime_error("plugin '" + rec.name + "' cannot save its state (its manifest says 'snapshot: unsupported'"
                               "; its README says why): a VM with it cannot be snapshotted");
    if (says != "saved" && says != "stateless")
      throw std::runtime_error("plugin '" + rec.name + "' does not say whether it has state to save (no 'snapshot:' in " +
                               resolution_.plugins[slot].manifest->path +
                               "): add 'snapshot: stateless' or give it save/load (docs/sdk.md, \"Saved state\")");
    if (rec.descriptor->vm_save != nullptr)
      out.push_back({slot, SnapshotBlob::kVmState, ask(rec.descriptor->vm_save, rec.vm_ctx, "plugin '" + rec.name + "'")});
  }
  for (uint32_t v = 0; v < vcpus_.size(); ++v)
    for (uint16_t slot = 0; slot < records_.size(); ++slot) {
      const PluginRecord& rec = *records_[slot];
      if (rec.descriptor->vcpu_save != nullptr && rec.descriptor->vcpu_create != nullptr)
        out.push_back({slot, v,
                       ask(rec.descriptor->vcpu_save, vcpu_ctx_[v][slot],
                           "plugin '" + rec.name + "' (vCPU " + std::to_string(v) + ")")});
    }
  return out;
}

void Vm::load_plugin_state(const std::vector<SnapshotBlob>& blobs) {
  const auto find = [&](uint16_t slot, uint32_t vcpu) -> const SnapshotBlob* {
    for (const SnapshotBlob& b : blobs)
      if (b.plugin == slot && b.vcpu == vcpu) return &b;
    return nullptr;
  };
  for (const SnapshotBlob& b : blobs) {
    if (b.plugin >= records_.size()) throw std::runtime_error("state for a plugin this VM does not have");
    const enlight_plugin_descriptor& d = *records_[b.plugin]->descriptor;
    const bool expected = b.vcpu == SnapshotBlob::kVmState ? d.vm_load != nullptr
                                                           : d.vcpu_load != nullptr && d.vcpu_create != nullptr &&
                                                                 b.vcpu < vcpus_.size();
    if (!expected)
      throw std::runtime_error("plugin '" + records_[b.plugin]->name + "': the snapshot holds " +
                               (b.vcpu == SnapshotBlob::kVmState ? std::string("VM") : "vCPU " + std::to_string(b.vcpu)) +
                               " state it has no load for");
  }
  const auto load = [](enlight_load_fn fn, void* ctx, const SnapshotBlob* b, const std::string& who) {
    if (b == nullptr) throw std::runtime_error(who + ": the snapshot holds no saved state for it");
    char message[512] = {};
    enlight_error error{message, sizeof message, 0};
    if (fn(ctx, b->bytes.data(), b->bytes.size(), &error) != 0)
      throw std::runtime_error(who + " refused its saved state: " + (message[0] ? message : "no reason given"));
  };
  for (uint16_t slot = 0; slot < records_.size(); ++slot) {
    PluginRecord& rec = *records_[slot];
    if (rec.descriptor->vm_load != nullptr)
      load(rec.descriptor->vm_load, rec.vm_ctx, find(slot, SnapshotBlob::kVmState), "plugin '" + rec.name + "'");
  }
  for (uint32_t v = 0; v < vcpus_.size(); ++v)
    for (uint16_t slot = 0; slot < records_.size(); ++slot) {
      PluginRecord& rec = *records_[slot];
      if (rec.descriptor->vcpu_load != nullptr && rec.descriptor->vcpu_create != nullptr)
        load(rec.descriptor->vcpu_load, vcpu_ctx_[v][slot], find(slot, v),
             "plugin '" + rec.name + "' (vCPU " + std::to_string(v) + ")");
    }
}

void Vm::clear_memory() noexcept {
  // Private anonymous memory: MADV_DONTNEED gives back zero pages, without
  // touching (and so allocating) the whole of a large guest's RAM.
  if (madvise(memory_.base(), memory_.size(), MADV_DONTNEED) != 0) std::memset(memory_.base(), 0, memory_.size());
}

}  // namespace enlight
