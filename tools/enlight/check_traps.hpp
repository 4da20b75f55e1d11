// What `enlight check` warns about beyond resolution's own errors: plugin
// configurations that load and run but cannot work, the traps a plugin
// author hits first and the loader cannot call errors (docs/sdk.md).
#pragma once

#include <enlight/core/resolver.hpp>
#include <enlight/core/vm.hpp>

#include <string>
#include <vector>

namespace enlight::cli {

// One line per trap, each naming the plugin, the manifest line and the fix.
std::vector<std::string> configuration_traps(const Resolution& resolution, const Vm& vm);

}  // namespace enlight::cli
