// The parts of a manifest parsed in their own files (claims, options), and
// the naming rules they share with the top level.
#pragma once

#include <enlight/core/manifest.hpp>

#include "manifest/yaml_reader.hpp"

#include <string>

namespace enlight::detail {

void parse_claims(const MapReader& top, Manifest& m);
void parse_options(const MapReader& top, Manifest& m);
void parse_acpi_devices(const MapReader& top, Manifest& m);

// Plugin and option names: [a-z0-9-]+, so they are safe as file names,
// metric label values and flag suffixes.
bool valid_name(const std::string& name);
// QEMU-style flag names ("hv-vpindex", "x-hv-max-vps"). Throws at `where`
// for bad characters or a flag the core keeps for itself.
void check_flag_name(const std::string& flag, const SourceLocation& where);

}  // namespace enlight::detail
