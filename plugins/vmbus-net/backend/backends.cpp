// The three backends: a TAP device (what users run), a Unix datagram socket
// (two VMs, or a VM and a test, without privileges), and a loopback (every
// frame sent comes back; the default, for the emu tests and the default
// machine). docs/vmbus-net.md says why these.
#include "backend.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace enlight::vmbus_net {
namespace {

std::string reason() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

ssize_t read_frame(int fd, std::span<uint8_t> buffer) noexcept {
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    return errno == EAGAIN ? 0 : -1;
  }
}

// TAP without packet information: each read or write is one Ethernet frame.
class Tap final : public Backend {
 public:
  explicit Tap(Fd fd) : fd_(std::move(fd)) {}
  int receive_fd() const noexcept override { return fd_.get(); }
  ssize_t receive(std::span<uint8_t> buffer) noexcept override { return read_frame(fd_.get(), buffer); }
  bool transmit(std::span<const uint8_t> frame) override {
    return ::write(fd_.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size());
  }

 private:
  Fd fd_;
};

// A datagram socket: one frame per datagram, sent to the peer's path (which
// may not exist yet: the other VM starts later, and those frames are lost).
class Socket final : public Backend {
 public:
  Socket(Fd fd, const sockaddr_un& peer) : fd_(std::move(fd)), peer_(peer) {}
  int receive_fd() const noexcept override { return fd_.get(); }
  ssize_t receive(std::span<uint8_t> buffer) noexcept override { return read_frame(fd_.get(), buffer); }
  bool transmit(std::span<const uint8_t> frame) override {
    return ::sendto(fd_.get(), frame.data(), frame.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&peer_),
                    sizeof peer_) == static_cast<ssize_t>(frame.size());
  }

 private:
  Fd fd_;
  sockaddr_un peer_;
};

// A socket pair: what one end sends, the other end reads.
class Loopback final : public Backend {
 public:
  Loopback(Fd tx, Fd rx) : tx_(std::move(tx)), rx_(std::move(rx)) {}
  int receive_fd() const noexcept override { return rx_.get(); }
  ssize_t receive(std::span<uint8_t> buffer) noexcept override { return read_frame(rx_.get(), buffer); }
  bool transmit(std::span<const uint8_t> frame) override {
    return ::send(tx_.get(), frame.data(), frame.size(), MSG_DONTWAIT) == static_cast<ssize_t>(frame.size());
  }

 private:
  Fd tx_, rx_;
};

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size());  // parse_nics bounded the length
  return a;
}

std::unique_ptr<Backend> open_tap(const NicConfig& c, std::string* error) {
  Fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    *error = "tap " + c.ifname + ": cannot open /dev/net/tun: " + reason() +
             "; fix: load the tun module (modprobe tun) and give this user access to /dev/net/tun";
    return nullptr;
  }
  ifreq req{};
  std::memcpy(req.ifr_name, c.ifname.c_str(), c.ifname.size());
  req.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &req) != 0) {
    *error = "tap " + c.ifname + ": TUNSETIFF failed: " + reason() +
             "; fix: create it for this user first (ip tuntap add dev " + c.ifname +
             " mode tap user $USER) or run enlight with CAP_NET_ADMIN";
    return nullptr;
  }
  return std::make_unique<Tap>(std::move(fd));
}

std::unique_ptr<Backend> open_socket(const NicConfig& c, std::string* error) {
  Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    *error = "socket: " + reason();
    return nullptr;
  }
  // A socket left by an earlier run is replaced; anything else at the
  // path is not touched.
  struct stat st {};
  if (::lstat(c.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(c.path.c_str());
  const sockaddr_un local = unix_address(c.path);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    *error = "socket " + c.path + ": bind failed: " + reason() + "; fix: a path in a directory this user can write";
    return nullptr;
  }
  return std::make_unique<Socket>(std::move(fd), unix_address(c.peer));
}

std::unique_ptr<Backend> open_loopback(std::string* error) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    *error = "loopback: socketpair failed: " + reason();
    return nullptr;
  }
  return std::make_unique<Loopback>(Fd(pair[0]), Fd(pair[1]));
}

}  // namespace

std::unique_ptr<Backend> Backend::open(const NicConfig& config, std::string* error) {
  switch (config.backend) {
    case BackendKind::Tap: return open_tap(config, error);
    case BackendKind::Socket: return open_socket(config, error);
    case BackendKind::Loopback: return open_loopback(error);
  }
  *error = "unknown backend";
  return nullptr;
}

}  // namespace enlight::vmbus_net
