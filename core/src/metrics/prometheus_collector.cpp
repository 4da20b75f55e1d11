// Scrape-time summing of a VM's per-vCPU counters into Prometheus families.
#include <enlight/core/metrics.hpp>
#include <enlight/core/vm.hpp>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/gateway.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

namespace enlight {
namespace {

uint64_t load(const uint64_t& v) {
  return std::atomic_ref<const uint64_t>(v).load(std::memory_order_relaxed);
}

class VmCollector : public prometheus::Collectable {
 public:
  VmCollector(const Vm& vm, MetricLabels labels) : vm_(vm), labels_(std::move(labels)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const MetricsStorage& s = vm_.metrics_storage();
    const uint32_t vcpus = vm_.vcpu_count();
    const uint16_t plugins = vm_.plugin_count();

    prometheus::MetricFamily info{"enlight_plugin_info", "Plugins loaded into the VM (value 1)", prometheus::MetricType::Gauge, {}};
    for (uint16_t slot = 0; slot < plugins; ++slot) {
      prometheus::ClientMetric m = metric({{"plugin", vm_.plugin_name(slot)},
                                           {"version", vm_.plugins()[slot].manifest->version.str()}});
      m.gauge.value = 1;
      info.metric.push_back(std::move(m));
    }
    out.push_back(std::move(info));

    prometheus::MetricFamily vcpu_family{"enlight_vm_vcpus", "vCPUs of the VM", prometheus::MetricType::Gauge, {}};
    vcpu_family.metric.push_back(metric({}));
    vcpu_family.metric.back().gauge.value = vcpus;
    out.push_back(std::move(vcpu_family));

    if (s.exits) {
      prometheus::MetricFamily exits{"enlight_bus_exits_total",
                                     "Exits dispatched by the bus, by owning plugin ('none': unclaimed), kind and result",
                                     prometheus::MetricType::Counter, {}};
      constexpr size_t kinds = static_cast<size_t>(ExitKind::Count), results = static_cast<size_t>(Result::Count);
      for (uint16_t slot = 0; slot <= plugins; ++slot)
        for (size_t k = 0; k < kinds; ++k)
          for (size_t r = 0; r < results; ++r) {
            uint64_t sum = 0;
            const size_t offset = (static_cast<size_t>(slot) * kinds + k) * results + r;
            for (uint32_t v = 0; v < vcpus; ++v) sum += load(s.exits[s.exit_block * v + offset]);
            if (sum == 0) continue;  // keep the exposition short; absent means zero
            prometheus::ClientMetric m = metric({{"plugin", vm_.plugin_name(slot)},
                                                 {"kind", to_string(static_cast<ExitKind>(k))},
                                                 {"result", to_string(static_cast<Result>(r))}});
            m.counter.value = static_cast<double>(sum);
            exits.metric.push_back(std::move(m));
          }
      out.push_back(std::move(exits));
    }

    if (s.latency) {
      prometheus::MetricFamily lat{"enlight_bus_handler_latency_seconds", "Time spent in plugin handlers",
                                   prometheus::MetricType::Histogram, {}};
      constexpr size_t kinds = static_cast<size_t>(ExitKind::Count);
      for (uint16_t slot = 0; slot < plugins; ++slot)
        for (size_t k = 0; k < kinds; ++k) {
          uint64_t buckets[kLatencyBuckets + 1] = {}, sum_cycles = 0, count = 0;
          for (uint32_t v = 0; v < vcpus; ++v) {
            const LatencyCell& c = s.latency[(static_cast<size_t>(plugins + 1) * kinds) * v + slot * kinds + k];
            for (int b = 0; b <= kLatencyBuckets; ++b) buckets[b] += load(c.buckets[b]);
            sum_cycles += load(c.sum_cycles);
          }
          for (uint64_t b : buckets) count += b;
          if (count == 0) continue;
          prometheus::ClientMetric m = metric({{"plugin", vm_.plugin_name(slot)}, {"kind", to_string(static_cast<ExitKind>(k))}});
          m.histogram.sample_count = count;
          const double seconds_per_cycle = 1.0 / tsc_hz();
          m.histogram.sample_sum = static_cast<double>(sum_cycles) * seconds_per_cycle;
          uint64_t cumulative = 0;
          for (int b = 0; b <= kLatencyBuckets; ++b) {
            cumulative += buckets[b];
            const double bound = b == kLatencyBuckets ? INFINITY : std::ldexp(1.0, b + 4) * seconds_per_cycle;
            m.histogram.bucket.push_back({cumulative, bound});
          }
          lat.metric.push_back(std::move(m));
        }
      out.push_back(std::move(lat));
    }

    // Plugin counters: one family per name; a name two plugins share gets
    // one series per plugin.
    std::vector<prometheus::MetricFamily> families;
    for (const MetricsStorage::CounterInfo& c : s.counters) {
      auto it = std::find_if(families.begin(), families.end(), [&](const auto& f) { return f.name == c.name; });
      if (it == families.end()) {
        families.push_back({c.name, c.help, prometheus::MetricType::Counter, {}});
        it = families.end() - 1;
      }
      uint64_t sum = 0;
      for (uint32_t v = 0; v < vcpus; ++v) sum += load(s.plugin_counters[static_cast<size_t>(v) * MetricsStorage::kMaxPluginCounters + c.id]);
      std::vector<prometheus::ClientMetric::Label> own{{"plugin", vm_.plugin_name(c.slot)}};
      if (!c.label_name.empty()) own.push_back({c.label_name, c.label_value});
      prometheus::ClientMetric m = metric(std::move(own));
      m.counter.value = static_cast<double>(sum);
      it->metric.push_back(std::move(m));
    }
    for (auto& f : families) out.push_back(std::move(f));

    std::vector<prometheus::MetricFamily> hfamilies;
    for (const MetricsStorage::HistogramInfo& h : s.histograms) {
      auto it = std::find_if(hfamilies.begin(), hfamilies.end(), [&](const auto& f) { return f.name == h.name; });
      if (it == hfamilies.end()) {
        hfamilies.push_back({h.name, h.help, prometheus::MetricType::Histogram, {}});
        it = hfamilies.end() - 1;
      }
      const size_t n = h.upper_bounds_ns.size();
      std::vector<uint64_t> cells(n + 2, 0);
      for (uint32_t v = 0; v < vcpus; ++v)
        for (size_t i = 0; i < n + 2; ++i)
          cells[i] += load(s.histogram_cells[static_cast<size_t>(v) * MetricsStorage::kMaxHistogramCells + h.first_cell + i]);
      prometheus::ClientMetric m = metric({{"plugin", vm_.plugin_name(h.slot)}});
      uint64_t cumulative = 0;
      for (size_t b = 0; b <= n; ++b) {
        cumulative += cells[b];
        m.histogram.bucket.push_back({cumulative, b == n ? INFINITY : static_cast<double>(h.upper_bounds_ns[b]) * 1e-9});
      }
      m.histogram.sample_count = cumulative;
      m.histogram.sample_sum = static_cast<double>(cells[n + 1]) * 1e-9;
      it->metric.push_back(std::move(m));
    }
    for (auto& f : hfamilies) out.push_back(std::move(f));

    // What backends did on plugins' behalf.
    for (const MetricsStorage::CoreCounterInfo& c : MetricsStorage::kCoreCounterInfo) {
      prometheus::MetricFamily f{c.name, c.help, prometheus::MetricType::Counter, {}};
      f.metric.push_back(metric({}));
      f.metric.back().counter.value = static_cast<double>(s.core_sum(vcpus, c.id));
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  prometheus::ClientMetric metric(std::vector<prometheus::ClientMetric::Label> labels) const {
    prometheus::ClientMetric m;
    for (const MetricLabel& l : labels_) labels.push_back({l.name, l.value});
    m.label = std::move(labels);
    return m;
  }

  const Vm& vm_;
  MetricLabels labels_;
};

MetricLabels variant_label(const std::string& variant) {
  if (variant.empty()) return {};
  return {{"variant", variant}};
}

}  // namespace

std::shared_ptr<prometheus::Collectable> make_vm_collector(const Vm& vm, MetricLabels labels) {
  return std::make_shared<VmCollector>(vm, std::move(labels));
}

std::string metrics_text(const Vm& vm, const MetricLabels& labels) {
  VmCollector c(vm, labels);
  return prometheus::TextSerializer().Serialize(c.Collect());
}

std::string metrics_text(const Vm& vm, const std::string& variant) { return metrics_text(vm, variant_label(variant)); }

void push_metrics(const Vm& vm, const std::string& url, const MetricLabels& labels) {
  // prometheus::Gateway wants the scheme and host apart from the port.
  const auto scheme = url.find("://");
  const auto colon = url.rfind(':');
  const bool has_port = scheme != std::string::npos && colon != std::string::npos && colon > scheme + 3;
  std::string host = has_port ? url.substr(0, colon) : url;
  std::string port = has_port ? url.substr(colon + 1) : "";
  while (!port.empty() && port.back() == '/') port.pop_back();
  if (scheme == std::string::npos || !has_port || port.empty() ||
      port.find_first_not_of("0123456789") != std::string::npos)
    throw std::runtime_error("cannot push metrics to '" + url +
                             "': not a URL with a port\n  fix: give --push http://HOST:PORT (a Pushgateway, e.g. "
                             "http://127.0.0.1:9091)");
  prometheus::Labels grouping;
  for (const MetricLabel& l : labels) grouping[l.name] = l.value;
  prometheus::Gateway gateway(host, port, "enlight", grouping);
  std::shared_ptr<prometheus::Collectable> collector = std::make_shared<VmCollector>(vm, labels);
  gateway.RegisterCollectable(collector);
  const int status = gateway.Push();
  if (status < 200 || status >= 300)
    throw std::runtime_error("pushing metrics to '" + url + "' failed: " +
                             (status <= 0 ? std::string("no HTTP answer (is a Pushgateway listening there?)")
                                          : "HTTP status " + std::to_string(status)) +
                             "\n  fix: start prometheus-pushgateway there, or leave out --push");
}

struct MetricsServer::Impl {
  explicit Impl(const std::string& address) : exposer(address, 1) {}
  prometheus::Exposer exposer;
  std::string host;
};

MetricsServer::MetricsServer(const std::string& address) {
  try {
    impl_ = std::make_unique<Impl>(address);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve metrics on '" + address + "': " + e.what() +
                             " (give --metrics HOST:PORT with a free port, or :0 for any)");
  }
  const auto colon = address.rfind(':');
  impl_->host = colon == std::string::npos || colon == 0 ? "127.0.0.1" : address.substr(0, colon);
}

MetricsServer::~MetricsServer() {
  if (!impl_) return;
  // civetweb (1.15) checks its stop flag only when the listener's poll()
  // returns, at the latest after 2 s: a short run would spend most of its
  // life here. Connections of our own make poll() return at once; each is
  // closed right away so no worker waits on it for a request.
  std::string host = impl_->host;
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  const std::string port_text = std::to_string(port());
  std::atomic<bool> stopped{false};
  std::thread waker([&] {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found) != 0) return;
    while (!stopped.load()) {
      const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0) {
        (void)connect(fd, found->ai_addr, found->ai_addrlen);
        close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    freeaddrinfo(found);
  });
  impl_.reset();
  stopped.store(true);
  waker.join();
}

std::unique_ptr<MetricsServer::Attachment> MetricsServer::attach(const Vm& vm, const std::string& variant) {
  return attach(vm, variant_label(variant));
}

std::unique_ptr<MetricsServer::Attachment> MetricsServer::attach(const Vm& vm, MetricLabels labels) {
  std::shared_ptr<prometheus::Collectable> collector = std::make_shared<VmCollector>(vm, std::move(labels));
  impl_->exposer.RegisterCollectable(collector);
  return std::unique_ptr<Attachment>(new Attachment(*this, collector));
}

MetricsServer::Attachment::~Attachment() {
  server_.impl_->exposer.RemoveCollectable(collector_);
}

uint16_t MetricsServer::port() const {
  const auto ports = impl_->exposer.GetListeningPorts();
  return ports.empty() ? 0 : static_cast<uint16_t>(ports.front());
}

std::string MetricsServer::host_port() const { return impl_->host + ":" + std::to_string(port()); }

std::string MetricsServer::url() const { return "http://" + host_port() + "/metrics"; }

}  // namespace enlight
