// The acpi-devices section: what a plugin adds to the PC machine's DSDT.
#include <enlight/core/manifest.hpp>

#include "../common/config_error_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using ::testing::HasSubstr;

// "acpi-devices:" is line 4; device lines start at 5.
Manifest with_devices(const std::string& body) {
  return parse_manifest("name: demo\nversion: 1.0.0\nabi: 1\nacpi-devices:\n" + body, "/m/demo.yaml");
}

std::string error_of(const std::string& body) {
  return config_error_of([&] { with_devices(body); }).message;
}

TEST(ManifestAcpiDevices, VmbusAsQemuDeclaresIt) {
  const Manifest m = with_devices(
      "  - name: VMBS\n"
      "    hid: VMBus\n"
      "    uid: 0\n"
      "    ddn: VMBUS\n"
      "    irq: 7\n"
      "  - { name: DEV1, hid: PNP0C02 }\n");
  ASSERT_EQ(m.acpi_devices.size(), 2u);
  const AcpiDeviceDecl& v = m.acpi_devices[0];
  EXPECT_EQ(v.name, "VMBS");
  EXPECT_EQ(v.hid, "VMBus");
  EXPECT_EQ(v.uid, 0u);
  EXPECT_EQ(v.ddn, "VMBUS");
  EXPECT_EQ(v.irq, 7);
  EXPECT_EQ(v.where.line, 5);
  const AcpiDeviceDecl& d = m.acpi_devices[1];
  EXPECT_EQ(d.irq, -1) << "no irq: an empty resource template";
  EXPECT_TRUE(d.ddn.empty());
}

TEST(ManifestAcpiDevices, AbsentMeansNone) {
  EXPECT_TRUE(parse_manifest("name: demo\nversion: 1.0.0\nabi: 1\n", "/m/demo.yaml").acpi_devices.empty());
}

TEST(ManifestAcpiDevices, RefusesWhatTheDsdtCannotHold) {
  EXPECT_THAT(error_of("  - { name: vmbs, hid: VMBus }\n"), HasSubstr("not a name segment"));
  EXPECT_THAT(error_of("  - { name: VMBUS, hid: VMBus }\n"), HasSubstr("not a name segment"));
  EXPECT_THAT(error_of("  - { name: 1ABC, hid: VMBus }\n"), HasSubstr("not a name segment"));
  EXPECT_THAT(error_of("  - { name: COM1, hid: VMBus }\n"), HasSubstr("the machine's own device"));
  EXPECT_THAT(error_of("  - { name: VMBS, hid: VM-Bus }\n"), HasSubstr("is not 1-8 letters and digits"));
  EXPECT_THAT(error_of("  - { name: VMBS, hid: VMBusVMBus }\n"), HasSubstr("is not 1-8 letters and digits"));
  EXPECT_THAT(error_of("  - { name: VMBS, hid: VMBus, irq: 16 }\n"), HasSubstr("irq"));
  EXPECT_THAT(error_of("  - { name: VMBS }\n"), HasSubstr("hid"));
  EXPECT_THAT(error_of("  - { name: VMBS, hid: VMBus, port: 3 }\n"), HasSubstr("port"));
  EXPECT_THAT(error_of("  - { name: VMBS, hid: VMBus, ddn: \"\\x01\" }\n"), HasSubstr("printable"));
  const auto twice = config_error_of([] {
    with_devices("  - { name: VMBS, hid: VMBus }\n  - { name: VMBS, hid: PNP0C02 }\n");
  });
  EXPECT_THAT(twice.message, HasSubstr("declared twice (first at line 5)"));
  EXPECT_EQ(twice.where.line, 6);
}

}  // namespace
}  // namespace enlight
