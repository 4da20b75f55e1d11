#include <enlight/core/backend/run_result.hpp>

namespace enlight {

const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::Exited: return "exited";
    case Outcome::Stopped: return "stopped";
    case Outcome::GuestFault: return "guest-fault";
    case Outcome::TripleFault: return "triple-fault";
    case Outcome::Timeout: return "timeout";
    case Outcome::HostError: return "host-error";
  }
  return "?";
}

}  // namespace enlight
