// The VMBus guests on the emu backend (checks: vmbus_guest_checks.hpp).
#include "vmbus_guest_checks.hpp"

namespace {

using namespace enlight::test::vmbus_guests;
constexpr enlight::BackendKind Emu = enlight::BackendKind::Emu;

TEST(VmbusOnEmu, ConformanceOneVcpu) { conformance(Emu, 1); }
TEST(VmbusOnEmu, ConformanceTwoVcpus) { conformance(Emu, 2); }
// The vmbus plugin alone: contact and an empty offer list; the channel
// steps are skipped, visibly.
TEST(VmbusOnEmu, ConformanceWithoutDevices) { conformance_without_devices(Emu); }
// Everything the hostile guest broke was counted, it got the answers the
// protocol defines (its own checks), and the run ended cleanly.
TEST(VmbusOnEmu, HostileGuestIsAnsweredAndCounted) { hostile(Emu); }

}  // namespace
