// Stopping a VM: the first request wins, whoever makes it and from
// whichever thread; later requests change nothing.
#include "probe_log.hpp"

#include <atomic>
#include <thread>
#include <vector>

namespace enlight::test {
namespace {

constexpr uint32_t kProbeC = 0x40000182;

TEST(Stop, NotStoppedAtStart) {
  auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
  EXPECT_FALSE(vm->vm().stopped());
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::None);
  EXPECT_EQ(vm->vm().stop_message(), "");
}

TEST(Stop, FirstRequestWins) {
  auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
  vm->vm().request_stop(StopReason::GuestReset, "first");
  vm->vm().request_stop(StopReason::GuestCrash, "second");
  vm->vm().request_stop(StopReason::PluginError, "third");
  EXPECT_TRUE(vm->vm().stopped());
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::GuestReset);
  EXPECT_EQ(vm->vm().stop_message(), "first");
}

// A plugin's request goes through the host service, which names the plugin.
TEST(Stop, PluginRequestNamesThePlugin) {
  auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
  EXPECT_EQ(vm->wrmsr(0, kProbeC, 1), Access::Ok) << "asking for a stop is not a failure";
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::GuestReset);
  EXPECT_EQ(vm->vm().stop_message(), "probe asked for a reset (from plugin 'probe-c')");
  // A later crash report does not replace the reset.
  EXPECT_EQ(vm->wrmsr(0, kProbeC, 2), Access::Ok);
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::GuestReset);
}

TEST(Stop, PluginCrashReport) {
  auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
  vm->wrmsr(0, kProbeC, 2);
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::GuestCrash);
  EXPECT_EQ(vm->vm().stop_message(), "probe reported a crash (from plugin 'probe-c')");
}

// A fault after a stop request does not rewrite why the VM stopped.
TEST(Stop, FaultAfterARequestKeepsTheRequest) {
  auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
  vm->vm().request_stop(StopReason::Requested, "operator");
  EXPECT_EQ(vm->wrmsr(0, kProbeC, 3), Access::Fault);
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::Requested);
  EXPECT_EQ(vm->vm().stop_message(), "operator");
}

// Many threads race to stop the VM: exactly one wins, and the reason and
// message published are that one's, never a mix of two.
TEST(Stop, ConcurrentRequestsPublishOneConsistentWinner) {
  for (int round = 0; round < 50; ++round) {
    auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    const StopReason reasons[] = {StopReason::GuestReset, StopReason::GuestCrash, StopReason::PluginError,
                                  StopReason::Requested};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load(std::memory_order_acquire)) {
        }
        const std::string message = "from thread " + std::to_string(t) + " reason " +
                                    std::to_string(static_cast<int>(reasons[t % 4]));
        vm->vm().request_stop(reasons[t % 4], message.c_str());
      });
    }
    go.store(true, std::memory_order_release);
    for (auto& th : threads) th.join();
    const std::string message = vm->vm().stop_message();
    const std::string suffix = " reason " + std::to_string(static_cast<int>(vm->vm().stop_reason()));
    ASSERT_TRUE(message.size() > suffix.size() && message.compare(message.size() - suffix.size(), suffix.size(), suffix) == 0)
        << "round " << round << ": reason " << to_string(vm->vm().stop_reason()) << " with message '" << message << "'";
  }
}

// A message longer than the fixed buffer is cut, not overrun.
TEST(Stop, LongMessageIsTruncated) {
  auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
  const std::string longer(4096, 'x');
  vm->vm().request_stop(StopReason::Requested, longer.c_str());
  const std::string m = vm->vm().stop_message();
  EXPECT_GT(m.size(), 100u);
  EXPECT_LT(m.size(), longer.size());
  EXPECT_EQ(m, std::string(m.size(), 'x'));
}

TEST(Stop, NullMessage) {
  auto vm = fixtures::make_vm({"lifecycle"}, {{"probe-c"}});
  vm->vm().request_stop(StopReason::Requested, nullptr);
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::Requested);
  EXPECT_EQ(vm->vm().stop_message(), "");
}

}  // namespace
}  // namespace enlight::test
