// A VM of the built-in `recommended` set on the emu backend, the same
// configuration twice: the one a snapshot is taken of and the one it is
// restored into (tests/core/snapshot).
#pragma once

#include <enlight/core/backend/backend.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/images.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/core/snapshot.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace enlight::test::snapshots {

// QEMU's recommended set, as the built-in `recommended` profile enables it.
inline constexpr const char* kFlags =
    "hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-vpindex,hv-runtime,hv-time,hv-synic,hv-stimer,hv-frequencies,"
    "hv-reset,hv-crash";

struct Config {
  enlight::BackendKind backend = enlight::BackendKind::Emu;
  std::shared_ptr<const enlight::Catalog> catalog;  // the resolution points into it
  enlight::Resolution resolution;
  std::vector<uint8_t> image;
  uint64_t memory = 16ull << 20;
  bool pc_devices = false;  // kvm: the PC machine's devices beside the guest program
};

inline Config config(const std::string& guest, uint32_t vcpus = 2, const std::string& flags = kFlags,
                     enlight::BackendKind backend = enlight::BackendKind::Emu) {
  Config c;
  c.backend = backend;
  c.catalog = std::make_shared<const enlight::Catalog>(enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR}));
  enlight::Profile profile = enlight::parse_cpu_flags(flags, *c.catalog);
  profile.vcpus = vcpus;
  c.resolution = enlight::resolve(profile, *c.catalog, enlight::backend_capabilities(backend));
  const enlight::guests::GuestImage* img = enlight::guests::find(guest);
  if (img == nullptr) throw std::runtime_error("no built-in guest " + guest);
  c.image.assign(img->data, img->data + img->size);
  return c;
}

inline std::unique_ptr<enlight::Backend> create(const Config& c) {
  enlight::BackendOptions options;
  options.vm.memory_bytes = c.memory;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image = c.image;
  options.pc_devices = c.pc_devices;
  return enlight::Backend::create(c.backend, c.resolution, std::move(options));
}

// A file in the test's scratch directory, removed at the end of scope.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& stem)
      : path((std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()) + ".snap")).string()) {}
  ~TempFile() { std::remove(path.c_str()); }
};

inline size_t count(const enlight::RunResult& r, uint32_t kind) {
  size_t n = 0;
  for (const auto& c : r.records) n += c.kind == kind;
  return n;
}

inline std::string failures(const enlight::RunResult& r) {
  std::string s = std::string(enlight::to_string(r.outcome)) + ": " + r.message + "\n";
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL)
      s += "  FAIL vcpu " + std::to_string(c.vcpu) + " line " + std::to_string(c.line) + " " + c.name + "\n";
  return s;
}

}  // namespace enlight::test::snapshots
