// Runs the built `enlight` binary as a user would, with only the build's
// plugin directory on its search path, and captures what it prints.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace enlight_cli_test {

struct Invocation {
  int status = -1;
  std::string out;  // stdout and stderr together
};

inline std::string enlight_command(const std::string& args) {
  return std::string("ENLIGHT_PLUGIN_PATH= ") + ENLIGHT_TEST_BINARY_DIR + "/enlight --plugin-path " +
         ENLIGHT_TEST_PLUGIN_DIR + " " + args;
}

inline Invocation run(const std::string& args) {
  Invocation r;
  FILE* p = popen((enlight_command(args) + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

}  // namespace enlight_cli_test
