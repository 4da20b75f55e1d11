// Reading a whole file, for the three inputs `enlight ab` reads (experiment
// files, run reports, recorded results), each with its own error message.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace enlight::ab {

// The file's bytes, or nullopt when it cannot be opened (errno says why).
inline std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace enlight::ab
