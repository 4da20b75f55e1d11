// The kvm backend: real guest machine code under Linux KVM (/dev/kvm), one
// host thread per vCPU. The seam to KVM is narrow: every return from
// KVM_RUN is turned into one of a small closed set of exits (port I/O, a
// filtered MSR, the hypercall doorbell, shutdown, a fault the guest cannot
// continue from) and each goes to the same Bus as the other backends.
// CPUID is composed once from the bus's table and set with KVM_SET_CPUID2;
// KVM answers it in the kernel. Interrupts go through KVM's in-kernel
// irqchip. docs/kvm-backend.md explains the choices and what they cost.
#pragma once

#include <enlight/core/backend/backend.hpp>
#include <enlight/core/backend/run_result.hpp>
#include <enlight/core/vm.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace enlight::kvm {

// A kernel booted on the PC machine (backend.hpp).
using enlight::KernelBoot;

// BackendOptions (vm, image, run_ms, and the PC machine: kernel,
// pc_devices), with tsc_frequency_hz replaced by the rate of the TSC the
// guest reads (the host's: KVM does not scale it here), plus the device.
struct KvmOptions : BackendOptions {
  std::string device = "/dev/kvm";
};

// Whether `device` can run this backend's guests: it opens, speaks API 12,
// and has every capability the backend relies on (in-kernel irqchip,
// userspace MSR exits with filters, sync regs, immediate exit, MSI). Cost:
// a few ioctls on a short-lived fd (~tens of us). On false, `why` says
// what is missing, for the error `enlight run --backend kvm` prints.
bool available(std::string* why = nullptr, const std::string& device = "/dev/kvm");

// The kvm backend behind enlight::Backend (backend.hpp says what each call
// costs and how it fails). Final, so calls on a KvmVm are direct calls.
class KvmVm final : public Backend {
 public:
  // Throws like Vm::create, or std::runtime_error naming the ioctl and the
  // errno when KVM refuses something (no /dev/kvm, a missing capability,
  // the image not fitting in RAM). Cost: one VM, one vCPU fd and mapping
  // per vCPU, guest RAM registered as one memory slot.
  static std::unique_ptr<KvmVm> create(const Resolution& resolution, KvmOptions options);
  ~KvmVm() override;

  BackendKind kind() const noexcept override { return BackendKind::Kvm; }
  Vm& vm() noexcept override { return *vm_; }
  uint32_t vcpu_count() const { return vm_->vcpu_count(); }

  // Runs every vCPU on its own thread until the guest exits, the VM stops,
  // a fatal exit (shutdown = TripleFault, an emulation failure or an
  // access to unbacked memory = GuestFault, a failed ioctl = HostError), or
  // the time-out (Timeout: every vCPU is kicked out of KVM_RUN by a signal,
  // so the host never waits on a looping guest). A booted kernel ends it
  // by powering off (PoweredOff) or resetting (Reset: the i8042 reset line,
  // the ACPI reset register, or a triple fault, which a PC turns into a
  // reset); its unbacked MMIO reads all ones instead of faulting, as an
  // empty bus does. A time-out of 0 means none (a kernel runs until it
  // powers off, resets or is stopped). One run per KvmVm.
  RunResult run(std::chrono::milliseconds timeout) override;

  // Host input for the PC machine's COM1 (a console): queues up to n
  // bytes in its receive FIFO and returns how many fitted (0 when full, or
  // when no kernel is booted). Any thread.
  size_t serial_input(const uint8_t* data, size_t n) override;

  // Snapshots: KVM's vCPU state through its GET/SET ioctls (state.cpp);
  // the in-kernel irqchip, and with the PC machine the PIT, kvmclock and
  // the machine's devices (devices_state.cpp). Offloaded plugins are
  // refused with the reason (docs/snapshots.md, "Status").
  std::vector<VcpuSnapshot> save_vcpus() override;
  void load_vcpus(const std::vector<VcpuSnapshot>& vcpus) override;
  std::vector<uint8_t> save_devices() override;
  void load_devices(const std::vector<uint8_t>& saved) override;

  // Host service: vector (>= 16) to vCPU n through the in-kernel local
  // APIC (KVM_SIGNAL_MSI, fixed delivery, physical destination n). 0 on
  // success, -1 for a bad vCPU or vector or when KVM refused it.
  int inject_interrupt(uint32_t vcpu, uint8_t vector) override;

  // From any thread: stops the VM with StopReason::Requested.
  void stop(const char* message) override;

  struct Impl;

 private:
  KvmVm() = default;
  std::unique_ptr<Vm> vm_;
  std::shared_ptr<Impl> impl_;  // shared with the hooks given to the Vm
  bool offloads_any_ = false;  // a plugin's work is KVM's: its state is not ours to save
  void refuse_what_is_not_saved(const char* verb) const;
};

// What the kvm backend can run: AMD SVM or Intel VMX as the host has it,
// KVM's in-kernel local APIC.
BackendCaps capabilities();

}  // namespace enlight::kvm
