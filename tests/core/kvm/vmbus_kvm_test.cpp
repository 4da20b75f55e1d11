// The VMBus guests on the kvm backend (the host's /dev/kvm; skipped, with
// the reason, without a usable KVM): the same runs and counter checks as on
// emu (tests/core/guests/vmbus_guest_checks.hpp). The guests are flat
// programs, which PVM's KVM runs too.
#include "vmbus_guest_checks.hpp"

namespace {

using namespace enlight::test::vmbus_guests;
constexpr enlight::BackendKind Kvm = enlight::BackendKind::Kvm;

#define SKIP_WITHOUT_KVM()                                                                \
  do {                                                                                    \
    std::string why;                                                                      \
    if (!enlight::backend_available(Kvm, &why)) GTEST_SKIP() << "no usable KVM: " << why; \
  } while (0)

TEST(VmbusOnKvm, ConformanceOneVcpu) {
  SKIP_WITHOUT_KVM();
  conformance(Kvm, 1);
}
TEST(VmbusOnKvm, ConformanceTwoVcpus) {
  SKIP_WITHOUT_KVM();
  conformance(Kvm, 2);
}
TEST(VmbusOnKvm, ConformanceWithoutDevices) {
  SKIP_WITHOUT_KVM();
  conformance_without_devices(Kvm);
}
TEST(VmbusOnKvm, HostileGuestIsAnsweredAndCounted) {
  SKIP_WITHOUT_KVM();
  hostile(Kvm);
}

}  // namespace
