// The real Prometheus endpoint: a MetricsServer on a free loopback port,
// scraped with a plain HTTP GET, must serve exactly what the VM counted -
// the same numbers metrics_text gives in process - and stop serving a VM
// once its attachment is gone. (Each server's shutdown takes about 2 s.)
#include "drive_exits.hpp"
#include "http_get.hpp"

#include <enlight/core/metrics.hpp>

#include <gtest/gtest.h>

namespace enlight::test {
namespace {

std::string scrape(const MetricsServer& server) {
  const HttpResponse r = http_get(server.port(), "/metrics");
  EXPECT_EQ(r.status, 200) << r.headers;
  return r.body;
}

TEST(MetricsEndpoint, ServesExactCountsOverHttp) {
  MetricsServer server("127.0.0.1:0");
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics");

  auto vm = make_metrics_vm();
  drive_exits(*vm);
  auto attachment = server.attach(vm->vm());
  const std::string body = scrape(server);

  EXPECT_EQ(samples(body, "enlight_bus_exits_total"), expected_exits()) << body;
  EXPECT_EQ(samples(body, "enlight_fixture_echo_calls_total").at(echo_counter()), 4);
  // In process, the same numbers, family by family.
  const std::string text = metrics_text(vm->vm());
  for (const char* family : {"enlight_bus_exits_total", "enlight_fixture_echo_calls_total", "enlight_vm_vcpus",
                             "enlight_plugin_info"})
    EXPECT_EQ(samples(body, family), samples(text, family)) << family;

  // Counters are read when scraped, not when attached.
  vm->rdmsr(0, HCS_MSR_SYN_FIRST);
  EXPECT_EQ(samples(scrape(server), "enlight_bus_exits_total").at(exits("hc-shapes", "msr_read", "ok")), 8);

  // Only /metrics is served.
  EXPECT_EQ(http_get(server.port(), "/not-metrics").status, 404);

  // Detached: the VM's series are gone from the endpoint.
  attachment.reset();
  const std::string after = scrape(server);
  EXPECT_TRUE(samples(after, "enlight_bus_exits_total").empty()) << after;
  EXPECT_TRUE(samples(after, "enlight_plugin_info").empty()) << after;
}

// An A/B run: two VMs on one endpoint, told apart by the variant label; a
// VM with metrics off contributes no exit family at all.
TEST(MetricsEndpoint, TwoVariantsOnOneEndpoint) {
  MetricsServer server("127.0.0.1:0");
  auto a = make_metrics_vm();
  VmOptions off;
  off.metrics = false;
  auto b = make_metrics_vm(off);
  drive_exits(*a);
  drive_exits(*b);
  auto attach_a = server.attach(a->vm(), "A");
  auto attach_b = server.attach(b->vm(), "B");
  const std::string body = scrape(server);

  EXPECT_EQ(samples(body, "enlight_bus_exits_total"), expected_exits("A")) << body;
  EXPECT_EQ(samples(body, "enlight_vm_vcpus").at("enlight_vm_vcpus{variant=\"A\"}"), 2);
  EXPECT_EQ(samples(body, "enlight_vm_vcpus").at("enlight_vm_vcpus{variant=\"B\"}"), 2);
  EXPECT_EQ(body.find("enlight_bus_handler_latency_seconds"), std::string::npos);
}

TEST(MetricsEndpoint, BusyAddressIsAClearError) {
  MetricsServer first("127.0.0.1:0");
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  try {
    MetricsServer second(address);
    FAIL() << "two servers bound " << address;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot serve metrics on '" + address + "'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace enlight::test
