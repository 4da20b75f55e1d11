// The x86 Linux boot protocol, 64-bit entry (Documentation/x86/boot.rst and
// arch/x86/include/uapi/asm/bootparam.h). Offsets are boot_params' (the
// "zero page"), which begins with the same bytes as the bzImage file: the
// setup header sits at the same offset in both.
#include <enlight/machine/layout.hpp>
#include <enlight/machine/linux_boot.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace enlight::machine {

namespace {

// ---- boot_params / setup header offsets (bootparam.h) ----------------------
constexpr uint64_t kBpAcpiRsdpAddr = 0x070;     // u64, protocol 2.14
constexpr uint64_t kBpExtRamdiskImage = 0x0C0;  // u32: bits 63:32 of ramdisk_image
constexpr uint64_t kBpExtRamdiskSize = 0x0C4;
constexpr uint64_t kBpExtCmdLinePtr = 0x0C8;
constexpr uint64_t kBpE820Entries = 0x1E8;      // u8
constexpr uint64_t kBpSentinel = 0x1EF;         // must stay 0 (sanitize_boot_params)
constexpr uint64_t kHdrSetupSects = 0x1F1;      // first byte of the setup header
constexpr uint64_t kHdrBootFlag = 0x1FE;        // u16 0xAA55
constexpr uint64_t kHdrJumpOffset = 0x201;      // header end = 0x202 + this byte
constexpr uint64_t kHdrMagic = 0x202;           // "HdrS"
constexpr uint64_t kHdrVersion = 0x206;
constexpr uint64_t kHdrTypeOfLoader = 0x210;
constexpr uint64_t kHdrLoadflags = 0x211;
constexpr uint64_t kHdrCode32Start = 0x214;
constexpr uint64_t kHdrRamdiskImage = 0x218;
constexpr uint64_t kHdrRamdiskSize = 0x21C;
constexpr uint64_t kHdrCmdLinePtr = 0x228;
constexpr uint64_t kHdrInitrdAddrMax = 0x22C;
constexpr uint64_t kHdrKernelAlignment = 0x230;
constexpr uint64_t kHdrRelocatable = 0x234;
constexpr uint64_t kHdrXloadflags = 0x236;
constexpr uint64_t kHdrCmdlineSize = 0x238;
constexpr uint64_t kHdrPrefAddress = 0x258;
constexpr uint64_t kHdrInitSize = 0x260;
constexpr uint64_t kBpE820Table = 0x2D0;        // 128 x {u64 addr, u64 size, u32 type}
constexpr uint32_t kE820Max = 128;
constexpr uint64_t kZeroPageSize = 0x1000;

constexpr uint32_t kHdrSMagic = 0x53726448;     // "HdrS"
constexpr uint16_t kBootFlag = 0xAA55;
constexpr uint8_t kLoadedHigh = 1u << 0;        // loadflags: protected-mode code at 0x100000
constexpr uint16_t kXlfKernel64 = 1u << 0;      // xloadflags: the 64-bit entry at +0x200 exists
constexpr uint8_t kLoaderUndefined = 0xFF;      // type_of_loader: "undefined", boot.rst
// 2.12 (Linux 3.8) added xloadflags and with it XLF_KERNEL_64: the only way
// to know the 64-bit entry exists. Firecracker requires the same.
constexpr uint16_t kMinVersion = 0x020C;
constexpr uint64_t k64BitEntryOffset = 0x200;

// ---- The machine's low memory while it boots (Firecracker's layout) --------
// Everything below 0x9FC00 is RAM in the e820 map: the kernel copies the
// zero page and command line early and builds its own page tables and GDT,
// then reuses these pages.
constexpr uint64_t kGdtAddr = 0x500;
constexpr uint64_t kZeroPageAddr = 0x7000;
constexpr uint64_t kStackTop = 0x8FF0;
constexpr uint64_t kPml4Addr = 0x9000;
constexpr uint64_t kPdptAddr = 0xA000;
constexpr uint64_t kPageDirsAddr = 0xB000;      // one 4 KiB page directory per GiB
constexpr uint64_t kCmdlineAddr = 0x20000;
constexpr uint64_t kCmdlineMax = 0x10000;       // the area reserved for it
constexpr uint64_t kEbdaStart = 0x9FC00;        // reserved up to 1 MiB, as the BIOS area of a PC
constexpr uint64_t kHighMemory = 0x100000;
constexpr uint16_t kBootCs = 0x10, kBootDs = 0x18;  // __BOOT_CS, __BOOT_DS
constexpr uint64_t kPageSize = 0x1000;

uint8_t get8(const std::vector<uint8_t>& b, uint64_t off) { return b[off]; }
uint16_t get16(const std::vector<uint8_t>& b, uint64_t off) {
  uint16_t v;
  std::memcpy(&v, b.data() + off, 2);
  return v;
}
uint32_t get32(const std::vector<uint8_t>& b, uint64_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
uint64_t get64(const std::vector<uint8_t>& b, uint64_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
template <typename T>
void put(uint8_t* p, uint64_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}

uint64_t align_up(uint64_t v, uint64_t a) { return a == 0 ? v : (v + a - 1) / a * a; }
uint64_t align_down(uint64_t v, uint64_t a) { return a == 0 ? v : v / a * a; }

std::string mib(uint64_t bytes) {
  const uint64_t whole = (bytes + (1u << 20) - 1) >> 20;
  return std::to_string(whole) + " MiB";
}

// A --memory value a user can paste: whole MiB, with the M suffix.
std::string memory_arg(uint64_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + "M"; }

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

constexpr const char* kBzImageFix =
    "give the kernel's bzImage (e.g. /boot/vmlinuz-$(uname -r) or arch/x86/boot/bzImage)";

}  // namespace

SetupHeader parse_setup_header(const std::vector<uint8_t>& image) {
  if (image.size() >= 4 && std::memcmp(image.data(), "\x7f" "ELF", 4) == 0)
    throw BootError("this is an ELF file (an uncompressed vmlinux?), not a bzImage", kBzImageFix);
  if (image.size() < kHdrSetupSects + 0x80)
    throw BootError("not a Linux bzImage: " + std::to_string(image.size()) + " bytes is too short for the setup header",
                    kBzImageFix);
  if (get16(image, kHdrBootFlag) != kBootFlag || get32(image, kHdrMagic) != kHdrSMagic)
    throw BootError("not a Linux bzImage: no 'HdrS' setup header at offset 0x202", kBzImageFix);
  SetupHeader h;
  h.version = get16(image, kHdrVersion);
  if (h.version < kMinVersion) {
    char v[16];
    std::snprintf(v, sizeof v, "%u.%02u", h.version >> 8, h.version & 0xFF);
    throw BootError(std::string("the kernel speaks boot protocol ") + v +
                        "; enlight needs 2.12 or later (Linux 3.8+) for the 64-bit entry point",
                    "boot a newer kernel");
  }
  h.setup_sects = get8(image, kHdrSetupSects);
  h.setup_bytes = (uint64_t{h.setup_sects == 0 ? uint8_t{4} : h.setup_sects} + 1) * 512;
  h.header_end = 0x202 + get8(image, kHdrJumpOffset);
  h.loadflags = get8(image, kHdrLoadflags);
  h.code32_start = get32(image, kHdrCode32Start);
  h.initrd_addr_max = get32(image, kHdrInitrdAddrMax);
  h.kernel_alignment = get32(image, kHdrKernelAlignment);
  h.relocatable_kernel = get8(image, kHdrRelocatable);
  h.xloadflags = get16(image, kHdrXloadflags);
  h.cmdline_size = get32(image, kHdrCmdlineSize);
  h.pref_address = get64(image, kHdrPrefAddress);
  h.init_size = get32(image, kHdrInitSize);
  if (h.header_end > kZeroPageSize || h.header_end > image.size())
    throw BootError("not a Linux bzImage: its setup header claims to end at " + hex(h.header_end), kBzImageFix);
  if (!(h.loadflags & kLoadedHigh))
    throw BootError("this is a zImage (loaded below 1 MiB); enlight boots bzImages only", kBzImageFix);
  if (!(h.xloadflags & kXlfKernel64))
    throw BootError("this kernel has no 64-bit entry point (XLF_KERNEL_64 is clear: a 32-bit kernel?)",
                    "boot an x86-64 kernel");
  if (h.setup_bytes >= image.size())
    throw BootError("the bzImage is truncated: its real-mode part is " + std::to_string(h.setup_bytes) +
                        " bytes and the file has " + std::to_string(image.size()),
                    kBzImageFix);
  if (h.code32_start != kHighMemory)
    throw BootError("the kernel asks to be loaded at " + hex(h.code32_start) + ", not at 1 MiB", kBzImageFix);
  if (h.kernel_alignment != 0 && (h.kernel_alignment & (h.kernel_alignment - 1)) != 0)
    throw BootError("the kernel's alignment " + hex(h.kernel_alignment) + " is not a power of two", kBzImageFix);
  return h;
}

LinuxBootPlan plan_linux_boot(const LinuxBootConfig& config) {
  LinuxBootPlan p;
  p.header = parse_setup_header(config.kernel);
  const SetupHeader& h = p.header;

  if (config.ram_bytes % kPageSize != 0)
    throw BootError("memory must be a multiple of 4 KiB, not " + std::to_string(config.ram_bytes) + " bytes",
                    "give --memory in MiB or GiB (e.g. 256M)");
  if (config.ram_bytes > kMaxRam)
    throw BootError("memory " + mib(config.ram_bytes) + " is above enlight's machine limit of " + mib(kMaxRam) +
                        " (RAM is one region below the 32-bit MMIO hole)",
                    "give --memory 3G or less");

  // The command line, NUL included, within the kernel's limit (2.06+ says
  // it in cmdline_size; older ones accept 255) and the area reserved here.
  const uint64_t limit = std::min<uint64_t>(h.cmdline_size, kCmdlineMax - 1);
  if (config.cmdline.size() > limit)
    throw BootError("the kernel command line is " + std::to_string(config.cmdline.size()) +
                        " bytes; this kernel accepts at most " + std::to_string(limit),
                    "shorten --append");
  if (config.cmdline.find('\0') != std::string::npos)
    throw BootError("the kernel command line contains a NUL byte", "remove it from --append");

  p.kernel_load = h.code32_start;
  p.kernel_size = config.kernel.size() - h.setup_bytes;
  // While it decompresses itself, a relocatable kernel works in
  // [max(load aligned up, pref_address), + init_size) (head_64.S: it moves
  // below LOAD_PHYSICAL_ADDR never); a non-relocatable one at pref_address.
  // The compressed image itself sits at 1 MiB below that.
  const uint64_t run_base = h.relocatable_kernel
                                ? std::max(align_up(p.kernel_load, h.kernel_alignment), h.pref_address)
                                : h.pref_address;
  p.kernel_end = std::max(run_base + h.init_size, p.kernel_load + p.kernel_size);
  if (p.kernel_end > config.ram_bytes)
    throw BootError("the kernel needs RAM up to " + mib(p.kernel_end) + " while it decompresses itself; memory is " +
                        mib(config.ram_bytes),
                    "give --memory " + memory_arg(align_up(p.kernel_end + (64u << 20), 64u << 20)) + " or more");

  // The initrd goes as high as RAM and initrd_addr_max (the highest byte it
  // may occupy) allow, page-aligned, above the kernel's working area; what
  // Firecracker and QEMU do.
  if (!config.initrd.empty()) {
    p.initrd_size = config.initrd.size();
    const uint64_t top = std::min<uint64_t>(config.ram_bytes, uint64_t{h.initrd_addr_max} + 1);
    const uint64_t rounded = align_up(p.initrd_size, kPageSize);
    if (rounded > top || align_down(top - rounded, kPageSize) < p.kernel_end) {
      const uint64_t need = p.kernel_end + rounded;
      if (need > uint64_t{h.initrd_addr_max} + 1)
        throw BootError("the initrd (" + mib(p.initrd_size) + ") does not fit between the kernel (up to " +
                            mib(p.kernel_end) + ") and the highest address this kernel accepts for it (" +
                            hex(h.initrd_addr_max) + ")",
                        "use a smaller initrd");
      throw BootError("the initrd (" + mib(p.initrd_size) + ") does not fit in " + mib(config.ram_bytes) +
                          " of memory above the kernel (which needs up to " + mib(p.kernel_end) + ")",
                      "give --memory " + memory_arg(align_up(need + (64u << 20), 64u << 20)) + " or more, or a smaller initrd");
    }
    p.initrd_addr = align_down(top - rounded, kPageSize);
  }

  p.zero_page = kZeroPageAddr;
  p.cmdline_addr = kCmdlineAddr;
  p.pml4 = kPml4Addr;
  p.gdt = kGdtAddr;
  p.gdt_limit = 4 * 8 - 1;  // null, unused, __BOOT_CS, __BOOT_DS
  p.code_selector = kBootCs;
  p.data_selector = kBootDs;
  p.entry_rip = p.kernel_load + k64BitEntryOffset;
  p.entry_rsp = kStackTop;

  // The e820 map: conventional memory, the EBDA and BIOS area reserved (the
  // ACPI tables live at 0xE0000), RAM from 1 MiB. Linux needs RAM below
  // 1 MiB for its real-mode trampoline (the APs start there).
  p.e820.push_back({0, kEbdaStart, kE820Ram});
  p.e820.push_back({kEbdaStart, 0xA0000 - kEbdaStart, kE820Reserved});
  p.e820.push_back({kAcpiTablesBase, kAcpiTablesEnd - kAcpiTablesBase, kE820Reserved});
  p.e820.push_back({kHighMemory, config.ram_bytes - kHighMemory, kE820Ram});
  return p;
}

void write_linux_boot(const LinuxBootConfig& config, const LinuxBootPlan& p, uint8_t* ram, uint64_t ram_size) {
  if (ram_size < config.ram_bytes || ram_size < p.kernel_end || p.initrd_addr + p.initrd_size > ram_size)
    throw std::logic_error("write_linux_boot: RAM smaller than planned");
  const SetupHeader& h = p.header;

  // The protected-mode kernel and the initrd.
  std::memcpy(ram + p.kernel_load, config.kernel.data() + h.setup_bytes, p.kernel_size);
  if (p.initrd_size != 0) std::memcpy(ram + p.initrd_addr, config.initrd.data(), p.initrd_size);

  // The command line, NUL-terminated.
  std::memset(ram + p.cmdline_addr, 0, config.cmdline.size() + 1);
  std::memcpy(ram + p.cmdline_addr, config.cmdline.data(), config.cmdline.size());

  // The zero page: all zero, then the setup header as the file has it
  // (loadflags and kernel_alignment as the kernel set them), then what the
  // boot loader fills in. The sentinel at 0x1EF stays 0.
  uint8_t* bp = ram + p.zero_page;
  std::memset(bp, 0, kZeroPageSize);
  std::memcpy(bp + kHdrSetupSects, config.kernel.data() + kHdrSetupSects, h.header_end - kHdrSetupSects);
  bp[kBpSentinel] = 0;
  // Mandatory: with type_of_loader 0 the kernel ignores the initrd
  // (setup.c early_reserve_initrd / reserve_initrd).
  put<uint8_t>(bp, kHdrTypeOfLoader, kLoaderUndefined);
  put<uint32_t>(bp, kHdrCmdLinePtr, static_cast<uint32_t>(p.cmdline_addr));
  put<uint32_t>(bp, kBpExtCmdLinePtr, static_cast<uint32_t>(p.cmdline_addr >> 32));
  put<uint32_t>(bp, kHdrRamdiskImage, static_cast<uint32_t>(p.initrd_addr));
  put<uint32_t>(bp, kHdrRamdiskSize, static_cast<uint32_t>(p.initrd_size));
  put<uint32_t>(bp, kBpExtRamdiskImage, static_cast<uint32_t>(p.initrd_addr >> 32));
  put<uint32_t>(bp, kBpExtRamdiskSize, static_cast<uint32_t>(p.initrd_size >> 32));
  // acpi_rsdp_addr exists from protocol 2.14 (Linux 4.20); older kernels
  // find the RSDP by scanning 0xE0000-0xFFFFF, where it is anyway.
  if (config.acpi_rsdp != 0 && h.version >= 0x020E) put<uint64_t>(bp, kBpAcpiRsdpAddr, config.acpi_rsdp);
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(p.e820.size(), kE820Max));
  put<uint8_t>(bp, kBpE820Entries, static_cast<uint8_t>(n));
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t at = kBpE820Table + uint64_t{i} * 20;
    put<uint64_t>(bp, at, p.e820[i].addr);
    put<uint64_t>(bp, at + 8, p.e820[i].size);
    put<uint32_t>(bp, at + 16, p.e820[i].type);
  }

