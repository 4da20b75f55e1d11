// Shared helpers for tests that drive real plugins through the direct
// backend. Header-only: every test executable includes what it uses.
//
// The plugins come from the build's plugin directory (ENLIGHT_TEST_PLUGIN_DIR),
// passed explicitly so that ENLIGHT_PLUGIN_PATH or an installed copy can never
// change what a test loads.
#pragma once

#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/tlfs.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace enlight {

// gtest prints CPUID mismatches as four hex registers instead of raw bytes.
inline void PrintTo(const CpuidValue& v, std::ostream* os) {
  char text[64];
  std::snprintf(text, sizeof text, "{0x%08X, 0x%08X, 0x%08X, 0x%08X}", v.eax, v.ebx, v.ecx, v.edx);
  *os << text;
}

inline void PrintTo(Access a, std::ostream* os) {
  *os << (a == Access::Ok ? "Ok" : a == Access::GP ? "GP" : "Fault");
}

inline void PrintTo(StopReason r, std::ostream* os) { *os << to_string(r); }

}  // namespace enlight

namespace enlight::test {

using direct::DirectVm;
using direct::MsrRead;

inline std::vector<std::string> plugin_dir() { return {ENLIGHT_TEST_PLUGIN_DIR}; }

// Log lines plugins wrote, shared with the VM's log callback (which may
// outlive the test's view of it, hence the shared_ptr).
class LogCapture {
 public:
  struct Line {
    uint32_t level;
    std::string plugin, message;
  };
  std::function<void(uint32_t, const std::string&, const std::string&)> sink() {
    auto lines = lines_;
    return [lines](uint32_t level, const std::string& plugin, const std::string& message) {
      std::lock_guard lock(lines->mutex);
      lines->list.push_back({level, plugin, message});
    };
  }
  std::vector<Line> lines() const {
    std::lock_guard lock(lines_->mutex);
    return lines_->list;
  }
  // Every line of `plugin` at `level` joined, for substring assertions.
  std::string text(const std::string& plugin, uint32_t level) const {
    std::string out;
    for (const Line& l : lines())
      if (l.plugin == plugin && l.level == level) out += l.message + "\n";
    return out;
  }

 private:
  struct Shared {
    mutable std::mutex mutex;
    std::vector<Line> list;
  };
  std::shared_ptr<Shared> lines_ = std::make_shared<Shared>();
};

inline std::unique_ptr<direct::DirectVm> make_vm(const std::string& flags, uint32_t vcpus = 1, VmOptions options = {}) {
  return direct::DirectVm::from_flags(flags, vcpus, plugin_dir(), std::move(options));
}

// A VM from a profile written in the test, for options that have no flag.
inline std::unique_ptr<direct::DirectVm> make_vm_from_profile(const std::string& yaml, VmOptions options = {},
                                                              std::vector<std::string> search_path = plugin_dir()) {
  const Catalog catalog = Catalog::discover(search_path);
  const Profile profile = parse_profile(yaml, "<test>");
  return direct::DirectVm::create(resolve(profile, catalog, direct::capabilities()), std::move(options));
}

inline std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(v));
  return b;
}

// Four bytes of a CPUID vendor string, little-endian as CPUID returns them.
inline uint32_t chars4(const char (&s)[5]) {
  return uint32_t(uint8_t(s[0])) | uint32_t(uint8_t(s[1])) << 8 | uint32_t(uint8_t(s[2])) << 16 |
         uint32_t(uint8_t(s[3])) << 24;
}

// The sum over vCPUs of a counter a plugin registered; -1 if it does not exist.
inline int64_t counter(direct::DirectVm& d, const std::string& name) {
  const MetricsStorage& m = d.vm().metrics_storage();
  for (const auto& c : m.counters) {
    if (c.name != name) continue;
    uint64_t sum = 0;
    for (uint32_t v = 0; v < d.vcpu_count(); ++v)
      sum += m.plugin_counters[static_cast<size_t>(v) * MetricsStorage::kMaxPluginCounters + c.id];
    return static_cast<int64_t>(sum);
  }
  return -1;
}

// A plausible Linux GUEST_OS_ID (open-source encoding, OS type Linux).
constexpr uint64_t kLinuxGuestOsId = HV_GUEST_OS_ID_OPEN_SOURCE |
                                     (uint64_t{HV_GUEST_OS_TYPE_LINUX} << HV_GUEST_OS_ID_OSS_OS_TYPE_SHIFT) |
                                     (uint64_t{0x060100} << HV_GUEST_OS_ID_OSS_VERSION_SHIFT);

// What a guest does before its first hypercall: report itself, then map the
// hypercall page at `page_gpa`. Returns the HYPERCALL write's answer.
inline Access enable_hypercalls(direct::DirectVm& d, uint64_t page_gpa, uint32_t vcpu = 0) {
  if (d.wrmsr(vcpu, HV_X64_MSR_GUEST_OS_ID, kLinuxGuestOsId) != Access::Ok) return Access::GP;
  return d.wrmsr(vcpu, HV_X64_MSR_HYPERCALL, page_gpa | HV_X64_MSR_HYPERCALL_ENABLE);
}

// A directory of manifests for one test, removed when it goes out of scope.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("enlight-test-") + (info ? info->test_suite_name() + std::string("-") + info->name() : "x") +
                       "-" + std::to_string(::getpid());
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& file, const std::string& text) const { std::ofstream(path_ / file) << text; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Replaces the one occurrence of `from` in `text`; fails the test if there
// is not exactly one, so a manifest edit cannot silently void a test.
inline std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not found";
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' found twice";
  return text.replace(at, from.size(), to);
}

}  // namespace enlight::test
