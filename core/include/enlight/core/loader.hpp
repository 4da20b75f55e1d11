// Loading plugin binaries: Boost.DLL for .so files, the built-in registry for
// plugins linked into the binary. Each way a binary can be wrong is its own
// error, naming the file and the fix.
#pragma once

#include <enlight/abi.h>
#include <enlight/core/manifest.hpp>

#include <memory>
#include <string>

namespace enlight {

// Keeps a shared object mapped. Libraries are never unloaded while a VM that
// used them exists: function pointers, vtables and strings from a plugin may
// live anywhere in the VM's state.
struct LoadedLibrary;

struct LoadedPlugin {
  const Manifest* manifest = nullptr;
  const enlight_plugin_descriptor* descriptor = nullptr;
  std::shared_ptr<LoadedLibrary> library;  // null for built-in plugins
  std::string origin;                      // path of the .so, or "built-in"
};

class LoadError : public ConfigError {
 public:
  enum class Kind { NotFound, NotALibrary, NoEntryPoint, EntryReturnedNull, AbiMismatch, DescriptorTooSmall,
                    NameMismatch, VersionMismatch, ClaimMismatch, Malformed };
  LoadError(Kind kind, SourceLocation where, std::string what, std::string fix)
      : ConfigError(std::move(where), std::move(what), std::move(fix)), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// Loads the plugin a manifest describes and checks it: ABI major, name and
// version equal to the manifest's, and claims equal to the manifest's claims.
// Throws LoadError. Thread-safe; a library loaded once is reused.
LoadedPlugin load_plugin(const Manifest& manifest);

// Checks a descriptor against its manifest (the part of load_plugin that does
// not touch the file system). Throws LoadError.
void check_descriptor(const Manifest& manifest, const enlight_plugin_descriptor* d, const std::string& origin);

// The built-in registry (static builds, and tests that link a plugin in).
// Registering a name twice is refused: the process aborts with a message at
// start-up, since two plugins of one name in one binary is a build error.
const enlight_plugin_descriptor* find_static_plugin(const std::string& name);
const char* find_static_manifest(const std::string& name);
// A YAML-free build (ENLIGHT_YAML=OFF) registers each built-in manifest as
// a function that builds it, generated from the YAML at build time
// (tools/manifest-header), instead of its text.
using ManifestBuilder = Manifest (*)();
void register_static_manifest_builder(const char* name, ManifestBuilder make);
ManifestBuilder find_static_manifest_builder(const std::string& name);
// Names with either form.
std::vector<std::string> static_manifest_names();

}  // namespace enlight

extern "C" {
ENLIGHT_EXPORT void enlight_static_plugin_register(const char* name, enlight_plugin_entry_fn entry);
ENLIGHT_EXPORT void enlight_static_manifest_register(const char* name, const char* text);
}
