// A device's saved state as its snapshot tests handle it: save into a
// blob, and load a blob (or its first `size` bytes) back, checking the
// load's contract on the way: its answer is the reader's, and a load that
// succeeds reads the whole state.
#pragma once

#include <enlight/state.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace enlight::machine::test {

// `save_args`: what the device's save takes beside the writer (AcpiPm's stop moment).
template <class Device, class... SaveArgs>
std::vector<uint8_t> save_state(Device& device, SaveArgs... save_args) {
  std::vector<uint8_t> blob(1024);
  StateWriter w(blob.data(), blob.size());
  device.save(w, save_args...);
  blob.resize(static_cast<size_t>(w.result()));
  return blob;
}

template <class Device>
bool load_state(Device& device, const std::vector<uint8_t>& blob, std::string* why = nullptr, size_t size = SIZE_MAX) {
  StateReader r(blob.data(), std::min(size, blob.size()));
  const bool ok = device.load(r);
  EXPECT_EQ(ok, r.ok());
  if (ok) {
    EXPECT_EQ(r.remaining(), 0u) << "load reads the whole state";
  }
  if (why) *why = r.message();
  return ok;
}

}  // namespace enlight::machine::test
