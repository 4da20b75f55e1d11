// What a vCPU and the VM need before the first KVM_RUN: the long-mode
// environment of protocol.h (page tables and a GDT in the backend's free
// area, control registers), the CPUID table KVM answers from, and the MSR
// filter that sends the synthetic range to userspace.
#pragma once

#include <enlight/core/bus.hpp>
#include <enlight/core/resolver.hpp>

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

namespace enlight::kvm {

// Where the backend's own structures live: 0x80000-0x100000 is free for the
// backend (docs/guests.md). PML4, one PDPT, then one page directory per GiB
// of RAM mapped with 2 MiB pages; the GDT after them.
constexpr uint64_t kPml4 = 0x80000;
constexpr uint64_t kPdpt = 0x81000;
constexpr uint64_t kPageDirs = 0x82000;
constexpr uint64_t kGdt = 0xFF000;                      // last page of the free area
constexpr uint64_t kMaxPageDirs = (kGdt - kPageDirs) / 0x1000;  // 125 GiB of RAM
constexpr uint64_t kMsrXenHypercallPage = 0x40000200;   // see msr_filter()

// Writes the identity map of [0, ram) and the GDT into guest RAM. Throws
// if RAM is too large or too small for the layout.
void write_long_mode_tables(uint8_t* ram, uint64_t ram_size);
// The entry state of protocol.h: 64-bit code segment, CR0.PG|PE, CR4.PAE,
// EFER.LME|LMA, CR3 = kPml4. Starts from KVM's own sregs (to keep the
// APIC base and the descriptor tables' other fields KVM expects).
void long_mode_sregs(kvm_sregs& s);

// KVM_GET_SUPPORTED_CPUID with the hypervisor range replaced by the bus's
// table (nothing there when no plugin is enabled, as on emu), x2APIC on,
// "hypervisor present" exactly when Hyper-V leaves exist. Per-vCPU fields
// (initial APIC IDs) are set by cpuid_for_vcpu.
std::vector<kvm_cpuid_entry2> compose_cpuid(int kvm_fd, const CpuidTable& table);
void cpuid_for_vcpu(std::vector<kvm_cpuid_entry2>& entries, uint32_t index);

// The host CPU's vendor is AMD (or Hygon): VMMCALL, SVM.
bool host_is_amd() noexcept;

// What this backend offers resolution (BackendCaps::features): the host's
// virtualization extension, the in-kernel LAPIC, and "kvm-enlightened-vmcs"
// when KVM can run a guest's eVMCS: an Intel host whose KVM has
// KVM_CAP_HYPERV_ENLIGHTENED_VMCS (KVM offers it only with nested VMX).
// Pure, so the AMD answer is testable on any host.
std::vector<std::string> host_features(bool amd, bool evmcs_capability);

// hv-evmcs on this backend: "" when the resolution can have it, else why
// not and the fix. KVM finds the L1's current eVMCS through the VP assist
// page (kvm_hv_get_assist_page), which it sees only when vapic is
// offloaded to it; enlight's own vapic plugin keeps the page in userspace.
std::string evmcs_refusal(const Resolution& resolution);

// Whether the eVMCS version range KVM returned from
// KVM_ENABLE_CAP(KVM_CAP_HYPERV_ENLIGHTENED_VMCS), low | high << 8, covers
// the 1..1 that hv-evmcs advertises (QEMU evmcs_version_supported).
bool evmcs_version_supported(uint16_t supported) noexcept;

// Enables eVMCS on one vCPU and checks its version range; throws with the
// errno, the vCPU and the fix.
void enable_evmcs(int vcpu_fd, uint32_t vcpu);

// no-nonarch-coresharing's host-reports option ("on", "off", "unknown"),
// which its mode auto copies: bit 18 of 0x40000004.EAX in what KVM reports
// supported, "unknown" when KVM could not say (`known` false).
Resolution with_host_reports(Resolution resolution, const std::vector<HvCpuidLeaf>& supported, bool known);

// MSR indexes that must leave the kernel: the whole synthetic range, every
// MSR a resolved plugin claims outside it, and KVM's Xen hypercall-page
// MSR slot so KVM never writes a page of its own. Installed with
// KVM_X86_SET_MSR_FILTER (deny = exit to userspace with reason FILTER).
void install_msr_filter(int vm_fd, const Resolution& resolution);

}  // namespace enlight::kvm
