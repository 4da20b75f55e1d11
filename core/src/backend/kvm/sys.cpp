#include "sys.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace enlight::kvm::sys {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

int xioctl(int fd, unsigned long request, const char* what, unsigned long arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);  // set-up ioctls are not KVM_RUN: retry a stray kick
  if (r < 0) throw std::runtime_error(std::string("kvm: ") + what + ": " + std::strerror(errno));
  return r;
}

int check_extension(int fd, long cap) noexcept {
  const int r = ::ioctl(fd, KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

Fd open_device(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("kvm: cannot open " + path + ": " + std::strerror(errno));
  return Fd(fd);
}

int kick_signal() noexcept { return SIGRTMIN + 3; }

namespace {
extern "C" void on_kick(int) {}
}  // namespace

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return -EINTR
    if (sigaction(kick_signal(), &sa, nullptr) != 0)
      throw std::runtime_error(std::string("kvm: sigaction for the kick signal: ") + std::strerror(errno));
  });
}

namespace {
// The C layout of kvm_msrs with one entry (see kFlexHeader).
struct OneMsr {
  uint32_t nmsrs = 1, pad = 0;
  kvm_msr_entry entry{};
};
static_assert(offsetof(OneMsr, entry) == kFlexHeader);
}  // namespace

bool get_msr(int vcpu_fd, uint32_t index, uint64_t& value) noexcept {
  OneMsr m;
  m.entry.index = index;
  if (::ioctl(vcpu_fd, kGetMsrs, &m) != 1) return false;
  value = m.entry.data;
  return true;
}

bool set_msr(int vcpu_fd, uint32_t index, uint64_t value) noexcept {
  OneMsr m;
  m.entry.index = index;
  m.entry.data = value;
  return ::ioctl(vcpu_fd, kSetMsrs, &m) == 1;
}

std::string missing_capabilities(int fd) {
  const int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) return "KVM API version " + std::to_string(version) + ", need 12";
  struct Need {
    long cap;
    const char* name;
  };
  static constexpr Need kNeeds[] = {
      {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
      {KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"},
      {KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER"},
      {KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"},
      {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
      {KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"},
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
  };
  std::string missing;
  for (const Need& n : kNeeds)
    if (check_extension(fd, n.cap) <= 0) missing += std::string(missing.empty() ? "" : ", ") + n.name;
  if (!missing.empty()) return "missing " + missing;
  if ((check_extension(fd, KVM_CAP_SYNC_REGS) & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) !=
      (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS))
    return "KVM_CAP_SYNC_REGS without REGS and SREGS";
  return "";
}

}  // namespace enlight::kvm::sys
