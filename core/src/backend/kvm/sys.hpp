// The thin layer over the KVM ioctl API: owned file descriptors, ioctls
// that throw with the request's name and errno, the kick signal, and the
// capability probe. Nothing here knows about enlight's Vm or Bus.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>

namespace enlight::kvm::sys {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// ioctl(fd, request, arg); throws std::runtime_error "kvm: <what>: <errno
// text>" on -1. Returns the ioctl's non-negative result.
int xioctl(int fd, unsigned long request, const char* what, unsigned long arg = 0);
template <typename T>
int xioctl(int fd, unsigned long request, const char* what, T* arg) {
  return xioctl(fd, request, what, reinterpret_cast<unsigned long>(arg));
}

// KVM_CHECK_EXTENSION on `fd` (system or VM); 0 when absent.
int check_extension(int fd, long cap) noexcept;

// Opens the device read-write, close-on-exec; throws with the path and errno.
Fd open_device(const std::string& path);

// The signal that kicks a vCPU thread out of KVM_RUN. Its handler does
// nothing: delivery alone makes KVM_RUN return -EINTR. Installed once per
// process, without SA_RESTART.
int kick_signal() noexcept;
void install_kick_handler();

// linux/kvm.h declares the arrays at the end of kvm_cpuid2 and kvm_msrs with
// __DECLARE_FLEX_ARRAY, which in C++ adds a 1-byte empty struct: sizeof and
// the array's offset differ from C's, and so do the ioctl numbers built
// from sizeof (KVM then answers EINVAL). These are the C ABI's: an 8-byte
// header (count, padding) and the entries right after it.
constexpr unsigned long kFlexHeader = 8;
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kFlexHeader);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kFlexHeader);
constexpr unsigned long kGetSupportedHvCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0xc1, kFlexHeader);
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, kFlexHeader);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, kFlexHeader);

// One MSR through KVM_GET_MSRS / KVM_SET_MSRS on a vCPU fd (host-initiated:
// the MSR filter does not apply). false when KVM refused it. No allocation.
bool get_msr(int vcpu_fd, uint32_t index, uint64_t& value) noexcept;
bool set_msr(int vcpu_fd, uint32_t index, uint64_t value) noexcept;

// Why `fd` (an open /dev/kvm) cannot run this backend, or "" when it can.
std::string missing_capabilities(int fd);

}  // namespace enlight::kvm::sys
