// A snapshot file as a user hands it to `enlight run --restore`
// (SnapshotFile::parse, core/src/snapshot/format.cpp): every input parses
// or throws SnapshotError naming the file, and a parsed one is what the
// reader promises the restore: counts within their limits, one CPU state
// per vCPU, plugin states naming a listed plugin and an existing vCPU, RAM
// runs of whole pages inside the stated RAM, ascending, and the backend's
// devices state within its limit.
#include <enlight/core/snapshot.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {
[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "snapshot_file: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const enlight::SnapshotFile f = enlight::SnapshotFile::parse(std::vector<uint8_t>(data, data + size), "fuzz.snap");
    const enlight::SnapshotState& s = f.state();
    if (s.vcpus == 0 || s.vcpus > 4096) broken("vCPU count outside 1..4096");
    if (s.cpus.size() != s.vcpus) broken("not one CPU state per vCPU");
    if (s.memory_bytes == 0 || s.memory_bytes % 4096 != 0) broken("RAM size not whole pages");
    if (s.backend != "emu" && s.backend != "kvm") broken("unknown backend accepted");
    if (s.devices.size() > (1u << 20)) broken("a devices state over its 1 MiB limit");
    for (const enlight::SnapshotBlob& b : s.blobs) {
      if (b.plugin >= s.plugins.size()) broken("a plugin state names no listed plugin");
      if (b.vcpu != enlight::SnapshotBlob::kVmState && b.vcpu >= s.vcpus) broken("a plugin state names no vCPU");
    }
  } catch (const enlight::SnapshotError& e) {
    if (std::string(e.what()).find("fuzz.snap") == std::string::npos) broken("an error that does not name the file");
  }
  return 0;
}
