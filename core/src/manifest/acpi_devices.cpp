// The manifest's `acpi-devices`: what a plugin adds to the PC machine's
// DSDT. Checked here so that a mistake is the manifest's line, not an AML
// encoding error when a VM boots (or a guest that silently finds nothing).
#include "manifest_parts.hpp"
#include "yaml_reader.hpp"

#include <algorithm>
#include <cctype>

namespace enlight::detail {
namespace {

const std::vector<std::string> kAcpiDeviceKeys = {"name", "hid", "uid", "ddn", "irq"};

// ACPI 6.5, 20.2.2 Name Objects Encoding: a NameSeg is a lead character
// (A-Z or _) and up to three more of A-Z, 0-9, _ (padded with _ to four).
bool valid_name_seg(const std::string& n) {
  if (n.empty() || n.size() > 4) return false;
  if (!(std::isupper(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

void parse_acpi_devices(const MapReader& top, Manifest& m) {
  for (const YAML::Node& item : top.list("acpi-devices")) {
    const MapReader r(item, top.file(), "an ACPI device", kAcpiDeviceKeys, top.key_location("acpi-devices"));
    r.require("name");
    r.require("hid");
    AcpiDeviceDecl d;
    d.where = r.location();
    d.name = r.string("name");
    if (!valid_name_seg(d.name))
      r.fail("name", "ACPI name '" + d.name + "' is not a name segment",
             "use 1-4 of A-Z, 0-9 and '_', starting with a letter or '_' (e.g. VMBS)");
    // Names the machine's own DSDT uses in \_SB (docs/acpi.md).
    for (const char* taken : {"COM1", "PCI0"})
      if (d.name == taken) r.fail("name", "ACPI name '" + d.name + "' is the machine's own device", "choose another name");
    for (const AcpiDeviceDecl& other : m.acpi_devices)
      if (other.name == d.name)
        r.fail("name", "ACPI device '" + d.name + "' is declared twice (first at line " + std::to_string(other.where.line) + ")");
    d.hid = r.string("hid");
    // ACPI 6.5, 6.1.5 _HID: a string of up to 8 characters (an EISA id, an
    // ACPI or PNP id, or a vendor's string such as Hyper-V's "VMBus").
    if (d.hid.empty() || d.hid.size() > 8 ||
        !std::all_of(d.hid.begin(), d.hid.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
      r.fail("hid", "_HID '" + d.hid + "' is not 1-8 letters and digits", "write e.g. hid: VMBus or hid: PNP0501");
    d.uid = static_cast<uint32_t>(r.number("uid", 0, 0xffffffffu));
    d.ddn = r.string("ddn");
    if (d.ddn.size() > 32 || !std::all_of(d.ddn.begin(), d.ddn.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
      r.fail("ddn", "_DDN '" + d.ddn + "' must be printable ASCII of at most 32 characters");
    if (r.has("irq")) d.irq = static_cast<int>(r.number("irq", 0, 15));
    m.acpi_devices.push_back(std::move(d));
  }
}

}  // namespace enlight::detail
