// The VMBus guest programs' runs and checks, shared by the emu and kvm
// tests (vmbus_emu_test.cpp, tests/core/kvm/vmbus_kvm_test.cpp):
// conformance-vmbus (Linux's path through contact, offers, GPADL, open, the
// heartbeat IC and back down) and the test-only hostile guest, with the
// host's counters checked against what the guests report. The vmbus and
// vmbus-util plugins have no QEMU flag (docs/profiles.md): the profile
// names them, as a profile file's `enlightenments:` list would (e.g.
// `- vmbus-util: { heartbeat-interval-ms: 100 }`).
#pragma once

#include <enlight/core/backend/backend.hpp>
#include <enlight/core/backend/run_result.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/images.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace enlight::test::vmbus_guests {


// hv-time for the guests' clock (the reference TSC page); synic for the
// message slots and event flags the bus rides on.
inline constexpr const char* kFlags = "hv-vpindex,hv-synic,hv-time";
// Short enough that the guests' four heartbeats take under half a second.
inline constexpr const char* kHeartbeatMs = "100";

struct HostView {
  enlight::RunResult result;
  // Counters summed over vCPUs, by name and by name{label=value}.
  std::map<std::string, uint64_t> counters;
};

inline std::vector<uint8_t> image_of(const std::string& guest) {
  if (const enlight::guests::GuestImage* img = enlight::guests::find(guest)) return {img->data, img->data + img->size};
  std::ifstream in(guest, std::ios::binary);
  if (!in) throw std::runtime_error("no guest image " + guest);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string describe(const enlight::RunResult& r) {
  std::string s = std::string(enlight::to_string(r.outcome)) + ": " + r.message + " (status " +
                  std::to_string(r.exit_status) + ")\n";
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL)
      s += "  FAIL vcpu " + std::to_string(c.vcpu) + " line " + std::to_string(c.line) + " " + c.name + "\n";
  return s + "console:\n" + r.console;
}

// Boots `guest` on `backend` with `profile` for at most `limit`, and
// returns its result and the plugins' counters, summed over the vCPUs (a
// labelled counter also under name{label=value}).
inline HostView run_profile(enlight::BackendKind backend, const std::string& guest, const enlight::Profile& profile,
                            const enlight::Catalog& catalog, std::chrono::seconds limit) {
  enlight::BackendOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image = image_of(guest);
  auto vm = enlight::Backend::create(backend, enlight::resolve(profile, catalog, enlight::backend_capabilities(backend)),
                                     std::move(options));
  HostView out;
  out.result = vm->run(limit);
  if (std::getenv("ENLIGHT_GUEST_TEST_VERBOSE") != nullptr) std::printf("%s\n", describe(out.result).c_str());
  const enlight::MetricsStorage& m = vm->vm().metrics_storage();
  for (uint32_t v = 0; v < profile.vcpus; ++v)
    for (const auto& info : m.counters) {
      const uint64_t n =
          m.plugin_counters[static_cast<size_t>(v) * enlight::MetricsStorage::kMaxPluginCounters + info.id];
      out.counters[info.name] += n;
      if (!info.label_name.empty()) out.counters[info.name + "{" + info.label_name + "=" + info.label_value + "}"] += n;
    }
  return out;
}

// Runs `guest` with vmbus (and vmbus-util, heartbeat every 100 ms) on
// `backend`.
inline HostView run(enlight::BackendKind backend, const std::string& guest, uint32_t vcpus, bool util = true) {
  const enlight::Catalog catalog = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  enlight::Profile profile = enlight::parse_cpu_flags(kFlags, catalog);
  profile.vcpus = vcpus;
  profile.plugins.push_back(enlight::PluginRequest{"vmbus", {}, {}, {}, {}});
  if (util) {
    enlight::PluginRequest u{"vmbus-util", {}, {}, {}, {}};
    u.options["heartbeat-interval-ms"] = enlight::OptionValue{kHeartbeatMs, {}};
    profile.plugins.push_back(u);
  }
  return run_profile(backend, guest, profile, catalog, std::chrono::seconds(120));
}

inline uint64_t metric(const enlight::RunResult& r, const std::string& name) {
  uint64_t sum = 0;
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_METRIC && c.name == name) sum += c.actual;
  return sum;
}

inline uint64_t counter(const HostView& v, const std::string& key) {
  auto it = v.counters.find(key);
  return it == v.counters.end() ? 0 : it->second;
}

inline void expect_all_pass(const enlight::RunResult& r) {
  EXPECT_EQ(r.outcome, enlight::Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u) << describe(r);
  size_t passed = 0;
  for (const auto& c : r.records) passed += c.kind == ENLIGHT_GUEST_CHECK_PASS;
  EXPECT_GE(passed, 5u) << describe(r);
  for (const auto& c : r.records) EXPECT_NE(c.kind, ENLIGHT_GUEST_CHECK_FAIL) << c.name << " line " << c.line;
}

