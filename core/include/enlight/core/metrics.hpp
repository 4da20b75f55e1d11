// Prometheus metrics of a VM. Counting happens on the exit path in plain
// per-vCPU memory (see MetricsStorage); this is the scrape side: a custom
// Collectable sums the vCPUs when Prometheus asks, so no Family::Add or
// atomic RMW ever runs per exit. Compiled out with -DENLIGHT_METRICS=OFF.
//
// Families (bounded labels only: plugin, kind, result, and the run's own
// --label pairs such as variant):
//   enlight_bus_exits_total{plugin,kind,result}
//   enlight_bus_handler_latency_seconds{plugin,kind}   (histogram, opt-in)
//   enlight_vm_vcpus, enlight_plugin_info{plugin,version}
//   every counter a plugin registered, with its plugin label
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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

// Labels a user puts on every series of a run (`enlight run --label k=v`;
// `variant` is the common one), in the order given.
struct MetricLabel {
  std::string name, value;
};
using MetricLabels = std::vector<MetricLabel>;

// "variant=a" -> {variant, a}. Throws std::invalid_argument with the fix
// when the name is not a Prometheus label name, is one enlight sets itself
// (plugin, kind, result, version, le) or Prometheus attaches (job,
// instance), starts with "__", or when the value has a character outside
// [A-Za-z0-9_.:-] (values travel in a Pushgateway URL path unescaped).
MetricLabel parse_metric_label(const std::string& text);
// Refuses a name given twice, as parse_metric_label refuses a bad one.
void check_metric_labels(const MetricLabels& labels);
// The label names a plugin may put beside `plugin` on a counter
// (enlight_host.counter_register_labelled): a short fixed list, so a
// user's --label can never collide with one.
bool plugin_label_name_ok(std::string_view name) noexcept;
// A plugin counter's label value: 1 to 64 of [A-Za-z0-9_.:-].
bool plugin_label_value_ok(std::string_view value) noexcept;
// A plugin metric's name: "enlight_", then [a-z0-9_]+, ending in `suffix`
// ("_total" for counters, "_seconds" for histograms), so dashboards can
// rely on the shape.
bool plugin_metric_name_ok(std::string_view name, std::string_view suffix) noexcept;

#ifdef ENLIGHT_WITH_METRICS

// The collector of one VM. It reads the VM's counters, so detach it from any
// MetricsServer before the VM is destroyed (MetricsServer::Attachment does).
std::shared_ptr<prometheus::Collectable> make_vm_collector(const Vm& vm, MetricLabels labels);

// Prometheus text exposition of one VM, in process (A/B tooling, tests,
// `enlight run --metrics-file` for node_exporter's textfile collector).
std::string metrics_text(const Vm& vm, const MetricLabels& labels = {});
// The same with one label `variant` (none when empty).
std::string metrics_text(const Vm& vm, const std::string& variant);

// Pushes the VM's series to a Pushgateway (the Prometheus convention for a
// batch job's final counters): PUT to URL/metrics/job/enlight/<labels>, so
// a later run with the same labels replaces this one's group. url is
// "http://host:port". Throws std::runtime_error naming the URL, the HTTP
// status or curl's failure, and the fix. Cost: one HTTP round trip.
void push_metrics(const Vm& vm, const std::string& url, const MetricLabels& labels);

class MetricsServer {
 public:
  // address: "127.0.0.1:9464", "[::1]:0" (0 picks a free port). Loopback by
  // default, because the endpoint has no authentication. Throws
  // std::runtime_error if the address cannot be bound.
  explicit MetricsServer(const std::string& address);
  // Stops serving within milliseconds: civetweb's listener only sees its
  // stop flag when its poll() returns (every 2 s), so the destructor wakes
  // it with a connection of its own.
  ~MetricsServer();
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
  std::unique_ptr<Attachment> attach(const Vm& vm, MetricLabels labels = {});
  std::unique_ptr<Attachment> attach(const Vm& vm, const std::string& variant);

  uint16_t port() const;
  std::string url() const;        // http://host:port/metrics
  std::string host_port() const;  // host:port, as a Prometheus target

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

#endif

}  // namespace enlight
