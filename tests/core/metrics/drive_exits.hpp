// A fixed, known mix of exits on an hc-shapes VM with two vCPUs, and the
// exact enlight_bus_exits_total samples it must produce: every kind, every
// result, claimed and unclaimed, on both vCPUs (summed at scrape time).
#pragma once

#include "exposition.hpp"

#include <fixture_vm.hpp>
#include <hc_shapes_abi.h>

#include <map>
#include <string>

namespace enlight::test {

inline fixtures::FixtureVm make_metrics_vm(VmOptions options = {}) {
  auto vm = fixtures::make_vm({"hc-shapes"}, {{"hc-shapes"}}, false, 2, std::move(options));
  vm->vm().bus().set_hypercalls_enabled(true);
  return vm;
}

inline void drive_exits(direct::DirectVm& d) {
  using direct::control;
  constexpr uint64_t in = 0x10000, out = 0x20000;
  for (int i = 0; i < 5; ++i) d.rdmsr(0, HCS_MSR_SYN_FIRST);
  for (int i = 0; i < 2; ++i) d.rdmsr(1, HCS_MSR_SYN_FIRST + 1);
  for (int i = 0; i < 2; ++i) d.rdmsr(0, 0x40000050);               // unclaimed
  d.wrmsr(0, HCS_MSR_READ_ONLY, 1);                                  // no write handler: #GP
  d.wrmsr(0, HCS_MSR_KVM_FIRST, uint64_t{1} << 63);                  // the plugin answers #GP
  for (int i = 0; i < 3; ++i) d.wrmsr(0, HCS_MSR_KVM_FIRST, 1);
  for (int i = 0; i < 3; ++i) d.hypercall(0, control(HCS_CODE_ECHO), in, out);
  d.hypercall(1, control(HCS_CODE_ECHO), in + 0x100, out + 0x100);
  d.hypercall(0, control(0x0001), in, out);                          // unknown code
  d.hypercall(0, control(HCS_CODE_ECHO), in + 4, out);               // misaligned
  HypercallRegs user;
  user.rcx = control(HCS_CODE_ECHO);
  user.cpl = 3;
  d.hypercall_regs(0, user);                                         // #UD
  d.hypercall(0, control(HCS_CODE_REP, false, 10), in, out);         // 4 passes of 3 reps
  for (int i = 0; i < 4; ++i) d.cpuid(0, 0x40000000 + i);
  uint32_t v = 0;
  for (int i = 0; i < 2; ++i) d.io_in(1, 0x0080, 1, v);               // unclaimed
  d.io_out(0, HCS_PORT_FIRST, 4, 7);
}

inline std::map<std::string, double> expected_exits(const std::string& variant = "") {
  return {
      {exits("hc-shapes", "msr_read", "ok", variant), 7},
      {exits("none", "msr_read", "gp", variant), 2},
      {exits("hc-shapes", "msr_write", "gp", variant), 2},
      {exits("hc-shapes", "msr_write", "ok", variant), 3},
      // 3 + 1 echoes, and the rep call: each of its 4 passes is a VMCALL.
      {exits("hc-shapes", "hypercall", "ok", variant), 8},
      {exits("hc-shapes", "hypercall", "hv_error", variant), 1},
      {exits("none", "hypercall", "hv_error", variant), 1},
      {exits("none", "hypercall", "ud", variant), 1},
      {exits("none", "cpuid", "ok", variant), 4},
      {exits("none", "io_in", "ok", variant), 2},
      {exits("hc-shapes", "io_out", "ok", variant), 1},
  };
}

inline std::string echo_counter(const std::string& variant = "") {
  return "enlight_fixture_echo_calls_total{plugin=\"hc-shapes\"" + (variant.empty() ? "" : ",variant=\"" + variant + "\"") + "}";
}

}  // namespace enlight::test
