// What the kvm backend does for a booted kernel (KernelBoot): the PC
// machine's devices and in-kernel PIT, the kernel and ACPI tables in RAM,
// the boot vCPU's entry state. pc.cpp.
#pragma once

#include <enlight/core/backend/kvm.hpp>
#include <enlight/machine/linux_boot.hpp>

#include <cstdint>
#include <functional>

namespace enlight::kvm {

// After the VM fd and irqchip exist, before the vCPUs: KVM_CREATE_PIT2 and
// the PcMachine's devices (impl.pc), COM1's output to `serial_out`.
void create_pc(KvmVm::Impl& impl, std::function<void(uint8_t)> serial_out);
// The ACPI tables and the boot layout in guest RAM (impl.boot holds the
// plan); `boot.acpi_rsdp` is set to where the tables put the RSDP.
void load_kernel(KvmVm::Impl& impl, machine::LinuxBootConfig& boot);

// The entry state of vCPU `index`: the boot vCPU at the kernel's 64-bit
// entry (boot.rst), the others left waiting for INIT/SIPI; boot MSRs and
// LINT0/LINT1 on every vCPU.
void enter_kernel(int vcpu_fd, uint32_t index, const machine::LinuxBootPlan& plan);

}  // namespace enlight::kvm
