#include "bus/bus_builder.hpp"

#include <algorithm>
#include <stdexcept>

namespace enlight {
void BusBuilder::add_plugin(uint16_t slot, const Manifest& manifest, const enlight_plugin_descriptor& d) {
  for (uint32_t i = 0; i < d.msr_count; ++i) {
    const enlight_msr_claim& c = d.msrs[i];
    MsrEntry entry;
    entry.guest_read = c.read;
    entry.guest_write = c.write;
    entry.read_ok_counter = Bus::counter_index(slot, ExitKind::MsrRead, Result::Ok);
    entry.write_ok_counter = Bus::counter_index(slot, ExitKind::MsrWrite, Result::Ok);
    entry.read = c.read;
    entry.write = c.write;
    entry.slot = slot;
    entry.claimed = true;
    // The binary and its manifest may split the same indices differently
    // (the loader compares them as sets), and each manifest claim has its
    // own gate: place the binary's range one manifest claim at a time.
    for (const MsrClaim& mc : manifest.msrs) {
      const uint32_t first = std::max(c.first, mc.first), last = std::min(c.last, mc.last);
      if (first > last) continue;
      if (mc.fallback) fallbacks_.push_back({first, last, entry, mc.gate});
      else place_msrs(first, last, entry, mc.gate, manifest.name);
    }
  }
  for (uint32_t i = 0; i < d.hypercall_count; ++i) {
    const enlight_hypercall_claim& c = d.hypercalls[i];
    HypercallEntry* e = nullptr;
    if (c.code < Bus::kHypercallBasicCount) e = &bus_.hypercalls_basic_[c.code];
    else if (c.code >= Bus::kHypercallExtFirst && c.code < Bus::kHypercallExtFirst + Bus::kHypercallExtCount)
      e = &bus_.hypercalls_ext_[c.code - Bus::kHypercallExtFirst];
    if (e == nullptr) throw std::logic_error("hypercall code outside the dispatch range: " + manifest.name);
    if (e->handler != nullptr) throw std::logic_error("hypercall claimed twice after resolution: " + manifest.name);
    *e = HypercallEntry{c.handler, c, slot, false};
  }
  // Hypercall gates come from the manifest (MSR gates were placed above).
  for (const HypercallClaim& c : manifest.hypercalls)
    if (c.gate) gates_.push_back({PendingGate::What::Hypercall, c.code, c.code, *c.gate});
  for (uint32_t i = 0; i < d.io_port_count; ++i) {
    const enlight_io_claim& c = d.io_ports[i];
    bus_.io_.push_back(IoEntry{c.first, c.last, c.in, c.out, slot});
  }
  for (uint32_t i = 0; i < d.cpuid_count; ++i) {
    const enlight_cpuid_claim& c = d.cpuid[i];
    composer_.add_claim({c.leaf, c.subleaf, c.reg, c.kind, c.mask, slot});
  }
}

void BusBuilder::place_msrs(uint32_t first, uint32_t last, const MsrEntry& entry, const std::optional<CpuidGate>& gate,
                            const std::string& plugin) {
  // A range may cross either end of the direct array; each part goes where
  // find_msr() will look for it.
  const uint32_t array_first = Bus::kSyntheticFirst, array_last = Bus::kSyntheticFirst + Bus::kSyntheticCount - 1;
  const auto other = [&](uint32_t lo, uint32_t hi) {
    bus_.other_msrs_.push_back({lo, hi, entry});
    if (gate) gates_.push_back({PendingGate::What::Msr, lo, hi, *gate});
  };
  if (first < array_first) {
    other(first, std::min(last, array_first - 1));
    if (last < array_first) return;
    first = array_first;
  }
  if (first <= array_last) {
    const uint32_t end = std::min(last, array_last);
    for (uint32_t idx = first; idx <= end; ++idx) {
      MsrEntry& e = bus_.synthetic_msrs_[idx - Bus::kSyntheticFirst];
      if (e.claimed) throw std::logic_error("MSR claimed twice after resolution: " + plugin);
      e = entry;
    }
    if (gate) gates_.push_back({PendingGate::What::Msr, first, end, *gate});
    if (last <= array_last) return;
    first = array_last + 1;
  }
  other(first, last);
}

// A closed gate: the guest table sees no handler (so #GP), the host keeps
// the registered ones.
static void close(MsrEntry& e) {
  e.denied = true;
  e.guest_read = nullptr;
  e.guest_write = nullptr;
}

void BusBuilder::finish(bool enforce_cpuid, GuestMemory memory, uint16_t unclaimed_slot) {
  // Default claims take what no ordinary claim took (resolution kept them
  // in the synthetic range and apart from each other).
  for (const PendingFallback& f : fallbacks_) {
    for (uint32_t idx = f.first; idx <= f.last; ++idx) {
      MsrEntry& e = bus_.synthetic_msrs_[idx - Bus::kSyntheticFirst];
      if (e.claimed) continue;
      e = f.entry;
      if (f.gate) gates_.push_back({PendingGate::What::Msr, idx, idx, *f.gate});
    }
  }
  std::sort(bus_.other_msrs_.begin(), bus_.other_msrs_.end(),
            [](const Bus::MsrRange& a, const Bus::MsrRange& b) { return a.first < b.first; });
  for (size_t i = 1; i < bus_.other_msrs_.size(); ++i)
    if (bus_.other_msrs_[i].first <= bus_.other_msrs_[i - 1].last) throw std::logic_error("overlapping MSR ranges after resolution");
  std::sort(bus_.io_.begin(), bus_.io_.end(), [](const IoEntry& a, const IoEntry& b) { return a.first < b.first; });
  for (size_t i = 1; i < bus_.io_.size(); ++i)
    if (bus_.io_[i].first <= bus_.io_[i - 1].last) throw std::logic_error("overlapping I/O ranges after resolution");

  bus_.cpuid_ = composer_.freeze();
  bus_.memory_ = memory;
  bus_.unclaimed_slot_ = unclaimed_slot;
  bus_.enforce_cpuid_ = enforce_cpuid;
  bus_.xmm_input_advertised_ = bus_.cpuid_.bit(HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE_BIT);

  if (!enforce_cpuid) return;
  for (const PendingGate& g : gates_) {
    const bool open = bus_.cpuid_.bit(g.gate.leaf, g.gate.reg, g.gate.bit);
    if (open) continue;
    if (g.what == PendingGate::What::Hypercall) {
      const_cast<HypercallEntry*>(bus_.find_hypercall(static_cast<uint16_t>(g.first)))->denied = true;
      continue;
    }
    if (g.first >= Bus::kSyntheticFirst && g.last < Bus::kSyntheticFirst + Bus::kSyntheticCount) {
      for (uint32_t idx = g.first; idx <= g.last; ++idx) close(bus_.synthetic_msrs_[idx - Bus::kSyntheticFirst]);
    } else {
      // A non-synthetic range entry is closed when the gate covers it; the
      // loader guarantees manifest and binary ranges cover the same indices.
      for (auto& r : bus_.other_msrs_)
        if (r.first <= g.last && g.first <= r.last) close(r.entry);
    }
  }
}

}  // namespace enlight
