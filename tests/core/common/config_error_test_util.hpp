// Helpers for tests that expect a ConfigError: the tests check the whole
// message (file, line, plugins involved) and the fix, not just the type.
#pragma once

#include <enlight/core/config_error.hpp>

#include <gtest/gtest.h>

#include <string>

namespace enlight::test {

struct Caught {
  std::string message;  // what(): location, text and fix
  SourceLocation where;
  std::string fix;
  bool thrown = false;
};

template <class F>
Caught config_error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return {e.what(), e.where(), e.fix(), true};
  }
  ADD_FAILURE() << "expected a ConfigError";
  return {};
}

}  // namespace enlight::test