// Linux's path end to end; the host saw what the guest did: its messages,
// one negotiation and four heartbeat answers on the heartbeat channel,
// every answer read from the ring, nothing malformed or corrupt.
inline void conformance(enlight::BackendKind backend, uint32_t vcpus) {
  const HostView v = run(backend, "conformance-vmbus", vcpus);
  expect_all_pass(v.result);
  const auto& r = v.result;
  EXPECT_EQ(metric(r, "offers"), 3u) << describe(r);
  EXPECT_EQ(metric(r, "heartbeats_answered"), 4u) << describe(r);
  EXPECT_EQ(counter(v, "enlight_vmbus_util_negotiations_total{channel=heartbeat}"), 1u);
  EXPECT_EQ(counter(v, "enlight_vmbus_util_heartbeats_answered_total"), 4u);
  EXPECT_EQ(counter(v, "enlight_vmbus_channel_packets_received_total{channel=heartbeat}"), 5u);
  EXPECT_EQ(counter(v, "enlight_vmbus_channel_guest_signals_total{channel=heartbeat}"), metric(r, "guest_signals"));
  EXPECT_GE(counter(v, "enlight_vmbus_channel_host_signals_total{channel=heartbeat}"), 5u);
  EXPECT_EQ(counter(v, "enlight_vmbus_messages_malformed_total"), 0u);
  EXPECT_EQ(counter(v, "enlight_vmbus_channel_ring_corrupt_total"), 0u);
  EXPECT_EQ(counter(v, "enlight_vmbus_util_responses_malformed_total"), 0u);
  EXPECT_EQ(counter(v, "enlight_vmbus_open_failed_total"), 0u);
  // 4 x 5.x on connection 4 never reach the bus; 4.1, 4.0, REQUESTOFFERS,
  // GPADL_HEADER, OPENCHANNEL, CLOSECHANNEL, GPADL_TEARDOWN, UNLOAD do.
  EXPECT_EQ(counter(v, "enlight_vmbus_messages_received_total"), 8u);
  // Interval of the host's heartbeats, as the guest measured them: about
  // the option's 100 ms. Generous both ways: a loaded host runs the timer
  // late, and the guest's average over two intervals is short when the
  // heartbeat it starts from arrived late (74 ms seen on kvm under ctest
  // -j2); the host reschedules from when each one ran, never earlier.
  const uint64_t interval = metric(r, "heartbeat_interval_100ns");
  EXPECT_GE(interval, 500'000u) << describe(r);
  EXPECT_LE(interval, 3'000'000u) << describe(r);
}

// The vmbus plugin alone: contact and an empty offer list; the channel
// steps are skipped, visibly.
inline void conformance_without_devices(enlight::BackendKind backend) {
  const HostView v = run(backend, "conformance-vmbus", 1, false);
  expect_all_pass(v.result);
  EXPECT_EQ(metric(v.result, "offers"), 0u);
  EXPECT_NE(v.result.console.find("channel steps skipped"), std::string::npos) << describe(v.result);
}

// Everything the hostile guest broke was counted, it got the answers the
// protocol defines (its own checks), and the run ended cleanly.
inline void hostile(enlight::BackendKind backend) {
  const HostView v = run(backend, std::string(ENLIGHT_TEST_GUEST_IMAGE_DIR) + "/test-vmbus-hostile.bin", 1);
  const auto& r = v.result;
  expect_all_pass(r);
  EXPECT_GE(counter(v, "enlight_vmbus_messages_malformed_total"), metric(r, "malformed_posted")) << describe(r);
  EXPECT_GE(metric(r, "malformed_posted"), 30u) << describe(r);
  EXPECT_GE(counter(v, "enlight_vmbus_messages_refused_total"), metric(r, "refused_posted") + metric(r, "open_failures"))
      << describe(r);
  EXPECT_GE(counter(v, "enlight_vmbus_queue_full_total"), 1u);
  // The opens the bus passed and the plugin refused: the VP the guest does
  // not have, and the three rings whose indices it could not take over.
  EXPECT_GE(counter(v, "enlight_vmbus_open_failed_total"), 4u);
  EXPECT_GE(counter(v, "enlight_vmbus_channel_ring_corrupt_total{channel=heartbeat}"), metric(r, "ring_corruptions"))
      << describe(r);
  EXPECT_GE(counter(v, "enlight_vmbus_util_responses_malformed_total{channel=heartbeat}"), metric(r, "device_drops"));
  EXPECT_GE(counter(v, "enlight_vmbus_util_negotiations_total{channel=heartbeat}"), metric(r, "reopen_negotiations"));
  EXPECT_GE(metric(r, "reopen_negotiations"), 7u) << describe(r);
  EXPECT_GE(counter(v, "enlight_vmbus_channel_guest_signals_total{channel=heartbeat}"), 5000u);
  EXPECT_GE(counter(v, "enlight_vmbus_util_heartbeats_answered_total"), 7u);
}

}  // namespace enlight::test::vmbus_guests
