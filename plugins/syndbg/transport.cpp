#include "transport.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace enlight_syndbg {
namespace {

std::string name_of(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

sockaddr_in address(in_addr ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr = ip;
  a.sin_port = htons(port);
  return a;
}

}  // namespace

UdpLink::~UdpLink() {
  stop();
  if (fd_ >= 0) ::close(fd_);
  if (wake_ >= 0) ::close(wake_);
}

std::string UdpLink::open(const Endpoint& e) {
  endpoint_ = e;
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return std::string("cannot create a UDP socket: ") + std::strerror(errno);
  if (e.bind_port != 0) {
    const sockaddr_in local = address(in_addr{htonl(INADDR_ANY)}, e.bind_port);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
      return "cannot bind UDP port " + std::to_string(e.bind_port) + ": " + std::strerror(errno) +
             "; fix: choose a free bind-port, or 0 to let the kernel pick one";
  }
  const sockaddr_in peer = address(e.host, e.port);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0)
    return "cannot connect the UDP socket to " + name_of(peer) + ": " + std::strerror(errno) +
           "; fix: a host address this machine can route to";
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_ < 0) return std::string("eventfd failed: ") + std::strerror(errno);
  return {};
}

std::string UdpLink::start(size_t capacity, Sink sink) {
  sink_ = std::move(sink);
  try {
    thread_ = std::thread([this, capacity] { receive_loop(capacity); });
  } catch (const std::exception& e) {
    return std::string("cannot start the receive thread: ") + e.what();
  }
  return {};
}

void UdpLink::stop() noexcept {
  stopping_.store(true);
  if (wake_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

bool UdpLink::send(std::span<const uint8_t> bytes) const noexcept {
  for (;;) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n) == bytes.size();
    if (errno != EINTR) return false;
  }
}

std::string UdpLink::local_name() const {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  return name_of(a);
}

std::string UdpLink::peer_name() const { return name_of(address(endpoint_.host, endpoint_.port)); }

void UdpLink::receive_loop(size_t capacity) noexcept {
  std::vector<uint8_t> buffer;
  try {
    buffer.resize(capacity);
  } catch (...) {
    return;  // the guest then never sees data; nothing else is affected
  }
  while (!stopping_.load()) {
    pollfd fds[2] = {{wake_, POLLIN, 0}, {fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] const ssize_t n = ::read(wake_, &count, sizeof count);
      continue;  // only stop() writes it
    }
    if (!(fds[1].revents & (POLLIN | POLLERR))) continue;
    // Everything that waits, then back to poll. MSG_TRUNC makes recv
    // answer a datagram's real length even when it was cut to `capacity`.
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer.data(), capacity, MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        // EAGAIN: drained. ECONNREFUSED: the port-unreachable answer to an
        // earlier send, reported once and cleared by this call. Anything
        // else is cleared the same way; poll again.
        if (errno == EINTR) continue;
        break;
      }
      const size_t length = static_cast<size_t>(n);
      sink_(std::span<const uint8_t>(buffer.data(), length < capacity ? length : capacity), length);
      if (stopping_.load()) return;
    }
  }
}

}  // namespace enlight_syndbg