  // Identity page tables over all RAM with 2 MiB pages: the 64-bit entry
  // needs the kernel, the zero page and the command line mapped; the
  // decompressor builds its own tables at once.
  constexpr uint64_t kPresentWritable = 0x3, kLargePage = 0x80, kGiB = 1ull << 30, k2MiB = 2ull << 20;
  const uint64_t dirs = (config.ram_bytes + kGiB - 1) / kGiB;
  std::memset(ram + p.pml4, 0, kPageSize);
  std::memset(ram + kPdptAddr, 0, kPageSize);
  put<uint64_t>(ram, p.pml4, kPdptAddr | kPresentWritable);
  for (uint64_t d = 0; d < dirs; ++d) {
    const uint64_t dir = kPageDirsAddr + d * kPageSize;
    put<uint64_t>(ram, kPdptAddr + d * 8, dir | kPresentWritable);
    for (uint64_t e = 0; e < 512; ++e) put<uint64_t>(ram, dir + e * 8, (d * kGiB + e * k2MiB) | kPresentWritable | kLargePage);
  }

  // The GDT: flat 64-bit code at __BOOT_CS, flat data at __BOOT_DS
  // (boot.rst: "the GDT must be loaded with the descriptors for selectors
  // __BOOT_CS(0x10) and __BOOT_DS(0x18)").
  std::memset(ram + p.gdt, 0, p.gdt_limit + 1u);
  put<uint64_t>(ram, p.gdt + kBootCs, 0x00AF9B000000FFFFull);
  put<uint64_t>(ram, p.gdt + kBootDs, 0x00CF93000000FFFFull);
}

}  // namespace enlight::machine
