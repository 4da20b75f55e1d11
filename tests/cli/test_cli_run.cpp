// `enlight run` as a user runs it, on the emu backend: a guest that fails a
// check fails the command, and the metrics endpoint answers while a
// workload is running.
#include <gtest/gtest.h>

#ifdef ENLIGHT_WITH_METRICS
#include "http_get.hpp"
#endif

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.hpp"

namespace {

using enlight_cli_test::Invocation;
using enlight_cli_test::enlight_command;
using enlight_cli_test::run;

TEST(CliRun, FailingGuestCheckFailsTheRun) {
  const std::string guest = std::string(ENLIGHT_TEST_GUEST_IMAGE_DIR) + "/test-fail-check.bin";
  Invocation r = run("run --cpu hv-relaxed --guest " + guest + " --metrics off");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test.deliberate_failure"), std::string::npos) << r.out;
}

TEST(CliRun, WorkloadRunsForTheRequestedDurationAndExitsZero) {
  const auto t0 = std::chrono::steady_clock::now();
  Invocation r = run("run --cpu hv-relaxed,hv-frequencies --guest workload-timeread --duration 0.5 --metrics off");
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("reads_per_second"), std::string::npos) << r.out;
  EXPECT_GE(took, std::chrono::milliseconds(500));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts `enlight run ARGS` with its output in `log`; the child's pid.
pid_t spawn_run(const std::vector<std::string>& run_args, const std::string& log) {
  const std::string binary = std::string(ENLIGHT_TEST_BINARY_DIR) + "/enlight";
  std::vector<std::string> args = {binary, "--plugin-path", ENLIGHT_TEST_PLUGIN_DIR, "run"};
  args.insert(args.end(), run_args.begin(), run_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int out_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out_fd < 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    ::setenv("ENLIGHT_PLUGIN_PATH", "", 1);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out_fd);
  return child;
}

// Waits up to `limit` for the child; its exit status, or -1 (then killed).
int reap(pid_t child, std::chrono::milliseconds limit) {
  int raw = 0;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(child, &raw, WNOHANG) == child) return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, &raw, 0);
  return -1;
}

// Waits (at most 5 s) until the run has printed its first line, which it
// does before the vCPUs start, then a little more.
void wait_until_running(const std::string& log) {
  for (int i = 0; i < 100 && slurp(log).find("enlight: ") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}


#ifdef ENLIGHT_WITH_METRICS
// A port free right now on loopback (the kernel's choice for port 0). The
// window until enlight binds it is tiny; the test names the port if it loses.
uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}


// Largest value of any enlight_bus_exits_total series in an exposition.
double max_bus_exits(const std::string& body) {
  static const std::regex series(R"(^enlight_bus_exits_total\{[^}]*\} ([0-9.eE+]+)$)", std::regex::multiline);
  double best = 0;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), series); it != std::sregex_iterator(); ++it)
    best = std::max(best, std::stod((*it)[1]));
  return best;
}

