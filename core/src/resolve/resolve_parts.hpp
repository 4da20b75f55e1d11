// The steps of resolution that live in their own files. Each takes the
// enabled set by name (std::map: sorted, so every error and every order is
// the same whatever order the profile listed things in).
#pragma once

#include <enlight/core/resolver.hpp>

#include <map>
#include <string>
#include <vector>

namespace enlight::detail {

using EnabledSet = std::map<std::string, const Manifest*>;

// Providers first, ties by name; throws ConfigError on a requires cycle.
std::vector<const Manifest*> dependency_order(const EnabledSet& enabled);

// Throws ConfigError when two enabled plugins claim the same MSR, hypercall
// code, I/O port, or overlapping exclusive CPUID bits.
void check_claim_overlaps(const EnabledSet& enabled);

// Checks every option a request sets against the manifest (known name,
// type, bounds); throws ConfigError at the profile's line.
void check_request_options(const Manifest& m, const PluginRequest& request);

// Every option of the manifest, defaults filled, then `requests` applied in
// order (later wins). The requests must have passed check_request_options.
std::vector<TypedOption> typed_options(const Manifest& m, const std::vector<const PluginRequest*>& requests);

}  // namespace enlight::detail
