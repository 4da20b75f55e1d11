// The host side of the synthetic debugger: one UDP socket connected to the
// debugger host, as QEMU's hv-syndbg device has (hw/hyperv/syndbg.c,
// hv_syndbg_realize), and a receive thread that hands each datagram to the
// plugin. A connected UDP socket only accepts datagrams from the host and
// port it is connected to, so nobody else on the network can feed the
// guest's debugger.
//
// Threads: send() runs on vCPU threads (the socket is non-blocking, so a
// guest never waits for the network); the receive thread polls the socket
// and an eventfd, which stop() signals before joining it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <netinet/in.h>
#include <span>
#include <string>
#include <thread>

namespace enlight_syndbg {

struct Endpoint {
  in_addr host{};          // the debugger host
  uint16_t port = 0;       // its UDP port
  uint16_t bind_port = 0;  // ours; 0: the kernel picks one
};

class UdpLink {
 public:
  // A datagram's bytes (at most `capacity` of them) and its real length,
  // which is larger than the bytes when the datagram did not fit.
  using Sink = std::function<void(std::span<const uint8_t> bytes, size_t length)>;

  UdpLink() = default;
  UdpLink(const UdpLink&) = delete;
  UdpLink& operator=(const UdpLink&) = delete;
  ~UdpLink();

  // Opens and connects the socket: "" on success, else what failed and the fix.
  std::string open(const Endpoint& endpoint);
  // Starts the receive thread; datagrams up to `capacity` bytes are kept whole.
  // "" on success, else why not.
  std::string start(size_t capacity, Sink sink);
  // Stops and joins the receive thread; idempotent.
  void stop() noexcept;

  // One datagram to the debugger host; false when the kernel refused it
  // (its buffer is full, or an earlier datagram came back port-unreachable).
  bool send(std::span<const uint8_t> bytes) const noexcept;

  // "a.b.c.d:port" of our end and of the debugger host, for the log.
  std::string local_name() const;
  std::string peer_name() const;

 private:
  void receive_loop(size_t capacity) noexcept;

  int fd_ = -1;
  int wake_ = -1;
  Endpoint endpoint_{};
  Sink sink_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace enlight_syndbg
