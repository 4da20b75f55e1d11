// Where a NIC's frames go and come from. Every backend is a file
// descriptor the NIC's receive thread polls and a transmit that never
// blocks (a full backend drops the frame, as a switch port would).
#pragma once

#include "../nic.hpp"
#include "../nic_config.hpp"

#include <memory>
#include <span>
#include <string>
#include <sys/types.h>

namespace enlight::vmbus_net {

class Backend : public FrameSink {
 public:
  // The descriptor that becomes readable when frames wait.
  virtual int receive_fd() const noexcept = 0;
  // One waiting frame into `buffer`: its length, 0 when none waits, -1 on
  // an error that will not go away (the receive thread then stops).
  virtual ssize_t receive(std::span<uint8_t> buffer) noexcept = 0;

  // The backend `config` names, opened; nullptr and *error (naming the
  // device or path, the system's reason and the fix) when it cannot be.
  static std::unique_ptr<Backend> open(const NicConfig& config, std::string* error);
};

}  // namespace enlight::vmbus_net
