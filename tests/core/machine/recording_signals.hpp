// A MachineSignals that records what a device did to the machine: every
// interrupt-line change, power-offs, resets (with how). Shared by the
// device tests.
#pragma once

#include <enlight/machine/device.hpp>

#include <string>
#include <vector>

namespace enlight::machine::test {

struct RecordingSignals final : MachineSignals {
  struct Irq {
    uint32_t line;
    bool high;
  };
  std::vector<Irq> irqs;
  int power_offs = 0;
  std::vector<std::string> resets;
  void set_irq(uint32_t line, bool high) override { irqs.push_back({line, high}); }
  void power_off() override { ++power_offs; }
  void reset(const char* how) override { resets.emplace_back(how); }
  // The level last driven on `line`, false if never.
  bool level(uint32_t line) const {
    for (auto it = irqs.rbegin(); it != irqs.rend(); ++it)
      if (it->line == line) return it->high;
    return false;
  }
};

}  // namespace enlight::machine::test
