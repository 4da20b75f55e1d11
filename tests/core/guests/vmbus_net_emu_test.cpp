// The synthetic NIC guests on the emu backend: conformance-vmbus-net
// (Linux's hv_netvsc path on the loopback backend) and the test-only
// hostile guest, with the vmbus-net plugin's counters checked against what
// the guests report. vmbus-net has no QEMU flag: the profile names it, as
// recommended-vmbus-net.yaml does.
#include "vmbus_guest_checks.hpp"

#include <string>
#include <utility>
#include <vector>

namespace {

using namespace enlight::test::vmbus_guests;
constexpr enlight::BackendKind Emu = enlight::BackendKind::Emu;

// Every drop reason the plugin counts (docs/vmbus-net.md).
const std::vector<std::string> kDropReasons = {"malformed_nvsp", "malformed_rndis", "bad_section",
                                               "bad_gpa",        "oversize",        "unknown_completion",
                                               "no_receive_buffer", "filtered",     "backend"};

// Runs `guest` with vmbus and vmbus-net (`nics` as given) on emu.
HostView run_net(const std::string& guest, uint32_t vcpus, const std::string& nics) {
  const enlight::Catalog catalog = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  enlight::Profile profile = enlight::parse_cpu_flags(kFlags, catalog);
  profile.vcpus = vcpus;
  profile.plugins.push_back(enlight::PluginRequest{"vmbus", {}, {}, {}, {}});
  enlight::PluginRequest net{"vmbus-net", {}, {}, {}, {}};
  if (!nics.empty()) net.options["nics"] = enlight::OptionValue{nics, {}};
  profile.plugins.push_back(net);
  // Well inside ctest's time-out: a run that hangs fails here, with its
  // console, rather than being killed.
  HostView out = run_profile(Emu, guest, profile, catalog, std::chrono::seconds(45));
  if (std::getenv("ENLIGHT_GUEST_TEST_VERBOSE") != nullptr)
    for (const auto& [name, n] : out.counters)
      if (name.find("vmbus") != std::string::npos) std::printf("%s %llu\n", name.c_str(), static_cast<unsigned long long>(n));
  return out;
}

uint64_t dropped(const HostView& v, const std::string& reason) {
  return counter(v, "enlight_vmbus_net_dropped_total{reason=" + reason + "}");
}

std::string drops(const HostView& v) {
  std::string s = "drops:";
  for (const auto& r : kDropReasons) s += " " + r + "=" + std::to_string(dropped(v, r));
  return s;
}

// Linux's path end to end; the host's traffic counters say what the guest
// sent and got back, and the only drops are the frames the packet filter
// refused.
void conformance(uint32_t vcpus) {
  const HostView v = run_net("conformance-vmbus-net", vcpus, "");
  const auto& r = v.result;
  expect_all_pass(r);
  EXPECT_EQ(metric(r, "nics_offered"), 1u) << describe(r);
  EXPECT_EQ(metric(r, "tx_frames"), 15u) << describe(r);
  EXPECT_EQ(metric(r, "rx_frames"), 11u) << describe(r);
  EXPECT_EQ(counter(v, "enlight_vmbus_net_tx_frames_total{channel=net0}"), metric(r, "tx_frames")) << drops(v);
  EXPECT_EQ(counter(v, "enlight_vmbus_net_tx_bytes_total{channel=net0}"), metric(r, "tx_bytes"));
  EXPECT_EQ(counter(v, "enlight_vmbus_net_rx_frames_total{channel=net0}"), metric(r, "rx_frames")) << drops(v);
  EXPECT_EQ(counter(v, "enlight_vmbus_net_rx_bytes_total{channel=net0}"), metric(r, "rx_bytes"));
  EXPECT_EQ(dropped(v, "filtered"), metric(r, "filtered_frames")) << drops(v);
  for (const auto& reason : kDropReasons) {
    if (reason != "filtered") {
      EXPECT_EQ(dropped(v, reason), 0u) << reason << "\n" << drops(v);
    }
  }
  // Every XFER_PAGES packet the guest checked was one the host counted.
  EXPECT_EQ(counter(v, "enlight_vmbus_net_rx_batches_total{channel=net0}"), metric(r, "xfer_packets"));
  EXPECT_EQ(counter(v, "enlight_vmbus_channel_guest_signals_total{channel=net0}"), metric(r, "guest_signals"));
  EXPECT_EQ(counter(v, "enlight_vmbus_channel_ring_corrupt_total"), 0u);
  EXPECT_EQ(counter(v, "enlight_vmbus_messages_malformed_total"), 0u);
}

TEST(VmbusNetOnEmu, ConformanceOneVcpu) { conformance(1); }
TEST(VmbusNetOnEmu, ConformanceTwoVcpus) { conformance(2); }

// Everything the hostile guest broke was answered as the contract says
// (its own checks), counted under the right reason, and a clean session
// worked after it.
TEST(VmbusNetOnEmu, HostileGuestIsAnsweredAndCounted) {
  const HostView v = run_net(std::string(ENLIGHT_TEST_GUEST_IMAGE_DIR) + "/test-vmbus-net-hostile.bin", 1,
                             "loopback;loopback");
  const auto& r = v.result;
  expect_all_pass(r);
  // Every broken message the guest sent is at least one drop under its
  // reason (the contract's list), the guest's count being one per message.
  const std::pair<const char*, const char*> per_message[] = {
      {"malformed_nvsp", "malformed_nvsp_sent"}, {"unknown_completion", "unknown_completions_sent"},
      {"bad_section", "bad_section_sent"},       {"malformed_rndis", "malformed_rndis_sent"},
      {"bad_gpa", "bad_gpa_sent"},               {"oversize", "oversize_sent"},
      {"filtered", "filtered_sent"}};
  for (const auto& [reason, sent] : per_message) {
    EXPECT_GE(metric(r, sent), 1u) << sent << "\n" << describe(r);
    EXPECT_GE(dropped(v, reason), metric(r, sent)) << reason << "\n" << drops(v);
  }
  // The frames past the receive sections while the guest held them.
  EXPECT_GE(dropped(v, "no_receive_buffer"), metric(r, "held_frames_sent") - metric(r, "held_frames_received"))
      << drops(v);
  EXPECT_GE(metric(r, "held_frames_sent"), metric(r, "held_frames_received") + 1) << describe(r);
}

}  // namespace
