// What the VM fuzz targets share (hypercall_fuzz.cpp, plugin_msrs_fuzz.cpp,
// synic_messages_fuzz.cpp): their profiles resolved once, and guard pages
// around guest RAM.
//
// Guest RAM is an anonymous mapping (core/src/vm/vm.cpp), which ASan does
// not track: a write just past either end would land in whatever the
// kernel mapped next to it, silently. A PROT_NONE page on each side turns
// such an access into a fault the fuzzer reports. The kernel places
// mappings top-down in the highest gap that fits, so the guards are laid
// first with exactly RAM's size free between them, and the VM's mapping,
// created next, lands there; if it did not, a guard is put on each side
// where the address space is free.
#pragma once

#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest_memory.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

namespace enlight::fuzz {

// Each profile (YAML) resolved for the direct backend against the shipped
// manifests (ENLIGHT_FUZZ_MANIFEST_DIR, compiled in; the environment
// variable of that name overrides it). Called once, from the first
// input's static initialiser: the catalog the resolutions point into is
// never freed. A profile that does not resolve is the target's own bug, so
// it aborts naming the target before any input runs.
inline std::vector<Resolution> resolve_profiles(const char* target, const std::vector<std::string>& profiles) {
  try {
    const char* env = std::getenv("ENLIGHT_FUZZ_MANIFEST_DIR");
    static const Catalog* catalog = new Catalog(Catalog::discover({env && *env ? env : ENLIGHT_FUZZ_MANIFEST_DIR}));
    std::vector<Resolution> out;
    for (const auto& yaml : profiles)
      out.push_back(resolve(parse_profile(yaml, "<fuzz>"), *catalog, direct::capabilities()));
    return out;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s fuzz: set-up failed: %s\n", target, e.what());
    std::abort();
  }
}

class RamGuard {
 public:
  static constexpr uint64_t kPage = 4096;
  // Before the VM is created: two guards with a hole of `ram_bytes` between.
  explicit RamGuard(uint64_t ram_bytes) : size_((ram_bytes + kPage - 1) & ~(kPage - 1)) {
    void* p = mmap(nullptr, size_ + 2 * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    hole_ = static_cast<uint8_t*>(p) + kPage;
    munmap(hole_, size_);
    below_ = p;
    above_ = hole_ + size_;
  }
  // After: keep them if RAM is in the hole, else guard RAM where possible.
  void attach(const GuestMemory& m) {
    if (m.base() == hole_) return;
    release();
    const uintptr_t base = reinterpret_cast<uintptr_t>(m.base());
    below_ = place(base - kPage);
    above_ = place(base + size_);
  }
  ~RamGuard() { release(); }
  RamGuard(const RamGuard&) = delete;
  RamGuard& operator=(const RamGuard&) = delete;

 private:
  void release() {
    if (below_) munmap(below_, kPage);
    if (above_) munmap(above_, kPage);
    below_ = above_ = nullptr;
  }
  static void* place(uintptr_t at) {
    void* p = mmap(reinterpret_cast<void*>(at), kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (p != reinterpret_cast<void*>(at)) {  // a kernel that took the address as a hint
      munmap(p, kPage);
      return nullptr;
    }
    return p;
  }
  uint64_t size_;
  uint8_t* hole_ = nullptr;
  void* below_ = nullptr;
  void* above_ = nullptr;
};

}  // namespace enlight::fuzz
