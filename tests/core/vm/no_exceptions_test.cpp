// A plugin built with -fno-exceptions on the C++ SDK
// (tests/fixtures/no-exceptions) loads, serves its MSR, and refuses a VM or
// a vCPU with its own message through VmBase::fail, as a throwing plugin
// does through PluginError.
#include <enlight/core/backend/direct.hpp>
#include <fixture_vm.hpp>
#include <gtest/gtest.h>

namespace enlight::test {
namespace {

std::string create_error(const std::map<std::string, std::string>& options, uint32_t vcpus = 1) {
  try {
    fixtures::make_vm({"no-exceptions"}, {{"no-exceptions", options}}, false, vcpus);
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "the VM was created";
  return {};
}

TEST(NoExceptionsPlugin, LoadsAndServesItsMsrAndCpuid) {
  auto vm = fixtures::make_vm({"no-exceptions"}, {{"no-exceptions", {{"answer", "1234"}}}}, false, 2);
  EXPECT_EQ(vm->rdmsr(1, 0x40001000).value, 1234u);
  EXPECT_EQ(vm->cpuid(0, 0x40001000).eax, 0x4e6f4578u);
}

TEST(NoExceptionsPlugin, VmConstructorRefusesThroughFail) {
  const std::string what = create_error({{"refuse-vm", "on"}});
  EXPECT_NE(what.find("plugin 'no-exceptions' could not create its VM state: refused as asked (refuse-vm)"),
            std::string::npos)
      << what;
}

TEST(NoExceptionsPlugin, VcpuConstructorRefusesThroughItsVm) {
  const std::string what = create_error({{"refuse-vcpu", "on"}}, 2);
  EXPECT_NE(what.find("vCPU 0 refused as asked (refuse-vcpu)"), std::string::npos) << what;
}

// An SDK helper the core turns down (a second registration of one service)
// records its refusal instead of throwing, and creation fails with it.
TEST(NoExceptionsPlugin, HelperRefusalIsRecordedNotThrown) {
  const std::string what = create_error({{"duplicate-service", "on"}});
  EXPECT_NE(what.find("service already registered: no-exceptions-marker"), std::string::npos) << what;
}

}  // namespace
}  // namespace enlight::test
