// The host services table (enlight_host) each plugin receives, and the
// per-plugin record behind its ctx pointer.
#pragma once

#include <enlight/core/vm.hpp>

#include <atomic>
#include <string>
#include <vector>

namespace enlight {

struct Vm::PluginRecord {
  Vm* vm = nullptr;
  uint16_t slot = 0;
  std::string name;
  const enlight_plugin_descriptor* descriptor = nullptr;
  enlight_host host{};
  void* vm_ctx = nullptr;
  bool created = false;
  std::vector<std::string> option_strings;
  std::vector<enlight_option> options;
  // The first fault a plugin reports; fixed storage so reporting from the
  // exit path allocates nothing.
  std::atomic<bool> fault_claimed{false};
  std::atomic<bool> fault_set{false};
  char fault[384] = {};
};

struct HostServices {
  static void fill(Vm::PluginRecord& rec);
};

}  // namespace enlight
