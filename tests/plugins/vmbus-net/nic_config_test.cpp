// The `nics` option: what users write, and the errors they get.
#include "nic_config.hpp"

#include <gtest/gtest.h>

namespace {

using namespace enlight::vmbus_net;

TEST(NicConfig, DefaultsAndEveryBackend) {
  std::string error;
  const auto nics = parse_nics("loopback; tap,ifname=tap0,mac=52:54:00:AB:cd:01 ;socket,path=/tmp/a,peer=/tmp/b", &error);
  ASSERT_EQ(nics.size(), 3u) << error;
  EXPECT_EQ(nics[0].backend, BackendKind::Loopback);
  EXPECT_EQ(format_mac(nics[0].mac), "02:00:00:00:00:01");
  EXPECT_EQ(nics[1].ifname, "tap0");
  EXPECT_EQ(format_mac(nics[1].mac), "52:54:00:ab:cd:01");
  EXPECT_EQ(nics[2].path, "/tmp/a");
  EXPECT_EQ(nics[2].peer, "/tmp/b");
  EXPECT_EQ(format_mac(nics[2].mac), "02:00:00:00:00:03");
}

TEST(NicConfig, ErrorsNameTheNicAndTheFix) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "unknown backend ''"},
      {"vde", "unknown backend 'vde'"},
      {"tap", "tap needs its device; fix: tap,ifname=tap0"},
      {"tap,ifname=much-too-long-name", "not an interface name"},
      {"socket,path=/tmp/a", "socket needs both ends"},
      {"loopback,mac=02:00:00:00:00", "not six hex bytes"},
      {"loopback,mac=03:00:00:00:00:01", "multicast"},
      {"loopback,mac=00:00:00:00:00:00", "not an address"},
      {"loopback,ifname=tap0", "does not apply to backend loopback"},
      {"loopback,mac", "not key=value"},
      {"loopback;loopback,mac=02:00:00:00:00:01", "NIC 1: mac 02:00:00:00:00:01 is NIC 0's too"},
      {"loopback;loopback;loopback;loopback;loopback;loopback;loopback;loopback;loopback", "at most 8 NICs"},
  };
  for (const auto& [spec, expect] : cases) {
    std::string error;
    EXPECT_TRUE(parse_nics(spec, &error).empty()) << spec;
    EXPECT_NE(error.find(expect), std::string::npos) << spec << " -> " << error;
    EXPECT_EQ(error.rfind("nics: NIC ", 0), 0u) << error;
  }
}

}  // namespace
