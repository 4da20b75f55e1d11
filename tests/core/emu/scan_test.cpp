#include "vcpu.hpp"

#include <gtest/gtest.h>

namespace enlight::emu {
namespace {

TEST(EmuMsrScan, FindsEveryRdmsrAndWrmsrPair) {
  const uint8_t image[] = {0x90, 0x0F, 0x32, 0x0F, 0x30, 0x0F, 0x31, 0x0F};
  const std::vector<uint64_t> sites = scan_msr_sites(image, sizeof image, 0x1000);
  EXPECT_EQ(sites, (std::vector<uint64_t>{0x1001, 0x1003}));  // 0F 31 (rdtsc) and a trailing 0F are not
}

}  // namespace
}  // namespace enlight::emu
