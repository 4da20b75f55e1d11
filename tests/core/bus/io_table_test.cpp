// Port I/O: claimed ranges reach their plugin; an unclaimed read floats to
// all ones for its size and an unclaimed write is dropped, as on a PC bus
// with nothing decoding the port.
#include "hc_shapes_test_util.hpp"

namespace enlight::test {
namespace {

class IoTable : public HcShapes {};

TEST_F(IoTable, UnclaimedReadIsAllOnesForItsSize) {
  for (uint16_t port : {0x0000, 0x0080, 0x050F, 0x0515, 0xFFFF}) {
    uint32_t v = 0x12345678;
    EXPECT_EQ(d().io_in(0, port, 1, v), Access::Ok);
    EXPECT_EQ(v, 0xFFu) << port;
    v = 0;
    EXPECT_EQ(d().io_in(0, port, 2, v), Access::Ok);
    EXPECT_EQ(v, 0xFFFFu) << port;
    v = 0;
    EXPECT_EQ(d().io_in(0, port, 4, v), Access::Ok);
    EXPECT_EQ(v, 0xFFFFFFFFu) << port;
  }
}

TEST_F(IoTable, UnclaimedWriteIsDropped) {
  EXPECT_EQ(d().io_out(0, HCS_PORT_FIRST, 4, 0xCAFEF00D), Access::Ok);
  EXPECT_EQ(d().io_out(0, HCS_PORT_FIRST - 1, 4, 0x11111111), Access::Ok);
  EXPECT_EQ(d().io_out(0, HCS_PORT_WRITE_ONLY + 1, 1, 0x22), Access::Ok);
  uint32_t v = 0;
  d().io_in(0, HCS_PORT_FIRST, 4, v);
  EXPECT_EQ(v, 0xCAFEF00Du) << "the unclaimed writes reached no one";
  EXPECT_FALSE(d().vm().stopped());
}

TEST_F(IoTable, ClaimedRangeEdgesAndSizes) {
  for (uint16_t port = HCS_PORT_FIRST; port <= HCS_PORT_LAST; ++port) {
    EXPECT_EQ(d().io_out(0, port, 4, 0x89ABCDEFu + port), Access::Ok);
    uint32_t v = 0;
    EXPECT_EQ(d().io_in(0, port, 4, v), Access::Ok);
    EXPECT_EQ(v, 0x89ABCDEFu + port);
    d().io_in(0, port, 2, v);
    EXPECT_EQ(v, (0x89ABCDEFu + port) & 0xFFFF);
    d().io_in(0, port, 1, v);
    EXPECT_EQ(v, (0x89ABCDEFu + port) & 0xFF);
  }
}

// A port claimed for writes only reads like an unclaimed one.
TEST_F(IoTable, WriteOnlyPort) {
  EXPECT_EQ(d().io_out(0, HCS_PORT_WRITE_ONLY, 2, 0x4242), Access::Ok);
  uint32_t v = 0;
  EXPECT_EQ(d().io_in(0, HCS_PORT_WRITE_ONLY, 2, v), Access::Ok);
  EXPECT_EQ(v, 0xFFFFu);
  d().io_in(0, HCS_PORT_FIRST, 2, v);
  EXPECT_EQ(v, 0x4242u) << "the write did reach the plugin";
}

TEST_F(IoTable, PerVcpuState) {
  start(false, {}, 2);
  d().io_out(0, HCS_PORT_FIRST, 4, 0xA);
  d().io_out(1, HCS_PORT_FIRST, 4, 0xB);
  uint32_t v0 = 0, v1 = 0;
  d().io_in(0, HCS_PORT_FIRST, 4, v0);
  d().io_in(1, HCS_PORT_FIRST, 4, v1);
  EXPECT_EQ(v0, 0xAu);
  EXPECT_EQ(v1, 0xBu);
}

}  // namespace
}  // namespace enlight::test
