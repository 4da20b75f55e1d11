// Shared by the syndbg tests: a debugger host (a real UDP socket on
// 127.0.0.1, ephemeral port) and a VM whose syndbg plugin talks to it.
#pragma once

#include "enlight_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace enlight::test::syndbg {

using Bytes = std::vector<uint8_t>;

inline Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// The debugger's end: what WinDbg's KDNET listener would be.
class DebuggerHost {
 public:
  DebuggerHost() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    // Room for a burst of tests' datagrams.
    int size = 1 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  ~DebuggerHost() {
    if (fd_ >= 0) ::close(fd_);
  }
  DebuggerHost(const DebuggerHost&) = delete;
  DebuggerHost& operator=(const DebuggerHost&) = delete;

  uint16_t port() const { return port_; }

  // The next datagram, or nothing within `timeout`; `from` gets its sender.
  std::optional<Bytes> receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                               sockaddr_in* from = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    Bytes b(65536);
    sockaddr_in src{};
    socklen_t len = sizeof src;
    const ssize_t n = ::recvfrom(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&src), &len);
    if (n < 0) return std::nullopt;
    b.resize(static_cast<size_t>(n));
    if (from) *from = src;
    return b;
  }

  bool send_to(uint16_t port, const Bytes& data) const { return send_from(fd_, port, data); }

  // From another socket: not the host the VM is connected to.
  static bool send_from_stranger(uint16_t port, const Bytes& data) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const bool ok = send_from(fd, port, data);
    ::close(fd);
    return ok;
  }

 private:
  static bool send_from(int fd, uint16_t port, const Bytes& data) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
           static_cast<ssize_t>(data.size());
  }
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Polls `done` for up to five seconds: the receive thread is asynchronous.
template <class F>
bool eventually(F&& done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

// The profile QEMU's dependencies allow: hv-syndbg needs hv-synic (which
// needs hv-vpindex) and hv-relaxed.
inline std::string profile(uint16_t port, const std::string& more_options = "", bool enforce = false) {
  return std::string("enforce-cpuid: ") + (enforce ? "true" : "false") +
         "\nenlightenments:\n  - relaxed\n  - vpindex\n  - synic\n  - syndbg: { port: " + std::to_string(port) +
         more_options + " }\n";
}

// A VM wired to a DebuggerHost, with the plugin's log.
struct SyndbgVm {
  DebuggerHost host;
  LogCapture log;
  std::unique_ptr<direct::DirectVm> d;

  explicit SyndbgVm(const std::string& more_options = "", bool enforce = false, uint32_t vcpus = 1) {
    VmOptions o;
    o.log = log.sink();
    std::string yaml = profile(host.port(), more_options, enforce);
    if (vcpus != 1) yaml = "vcpus: " + std::to_string(vcpus) + "\n" + yaml;
    d = make_vm_from_profile(yaml, o);
  }

  // The VM's UDP port, from the line the plugin logs when it connects:
  // "UDP socket 127.0.0.1:PORT connected to debugger host ...".
  uint16_t vm_port() const {
    const std::string text = log.text("syndbg", 2);
    const std::string key = "UDP socket ";
    const size_t at = text.find(key);
    EXPECT_NE(at, std::string::npos) << text;
    if (at == std::string::npos) return 0;
    const size_t colon = text.find(':', at + key.size());
    return static_cast<uint16_t>(std::stoul(text.substr(colon + 1)));
  }

  int64_t count(const std::string& what) { return counter(*d, "enlight_syndbg_" + what + "_total"); }

  Bytes guest(uint64_t gpa, size_t n) {
    Bytes b(n);
    EXPECT_TRUE(d->memory().read(gpa, b.data(), n));
    return b;
  }
  void put(uint64_t gpa, const Bytes& b) { ASSERT_TRUE(d->memory().write(gpa, b.data(), b.size())); }
  // The plugin's receive thread writes the pending byte with an atomic
  // store; read it the same way.
  uint8_t byte_at(uint64_t gpa) {
    EXPECT_TRUE(d->memory().contains(gpa, 1));
    return std::atomic_ref<uint8_t>(d->memory().base()[gpa]).load(std::memory_order_acquire);
  }
};

}  // namespace enlight::test::syndbg
