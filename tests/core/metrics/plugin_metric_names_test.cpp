// The names and label values a plugin may register (host services'
// counter_register_labelled and histogram_register refuse the rest): the
// shapes the hand-written checks must keep, edges included.
#include <enlight/core/metrics.hpp>

#include <gtest/gtest.h>

#include <string>

namespace enlight {
namespace {

TEST(PluginMetricNames, CounterNames) {
  EXPECT_TRUE(plugin_metric_name_ok("enlight_synic_messages_posted_total", "_total"));
  EXPECT_TRUE(plugin_metric_name_ok("enlight_x_total", "_total")) << "one character between prefix and suffix";
  EXPECT_TRUE(plugin_metric_name_ok("enlight___total", "_total")) << "'_' is in the middle's alphabet";
  EXPECT_TRUE(plugin_metric_name_ok("enlight_9p_total", "_total"));
  EXPECT_FALSE(plugin_metric_name_ok("enlight__total", "_total")) << "the middle may not be empty";
  EXPECT_FALSE(plugin_metric_name_ok("enlight_total", "_total")) << "prefix and suffix may not overlap";
  EXPECT_FALSE(plugin_metric_name_ok("enlight_Synic_total", "_total")) << "upper case";
  EXPECT_FALSE(plugin_metric_name_ok("enlight_syn-ic_total", "_total"));
  EXPECT_FALSE(plugin_metric_name_ok("enlight_synic_total ", "_total"));
  EXPECT_FALSE(plugin_metric_name_ok("xenlight_synic_total", "_total"));
  EXPECT_FALSE(plugin_metric_name_ok("enlight_synic_totals", "_total"));
  EXPECT_FALSE(plugin_metric_name_ok("enlight_synic_seconds", "_total"));
  EXPECT_FALSE(plugin_metric_name_ok("", "_total"));
  EXPECT_FALSE(plugin_metric_name_ok(std::string("enlight_a\0b_total", 17), "_total")) << "an embedded NUL";
}

TEST(PluginMetricNames, HistogramNames) {
  EXPECT_TRUE(plugin_metric_name_ok("enlight_stimer_lateness_seconds", "_seconds"));
  EXPECT_FALSE(plugin_metric_name_ok("enlight_stimer_lateness_total", "_seconds"));
  EXPECT_FALSE(plugin_metric_name_ok("enlight__seconds", "_seconds"));
}

TEST(PluginMetricNames, LabelValues) {
  EXPECT_TRUE(plugin_label_value_ok("hv-time.on:2_A"));
  EXPECT_TRUE(plugin_label_value_ok(std::string(64, 'a')));
  EXPECT_FALSE(plugin_label_value_ok(std::string(65, 'a')));
  EXPECT_FALSE(plugin_label_value_ok(""));
  EXPECT_FALSE(plugin_label_value_ok("a b"));
  EXPECT_FALSE(plugin_label_value_ok("a/b")) << "values travel in a Pushgateway URL path";
  EXPECT_FALSE(plugin_label_value_ok("caf\xc3\xa9"));
}

}  // namespace
}  // namespace enlight