TEST(CliRun, MetricsEndpointAnswersDuringARun) {
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  const std::string log = std::string(::testing::TempDir()) + "/enlight-run-metrics-" + std::to_string(::getpid()) + ".log";
  // exec'd directly (no shell), so the pid is enlight's own and a kill on
  // the way out reaches it. With hv-time the guest's set-up writes
  // GUEST_OS_ID and REFERENCE_TSC through the bus before its 3 s of page
  // reads, so the counters are non-zero on every backend.
  const std::string metrics = "127.0.0.1:" + std::to_string(port);
  const pid_t child = spawn_run({"--cpu", "hv-relaxed,hv-vpindex,hv-frequencies,hv-time", "--guest", "workload-timeread",
                                 "--duration", "3", "--metrics", metrics},
                                log);
  ASSERT_GT(child, 0) << log;

  // Poll every 100 ms for at most 2.5 s: well inside the 3 s run.
  double exits = 0;
  std::string body, error;
  bool child_gone = false;
  for (int attempt = 0; attempt < 25 && exits == 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int raw = 0;
    if (::waitpid(child, &raw, WNOHANG) == child) {
      child_gone = true;
      break;
    }
    try {
      const enlight::test::HttpResponse r = enlight::test::http_get(port, "/metrics", std::chrono::milliseconds(1000));
      if (r.status == 200) {
        body = r.body;
        exits = max_bus_exits(body);
      }
    } catch (const std::exception& e) {
      error = e.what();  // not listening yet
    }
  }

  // Whatever happened, the child is reaped within a bounded time.
  int raw = 0;
  bool exited = child_gone;
  for (int i = 0; !exited && i < 150; ++i) {  // 15 s: 3 s run plus margin
    if (::waitpid(child, &raw, WNOHANG) == child) exited = true;
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &raw, 0);
  }
  const std::string out = slurp(log);
  std::remove(log.c_str());

  EXPECT_FALSE(child_gone) << "enlight ended before its metrics were scraped\n" << out;
  EXPECT_GT(exits, 0) << "port " << port << ", last error: " << error << "\nbody:\n" << body << "\nrun:\n" << out;
  ASSERT_TRUE(exited) << out;
  EXPECT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << out;
}
#endif

}  // namespace


// SIGTERM with no plugin that can ask the guest to power off: the VM stops
// at once, as before VMBus (docs/machine.md), and says why.
TEST(CliRun, SigtermWithoutAShutdownDeviceStopsTheVmAtOnce) {
  const std::string log = std::string(::testing::TempDir()) + "/enlight-run-sigterm-" + std::to_string(::getpid()) + ".log";
  const pid_t child = spawn_run({"--backend", "emu", "--cpu", "hv-vpindex,hv-time", "--guest", "workload-timer-idle",
                                 "--duration", "30", "--metrics", "off"},
                                log);
  ASSERT_GT(child, 0);
  wait_until_running(log);
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(child, SIGTERM), 0);
  const int status = reap(child, std::chrono::seconds(10));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  const std::string out = slurp(log);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("no plugin could ask the guest to power off"), std::string::npos) << out;
  EXPECT_LT(took, 5.0) << "a 30 s guest must stop within seconds of SIGTERM\n" << out;
}

// With vmbus-util loaded but a guest that never opened the shutdown
// channel (a guest program, not Linux), nobody can be asked either.
TEST(CliRun, SigtermWithAShutdownDeviceTheGuestNeverOpenedStopsTheVm) {
  const std::string log = std::string(::testing::TempDir()) + "/enlight-run-sigterm-vmbus-" + std::to_string(::getpid()) + ".log";
  const pid_t child = spawn_run({"recommended-vmbus", "--backend", "emu", "--guest", "workload-timer-idle", "--duration",
                                 "30", "--metrics", "off"},
                                log);
  ASSERT_GT(child, 0);
  wait_until_running(log);
  ASSERT_EQ(::kill(child, SIGTERM), 0);
  const int status = reap(child, std::chrono::seconds(10));
  const std::string out = slurp(log);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("no plugin could ask the guest to power off"), std::string::npos) << out;
}

