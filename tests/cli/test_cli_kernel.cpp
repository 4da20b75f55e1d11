// `enlight run --kernel` as a user mistypes it: every refusal is an error
// that names the fix, before any vCPU runs, on any host (with or without
// /dev/kvm: the kernel is checked before the backend is chosen). The
// kernels are synthetic bzImages with Debian 12's header values; the real
// one boots in the nested stage.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace {

using enlight_cli_test::Invocation;
using enlight_cli_test::run;

class CliKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(ENLIGHT_TEST_BINARY_DIR) / "tests" / "cli" /
           ("kernel-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Debian 12's vmlinuz header (linux-guest-facts.md §1) over a small payload.
  std::string bzimage() {
    std::vector<uint8_t> k(40 * 512 + 4096, 0);
    auto put = [&](size_t off, auto v) { std::memcpy(k.data() + off, &v, sizeof v); };
    k[0x1F1] = 39;
    put(0x1FE, uint16_t{0xAA55});
    k[0x201] = 0x6A;
    std::memcpy(k.data() + 0x202, "HdrS", 4);
    put(0x206, uint16_t{0x020F});
    k[0x211] = 1;
    put(0x214, uint32_t{0x100000});
    put(0x22C, uint32_t{0x7FFFFFFF});
    put(0x230, uint32_t{0x200000});
    k[0x234] = 1;
    put(0x236, uint16_t{0x7F});
    put(0x238, uint32_t{2047});
    put(0x258, uint64_t{0x1000000});
    put(0x260, uint32_t{0x3F98000});
    return file("vmlinuz", std::string(k.begin(), k.end()));
  }
  std::string file(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::filesystem::path dir_;
};

void expect_error(const Invocation& r, int status, const std::string& what, const std::string& fix) {
  EXPECT_EQ(r.status, status) << r.out;
  EXPECT_NE(r.out.find(what), std::string::npos) << "missing '" << what << "' in:\n" << r.out;
  EXPECT_NE(r.out.find(fix), std::string::npos) << "missing '" << fix << "' in:\n" << r.out;
  EXPECT_EQ(r.out.find("enlight: backend"), std::string::npos) << "a VM was created:\n" << r.out;
}

TEST_F(CliKernel, MissingKernelFile) {
  expect_error(run("run --metrics off --kernel " + (dir_ / "nothing").string()), 1, "cannot read the kernel",
               "fix: give --kernel the path of a bzImage");
}

TEST_F(CliKernel, NotABzImage) {
  expect_error(run("run --metrics off --kernel " + file("notes.txt", std::string(8192, 'x'))), 1,
               "no 'HdrS' setup header", "fix: give the kernel's bzImage");
}

TEST_F(CliKernel, AnElfVmlinux) {
  expect_error(run("run --metrics off --kernel " + std::string(ENLIGHT_TEST_BINARY_DIR) + "/enlight"), 1,
               "an ELF file", "fix: give the kernel's bzImage");
}

TEST_F(CliKernel, ProtocolTooOld) {
  const std::string k = bzimage();
  std::fstream f(k, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(0x206);
  const uint16_t old = 0x0209;
  f.write(reinterpret_cast<const char*>(&old), 2);
  f.close();
  expect_error(run("run --metrics off --kernel " + k), 1, "boot protocol 2.09", "fix: boot a newer kernel");
}

TEST_F(CliKernel, CommandLineOverTheKernelsLimit) {
  expect_error(run("run --metrics off --kernel " + bzimage() + " --append " + std::string(2048, 'a')), 1,
               "this kernel accepts at most 2047", "fix: shorten --append");
}

TEST_F(CliKernel, TooLittleMemory) {
  expect_error(run("run --metrics off --kernel " + bzimage() + " --memory 64M"), 1, "needs RAM up to 80 MiB",
               "fix: give --memory");
}

TEST_F(CliKernel, InitrdLargerThanMemoryAllows) {
  const std::string initrd = file("initrd", std::string(60u << 20, '\0'));
  expect_error(run("run --metrics off --kernel " + bzimage() + " --initrd " + initrd + " --memory 128M"), 1,
               "the initrd (60 MiB) does not fit in 128 MiB", "fix: give --memory");
}

TEST_F(CliKernel, MemoryAboveTheMachine) {
  expect_error(run("run --metrics off --kernel " + bzimage() + " --memory 4G"), 1, "above enlight's machine limit",
               "fix: give --memory 3G or less");
}

TEST_F(CliKernel, UsageMistakes) {
  const std::string k = bzimage();
  expect_error(run("run --backend emu --kernel " + k), 2, "the emu backend cannot boot a kernel",
               "fix: use --backend kvm");
  expect_error(run("run --kernel " + k + " --guest conformance-identity"), 2, "give one of them", "--kernel");
  expect_error(run("run --kernel " + k + " --duration 1"), 2, "--duration is the run-length hint",
               "fix: use --timeout");
  expect_error(run("run --initrd " + k), 2, "--initrd describes a booted kernel", "fix: add --kernel PATH");
  expect_error(run("run --kernel " + k + " --memory 12Q"), 2, "unknown unit 'Q'", "256M");
  expect_error(run("run --kernel " + k + " --machine flat"), 2, "a kernel boots on the PC machine", "--machine flat");
}

}  // namespace
