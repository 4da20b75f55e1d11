// enlight::Backend: the kind names, and creation dispatched once to the
// backend this build has (the emu backend only with ENLIGHT_WITH_EMU).
#include <enlight/core/backend/backend.hpp>
#include <enlight/core/backend/kvm.hpp>
#ifdef ENLIGHT_WITH_EMU
#include <enlight/core/backend/emu.hpp>
#endif

#include <stdexcept>
#include <utility>

namespace enlight {
namespace {
constexpr const char* kNoEmu = "this enlight was built without the emu backend (ENLIGHT_BACKENDS=kvm)";
}  // namespace

Backend::~Backend() = default;

const char* to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::Emu: return "emu";
    case BackendKind::Kvm: return "kvm";
  }
  return "?";
}

std::optional<BackendKind> backend_kind(std::string_view name) noexcept {
  if (name == "emu") return BackendKind::Emu;
  if (name == "kvm") return BackendKind::Kvm;
  return std::nullopt;
}

bool backend_compiled(BackendKind kind) noexcept {
#ifdef ENLIGHT_WITH_EMU
  (void)kind;
  return true;
#else
  return kind == BackendKind::Kvm;
#endif
}

bool backend_available(BackendKind kind, std::string* why) {
  if (kind == BackendKind::Kvm) return kvm::available(why);
  if (backend_compiled(kind)) {
    if (why) why->clear();
    return true;
  }
  if (why) *why = kNoEmu;
  return false;
}

BackendCaps backend_capabilities(BackendKind kind) {
  if (kind == BackendKind::Kvm) return kvm::capabilities();
#ifdef ENLIGHT_WITH_EMU
  return emu::capabilities();
#else
  throw std::runtime_error(kNoEmu);
#endif
}

std::unique_ptr<Backend> Backend::create(BackendKind kind, const Resolution& resolution, BackendOptions options) {
  if (kind == BackendKind::Kvm) {
    kvm::KvmOptions k;
    static_cast<BackendOptions&>(k) = std::move(options);
    return kvm::KvmVm::create(resolution, std::move(k));
  }
#ifdef ENLIGHT_WITH_EMU
  emu::EmuOptions e;
  static_cast<BackendOptions&>(e) = std::move(options);
  return emu::EmuVm::create(resolution, std::move(e));
#else
  throw std::runtime_error(kNoEmu);
#endif
}

void Backend::require_resumable_stop() {
  if (!ran_) throw std::runtime_error("the VM has not run: there is nothing to snapshot yet");
  if (last_outcome_ != Outcome::Stopped && last_outcome_ != Outcome::Timeout)
    throw std::runtime_error(std::string("the run ended '") + to_string(last_outcome_) +
                             "', which cannot be resumed (a snapshot is taken of a VM stopped while running)");
  const StopReason why = vm().stop_reason();
  if (why != StopReason::None && why != StopReason::Requested)
    throw std::runtime_error(std::string("the VM stopped for '") + to_string(why) + "', which cannot be resumed");
}

void Backend::require_fresh_for_restore(size_t saved_vcpus, size_t vcpus) const {
  if (ran_) throw std::runtime_error("the VM has already run: restore into a new one");
  if (saved_vcpus != vcpus)
    throw std::runtime_error(std::to_string(saved_vcpus) + " vCPUs' state for " + std::to_string(vcpus) + " vCPUs");
}

void Backend::load_devices(const std::vector<uint8_t>& saved) {
  if (!saved.empty())
    throw std::runtime_error(std::string("it holds machine devices' state, and the ") + to_string(kind()) +
                             " backend keeps no devices beside its vCPUs");
}

}  // namespace enlight
