// The backends with real descriptors: a Unix datagram socket pair between
// two NICs' backends, and the loopback. (TAP needs a device and privileges;
// the nested stage runs it.)
#include "backend/backend.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

namespace {

using namespace enlight::vmbus_net;

std::vector<uint8_t> wait_frame(Backend& b) {
  pollfd p{b.receive_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 2000), 1);
  std::vector<uint8_t> buf(2048);
  const ssize_t n = b.receive(buf);
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

TEST(Backends, SocketsCarryFramesBothWays) {
  const std::string dir = ::testing::TempDir();
  const std::string a_path = dir + "/enlight-net-a.sock", b_path = dir + "/enlight-net-b.sock";
  std::string error;
  NicConfig a{BackendKind::Socket, "", a_path, b_path, {}}, b{BackendKind::Socket, "", b_path, a_path, {}};
  auto ea = Backend::open(a, &error);
  ASSERT_TRUE(ea) << error;
  auto eb = Backend::open(b, &error);
  ASSERT_TRUE(eb) << error;
  const std::vector<uint8_t> f1(60, 0xab), f2(1514, 0x12);
  ASSERT_TRUE(ea->transmit(f1));
  EXPECT_EQ(wait_frame(*eb), f1);
  ASSERT_TRUE(eb->transmit(f2));
  EXPECT_EQ(wait_frame(*ea), f2);
  std::vector<uint8_t> buf(2048);
  EXPECT_EQ(ea->receive(buf), 0);  // nothing more waits
  // A socket left by a run that died is replaced, not an error.
  ea.reset();
  EXPECT_TRUE(Backend::open(a, &error)) << error;
  ::unlink(a_path.c_str());
  ::unlink(b_path.c_str());
}

TEST(Backends, SocketToAPeerThatIsNotThereDropsTheFrame) {
  std::string error;
  const std::string path = ::testing::TempDir() + "/enlight-net-lonely.sock";
  auto e = Backend::open({BackendKind::Socket, "", path, path + ".nobody", {}}, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_FALSE(e->transmit(std::vector<uint8_t>(60, 1)));
  ::unlink(path.c_str());
}

TEST(Backends, SocketInADirectoryThatDoesNotExistSaysSo) {
  std::string error;
  EXPECT_FALSE(Backend::open({BackendKind::Socket, "", "/nonexistent-dir/a.sock", "/tmp/b", {}}, &error));
  EXPECT_NE(error.find("/nonexistent-dir/a.sock: bind failed"), std::string::npos) << error;
  EXPECT_NE(error.find("fix:"), std::string::npos) << error;
}

TEST(Backends, LoopbackReturnsWhatIsSent) {
  std::string error;
  auto e = Backend::open({BackendKind::Loopback, "", "", "", {}}, &error);
  ASSERT_TRUE(e) << error;
  const std::vector<uint8_t> f(100, 7);
  ASSERT_TRUE(e->transmit(f));
  EXPECT_EQ(wait_frame(*e), f);
}

}  // namespace
