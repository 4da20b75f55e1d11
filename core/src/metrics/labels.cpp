// The labels a user puts on a run's series. Checked when the command line
// is read, so a bad label fails before a VM exists, with or without
// Prometheus compiled in.
#include <enlight/core/metrics.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <cctype>
#include <string_view>

namespace enlight {
namespace {

// Set by enlight on its own series (plugin, kind, result, version, le), or
// by Prometheus and the Pushgateway on every scraped or pushed one (job,
// instance): a user label with one of these names would collide.
// `channel`, `reason` and `type` are the labels plugins may add
// (plugin_label_name_ok).
constexpr std::array<std::string_view, 10> kReserved = {"plugin", "kind",     "result",  "version", "le",
                                                        "job",    "instance", "channel", "reason",  "type"};
constexpr std::array<std::string_view, 3> kPluginLabelNames = {"channel", "reason", "type"};

bool label_name_ok(const std::string& n) {
  if (n.empty() || !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// A narrower alphabet than Prometheus allows: label values become path
// segments of the Pushgateway URL (prometheus-cpp does not escape them),
// and variant names in tables, plot files and file names.
// 1 to `max` of [A-Za-z0-9_.:-]: a user's --label value (up to 128) and a
// plugin's counter label value (up to 64) share it.
bool label_value_ok(std::string_view v, size_t max = 128) {
  return !v.empty() && v.size() <= max && std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' || c == '-';
  });
}

void check_metric_label(const MetricLabel& l) {
  if (!label_name_ok(l.name) || l.name.rfind("__", 0) == 0)
    throw std::invalid_argument("label name '" + l.name +
                                "' is not a Prometheus label name\n  fix: use letters, digits and '_', not starting "
                                "with a digit or '__'");
  if (std::find(kReserved.begin(), kReserved.end(), l.name) != kReserved.end())
    throw std::invalid_argument("label name '" + l.name +
                                "' is one enlight or Prometheus sets itself (plugin, kind, result, version, le, job, "
                                "instance)\n  fix: choose another name, e.g. variant or experiment");
  if (!label_value_ok(l.value))
    throw std::invalid_argument("label value '" + l.value + "' of '" + l.name +
                                "' is empty, longer than 128 or has a character outside A-Z a-z 0-9 _ . : -\n  fix: "
                                "use e.g. --label " + l.name + "=hv-time-on");
}

}  // namespace

MetricLabel parse_metric_label(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos)
    throw std::invalid_argument("label '" + text + "' is not NAME=VALUE\n  fix: write e.g. --label variant=baseline");
  MetricLabel l{text.substr(0, eq), text.substr(eq + 1)};
  check_metric_label(l);
  return l;
}

bool plugin_label_name_ok(std::string_view name) noexcept {
  return std::find(kPluginLabelNames.begin(), kPluginLabelNames.end(), name) != kPluginLabelNames.end();
}

// Checked by hand, not with std::regex: every VM start registers dozens of
// counters, and a regex match cost more than the rest of the registration
// (a fuzz target that builds a VM per input spent 5% of its time in it).
bool plugin_label_value_ok(std::string_view value) noexcept { return label_value_ok(value, 64); }

bool plugin_metric_name_ok(std::string_view name, std::string_view suffix) noexcept {
  constexpr std::string_view kPrefix = "enlight_";
  if (name.size() < kPrefix.size() + 1 + suffix.size()) return false;
  if (name.substr(0, kPrefix.size()) != kPrefix || name.substr(name.size() - suffix.size()) != suffix) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

void check_metric_labels(const MetricLabels& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    check_metric_label(labels[i]);
    for (size_t j = 0; j < i; ++j)
      if (labels[j].name == labels[i].name)
        throw std::invalid_argument("label '" + labels[i].name + "' is given twice\n  fix: give each label once");
  }
}

}  // namespace enlight
