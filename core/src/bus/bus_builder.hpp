// Fills a Bus from the loaded plugins while the VM is created, then freezes
// it. Overlaps were already rejected by resolution (from manifests) and the
// loader checked binaries against manifests, so a conflict here is a bug and
// throws std::logic_error.
#pragma once

#include <enlight/core/bus.hpp>
#include <enlight/core/manifest.hpp>

#include <optional>
#include <string>
#include <vector>

namespace enlight {

class BusBuilder {
 public:
  explicit BusBuilder(Bus& bus) : bus_(bus) {}

  void add_plugin(uint16_t slot, const Manifest& manifest, const enlight_plugin_descriptor& d);
  CpuidComposer& cpuid() { return composer_; }

  // Freezes CPUID, then closes the gates whose bit is not advertised when
  // hv-enforce-cpuid is on.
  void finish(bool enforce_cpuid, GuestMemory memory, uint16_t unclaimed_slot);

 private:
  struct PendingGate {
    enum class What { Msr, Hypercall } what;
    uint32_t first, last;  // MSR range, or the code twice
    CpuidGate gate;
  };
  void place_msrs(uint32_t first, uint32_t last, const MsrEntry& entry, const std::optional<CpuidGate>& gate,
                  const std::string& plugin);

  Bus& bus_;
  CpuidComposer composer_;
  std::vector<PendingGate> gates_;
  // Default MSR claims, placed by finish() where no ordinary claim is.
  struct PendingFallback {
    uint32_t first, last;
    MsrEntry entry;
    std::optional<CpuidGate> gate;
  };
  std::vector<PendingFallback> fallbacks_;
};

}  // namespace enlight
