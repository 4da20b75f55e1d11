// Prometheus metrics of a VM. Counting happens on the exit path in plain
// per-vCPU memory (see MetricsStorage); this is the scrape side: a custom
// Collectable sums the vCPUs when Prometheus asks, so no Family::Add or
// atomic RMW ever runs per exit. Compiled out with -DENLIGHT_METRICS=OFF.
//
// Families (bounded labels only: plugin, kind, result, variant):
//   enlight_bus_exits_total{plugin,kind,result}
//   enlight_bus_handler_latency_seconds{plugin,kind}   (histogram, opt-in)
//   enlight_vm_vcpus, enlight_plugin_info{plugin,version}
//   every counter a plugin registered, with its plugin label
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#ifdef ENLIGHT_WITH_METRICS
namespace prometheus {
class Collectable;
}
#endif

namespace enlight {

class Vm;

// One figure of a VM, summed over its vCPUs: the bus's exits per plugin and
// kind ("exits.msr_write"; plugin "none" for unclaimed ones), and every
// counter a plugin registered (by its metric name), zero ones included.
// Available with metrics compiled out too. Cost: a pass over the counters.
struct CounterTotal {
  std::string plugin, name;
  uint64_t value = 0;
};
std::vector<CounterTotal> counter_totals(const Vm& vm);

#ifdef ENLIGHT_WITH_METRICS

// The collector of one VM. It reads the VM's counters, so detach it from any
// MetricsServer before the VM is destroyed (MetricsServer::Attachment does).
std::shared_ptr<prometheus::Collectable> make_vm_collector(const Vm& vm, const std::string& variant);

// Prometheus text exposition of one VM, in process (A/B tooling, tests).
std::string metrics_text(const Vm& vm, const std::string& variant = "");

class MetricsServer {
 public:
  // address: "127.0.0.1:9464", "[::1]:0" (0 picks a free port). Loopback by
  // default, because the endpoint has no authentication. Throws
  // std::runtime_error if the address cannot be bound.
  explicit MetricsServer(const std::string& address);
  ~MetricsServer();  // civetweb's shutdown takes about 2 s
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Serves `vm` until the returned attachment is destroyed.
  class Attachment {
   public:
    ~Attachment();
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;

   private:
    friend class MetricsServer;
    Attachment(MetricsServer& server, std::shared_ptr<prometheus::Collectable> collector) : server_(server), collector_(std::move(collector)) {}
    MetricsServer& server_;
    std::shared_ptr<prometheus::Collectable> collector_;
  };
  std::unique_ptr<Attachment> attach(const Vm& vm, const std::string& variant = "");

  uint16_t port() const;
  std::string url() const;  // http://host:port/metrics

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

#endif

}  // namespace enlight
