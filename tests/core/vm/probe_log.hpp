// The lifecycle probes' event log (tests/fixtures/lifecycle/probe.cpp): a
// fresh file per test, and the requests that point every probe at it.
#pragma once

#include <fixture_vm.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace enlight::test {

class ProbeLog {
 public:
  ProbeLog() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = ::testing::TempDir() + "enlight-probe-" + std::to_string(getpid()) + "-" + info->test_suite_name() + "-" +
            info->name() + ".log";
    std::remove(path_.c_str());
  }
  ~ProbeLog() { std::remove(path_.c_str()); }
  ProbeLog(const ProbeLog&) = delete;
  ProbeLog& operator=(const ProbeLog&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> lines() const { return fixtures::read_lines(path_); }

  // probe-a, probe-b and probe-c logging here; `extra` adds options per probe.
  std::vector<fixtures::Request> probes(std::map<std::string, std::map<std::string, std::string>> extra = {}) const {
    std::vector<fixtures::Request> out;
    for (const char* name : {"probe-a", "probe-b", "probe-c"}) {
      fixtures::Request r{name, extra[name]};
      r.options["log"] = path_;
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  std::string path_;
};

}  // namespace enlight::test
