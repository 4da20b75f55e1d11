// The PC machine on the host's /dev/kvm: a guest program with the PC's
// devices (KvmOptions::pc_devices) powers off, resets three ways, writes
// garbage to every emulated port, and prints on COM1. The machine ends the
// run by itself, with the outcome a user reads. Linux itself boots on it in
// the nested stage. Skipped, with the reason, where the host has no usable
// KVM.
#include <enlight/core/backend/kvm.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/machine/layout.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

namespace m = enlight::machine;

#define SKIP_WITHOUT_KVM()                                                        \
  do {                                                                            \
    std::string why;                                                              \
    if (!enlight::kvm::available(&why)) GTEST_SKIP() << "no usable KVM: " << why; \
  } while (0)

const enlight::Catalog& catalog() {
  static const enlight::Catalog c = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  return c;
}

enlight::RunResult run_on_pc(std::vector<uint8_t> image, std::chrono::milliseconds timeout = 10s) {
  enlight::Profile profile = enlight::parse_cpu_flags("hv-vpindex", catalog());
  enlight::kvm::KvmOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image = std::move(image);
  options.pc_devices = true;
  return enlight::kvm::KvmVm::create(enlight::resolve(profile, catalog(), enlight::kvm::capabilities()),
                                     std::move(options))
      ->run(timeout);
}

// Machine code, assembled by hand (the instructions are in the comments).
struct Code {
  std::vector<uint8_t> bytes;
  Code& mov_dx(uint16_t v) { return add({0x66, 0xBA, uint8_t(v), uint8_t(v >> 8)}); }  // mov dx, imm16
  Code& mov_ax(uint16_t v) { return add({0x66, 0xB8, uint8_t(v), uint8_t(v >> 8)}); }  // mov ax, imm16
  Code& mov_al(uint8_t v) { return add({0xB0, v}); }                                   // mov al, imm8
  Code& out_dx_ax() { return add({0x66, 0xEF}); }                                      // out dx, ax
  Code& out_dx_al() { return add({0xEE}); }                                            // out dx, al
  Code& out_imm_al(uint8_t port) { return add({0xE6, port}); }                         // out imm8, al
  Code& spin() { return add({0xF4, 0xEB, 0xFD}); }                                     // 1: hlt; jmp 1b
  Code& add(std::initializer_list<uint8_t> b) {
    bytes.insert(bytes.end(), b);
    return *this;
  }
};

std::string describe(const enlight::RunResult& r) {
  return std::string(enlight::to_string(r.outcome)) + ": " + r.message + "\nconsole:\n" + r.console;
}

TEST(PcMachineOnKvm, AcpiS5PowersOff) {
  SKIP_WITHOUT_KVM();
  constexpr uint16_t kSlpEn = 1u << 13;
  Code c;
  c.mov_dx(m::kAcpiPm1aControl).mov_ax(static_cast<uint16_t>((m::kSlpTypS5 << 10) | kSlpEn)).out_dx_ax().spin();
  const enlight::RunResult r = run_on_pc(c.bytes);
  EXPECT_EQ(r.outcome, enlight::Outcome::PoweredOff) << describe(r);
  EXPECT_NE(r.message.find("ACPI S5"), std::string::npos) << r.message;
}

TEST(PcMachineOnKvm, AnotherSleepTypeDoesNotPowerOff) {
  SKIP_WITHOUT_KVM();
  constexpr uint16_t kSlpEn = 1u << 13;
  Code c;
  c.mov_dx(m::kAcpiPm1aControl).mov_ax(static_cast<uint16_t>((3u << 10) | kSlpEn)).out_dx_ax().spin();
  const enlight::RunResult r = run_on_pc(c.bytes, 300ms);
  EXPECT_EQ(r.outcome, enlight::Outcome::Timeout) << describe(r);
}

TEST(PcMachineOnKvm, I8042ResetLineResets) {
  SKIP_WITHOUT_KVM();
  Code c;
  c.mov_al(0xFE).out_imm_al(static_cast<uint8_t>(m::kI8042Command)).spin();
  const enlight::RunResult r = run_on_pc(c.bytes);
  EXPECT_EQ(r.outcome, enlight::Outcome::Reset) << describe(r);
  EXPECT_EQ(r.message, "guest reset (i8042 reset line)");
}

TEST(PcMachineOnKvm, AcpiResetRegisterResets) {
  SKIP_WITHOUT_KVM();
  Code c;
  c.mov_dx(m::kResetControl).mov_al(m::kResetValue).out_dx_al().spin();
  const enlight::RunResult r = run_on_pc(c.bytes);
  EXPECT_EQ(r.outcome, enlight::Outcome::Reset) << describe(r);
  EXPECT_EQ(r.message, "guest reset (ACPI reset register)");
}

TEST(PcMachineOnKvm, Com1OutputReachesTheConsole) {
  SKIP_WITHOUT_KVM();
  Code c;
  c.mov_dx(m::kCom1Base);
  for (char ch : std::string("hi\n")) c.mov_al(static_cast<uint8_t>(ch)).out_dx_al();
  c.mov_al(0).out_imm_al(static_cast<uint8_t>(ENLIGHT_GUEST_PORT_EXIT)).spin();
  const enlight::RunResult r = run_on_pc(c.bytes);
  EXPECT_EQ(r.outcome, enlight::Outcome::Exited) << describe(r);
  EXPECT_EQ(r.console, "hi\n");
}

// Every value at every emulated port (core/guests/test-programs/
// test-port-garbage.c) leaves enlight running and every device answering.
TEST(PcMachineOnKvm, GarbageAtEveryEmulatedPort) {
  SKIP_WITHOUT_KVM();
  std::ifstream in(std::string(ENLIGHT_TEST_GUEST_IMAGE_DIR) + "/test-port-garbage.bin", std::ios::binary);
  ASSERT_TRUE(in);
  const enlight::RunResult r = run_on_pc({std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()}, 30s);
  ASSERT_EQ(r.outcome, enlight::Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u) << describe(r);
  bool survived = false;
  size_t passed = 0;
  for (const auto& c : r.records) {
    EXPECT_NE(c.kind, ENLIGHT_GUEST_CHECK_FAIL) << c.name;
    passed += c.kind == ENLIGHT_GUEST_CHECK_PASS;
    if (c.kind == ENLIGHT_GUEST_METRIC && c.name == "ports_survived") survived = c.actual == 1;
  }
  EXPECT_GE(passed, 7u);
  EXPECT_TRUE(survived);
}

// Without the PC's devices a guest program's ports are the bus's: COM1 is
// not there (reads all ones), and nothing it writes ends the machine.
TEST(PcMachineOnKvm, AFlatGuestHasNoPcDevices) {
  SKIP_WITHOUT_KVM();
  Code c;
  c.mov_al(0xFE).out_imm_al(static_cast<uint8_t>(m::kI8042Command));
  c.mov_al(0).out_imm_al(static_cast<uint8_t>(ENLIGHT_GUEST_PORT_EXIT)).spin();
  enlight::Profile profile = enlight::parse_cpu_flags("hv-vpindex", catalog());
  enlight::kvm::KvmOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.image = c.bytes;
  const enlight::RunResult r =
      enlight::kvm::KvmVm::create(enlight::resolve(profile, catalog(), enlight::kvm::capabilities()), std::move(options))
          ->run(10s);
  EXPECT_EQ(r.outcome, enlight::Outcome::Exited) << describe(r);
}

}  // namespace
