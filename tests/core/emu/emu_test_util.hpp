// Helpers for the emu backend's guest tests: load an assembled guest,
// resolve QEMU-style flags against the build's plugins, run.
#pragma once

#include <enlight/core/backend/emu.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace enlight::emu::test {

inline std::vector<uint8_t> guest_image(const std::string& name) {
  const std::string path = std::string(ENLIGHT_EMU_GUEST_DIR) + "/" + name + ".bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing guest image " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::unique_ptr<EmuVm> make_vm(const std::string& guest, const std::string& flags, uint32_t vcpus = 1) {
  const Catalog catalog = Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  Profile profile = parse_cpu_flags(flags, catalog);
  profile.vcpus = vcpus;
  EmuOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image = guest_image(guest);
  return EmuVm::create(resolve(profile, catalog, capabilities()), std::move(options));
}

// The actual value of the record with `line` from `vcpu`, or a failure.
inline uint64_t record(const RunResult& r, uint32_t line, uint32_t vcpu = 0) {
  for (const CheckRecord& c : r.records)
    if (c.line == line && c.vcpu == vcpu) return c.actual;
  ADD_FAILURE() << "no record for line " << line << " on vCPU " << vcpu;
  return ~0ull;
}

inline std::string describe(const RunResult& r) {
  return std::string(to_string(r.outcome)) + ": " + r.message + " (status " + std::to_string(r.exit_status) + ")";
}

}  // namespace enlight::emu::test
