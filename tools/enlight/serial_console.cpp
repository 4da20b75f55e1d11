#include "serial_console.hpp"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace enlight::cli {

namespace {
void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // a closed stdout: the guest's output has nowhere to go, the run goes on
    p += w;
    n -= static_cast<size_t>(w);
  }
}
constexpr size_t kFlushAt = 4096;
}  // namespace

SerialOut::SerialOut(const std::string& path) {
  buffer_.reserve(kFlushAt);
  if (path.empty()) return;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw std::runtime_error("cannot write the serial console to '" + path + "': " + std::strerror(errno) +
                             "\n  fix: give --serial a writable file path, or leave it out for stdout");
  owned_ = true;
}

SerialOut::~SerialOut() {
  flush();
  if (owned_) ::close(fd_);
}

void SerialOut::put(uint8_t byte) {
  buffer_.push_back(static_cast<char>(byte));
  at_line_start_ = byte == '\n';
  if (byte == '\n' || buffer_.size() >= kFlushAt) flush();
}

void SerialOut::flush() {
  if (buffer_.empty()) return;
  write_all(fd_, buffer_.data(), buffer_.size());
  buffer_.clear();
}

struct SerialInputPump::TermiosBox {
  termios t;
};

SerialInputPump::SerialInputPump(std::function<size_t(const uint8_t*, size_t)> send) : send_(std::move(send)) {
  if (isatty(STDIN_FILENO)) {
    saved_ = new TermiosBox;
    if (tcgetattr(STDIN_FILENO, &saved_->t) == 0) {
      termios raw = saved_->t;
      raw.c_lflag &= ~(ICANON | ECHO | ECHONL | IEXTEN);
      raw.c_iflag &= ~(ICRNL | IXON);
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      restore_terminal_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
  }
  thread_ = std::thread([this] { pump(); });
}

SerialInputPump::~SerialInputPump() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (restore_terminal_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_->t);
  delete saved_;
}

void SerialInputPump::pump() {
  uint8_t buf[256];
  while (!stop_.load()) {
    // Poll with a short time-out so the pump notices the end of the run.
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int r = ::poll(&p, 1, 50);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    if (p.revents & (POLLERR | POLLNVAL)) return;
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // end of input
    size_t sent = 0;
    while (sent < static_cast<size_t>(n) && !stop_.load()) {
      const size_t took = send_(buf + sent, static_cast<size_t>(n) - sent);
      sent += took;
      if (took == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // COM1's FIFO is full
    }
  }
}

}  // namespace enlight::cli