// Snapshots (docs/snapshots.md): stop at a time, write the file, restore
// it with the same command line and run to the end; every check of the
// restored half passes. Then the refusals a user meets first.
TEST(CliRun, SnapshotAfterAndRestore) {
  const std::string snap = std::string(::testing::TempDir()) + "/enlight-run-" + std::to_string(::getpid()) + ".snap";
  const std::string guest = "--backend emu --guest conformance-stimer --metrics off";
  Invocation first = run("run " + guest + " --snapshot-to " + snap + " --snapshot-after 0.6");
  ASSERT_EQ(first.status, 0) << first.out;
  EXPECT_NE(first.out.find("snapshot written to " + snap), std::string::npos) << first.out;
  Invocation second = run("run " + guest + " --restore " + snap);
  EXPECT_EQ(second.status, 0) << second.out;
  EXPECT_NE(second.out.find("enlight: restored " + snap), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("exited, exit status 0"), std::string::npos) << second.out;
  EXPECT_EQ(second.out.find("FAIL"), std::string::npos) << second.out;
  // Another plugin set: refused before a VM exists, naming the plugin and the fix.
  Invocation other = run("run --backend emu --guest conformance-stimer --metrics off --cpu hv-vpindex,hv-synic --restore " + snap);
  EXPECT_EQ(other.status, 1) << other.out;
  EXPECT_NE(other.out.find("holds plugin 'crash'"), std::string::npos) << other.out;
  EXPECT_NE(other.out.find("fix: restore with the configuration the snapshot was taken with"), std::string::npos) << other.out;
  Invocation fewer = run("run " + guest + " --vcpus 1 --restore " + snap);
  EXPECT_EQ(fewer.status, 1) << fewer.out;
  EXPECT_NE(fewer.out.find("--vcpus 2"), std::string::npos) << fewer.out;
  std::remove(snap.c_str());
  Invocation missing = run("run " + guest + " --restore " + snap);
  EXPECT_EQ(missing.status, 1) << missing.out;
  EXPECT_NE(missing.out.find("cannot open it"), std::string::npos) << missing.out;
}

// The control command: SIGUSR1 stops the VM and writes the snapshot.
TEST(CliRun, SnapshotOnSigusr1) {
  const std::string snap = std::string(::testing::TempDir()) + "/enlight-run-usr1-" + std::to_string(::getpid()) + ".snap";
  const std::string log = std::string(::testing::TempDir()) + "/enlight-run-usr1-" + std::to_string(::getpid()) + ".log";
  const pid_t child = spawn_run({"--backend", "emu", "--cpu", "hv-vpindex,hv-time", "--guest", "workload-timer-idle",
                                 "--duration", "30", "--metrics", "off", "--snapshot-to", snap},
                                log);
  ASSERT_GT(child, 0);
  wait_until_running(log);
  ASSERT_EQ(::kill(child, SIGUSR1), 0);
  const int status = reap(child, std::chrono::seconds(10));
  const std::string out = slurp(log);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("snapshot written to"), std::string::npos) << out;
  // The guest runs on from it (it was told 30 s; the restored run is stopped
  // by a second snapshot 0.5 s in, which proves it was running, not ended).
  const std::string again = snap + ".2";
  Invocation resumed = run("run --backend emu --cpu hv-vpindex,hv-time --guest workload-timer-idle --duration 30 "
                           "--metrics off --restore " + snap + " --snapshot-to " + again + " --snapshot-after 0.5");
  EXPECT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("snapshot written to " + again), std::string::npos) << resumed.out;
  std::remove(snap.c_str());
  std::remove(again.c_str());
}

TEST(CliRun, SnapshotRefusals) {
  Invocation early = run("run --backend emu --guest conformance-identity --metrics off --snapshot-to /tmp/never.snap "
                         "--snapshot-after 60");
  EXPECT_EQ(early.status, 1) << early.out;
  EXPECT_NE(early.out.find("no snapshot written: the run ended 'exited'"), std::string::npos) << early.out;
  // Refused before any guest runs: an offloaded plugin has state (KVM's)
  // a snapshot cannot hold yet.
  Invocation offload = run("run --backend kvm --cpu hv-time --offload time --guest conformance-time --metrics off "
                           "--restore /tmp/never.snap");
  EXPECT_EQ(offload.status, 2) << offload.out;
  EXPECT_NE(offload.out.find("fix: leave out --offload"), std::string::npos) << offload.out;
  Invocation orphan = run("run --backend emu --snapshot-after 1");
  EXPECT_NE(orphan.out.find("fix: add --snapshot-to FILE"), std::string::npos) << orphan.out;
  std::remove("/tmp/never.snap");
}
