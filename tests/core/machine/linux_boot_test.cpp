// The x86 boot protocol planner and writer (core/machine/src/linux_boot.cpp).
// The kernels here are synthetic bzImages whose setup header carries the
// values of Debian 12's vmlinuz-6.1.0-57-amd64 (linux-guest-facts.md §1):
// the loader sees exactly those fields; the nested stage boots the real one.
#include <enlight/machine/layout.hpp>
#include <enlight/machine/linux_boot.hpp>

#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstring>
#include <string>
#include <vector>

namespace enlight::machine {
namespace {

constexpr uint64_t MiB = 1ull << 20;

template <typename T>
void put(std::vector<uint8_t>& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}
template <typename T>
T get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}

// A bzImage with Debian 12's header values and `payload` bytes of
// protected-mode "kernel" (a recognisable pattern).
std::vector<uint8_t> debian_like_bzimage(size_t payload = 64 * 1024) {
  const uint8_t setup_sects = 39;
  std::vector<uint8_t> k((setup_sects + 1) * 512 + payload, 0);
  k[0x1F1] = setup_sects;
  put<uint16_t>(k, 0x1FE, 0xAA55);
  k[0x200] = 0xEB;  // jmp short: header end = 0x202 + 0x6A = 0x26C
  k[0x201] = 0x6A;
  std::memcpy(k.data() + 0x202, "HdrS", 4);
  put<uint16_t>(k, 0x206, 0x020F);
  k[0x211] = 0x01;  // LOADED_HIGH
  put<uint32_t>(k, 0x214, 0x100000);
  put<uint32_t>(k, 0x22C, 0x7FFFFFFF);
  put<uint32_t>(k, 0x230, 0x200000);
  k[0x234] = 1;
  put<uint16_t>(k, 0x236, 0x7F);
  put<uint32_t>(k, 0x238, 2047);
  put<uint64_t>(k, 0x258, 0x1000000);
  put<uint32_t>(k, 0x260, 0x3F98000);
  for (size_t i = (setup_sects + 1) * 512; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i * 7);
  return k;
}

LinuxBootConfig config(uint64_t ram = 256 * MiB) {
  LinuxBootConfig c;
  c.kernel = debian_like_bzimage();
  c.ram_bytes = ram;
  c.cmdline = "console=ttyS0 quiet";
  return c;
}

std::string error_of(const LinuxBootConfig& c) {
  try {
    plan_linux_boot(c);
  } catch (const BootError& e) {
    return e.what();
  }
  return "";
}

TEST(LinuxBootHeader, ReadsDebianFields) {
  const SetupHeader h = parse_setup_header(debian_like_bzimage());
  EXPECT_EQ(h.version, 0x020F);
  EXPECT_EQ(h.setup_bytes, 40u * 512);
  EXPECT_EQ(h.header_end, 0x26Cu);
  EXPECT_EQ(h.init_size, 0x3F98000u);
  EXPECT_EQ(h.pref_address, 0x1000000u);
  EXPECT_EQ(h.cmdline_size, 2047u);
  EXPECT_EQ(h.initrd_addr_max, 0x7FFFFFFFu);
}

TEST(LinuxBootHeader, SetupSectsZeroMeansFour) {
  auto k = debian_like_bzimage();
  k[0x1F1] = 0;
  EXPECT_EQ(parse_setup_header(k).setup_bytes, 5u * 512);
}

TEST(LinuxBootRefusal, NotABzImage) {
  LinuxBootConfig c = config();
  c.kernel.assign(8192, 0x90);
  EXPECT_NE(error_of(c).find("no 'HdrS' setup header"), std::string::npos) << error_of(c);
  EXPECT_NE(error_of(c).find("fix: give the kernel's bzImage"), std::string::npos);
}

TEST(LinuxBootRefusal, ElfVmlinux) {
  LinuxBootConfig c = config();
  c.kernel = {0x7F, 'E', 'L', 'F', 2, 1, 1, 0};
  c.kernel.resize(4096);
  EXPECT_NE(error_of(c).find("ELF file"), std::string::npos) << error_of(c);
}

TEST(LinuxBootRefusal, TooShort) {
  LinuxBootConfig c = config();
  c.kernel.assign(100, 0);
  EXPECT_NE(error_of(c).find("too short"), std::string::npos) << error_of(c);
}

TEST(LinuxBootRefusal, ProtocolTooOld) {
  LinuxBootConfig c = config();
  put<uint16_t>(c.kernel, 0x206, 0x020B);
  const std::string e = error_of(c);
  EXPECT_NE(e.find("boot protocol 2.11"), std::string::npos) << e;
  EXPECT_NE(e.find("2.12 or later"), std::string::npos) << e;
}

TEST(LinuxBootRefusal, No64BitEntry) {
  LinuxBootConfig c = config();
  put<uint16_t>(c.kernel, 0x236, 0x7E);
  EXPECT_NE(error_of(c).find("no 64-bit entry point"), std::string::npos) << error_of(c);
}

TEST(LinuxBootRefusal, ZImage) {
  LinuxBootConfig c = config();
  c.kernel[0x211] = 0;
  EXPECT_NE(error_of(c).find("zImage"), std::string::npos) << error_of(c);
}

TEST(LinuxBootRefusal, Truncated) {
  LinuxBootConfig c = config();
  c.kernel.resize(40 * 512);  // the real-mode part and nothing after it
  EXPECT_NE(error_of(c).find("truncated"), std::string::npos) << error_of(c);
}

TEST(LinuxBootRefusal, CommandLineOverTheKernelsLimit) {
  LinuxBootConfig c = config();
  c.cmdline.assign(2047, 'x');
  EXPECT_EQ(error_of(c), "");
  c.cmdline.assign(2048, 'x');
  const std::string e = error_of(c);
  EXPECT_NE(e.find("2048 bytes; this kernel accepts at most 2047"), std::string::npos) << e;
  EXPECT_NE(e.find("fix: shorten --append"), std::string::npos) << e;
}

TEST(LinuxBootRefusal, TooLittleMemoryForTheKernel) {
  // Debian's kernel decompresses into [16 MiB, 16 MiB + 63.6 MiB).
  LinuxBootConfig c = config(64 * MiB);
  const std::string e = error_of(c);
  EXPECT_NE(e.find("needs RAM up to 80 MiB"), std::string::npos) << e;
  EXPECT_NE(e.find("fix: give --memory"), std::string::npos) << e;
  EXPECT_EQ(error_of(config(80 * MiB)), "");
}

TEST(LinuxBootRefusal, InitrdLargerThanMemoryAllows) {
  LinuxBootConfig c = config(128 * MiB);
  c.initrd.assign(60 * MiB, 0xAB);  // 80 MiB of kernel + 60 MiB > 128 MiB
  const std::string e = error_of(c);
  EXPECT_NE(e.find("initrd (60 MiB) does not fit in 128 MiB"), std::string::npos) << e;
  EXPECT_NE(e.find("fix: give --memory"), std::string::npos) << e;
  c.initrd.assign(40 * MiB, 0xAB);
  EXPECT_EQ(error_of(c), "");
}

TEST(LinuxBootRefusal, InitrdAboveTheKernelsInitrdLimit) {
  LinuxBootConfig c = config(256 * MiB);
  put<uint32_t>(c.kernel, 0x22C, 0x5FFFFFF);  // initrd must end below 96 MiB
  c.initrd.assign(20 * MiB, 1);              // 80 + 20 > 96
  const std::string e = error_of(c);
  EXPECT_NE(e.find("highest address this kernel accepts"), std::string::npos) << e;
}

TEST(LinuxBootRefusal, MemoryAboveTheMachinesLimitOrNotPageSized) {
  EXPECT_NE(error_of(config(kMaxRam + 4096)).find("above enlight's machine limit"), std::string::npos);
  EXPECT_NE(error_of(config(256 * MiB + 100)).find("multiple of 4 KiB"), std::string::npos);
}

TEST(LinuxBootPlan, InitrdAtTheTopOfRamPageAligned) {
  LinuxBootConfig c = config(256 * MiB);
  c.initrd.assign(3 * MiB + 5, 0xCD);
  const LinuxBootPlan p = plan_linux_boot(c);
  EXPECT_EQ(p.initrd_size, 3 * MiB + 5);
  EXPECT_EQ(p.initrd_addr % 4096, 0u);
  EXPECT_EQ(p.initrd_addr, 256 * MiB - (3 * MiB + 4096));
  EXPECT_GE(p.initrd_addr, p.kernel_end);
}

TEST(LinuxBootPlan, InitrdBelowInitrdAddrMax) {
  LinuxBootConfig c = config(1024 * MiB);
  put<uint32_t>(c.kernel, 0x22C, 0x1FFFFFFF);  // last byte at 512 MiB - 1
  c.initrd.assign(MiB, 1);
  const LinuxBootPlan p = plan_linux_boot(c);
  EXPECT_EQ(p.initrd_addr + MiB, 512 * MiB);
}

TEST(LinuxBootPlan, E820HasLowRamReservedBiosAreaAndHighRam) {
  const LinuxBootPlan p = plan_linux_boot(config(256 * MiB));
  ASSERT_EQ(p.e820.size(), 4u);
  EXPECT_EQ(p.e820[0].addr, 0u);
  EXPECT_EQ(p.e820[0].type, kE820Ram);
  EXPECT_EQ(p.e820[0].size, 0x9FC00u);
  EXPECT_EQ(p.e820[1].type, kE820Reserved);
  EXPECT_EQ(p.e820[2].addr, kAcpiTablesBase);
  EXPECT_EQ(p.e820[2].addr + p.e820[2].size, 0x100000u);
  EXPECT_EQ(p.e820[2].type, kE820Reserved);
  EXPECT_EQ(p.e820[3].addr, 0x100000u);
  EXPECT_EQ(p.e820[3].addr + p.e820[3].size, 256 * MiB);
  EXPECT_EQ(p.e820[3].type, kE820Ram);
  // Nothing the boot writes below 1 MiB overlaps the reserved areas.
  EXPECT_LT(p.cmdline_addr + 2048, 0x9FC00u);
  EXPECT_LT(p.zero_page + 4096, 0x9FC00u);
}

TEST(LinuxBootPlan, EntryStateIsThe64BitProtocols) {
  const LinuxBootPlan p = plan_linux_boot(config());
  EXPECT_EQ(p.kernel_load, 0x100000u);
  EXPECT_EQ(p.entry_rip, 0x100200u);
  EXPECT_EQ(p.code_selector, 0x10);
  EXPECT_EQ(p.data_selector, 0x18);
}

class LinuxBootWrite : public ::testing::Test {
 protected:
  void write(LinuxBootConfig c) {
    cfg = std::move(c);
    plan = plan_linux_boot(cfg);
    // Guest RAM as a VMM maps it: anonymous memory, touched only where
    // written (3 GiB would otherwise cost seconds to fill).
    void* p = mmap(nullptr, cfg.ram_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    ram = Ram(static_cast<uint8_t*>(p), cfg.ram_bytes);
    write_linux_boot(cfg, plan, ram.data(), ram.size());
  }
  const uint8_t* zero_page() const { return ram.data() + plan.zero_page; }
  struct Ram {
    Ram() = default;
    Ram(uint8_t* p, uint64_t n) : p_(p), n_(n) {}
    Ram& operator=(Ram&& o) noexcept {
      std::swap(p_, o.p_);
      std::swap(n_, o.n_);
      return *this;
    }
    ~Ram() {
      if (p_) munmap(p_, n_);
    }
    uint8_t* data() const { return p_; }
    uint64_t size() const { return n_; }
    uint8_t* p_ = nullptr;
    uint64_t n_ = 0;
  };
  LinuxBootConfig cfg;
  LinuxBootPlan plan;
  Ram ram;
};

TEST_F(LinuxBootWrite, ZeroPageCarriesTheHeaderAndTheLoadersFields) {
  LinuxBootConfig c = config(256 * MiB);
  c.initrd.assign(2 * MiB, 0x5A);
  c.acpi_rsdp = kAcpiTablesBase;
  write(c);
  const uint8_t* bp = zero_page();
  // The setup header, byte for byte, from 0x1F1 to its end (but the fields the loader sets).
  for (size_t off = 0x1F1; off < 0x26C; ++off) {
    if (off == 0x210 || (off >= 0x218 && off < 0x220) || (off >= 0x228 && off < 0x22C)) continue;
    ASSERT_EQ(bp[off], cfg.kernel[off]) << "offset " << off;
  }
  EXPECT_EQ(bp[0x1EF], 0) << "sentinel";
  EXPECT_EQ(bp[0x210], 0xFF) << "type_of_loader";
  EXPECT_EQ(get<uint32_t>(bp, 0x228), plan.cmdline_addr);
  EXPECT_EQ(get<uint32_t>(bp, 0x218), plan.initrd_addr);
  EXPECT_EQ(get<uint32_t>(bp, 0x21C), 2 * MiB);
  EXPECT_EQ(get<uint64_t>(bp, 0x070), kAcpiTablesBase) << "acpi_rsdp_addr";
  EXPECT_EQ(bp[0x1E8], plan.e820.size());
  for (size_t i = 0; i < plan.e820.size(); ++i) {
    EXPECT_EQ(get<uint64_t>(bp, 0x2D0 + i * 20), plan.e820[i].addr);
    EXPECT_EQ(get<uint64_t>(bp, 0x2D0 + i * 20 + 8), plan.e820[i].size);
    EXPECT_EQ(get<uint32_t>(bp, 0x2D0 + i * 20 + 16), plan.e820[i].type);
  }
  // Everything else of the zero page before the header is zero.
  for (size_t off = 0; off < 0x1F1; ++off)
    if (!((off >= 0x070 && off < 0x078) || off == 0x1E8)) {
      ASSERT_EQ(bp[off], 0) << off;
    }
}

TEST_F(LinuxBootWrite, KernelInitrdAndCommandLineInPlace) {
  LinuxBootConfig c = config(256 * MiB);
  c.initrd.assign(MiB + 3, 0x5A);
  c.cmdline = "console=ttyS0 reboot=t";
  write(c);
  EXPECT_EQ(std::memcmp(ram.data() + 0x100000, cfg.kernel.data() + 40 * 512, cfg.kernel.size() - 40 * 512), 0);
  EXPECT_EQ(std::memcmp(ram.data() + plan.initrd_addr, cfg.initrd.data(), cfg.initrd.size()), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(ram.data() + plan.cmdline_addr), "console=ttyS0 reboot=t");
}

TEST_F(LinuxBootWrite, IdentityPageTablesCoverAllRam) {
  write(config(3ull << 30));  // three page directories
  auto entry = [&](uint64_t table, uint64_t i) { return get<uint64_t>(ram.data(), table + i * 8); };
  const uint64_t pdpt = entry(plan.pml4, 0) & ~0xFFFull;
  for (uint64_t gib = 0; gib < 3; ++gib) {
    const uint64_t pd = entry(pdpt, gib) & ~0xFFFull;
    ASSERT_NE(entry(pdpt, gib) & 1, 0u);
    for (uint64_t e = 0; e < 512; e += 97) EXPECT_EQ(entry(pd, e), ((gib << 30) + (e << 21)) | 0x83);
  }
  EXPECT_EQ(entry(pdpt, 3), 0u);
}

TEST_F(LinuxBootWrite, GdtHasBootCsAndBootDs) {
  write(config());
  const uint64_t cs = get<uint64_t>(ram.data(), plan.gdt + plan.code_selector);
  const uint64_t ds = get<uint64_t>(ram.data(), plan.gdt + plan.data_selector);
  EXPECT_EQ((cs >> 53) & 1, 1u) << "CS.L (64-bit code)";
  EXPECT_EQ((cs >> 43) & 1, 1u) << "executable";
  EXPECT_EQ((ds >> 43) & 1, 0u) << "data";
  EXPECT_EQ((ds >> 41) & 1, 1u) << "writable";
  EXPECT_GE(plan.gdt_limit + 1u, plan.data_selector + 8u);
}

}  // namespace
}  // namespace enlight::machine
