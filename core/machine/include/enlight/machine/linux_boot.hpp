// Direct boot of a Linux bzImage by the x86 boot protocol's 64-bit entry
// (Linux Documentation/x86/boot.rst), without firmware, the way Firecracker
// and cloud-hypervisor do: the kernel's protected-mode part at 1 MiB, a
// zero page (boot_params) with the setup header, the e820 map, the command
// line and the initrd, identity page tables over all RAM, a GDT with the
// protocol's __BOOT_CS/__BOOT_DS, and the entry state for the boot vCPU.
//
// plan_linux_boot() checks everything a user can get wrong (not a bzImage,
// a protocol too old for the 64-bit entry, a command line over the
// kernel's limit, an initrd or kernel that does not fit in RAM) and throws
// BootError, naming the fix, before any memory is touched or any vCPU
// exists. write_linux_boot() then lays it all out. Pure functions over
// bytes, so every refusal and layout rule has a unit test
// (tests/core/machine/linux_boot_test.cpp).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace enlight::machine {

struct BootError : std::runtime_error {
  BootError(const std::string& what, const std::string& fix)
      : std::runtime_error(what + "\n  fix: " + fix), fix(fix) {}
  std::string fix;
};

// The setup header fields enlight reads (boot.rst "The Real-Mode Kernel
// Header"), already checked.
struct SetupHeader {
  uint8_t setup_sects = 0;     // 0 means 4
  uint16_t version = 0;        // protocol, e.g. 0x020f
  uint8_t loadflags = 0;
  uint16_t xloadflags = 0;
  uint32_t code32_start = 0;
  uint32_t initrd_addr_max = 0;
  uint32_t kernel_alignment = 0;
  uint8_t relocatable_kernel = 0;
  uint32_t cmdline_size = 0;   // longest command line without the NUL
  uint64_t pref_address = 0;
  uint32_t init_size = 0;
  uint64_t setup_bytes = 0;    // the real-mode part: (setup_sects + 1) * 512
  uint64_t header_end = 0;     // 0x202 + the byte at 0x201: header bytes to copy
};

// Throws BootError when `image` is not a bzImage enlight can boot.
SetupHeader parse_setup_header(const std::vector<uint8_t>& image);

struct E820Entry {
  uint64_t addr = 0, size = 0;
  uint32_t type = 0;
};
constexpr uint32_t kE820Ram = 1;
constexpr uint32_t kE820Reserved = 2;

struct LinuxBootConfig {
  std::vector<uint8_t> kernel;          // the bzImage file's bytes
  std::vector<uint8_t> initrd;          // empty: no initrd
  std::string cmdline;
  uint64_t ram_bytes = 0;
  uint64_t acpi_rsdp = 0;               // 0: no ACPI (the kernel falls back to the MP table scan)
};

// Where everything goes, and the boot vCPU's entry state.
struct LinuxBootPlan {
  SetupHeader header;
  uint64_t kernel_load = 0;             // the protected-mode code: code32_start (1 MiB)
  uint64_t kernel_size = 0;             // its bytes
  uint64_t kernel_end = 0;              // end of what the kernel may use while it decompresses itself
  uint64_t zero_page = 0;
  uint64_t cmdline_addr = 0;
  uint64_t initrd_addr = 0, initrd_size = 0;
  uint64_t pml4 = 0;                    // CR3
  uint64_t gdt = 0;
  uint16_t gdt_limit = 0;
  uint16_t code_selector = 0, data_selector = 0;   // __BOOT_CS, __BOOT_DS
  uint64_t entry_rip = 0;               // kernel_load + 0x200: startup_64
  uint64_t entry_rsp = 0;
  std::vector<E820Entry> e820;
};

// Checks the kernel, the command line, the initrd and RAM; decides the
// layout. Throws BootError. Nothing is written.
LinuxBootPlan plan_linux_boot(const LinuxBootConfig& config);

// Writes the kernel, initrd, command line, zero page, page tables and GDT
// into `ram` (the guest's RAM from GPA 0, `ram_size` bytes, as planned).
void write_linux_boot(const LinuxBootConfig& config, const LinuxBootPlan& plan, uint8_t* ram, uint64_t ram_size);

}  // namespace enlight::machine
