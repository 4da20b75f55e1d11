// enlight-plugin-check MANIFEST...: loads each manifest's plugin binary the
// way `enlight run` would and compares the two: name, version, ABI and
// every claim. Run after each plugin is linked (enlight_add_plugin's
// post-build step, in the tree and for out-of-tree plugins), so a claim
// written in the manifest and not in the C++ claim tables, or the other
// way round, fails the build instead of the first VM (docs/sdk.md).
#include <enlight/core/config_error.hpp>
#include <enlight/core/loader.hpp>
#include <enlight/core/manifest.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: enlight-plugin-check MANIFEST...\n");
    return 2;
  }
  int failed = 0;
  for (int i = 1; i < argc; ++i) {
    try {
      const enlight::Manifest m = enlight::load_manifest_file(argv[i]);
      const enlight::LoadedPlugin p = enlight::load_plugin(m);
      std::printf("enlight-plugin-check: %s %s: the binary %s says what its manifest says\n", m.name.c_str(),
                  m.version.str().c_str(), p.origin.c_str());
    } catch (const enlight::ConfigError& e) {
      std::fprintf(stderr, "enlight-plugin-check: %s\n", e.what());
      ++failed;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "enlight-plugin-check: %s: %s\n", argv[i], e.what());
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}
